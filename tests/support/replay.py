"""The event path of each workflow, end to end, against recorded API answers.

Shared by the recorder (`tests.support.record_api`, which runs it against the local
stack through a `RecordingTransport`) and the unit tests (`tests/unit/test_event_path.py`,
which run it against a `ReplayTransport` of the recording): the same functions-framework
app, the same Eventarc Pub/Sub CloudEvent, the same Runtime shape with an in-memory store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from functions_framework import create_app

from jobwarden.cluster import ClusterRegistry, ClusterSpec
from jobwarden.config import parse_config
from jobwarden.kubeapi import Credentials, KubeApi, Transport
from jobwarden.runtime import Runtime, set_default_runtime
from jobwarden.sinks.memory import MemoryBlobs
from jobwarden.sinks.storage import BlobReportStore
from jobwarden_dev.apirecording import PROMETHEUS_URL, Recording
from tests.support.events import from_jobwarden, job_event, relayed_event

ROOT = Path(__file__).resolve().parents[2]
RECORDED = ROOT / "tests" / "fixtures" / "recorded"
CLUSTER = "local"

# workflow key -> functions/<folder>/main.py and its CloudEvent target
FUNCTIONS = {
    "jobFailureReporter": "job_failure_reporter",
    "jobInfoEnricher": "job_info_enricher",
    "jobEventsEnricher": "job_events_enricher",
    "jobPodEnricher": "job_pod_enricher",
    "jobPerformanceAnalysis": "job_performance_analysis",
}
REPORT_WORKFLOWS = ("jobFailureReporter", "jobInfoEnricher", "jobEventsEnricher", "jobPodEnricher")


def function_client(workflow: str) -> Any:
    """A functions-framework test client serving the workflow's CloudEvent target."""
    name = FUNCTIONS[workflow]
    source = ROOT / "functions" / name / "main.py"
    return create_app(name, str(source), "cloudevent").test_client()


def memory_store() -> BlobReportStore:
    return BlobReportStore(MemoryBlobs("memory://reports"), url="memory://reports")


def make_runtime(
    transport: Transport,
    *,
    store: BlobReportStore | None = None,
    webhooks: list[dict[str, Any]] | None = None,
    env: dict[str, str] | None = None,
    server: str = "https://kube-apiserver.invalid",
    clock: Callable[[], dt.datetime] | None = None,
    prometheus: Any = None,
) -> Runtime:
    """Cluster `local` answered by `transport`; reports in memory; `webhooks` as configured;
    `clock` (default: the wall clock) is the runtime's time; `prometheus`, a pool answering
    PromQL (`jobwarden_dev.apirecording`), configures `metrics.prometheus` through it."""
    data: dict[str, Any] = {
        "sinks": {"storage": {"url": "file://./unused-reports"}, "webhooks": webhooks or []}
    }
    if prometheus is not None:
        data["metrics"] = {"prometheus": {"url": PROMETHEUS_URL}}
    settings = parse_config(data, source="event path tests")
    credentials = Credentials(server=server)
    clusters = ClusterRegistry(
        [ClusterSpec(name=CLUSTER)],
        factory=lambda spec: KubeApi(credentials, transport=transport),
    )
    runtime = Runtime(
        settings=settings, clusters=clusters, env=dict(env or {}), _store=store or memory_store()
    )
    if clock is not None:
        runtime.clock = clock
    runtime.prometheus_pool = prometheus
    return runtime


@contextmanager
def default_runtime(runtime: Runtime) -> Iterator[Runtime]:
    """`runtime` as the process's runtime (what the functions' edges use), then forgotten."""
    set_default_runtime(runtime)
    try:
        yield runtime
    finally:
        set_default_runtime(None)


def load(scenario: str) -> Recording:
    return Recording.load(RECORDED / f"{scenario}.json")


def event_of(
    job: dict[str, Any], transition: str, message_id: str, now: dt.datetime | None = None
) -> tuple[dict[str, str], bytes]:
    """Headers and body of the Eventarc Pub/Sub CloudEvent announcing `transition` of `job`
    (published at `now`, default the wall clock)."""
    return from_jobwarden(
        job_event(job, cluster=CLUSTER, transition=transition, now=now), message_id, now=now
    )


def relayed_event_of(
    job: dict[str, Any], k8s_event: dict[str, Any], message_id: str
) -> tuple[dict[str, str], bytes]:
    """Headers and body of the CloudEvent our exporter publishes to relay `k8s_event`
    (a core/v1 Event about `job` or its pods): transition `event`."""
    return from_jobwarden(relayed_event(job, k8s_event, cluster=CLUSTER), message_id)


def post_relayed_event(
    workflow: str, job: dict[str, Any], k8s_event: dict[str, Any], message_id: str, client: Any
) -> int:
    """Relay `k8s_event` to the workflow's function; its HTTP status (200 ack, 500 retry)."""
    headers, body = relayed_event_of(job, k8s_event, message_id)
    return int(client.post("/", headers=headers, data=body).status_code)


def post_event(
    workflow: str,
    job: dict[str, Any],
    transition: str,
    message_id: str,
    client: Any = None,
    now: dt.datetime | None = None,
) -> int:
    """Post the event to the workflow's function; its HTTP status (200 ack, 500 retry)."""
    headers, body = event_of(job, transition, message_id, now=now)
    fn: Callable[..., Any] = (client or function_client(workflow)).post
    return int(fn("/", headers=headers, data=body).status_code)
