"""Usage over a pod's life from Prometheus: the queries, the answers, the OOM verdicts.

The adapter (`jobwarden.prometheus`) is driven here through a scripted connection pool
(what it sends, what it makes of answers and errors); the integration tier runs it against
a real Prometheus scraping KWOK's emulated cAdvisor metrics. The OOM verdicts are the
cause analysis on a peak: at its limit, well under it (the node), no limit, unknown.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

import pytest
import urllib3

from jobwarden.config import PrometheusConfig
from jobwarden.enrich import Usage, peak_usage, usage_over_life
from jobwarden.errors import UsageUnavailableError
from jobwarden.failure import analyse
from jobwarden.kube.objects import Job, Pod
from jobwarden.prometheus import ContainerPeaks, Prometheus
from tests.unit.test_failure import enrichment, job, pod

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
MIB = 2**20
TOKEN = "prom-token-very-secret"


class _Answer:
    def __init__(self, status: int, data: Any) -> None:
        self.status = status
        self.data = data if isinstance(data, bytes) else json.dumps(data).encode()


class _Pool:
    """Answers each query by the metric it names; remembers what was sent."""

    def __init__(self, answers: dict[str, Any] | None = None, *, status: int = 200) -> None:
        self.answers = answers or {}
        self.status = status
        self.sent: list[dict[str, Any]] = []
        self.fail: Exception | None = None

    def request(self, method: str, url: str, **kw: Any) -> _Answer:
        if self.fail is not None:
            raise self.fail
        form = {k: v[0] for k, v in parse_qs(kw["body"].decode()).items()}
        self.sent.append({"method": method, "url": url, "headers": kw["headers"], **form})
        if self.status != 200:
            return _Answer(self.status, {"status": "error", "error": "denied"})
        metric = next(m for m in self.answers if m in form["query"])
        return _Answer(200, {"status": "success", "data": {"result": self.answers[metric]}})


def _row(pod: str, container: str, value: float) -> dict[str, Any]:
    return {"metric": {"pod": pod, "container": container}, "value": [0, str(value)]}


ANSWERS = {
    "container_memory_working_set_bytes": [_row("etl-1", "worker", 498 * MIB)],
    "container_cpu_usage_seconds_total": [_row("etl-1", "worker", 0.25)],
    "container_cpu_cfs_throttled_periods_total": [_row("etl-1", "worker", 0.4)],
}


def _client(pool: _Pool, **config: Any) -> Prometheus:
    cfg = PrometheusConfig.model_validate({"url": "http://prom.example:9090/", **config})
    return Prometheus(
        cfg,
        "prod-eu",
        env={"PROM_TOKEN": TOKEN},
        clock=lambda: NOW,
        pool=pool,  # type: ignore[arg-type]
    )


def test_three_queries_for_all_pods_of_a_job_over_the_run_and_their_peaks() -> None:
    pool = _Pool(ANSWERS)
    client = _client(pool, auth="bearer", tokenEnv="PROM_TOKEN", clusterLabel="cluster")
    start, end = NOW - dt.timedelta(minutes=10), NOW - dt.timedelta(minutes=5)
    peaks = client.peaks("batch", ["etl-1", "etl.2"], start, end)
    assert peaks == {"etl-1": {"worker": ContainerPeaks(498 * MIB, 0.25, 0.4)}}
    assert client.queries == len(pool.sent) == 3
    first = pool.sent[0]
    assert first["url"] == "http://prom.example:9090/api/v1/query"
    assert first["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert float(first["time"]) == (end + dt.timedelta(seconds=30)).timestamp()
    query = first["query"]
    assert 'namespace="batch"' in query and 'cluster="prod-eu"' in query
    assert 'pod=~"etl-1|etl\\\\.2"' in query  # a dot in a name matches only a dot
    assert "[390s]" in query  # back from 30 s after the end to a minute before the start
    assert all('container!=""' in s["query"] for s in pool.sent)


def test_a_label_value_cannot_break_out_of_its_quotes() -> None:
    pool = _Pool(ANSWERS)
    client = _client(pool, clusterLabel="cluster")
    client.cluster = 'x"} or vector(1) or {a="'
    client.peaks("batch", ["etl-1"], NOW - dt.timedelta(minutes=1), None)
    assert 'cluster="x\\"} or vector(1) or {a=\\""' in pool.sent[0]["query"]


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (401, "answered 401: denied; check the token (metrics.prometheus.auth)"),
        (403, "answered 403: denied; the credentials may not read metrics"),
        (503, "answered 503: denied"),
    ],
)
def test_an_error_answer_says_who_answered_what_and_never_the_token(
    status: int, words: str
) -> None:
    client = _client(_Pool(status=status), auth="bearer", tokenEnv="PROM_TOKEN")
    with pytest.raises(UsageUnavailableError) as info:
        client.peaks("batch", ["etl-1"], NOW - dt.timedelta(minutes=1), None)
    assert "Prometheus at http://prom.example:9090/" in str(info.value)
    assert words in str(info.value)
    assert TOKEN not in str(info.value)


def test_an_unreachable_prometheus_or_a_missing_token_is_said_with_the_key_to_fix() -> None:
    pool = _Pool()
    pool.fail = urllib3.exceptions.NewConnectionError(None, "refused")  # type: ignore[arg-type]
    with pytest.raises(
        UsageUnavailableError, match=r"could not be reached .*metrics\.prometheus\.url"
    ):
        _client(pool).peaks("batch", ["etl-1"], NOW, None)
    empty = _client(_Pool(ANSWERS), auth="bearer", tokenEnv="NOT_SET")
    with pytest.raises(UsageUnavailableError, match=r"environment variable NOT_SET\) is empty"):
        empty.peaks("batch", ["etl-1"], NOW, None)
    missing = _client(_Pool(ANSWERS), auth="bearer", tokenFile="/nonexistent/token")
    with pytest.raises(UsageUnavailableError, match="file /nonexistent/token"):
        missing.peaks("batch", ["etl-1"], NOW, None)


class _Source:
    def __init__(self, peaks: dict[str, dict[str, ContainerPeaks]] | Exception) -> None:
        self.result = peaks
        self.asked: list[tuple[str, list[str]]] = []

    def peaks(
        self, namespace: str, pods: Any, start: dt.datetime, end: dt.datetime | None
    ) -> dict[str, dict[str, ContainerPeaks]]:
        self.asked.append((namespace, list(pods)))
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def _oom_job(limit: str | None) -> Job:
    raw = job().raw
    box: dict[str, Any] = {"name": "worker", "image": "x"}
    if limit:
        box["resources"] = {"limits": {"memory": limit}}
    return Job.from_json({**raw, "spec": {"template": {"spec": {"containers": [box]}}}})


OOM = {
    "phase": "Failed",
    "containerStatuses": [
        {"name": "worker", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}
    ],
}


def _oom_analysis(limit: str | None, peak_mib: int | None, note: str = "") -> Any:
    report = pod("p1", status=OOM)
    if peak_mib is not None:
        usage = peak_usage(ContainerPeaks(peak_mib * MIB, 0.5, None))
        report = replace(report, usage={"worker": usage})
    e = enrichment(_oom_job(limit), [report])
    return analyse(replace(e, usage_note=note)).headline


def test_an_oom_at_its_limit_says_peak_of_limit_and_that_the_limit_was_hit() -> None:
    cause = _oom_analysis("512Mi", 498)
    assert cause.title == "Container `worker` ran out of memory (OOMKilled, limit 512Mi)"
    assert "Peak memory 498Mi of limit 512Mi (97%): the container hit its memory limit" in (
        cause.explanation
    )
    assert "peak memory 498Mi of limit 512Mi (97%, Prometheus)" in cause.evidence
    assert cause.next_steps[0].startswith("Raise the memory limit of container `worker`")


def test_an_oom_well_under_its_limit_points_at_the_node() -> None:
    cause = _oom_analysis("2Gi", 600)
    assert "Peak memory 600Mi of limit 2Gi (29%)" in cause.explanation
    assert "most likely the node ran out of memory" in cause.explanation
    assert cause.next_steps[0].startswith("Check memory pressure on n1")
    without = _oom_analysis(None, 700)
    assert "Peak memory 700Mi, with no limit: the node ran out of memory" in without.explanation


def test_an_oom_without_a_peak_says_why_the_peak_is_unknown() -> None:
    note = "usage over time not available: metrics.prometheus is not configured; more"
    cause = _oom_analysis("512Mi", None, note)
    assert (
        "Peak memory is unknown (usage over time not available: metrics.prometheus is not "
        "configured), so whether it hit its limit or the node ran out of memory cannot be told"
    ) in cause.explanation


def _pod(name: str) -> Pod:
    meta = {"name": name, "namespace": "prod", "uid": name}
    return Pod.from_json(
        {"metadata": {**meta, "creationTimestamp": "2026-12-01T11:00:00Z"}, "status": {}}
    )


def test_usage_over_life_shows_peaks_or_says_why_not() -> None:
    j = _oom_job("512Mi")
    source = _Source({"p1": {"worker": ContainerPeaks(498 * MIB, 0.25, 0.4)}})
    usage, note = usage_over_life(source, j, [_pod("p1"), _pod("p2")])
    assert source.asked == [("prod", ["p1", "p2"])]
    assert str(usage["p1"]["worker"]) == "peak mem 498Mi, peak cpu 250m, throttled 40%"
    assert "from Prometheus" in note
    _, note = usage_over_life(_Source({}), j, [_pod("p1")])
    assert note.startswith("Prometheus has no samples of these pods' containers")
    failing = _Source(UsageUnavailableError("usage not available: Prometheus at x answered 503"))
    usage, note = usage_over_life(failing, j, [_pod("p1")])
    assert usage == {} and note == "usage not available: Prometheus at x answered 503"
    assert str(Usage("120m", "500Mi")) == "cpu 120m, mem 500Mi"


def test_an_oom_whose_peak_could_not_be_read_keeps_the_whole_reason() -> None:
    note = "usage not available: Prometheus at http://p:9090 answered 401; check the token"
    assert f"Peak memory is unknown ({note})" in _oom_analysis("512Mi", None, note).explanation


def test_google_credentials_sign_each_query_and_their_failure_says_what_to_grant() -> None:
    """Managed Service for Prometheus: Application Default Credentials' token per query."""
    pool = _Pool(ANSWERS)
    cfg = PrometheusConfig.model_validate(
        {
            "url": "https://monitoring.googleapis.com/v1/projects/p/location/global/prometheus",
            "auth": "google",
            "clusterLabel": "cluster",
        }
    )
    tokens = iter(["ya29.first", "ya29.second", "ya29.third"])
    client = Prometheus(
        cfg, "prod-eu", env={}, clock=lambda: NOW, pool=pool,  # type: ignore[arg-type]
        google_token=lambda: next(tokens),
    )  # fmt: skip
    client.peaks("batch", ["etl-1"], NOW - dt.timedelta(minutes=1), None)
    assert [s["headers"]["Authorization"] for s in pool.sent] == [
        "Bearer ya29.first",
        "Bearer ya29.second",
        "Bearer ya29.third",
    ]
    assert pool.sent[0]["url"].endswith("/location/global/prometheus/api/v1/query")

    def no_credentials() -> str:
        raise RuntimeError("Your default credentials were not found")

    broken = Prometheus(
        cfg, "prod-eu", env={}, clock=lambda: NOW, pool=_Pool(ANSWERS),  # type: ignore[arg-type]
        google_token=no_credentials,
    )  # fmt: skip
    with pytest.raises(UsageUnavailableError) as info:
        broken.peaks("batch", ["etl-1"], NOW, None)
    assert "no Google credentials for Managed Service for Prometheus" in str(info.value)
    assert "roles/monitoring.viewer" in str(info.value)


def test_a_pod_name_that_is_no_kubernetes_name_never_reaches_promql() -> None:
    pool = _Pool(ANSWERS)
    client = _client(pool)
    forged = 'x"} or vector(1) or {a="'
    assert client.peaks("batch", [forged], NOW - dt.timedelta(minutes=1), None) == {}
    assert pool.sent == []  # nothing asked
    client.peaks("batch", ["etl-1", forged], NOW - dt.timedelta(minutes=1), None)
    assert all('pod=~"etl-1"' in s["query"] and "vector" not in s["query"] for s in pool.sent)


def test_a_password_in_the_prometheus_url_is_not_in_the_report() -> None:
    client = _client(_Pool(status=503), url="http://jobwarden:s3cret-pass@prom.example:9090")
    with pytest.raises(UsageUnavailableError) as info:
        client.peaks("batch", ["etl-1"], NOW, None)
    assert "Prometheus at http://prom.example:9090 answered 503" in str(info.value)
    assert "s3cret-pass" not in str(info.value)
