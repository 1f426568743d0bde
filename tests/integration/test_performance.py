"""job_performance_analysis through functions-framework, on real Jobs of the local stack.

Eventarc-shaped Pub/Sub CloudEvents (binary mode) announce Jobs that really succeeded,
failed and were OOMKilled; the function records one run per Job however often it hears
of it, and the http target answers the family's analysis with charts. Storage is a folder.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from jobwarden.errors import NotFoundError
from jobwarden.kubeapi import KubeApi
from jobwarden.runtime import Runtime, set_default_runtime
from jobwarden_dev.localstack.stack import StackInfo
from tests.support.events import eventarc, from_event_exporter, from_jobwarden, job_event
from tests.support.kube import job_condition, job_manifest, wait_for
from tests.support.runtime import make_runtime

ROOT = Path(__file__).resolve().parents[2]
SOURCE = str(ROOT / "functions" / "job_performance_analysis" / "main.py")


def cloudevent_client() -> Any:
    return create_app("job_performance_analysis", SOURCE, "cloudevent").test_client()


def http_client() -> Any:
    return create_app("job_performance_analysis_http", SOURCE, "http").test_client()


@pytest.fixture
def auth(mint_token: Callable[..., str]) -> dict[str, str]:
    """A caller who may read the Jobs of the test's namespace (what a performance report reads)."""
    rules = [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list"]}]
    return {"Authorization": f"Bearer {mint_token('perf-reader', rules)}"}


@pytest.fixture
def runtime(stack: StackInfo, tmp_path: Path) -> Iterator[Runtime]:
    rt = make_runtime(stack, tmp_path / "reports")
    set_default_runtime(rt)
    yield rt
    set_default_runtime(None)


def finished_job(admin: KubeApi, ns: str, name: str, condition: str, **kw: Any) -> dict[str, Any]:
    admin.create(f"/apis/batch/v1/namespaces/{ns}/jobs", job_manifest(name, **kw))
    wait_for(
        lambda: job_condition(admin, ns, name, condition), what=f"{name} {condition}", timeout=90
    )
    return admin.get(f"/apis/batch/v1/namespaces/{ns}/jobs/{name}")


def records(root: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((root / "runs").rglob("*.json"))]


WORKER = {
    "name": "main",
    "image": "registry.example/etl:1",
    "command": ["run"],
    "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
}


def test_finished_jobs_are_recorded_once_and_the_family_report_draws_charts(
    admin: KubeApi, namespace: str, runtime: Runtime, tmp_path: Path, auth: dict[str, str]
) -> None:
    fn = cloudevent_client()
    jobs = [
        (
            finished_job(admin, namespace, "etl-1", "Complete", after=1, containers=[WORKER]),
            "succeeded",
        ),
        (
            finished_job(admin, namespace, "etl-2", "Complete", after=2, containers=[WORKER]),
            "succeeded",
        ),
        (
            finished_job(
                admin, namespace, "etl-3", "Failed", outcome="oomkill", containers=[WORKER]
            ),
            "failed",
        ),
    ]
    for job, transition in jobs:
        event = job_event(job, cluster="local", transition=transition)
        headers, body = from_jobwarden(event, f"m-{job['metadata']['name']}")
        for _ in range(2):  # a redelivery
            assert fn.post("/", headers=headers, data=body).status_code == 200
    # the same success announced by kubernetes-event-exporter: still one record
    events = admin.get(f"/api/v1/namespaces/{namespace}/events")["items"]
    completed = next(
        e for e in events if e["reason"] == "Completed" and e["involvedObject"]["name"] == "etl-1"
    )
    headers, body = from_event_exporter(completed, jobs[0][0], cluster="local", message_id="k-1")
    assert fn.post("/", headers=headers, data=body).status_code == 200

    runs = {r["job"]: r for r in records(tmp_path / "reports")}
    assert sorted(runs) == ["etl-1", "etl-2", "etl-3"]
    ok, oom = runs["etl-2"], runs["etl-3"]
    assert {r["family"] for r in runs.values()} == {"etl"}
    assert ok["outcome"] == "succeeded" and ok["durationSeconds"] >= 1 and ok["podCount"] == 1
    assert ok["requests"] == {"main": {"cpu": "250m", "memory": "64Mi"}}
    assert ok["limits"] == {"main": {"memory": "128Mi"}}
    assert oom["outcome"] == "failed" and oom["reason"] == "BackoffLimitExceeded"
    assert oom["oomKilled"] is True and oom["oomContainers"] == ["main"]
    assert oom["cause"] == "OOMKilled" and oom["retries"] == 1
    assert oom["jobUid"] == jobs[2][0]["metadata"]["uid"]

    http = http_client()
    ask = {"cluster": "local", "namespace": namespace, "name": "etl-3", "duration": "1h"}
    answer = http.post("/", json=ask, headers=auth)
    assert answer.status_code == 200
    report = answer.get_json()
    assert report["workflow"] == "jobPerformanceAnalysis"
    assert report["title"].startswith(f"Performance of {namespace}/etl over the last 1h: 3 runs")
    kinds = [b.get("kind") for b in report["blocks"] if b["type"] == "chart"]
    assert kinds == ["stackedBar", "line"]
    assert "1 of the last 3 runs OOMKilled: raise the memory limit of `main`" in json.dumps(report)

    page = http.post("/?format=html", json=ask, headers=auth)
    assert page.status_code == 200 and page.content_type.startswith("text/html")
    html = page.get_data(as_text=True)
    assert html.count("<svg") >= 2 and "OOMKilled" in html
    stored = list((tmp_path / "reports" / "local" / namespace / "etl").rglob("*.html"))
    assert stored, "the on-demand report is stored too"


def test_an_image_that_never_pulls_shows_as_pull_time_and_a_recommendation(
    admin: KubeApi, namespace: str, runtime: Runtime, tmp_path: Path, auth: dict[str, str]
) -> None:
    job = finished_job(
        admin, namespace, "pull-1", "Failed", outcome="imagepull", activeDeadlineSeconds=12
    )
    headers, body = from_jobwarden(job_event(job, cluster="local", transition="failed"), "m-p")
    assert cloudevent_client().post("/", headers=headers, data=body).status_code == 200
    (rec,) = records(tmp_path / "reports")
    assert (rec["reason"], rec["cause"]) == ("DeadlineExceeded", "ImagePull")
    assert rec["pullingSeconds"] >= 10 > rec["runningSeconds"]
    answer = http_client().post(
        "/?format=md", json={"cluster": "local", "namespace": namespace}, headers=auth
    )
    text = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "1 of 1 runs spent longer pulling images" in text
    assert "activeDeadlineSeconds 12 is below p95" in text


def test_a_job_deleted_before_the_event_is_recorded_from_its_snapshot(
    admin: KubeApi, namespace: str, runtime: Runtime, tmp_path: Path
) -> None:
    job = finished_job(admin, namespace, "gone-7", "Complete")
    with contextlib.suppress(NotFoundError):
        admin.delete(f"/apis/batch/v1/namespaces/{namespace}/jobs/gone-7")
    wait_for(lambda: _absent(admin, namespace, "gone-7"), what="gone-7 deleted", timeout=30)
    headers, body = from_jobwarden(job_event(job, cluster="local", transition="succeeded"), "m-g")
    assert cloudevent_client().post("/", headers=headers, data=body).status_code == 200
    (rec,) = records(tmp_path / "reports")
    assert (rec["job"], rec["family"], rec["source"]) == ("gone-7", "gone", "event")
    assert rec["durationSeconds"] >= 0


def _absent(admin: KubeApi, namespace: str, name: str) -> bool:
    try:
        admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}")
    except NotFoundError:
        return True
    return False


def test_malformed_started_and_unfinished_events_write_nothing(
    admin: KubeApi,
    namespace: str,
    runtime: Runtime,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fn = cloudevent_client()
    headers, body = eventarc(b"{not json", message_id="poison-9")
    assert fn.post("/", headers=headers, data=body).status_code == 200
    assert "poison-9" in caplog.text
    job = finished_job(admin, namespace, "early-1", "Complete")
    headers, body = from_jobwarden(job_event(job, cluster="local", transition="started"), "m-s")
    assert fn.post("/", headers=headers, data=body).status_code == 200
    # announced as succeeded while still running (a race): retry until the condition is set
    running = admin.create(
        f"/apis/batch/v1/namespaces/{namespace}/jobs", job_manifest("slow-1", after=120)
    )
    headers, body = from_jobwarden(
        job_event(running, cluster="local", transition="succeeded"), "m-r"
    )
    assert fn.post("/", headers=headers, data=body).status_code == 500
    assert not (tmp_path / "reports" / "runs").exists()


def test_disabled_function_acknowledges_and_writes_nothing(
    stack: StackInfo,
    admin: KubeApi,
    namespace: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    rt = make_runtime(
        stack,
        tmp_path / "reports",
        extra={"workflows": {"jobWorkflows": {"jobPerformanceAnalysis": {"enabled": False}}}},
    )
    set_default_runtime(rt)
    try:
        job = finished_job(admin, namespace, "off-1", "Complete")
        headers, body = from_jobwarden(
            job_event(job, cluster="local", transition="succeeded"), "m-o"
        )
        assert cloudevent_client().post("/", headers=headers, data=body).status_code == 200
        assert http_client().post("/", json={"cluster": "local"}).status_code == 403
    finally:
        set_default_runtime(None)
    assert "disabled" in caplog.text
    assert not (tmp_path / "reports").exists()
