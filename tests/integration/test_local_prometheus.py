"""The stack's Prometheus has the container usage a Job's pod template chose.

KWOK serves the kubelet's cAdvisor metrics for its pods (tools/jobwarden_dev/localstack/
kwok-metrics.yaml), driven by the `sim.jobwarden.dev/{memory,cpu,throttled}-<container>`
annotations; Prometheus scrapes them every second. These tests ask Prometheus' HTTP API
what a real one would be asked about a failed Job's pod: peak working set, CPU rate,
throttled share of CFS periods, memory limit.
"""

from __future__ import annotations

from typing import Any

import pytest
import urllib3

from jobwarden.kubeapi import KubeApi
from jobwarden_dev.localstack.stack import StackInfo
from tests.support.kube import job_condition, job_manifest, job_pods, wait_for

pytestmark = pytest.mark.stack

MI = 1024 * 1024


def _query(stack: StackInfo, promql: str) -> list[dict[str, Any]]:
    response = urllib3.request(
        "GET", f"{stack.prometheus_url}/api/v1/query", fields={"query": promql}, timeout=10
    )
    body = response.json()
    assert response.status == 200 and body["status"] == "success", body
    return list(body["data"]["result"])


def _value(stack: StackInfo, promql: str) -> float | None:
    """The query's one value, or None while Prometheus has no (or more than one) series."""
    result = _query(stack, promql)
    return float(result[0]["value"][1]) if len(result) == 1 else None


def test_prometheus_reports_the_usage_the_pod_template_chose(
    stack: StackInfo, admin: KubeApi, namespace: str
) -> None:
    containers = [
        {"name": "worker", "image": "r.example/w:1", "resources": {"limits": {"memory": "512Mi"}}},
        {"name": "sidecar", "image": "r.example/s:1"},
    ]
    admin.create(
        f"/apis/batch/v1/namespaces/{namespace}/jobs",
        job_manifest(
            "usage",
            after=6,
            containers=containers,
            memory={"worker": "498Mi"},
            cpu={"worker": "250m"},
            throttled={"worker": 0.4},
        ),
    )
    wait_for(lambda: job_condition(admin, namespace, "usage", "Complete"), what="Complete")
    (pod,) = job_pods(admin, namespace, "usage")
    worker = f'namespace="{namespace}",pod="{pod["metadata"]["name"]}",container="worker"'
    sidecar = worker.replace('container="worker"', 'container="sidecar"')

    peak = wait_for(
        lambda: _value(stack, f"max_over_time(container_memory_working_set_bytes{{{worker}}}[1m])"),
        what="the worker's working set in Prometheus",
    )
    assert peak == 498 * MI
    (series,) = _query(stack, f"container_memory_working_set_bytes{{{worker}}}")
    assert series["metric"]["node"] == "kwok-node-0"  # kept by honor_labels, as kubelet's

    # the busiest 3-s window of the run, as a report would ask for it
    cpu = _value(
        stack,
        f"max_over_time(rate(container_cpu_usage_seconds_total{{{worker}}}[3s])[1m:1s])",
    )
    assert cpu == pytest.approx(0.25, rel=0.2)
    throttled = _value(
        stack,
        f"increase(container_cpu_cfs_throttled_periods_total{{{worker}}}[1m])"
        f" / increase(container_cpu_cfs_periods_total{{{worker}}}[1m])",
    )
    assert throttled == pytest.approx(0.4, rel=0.02)
    limit = _value(stack, f"max_over_time(container_spec_memory_limit_bytes{{{worker}}}[1m])")
    assert limit == 512 * MI

    # a container without annotations reports the defaults: 8Mi, 10m, never throttled, no limit
    assert _value(stack, f"max_over_time(container_memory_working_set_bytes{{{sidecar}}}[1m])") == (
        8 * MI
    )
    sidecar_cpu = _value(
        stack,
        f"max_over_time(rate(container_cpu_usage_seconds_total{{{sidecar}}}[3s])[1m:1s])",
    )
    assert sidecar_cpu == pytest.approx(0.01, rel=0.2)
    assert (
        _value(stack, f"increase(container_cpu_cfs_throttled_periods_total{{{sidecar}}}[1m])") == 0
    )
    assert _value(stack, f"container_spec_memory_limit_bytes{{{sidecar}}}") == 0

    # the pod has ended: its containers use nothing any more (kubelet would drop the series)
    wait_for(
        lambda: _value(stack, f"container_memory_working_set_bytes{{{worker}}}") == 0 or None,
        what="the ended worker's working set to read 0",
    )


def test_stack_env_points_at_its_prometheus(stack: StackInfo) -> None:
    assert stack.env()["JOBWARDEN_LOCAL_PROMETHEUS_URL"] == stack.prometheus_url
    (target,) = _query(stack, 'up{job="kubelet-cadvisor"}')
    assert target["value"][1] == "1"
