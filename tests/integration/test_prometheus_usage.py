"""Usage over a pod's life from a real Prometheus: the reports show the peaks the test chose.

KWOK emulates the kubelet's cAdvisor series for simulated pods from their
`sim.jobwarden.dev/memory-<container>` (and cpu, throttled) annotations; the local
stack's Prometheus (built from github.com/prometheus/prometheus v0.316.0) scrapes them
every second. The failure reporter, the pod enricher and the performance recorder run as
functions-framework functions with `metrics.prometheus.url` pointing at it.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from jobwarden.kubeapi import KubeApi
from jobwarden.runtime import Runtime, set_default_runtime
from jobwarden_dev.localstack.stack import StackInfo
from tests.support.events import from_jobwarden, job_event
from tests.support.kube import job_condition, job_manifest, wait_for
from tests.support.replay import function_client
from tests.support.runtime import make_runtime

pytestmark = pytest.mark.stack
JOBS = "/apis/batch/v1/namespaces/{ns}/jobs"
MIB = 2**20


def _failed_job(admin: KubeApi, namespace: str, manifest: dict[str, Any]) -> dict[str, Any]:
    name = manifest["metadata"]["name"]
    admin.create(JOBS.format(ns=namespace), manifest)
    wait_for(
        lambda: job_condition(admin, namespace, name, "Failed"), what=f"{name} Failed", timeout=90
    )
    return dict(admin.get(f"{JOBS.format(ns=namespace)}/{name}"))


def _report(runtime: Runtime, job: dict[str, Any], workflows: tuple[str, ...]) -> dict[str, str]:
    """Announce the Job's failure to each workflow's function; their Markdown reports."""
    set_default_runtime(runtime)
    try:
        for workflow in workflows:
            headers, body = from_jobwarden(
                job_event(job, cluster="local"), f"{workflow}-{job['metadata']['uid']}"
            )
            answer = function_client(workflow).post("/", headers=headers, data=body)
            assert answer.status_code == 200, answer.get_data(as_text=True)
    finally:
        set_default_runtime(None)
    reports = Path(runtime.settings.sinks.storage.url.removeprefix("file://"))
    out = {}
    for workflow in workflows:
        found = list(reports.rglob(f"{workflow}/*.md"))
        if found:
            (path,) = found
            out[workflow] = path.read_text()
    return out


def _runtime(stack: StackInfo, tmp_path: Path, prometheus_url: str) -> Runtime:
    """The local stack as cluster `local`, reports under tmp_path, usage from that URL."""
    extra = {"metrics": {"prometheus": {"url": prometheus_url}}}
    return make_runtime(stack, tmp_path / "reports", extra=extra)


def _oom_manifest(name: str, limit: str, peak: str) -> dict[str, Any]:
    containers = [
        {"name": "worker", "image": "r.example/w:1", "resources": {"limits": {"memory": limit}}}
    ]
    return job_manifest(
        name,
        outcome="oomkill",
        after=6,  # several 1 s scrapes while it runs
        containers=containers,
        memory={"worker": peak},
        cpu={"worker": "250m"},
        throttled={"worker": 0.4},
    )


def test_the_oom_report_says_the_peak_the_test_chose_of_its_limit(
    stack: StackInfo, admin: KubeApi, namespace: str, tmp_path: Path
) -> None:
    job = _failed_job(admin, namespace, _oom_manifest("resize", "512Mi", "498Mi"))
    runtime = _runtime(stack, tmp_path, stack.prometheus_url)
    texts = _report(runtime, job, ("jobFailureReporter", "jobPodEnricher"))
    failure, pods = texts["jobFailureReporter"], texts["jobPodEnricher"]
    assert "Peak memory 498Mi of limit 512Mi (97%): the container hit its memory limit" in failure
    assert "peak memory 498Mi of limit 512Mi (97%, Prometheus)" in failure
    usage = re.search(r"worker: peak mem 498Mi, peak cpu (\d+)m, throttled (\d+)%", pods)
    assert usage, pods
    assert 200 <= int(usage.group(1)) <= 300  # 250m, as rate() over 1 s scrapes sees it
    assert 35 <= int(usage.group(2)) <= 45  # 40% of periods
    assert "peaks over each pod's life, from Prometheus" in pods
    source = runtime.usage_source("local")
    assert source is not None and source.queries == 6  # three per report


def test_an_oom_well_under_its_limit_points_at_the_node_and_run_records_keep_the_peak(
    stack: StackInfo, admin: KubeApi, namespace: str, tmp_path: Path
) -> None:
    job = _failed_job(admin, namespace, _oom_manifest("thumbs", "2Gi", "600Mi"))
    runtime = _runtime(stack, tmp_path, stack.prometheus_url)
    texts = _report(runtime, job, ("jobFailureReporter", "jobPerformanceAnalysis"))
    failure = texts["jobFailureReporter"]
    assert "Peak memory 600Mi of limit 2Gi (29%)" in failure
    assert "most likely the node ran out of memory" in failure
    assert "Check memory pressure on kwok-node-0" in failure
    (record_file,) = (tmp_path / "reports").rglob("runs/local/*/thumbs/*.json")
    usage = json.loads(record_file.read_text())["usage"]["worker"]
    assert usage["memoryBytes"] == 600 * MIB and usage["overLife"] is True
    assert 0.35 <= usage["throttled"] <= 0.45


def test_without_a_reachable_prometheus_the_report_is_made_and_says_why(
    stack: StackInfo, admin: KubeApi, namespace: str, tmp_path: Path
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    job = _failed_job(admin, namespace, _oom_manifest("gone-prom", "512Mi", "498Mi"))
    runtime = _runtime(stack, tmp_path, f"http://127.0.0.1:{port}")
    failure = _report(runtime, job, ("jobFailureReporter",))["jobFailureReporter"]
    assert f"Prometheus at http://127.0.0.1:{port} could not be reached" in failure
    assert "check metrics.prometheus.url" in failure
    assert "Container `worker` ran out of memory (OOMKilled, limit 512Mi)" in failure
