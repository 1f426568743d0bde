"""The exporter against the real stack: Jobs really finish, messages really land in pstest.

Every test watches its own namespace and publishes to its own topic, and asserts on what
a subscriber receives: one message per transition, with the filter attributes and the
deterministic CloudEvent id, through watch expiry, API and Pub/Sub outages, restarts and
a second replica.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jobwarden.jobevent import JobEvent, event_id
from jobwarden.kubeapi import Credentials, KubeApi
from jobwarden_dev.localstack.processes import free_ports
from jobwarden_dev.localstack.stack import StackInfo
from jobwarden_exporter.leader import LeaseConfig
from jobwarden_exporter.server import StatusServer
from jobwarden_exporter.service import Exporter, ExporterStartupError
from tests.support.exporter import CLUSTER, Inbox, make_exporter
from tests.support.kube import job_condition, job_manifest, wait_for
from tests.support.tcpproxy import TcpProxy

JOBS = "/apis/batch/v1/namespaces/{ns}/jobs"


@pytest.fixture
def exporters() -> Iterator[list[Exporter]]:
    """Exporters a test started; stopped (and their leases released) afterwards."""
    started: list[Exporter] = []
    yield started
    for exporter in started:
        exporter.stop(timeout=2)


def create(api: KubeApi, ns: str, name: str, **kwargs: Any) -> str:
    """Create a Job; return its uid."""
    return str(api.create(JOBS.format(ns=ns), job_manifest(name, **kwargs))["metadata"]["uid"])


def finished(api: KubeApi, ns: str, name: str) -> dict[str, Any]:
    return wait_for(
        lambda: job_condition(api, ns, name, "Failed") or job_condition(api, ns, name, "Complete"),
        what=f"job {name} to finish",
    )


def start(exporter: Exporter, exporters: list[Exporter]) -> Exporter:
    exporters.append(exporter.start())
    assert exporter.wait_synced(30), exporter.health()
    return exporter


def test_succeeded_failed_and_oomkilled_jobs_are_each_published_once_with_their_ids(
    admin: KubeApi, namespace: str, topic: tuple[str, Inbox], exporters: list[Exporter]
) -> None:
    path, inbox = topic
    exporter = start(make_exporter(admin, path, namespace), exporters)
    uids = {
        "ok": create(admin, namespace, "ok"),
        "bad": create(admin, namespace, "bad", outcome="fail", exit_code=3),
        "oom": create(admin, namespace, "oom", outcome="oomkill"),
    }
    inbox.wait_for_jobs({"ok": "succeeded", "bad": "failed", "oom": "failed"})
    inbox.wait_for(lambda: len(inbox.of("bad", "event")) >= 1, what="the Job's Warning event")
    inbox.settle(4)

    assert inbox.counts() == {
        ("ok", "started"): 1,
        ("ok", "succeeded"): 1,
        ("bad", "started"): 1,
        ("bad", "failed"): 1,
        ("oom", "started"): 1,
        ("oom", "failed"): 1,
    }
    (failed,) = inbox.of("bad", "failed")
    assert failed.attributes == {
        "type": "failed",
        "cluster": CLUSTER,
        "namespace": namespace,
        "job": "bad",
        "reason": "BackoffLimitExceeded",
        "ce-specversion": "1.0",
        "ce-id": event_id(CLUSTER, uids["bad"], "failed"),
        "ce-source": f"//jobwarden/clusters/{CLUSTER}",
        "ce-type": "dev.jobwarden.job.v1.failed",
        "ce-subject": f"{namespace}/bad",
        "ce-datacontenttype": "application/json",
        "ce-time": failed.attributes["ce-time"],
    }
    body = JobEvent.model_validate(failed.data)
    assert body.id == failed.id and body.uid == uids["bad"]
    assert body.status.true_condition("Failed") is not None
    assert body.status.failed == 1 and body.status.start_time is not None
    live = job_condition(admin, namespace, "bad", "Failed") or {}
    assert failed.attributes["ce-time"] == live["lastTransitionTime"]
    (succeeded,) = inbox.of("ok", "succeeded")
    assert succeeded.id == event_id(CLUSTER, uids["ok"], "succeeded")
    assert succeeded.attributes["reason"] == "CompletionsReached"

    # the job controller's Warning, relayed once with the Event attached
    warnings = inbox.of("bad", "event")
    assert len({m.id for m in warnings}) == len(warnings) == 1
    assert warnings[0].attributes["eventType"] == "Warning"
    assert warnings[0].attributes["reason"] == "BackoffLimitExceeded"
    assert warnings[0].data["event"]["involvedObject"]["kind"] == "Job"

    metrics = exporter.metrics
    assert metrics.value("published_total") == len(inbox.messages)
    assert metrics.value("dropped_total") == 0
    assert metrics.value("jobs_seen_total") == 3


def test_watch_expiry_many_times_neither_loses_nor_repeats_a_transition(
    admin: KubeApi, namespace: str, topic: tuple[str, Inbox], exporters: list[Exporter]
) -> None:
    path, inbox = topic
    exporter = start(make_exporter(admin, path, namespace, watch_timeout=1), exporters)
    outcomes = {f"job-{i}": "fail" if i % 3 == 0 else "succeed" for i in range(10)}
    for name, outcome in outcomes.items():
        create(admin, namespace, name, outcome=outcome, after=1)
        time.sleep(0.7)  # spread over several 1 s watches
    expected = {n: "failed" if o == "fail" else "succeeded" for n, o in outcomes.items()}
    inbox.wait_for_jobs(expected)
    inbox.settle(4)

    assert inbox.counts() == {
        **{(n, "started"): 1 for n in outcomes},
        **{(n, t): 1 for n, t in expected.items()},
    }
    assert (
        exporter.metrics.value(
            "watch_restarts_total", resource=f"jobs in {namespace}", reason="expired"
        )
        >= 8
    )
    watch = exporter.watch
    assert watch is not None
    assert [r.lists for r in watch.job_reflectors] == [1]  # every expiry resumed; no relist


def test_a_failure_while_the_exporter_is_down_is_published_after_it_restarts(
    admin: KubeApi, namespace: str, topic: tuple[str, Inbox], exporters: list[Exporter]
) -> None:
    path, inbox = topic
    first = start(make_exporter(admin, path, namespace), exporters)
    create(admin, namespace, "slow", outcome="fail", after=5)
    inbox.wait_for_jobs({"slow": "started"})
    first.stop()

    create(admin, namespace, "meanwhile", outcome="fail")
    finished(admin, namespace, "slow")
    finished(admin, namespace, "meanwhile")
    assert not inbox.of("slow", "failed")

    start(make_exporter(admin, path, namespace), exporters)
    inbox.wait_for_jobs({"slow": "failed", "meanwhile": "failed"})
    inbox.settle(3)
    assert inbox.counts() == {
        ("slow", "started"): 1,
        ("slow", "failed"): 1,
        ("meanwhile", "failed"): 1,  # seen finished: its terminal transition, no stale start
    }


def test_api_server_unreachable_mid_watch_relists_and_misses_nothing(
    stack: StackInfo,
    admin: KubeApi,
    namespace: str,
    topic: tuple[str, Inbox],
    exporters: list[Exporter],
) -> None:
    path, inbox = topic
    proxy = TcpProxy(stack.server.removeprefix("https://")).start()
    credentials = stack.admin_credentials()
    api = KubeApi(
        Credentials(
            server=f"https://{proxy.address}",
            ca_file=credentials.ca_file,
            cert_file=credentials.cert_file,
            key_file=credentials.key_file,
        )
    )
    exporter = start(make_exporter(api, path, namespace, watch_timeout=30), exporters)
    server = StatusServer(exporter.metrics, exporter.health, host="127.0.0.1", port=0).start()
    try:
        create(admin, namespace, "before", outcome="fail", after=4)
        inbox.wait_for_jobs({"before": "started"})

        proxy.cut()  # what an API server restart looks like from the exporter
        create(admin, namespace, "during", outcome="fail")
        finished(admin, namespace, "before")
        finished(admin, namespace, "during")
        wait_for(lambda: not exporter.health()[0], what="the exporter to notice")
        status, text = get(f"http://127.0.0.1:{server.port}/healthz")
        assert status == 503 and "failing" in text
        # liveness stays green: restarting now would only drop the buffered transitions
        assert get(f"http://127.0.0.1:{server.port}/livez") == (200, "ok: serving\n")

        proxy.restore()
        inbox.wait_for_jobs({"before": "failed", "during": "failed"})
        inbox.settle(3)
        assert inbox.counts() == {
            ("before", "started"): 1,
            ("before", "failed"): 1,
            ("during", "started"): 1,
            ("during", "failed"): 1,
        }
        watch = exporter.watch
        assert watch is not None and watch.job_reflectors[0].lists >= 2  # relisted
        wait_for(lambda: exporter.health()[0], what="healthy again")
        assert get(f"http://127.0.0.1:{server.port}/healthz")[0] == 200
    finally:
        server.stop()
        proxy.stop()


def test_pubsub_unreachable_for_a_while_then_every_transition_arrives_once(
    stack: StackInfo,
    admin: KubeApi,
    namespace: str,
    topic: tuple[str, Inbox],
    exporters: list[Exporter],
) -> None:
    path, inbox = topic
    proxy = TcpProxy(stack.pubsub_host).start()
    exporter = start(make_exporter(admin, path, namespace, emulator_host=proxy.address), exporters)
    try:
        proxy.cut()
        names = {"p-ok": "succeed", "p-bad": "fail", "p-oom": "oomkill"}
        for name, outcome in names.items():
            create(admin, namespace, name, outcome=outcome)
        for name in names:
            finished(admin, namespace, name)
        metrics = exporter.metrics
        wait_for(lambda: metrics.value("transitions_total") >= 6, what="transitions detected")
        wait_for(lambda: metrics.value("publish_retries_total") >= 6, what="failed publishes")
        time.sleep(3)  # stay away for a while longer
        assert metrics.value("buffer_size") >= 6 and metrics.value("publish_lag_seconds") > 3
        assert inbox.pull() == 0

        proxy.restore()
        inbox.wait_for_jobs({"p-ok": "succeeded", "p-bad": "failed", "p-oom": "failed"})
        inbox.settle(3)
        counts = inbox.counts()
        assert counts == {(n, t): 1 for n in names for t in ("started", terminal(names[n]))}
        assert metrics.value("dropped_total") == 0
        assert metrics.value("buffer_size") == 0 and metrics.value("publish_lag_seconds") == 0
    finally:
        proxy.stop()


def terminal(outcome: str) -> str:
    return "succeeded" if outcome == "succeed" else "failed"


def test_a_job_stuck_pending_is_reported_once_with_its_pods_warning_events(
    admin: KubeApi, namespace: str, topic: tuple[str, Inbox], exporters: list[Exporter]
) -> None:
    path, inbox = topic
    stuck_after = dt.timedelta(seconds=3)
    start(make_exporter(admin, path, namespace, stuck_after=stuck_after), exporters)
    create(admin, namespace, "pull", outcome="imagepull")
    create(admin, namespace, "bounded", outcome="imagepull", activeDeadlineSeconds=600)
    inbox.wait_for_jobs({"pull": "stuck"})
    inbox.wait_for(lambda: bool(inbox.of("pull", "event")), what="the pod's Warning event")
    inbox.settle(4)
    (stuck,) = inbox.of("pull", "stuck")
    assert stuck.attributes["reason"] == "PendingTooLong"
    assert "activeDeadlineSeconds" in stuck.data["message"]
    assert not inbox.of("bounded", "stuck")  # a deadline will end it
    events = inbox.of("pull", "event")
    assert len({m.id for m in events}) == len(events)  # one message per (event, count)
    assert {m.data["event"]["involvedObject"]["kind"] for m in events} == {"Pod"}
    assert events[0].attributes["eventType"] == "Warning"


def test_two_replicas_with_a_lease_publish_each_transition_once_and_hand_over(
    admin: KubeApi, namespace: str, topic: tuple[str, Inbox], exporters: list[Exporter]
) -> None:
    path, inbox = topic

    def replica(identity: str) -> Exporter:
        lease = LeaseConfig(namespace, "exporter", identity, 4.0, 3.0, 0.5)
        exporter = make_exporter(admin, path, namespace, lease=lease)
        exporters.append(exporter.start())
        return exporter

    a, b = replica("replica-a"), replica("replica-b")
    wait_for(lambda: a.is_leader or b.is_leader, what="a leader")
    time.sleep(2)
    assert [a.is_leader, b.is_leader].count(True) == 1
    leader, standby = (a, b) if a.is_leader else (b, a)
    assert leader.wait_synced(30)
    assert standby.health() == (
        True,
        f"standby (lease held by {leader.lease and leader.lease.identity})",
    )
    for i in range(3):
        create(admin, namespace, f"r-{i}", outcome="fail")
    inbox.wait_for_jobs({f"r-{i}": "failed" for i in range(3)})
    inbox.settle(3)
    assert inbox.counts() == {(f"r-{i}", t): 1 for i in range(3) for t in ("started", "failed")}
    assert leader.metrics.value("is_leader") == 1 and standby.metrics.value("is_leader") == 0
    assert standby.metrics.value("transitions_total") == 0

    leader.stop()  # releases the lease: the standby takes over at its next try
    wait_for(lambda: standby.is_leader, timeout=10, what="the standby to take over")
    create(admin, namespace, "after", outcome="fail")
    inbox.wait_for_jobs({"after": "failed"})
    inbox.settle(3)
    assert len(inbox.of("after", "failed")) == 1
    # the new leader's first list re-publishes terminal transitions: same ids, harmless
    for i in range(3):
        assert len({m.id for m in inbox.of(f"r-{i}", "failed")}) == 1
    lease = admin.get(f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/exporter")
    assert lease["spec"]["holderIdentity"] == standby.lease.identity  # type: ignore[union-attr]
    assert lease["spec"]["leaseTransitions"] >= 1


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read().decode()


def metric(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {line_start} in /metrics:\n{text}")


def cli(stack: StackInfo, *args: str, kubeconfig: str | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, **stack.env(), "PYTHONUNBUFFERED": "1"}
    env.pop("JOBWARDEN_CONFIG", None)
    return subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).resolve().parents[2] / "exporter" / "main.py"),
            "--cluster",
            CLUSTER,
            "--kubeconfig",
            kubeconfig or stack.kubeconfig,
            *args,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_the_command_serves_health_and_metrics_and_a_crashed_leader_is_replaced(
    stack: StackInfo,
    admin: KubeApi,
    namespace: str,
    topic: tuple[str, Inbox],
    exporters: list[Exporter],
) -> None:
    path, inbox = topic
    (port,) = free_ports(1)
    lease_args = ["--lease-namespace", namespace, "--lease-name", "cli", "--lease-duration", "3"]
    process = cli(
        stack,
        *("--topic", path, "--namespace", namespace, "--port", str(port), "--host", "127.0.0.1"),
        *("--watch-timeout", "2", "--identity", "cli-replica", *lease_args),
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(
            lambda: process.poll() is None and get_or_none(f"{base}/healthz") == 200,
            timeout=30,
            what="the exporter's /healthz",
        )
        create(admin, namespace, "cli-bad", outcome="fail")
        inbox.wait_for_jobs({"cli-bad": "failed"})
        status, health = get(f"{base}/healthz")
        assert status == 200 and health.startswith("ok: watching 1 Jobs")
        status, text = get(f"{base}/metrics")
        assert status == 200
        series = f'{{cluster="{CLUSTER}",transition="failed"}}'
        assert metric(text, f"jobwarden_exporter_transitions_total{series}") == 1
        wait_for(
            lambda: (
                metric(get(f"{base}/metrics")[1], f"jobwarden_exporter_published_total{series}")
                == 1
            ),
            what="published_total",
        )
        assert metric(text, f'jobwarden_exporter_jobs_seen_total{{cluster="{CLUSTER}"}}') == 1
        assert metric(text, f'jobwarden_exporter_is_leader{{cluster="{CLUSTER}"}}') == 1
        assert metric(text, f'jobwarden_exporter_dropped_total{{cluster="{CLUSTER}"}}') == 0
        assert metric(text, "jobwarden_exporter_watch_restarts_total{") >= 0

        process.send_signal(signal.SIGKILL)  # a crash: the lease is not released
        process.wait(10)
        create(admin, namespace, "cli-after", outcome="fail")
        lease = LeaseConfig(namespace, "cli", "in-process", 3.0, 2.0, 0.5)
        successor = make_exporter(admin, path, namespace, lease=lease)
        exporters.append(successor.start())
        started = time.monotonic()
        wait_for(lambda: successor.is_leader, timeout=15, what="takeover after lease expiry")
        assert time.monotonic() - started >= 2.5  # waited for the lease to expire
        inbox.wait_for_jobs({"cli-after": "failed"})
        inbox.settle(2)
        assert len(inbox.of("cli-after", "failed")) == 1
        assert {m.id for m in inbox.of("cli-bad", "failed")} == {
            inbox.of("cli-bad", "failed")[0].id
        }
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def get_or_none(url: str) -> int | None:
    try:
        return get(url)[0]
    except OSError:
        return None


def test_the_command_stops_cleanly_on_sigterm_and_releases_its_lease(
    stack: StackInfo, admin: KubeApi, namespace: str, topic: tuple[str, Inbox]
) -> None:
    path, _ = topic
    (port,) = free_ports(1)
    process = cli(
        stack,
        *("--topic", path, "--namespace", namespace, "--port", str(port), "--host", "127.0.0.1"),
        *("--lease-namespace", namespace, "--lease-name", "term", "--identity", "term-replica"),
    )
    lease_path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/term"
    try:
        wait_for(
            lambda: admin.get(lease_path)["spec"].get("holderIdentity") == "term-replica",
            timeout=30,
            what="the lease",
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
        assert not admin.get(lease_path)["spec"].get("holderIdentity")
    finally:
        if process.poll() is None:
            process.kill()


def test_a_token_that_cannot_watch_jobs_fails_at_start_naming_the_permission(
    stack: StackInfo,
    namespace: str,
    topic: tuple[str, Inbox],
    mint_token: Callable[..., str],
    client_as: Callable[[str], KubeApi],
    tmp_path: Path,
) -> None:
    path, _ = topic
    token = mint_token(
        "no-watch",
        [
            {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["list", "watch"]},
        ],
    )
    exporter = make_exporter(client_as(token), path, namespace)
    with pytest.raises(ExporterStartupError) as caught:
        exporter.start()
    message = str(caught.value)
    assert f"`watch` on `jobs.batch` in namespace {namespace}" in message
    assert "`list` on `jobs.batch`" not in message  # only what is missing

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: c\n  cluster:\n    server: {stack.server}\n"
        f"    certificate-authority: {stack.ca_file}\n"
        f"users:\n- name: u\n  user:\n    token: {token}\n"
        "contexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\n"
    )
    process = cli(
        stack,
        "--topic",
        path,
        "--namespace",
        namespace,
        "--port",
        "0",
        kubeconfig=str(kubeconfig),
    )
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2
    assert f"`watch` on `jobs.batch` in namespace {namespace}" in output
    assert token not in output


def test_a_missing_topic_fails_at_start_saying_how_to_create_it(
    stack: StackInfo, namespace: str, emulator_env: dict[str, str]
) -> None:
    process = cli(
        stack,
        *("--topic", f"projects/{stack.pubsub_project}/topics/not-there", "--port", "0"),
        *("--namespace", namespace),
    )
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "topics/not-there does not exist" in output
    assert f"gcloud pubsub topics create not-there --project={stack.pubsub_project}" in output


def test_a_job_suspended_and_resumed_twice_is_published_each_time_with_distinct_ids(
    admin: KubeApi, namespace: str, topic: tuple[str, Inbox], exporters: list[Exporter]
) -> None:
    path, inbox = topic
    start(make_exporter(admin, path, namespace), exporters)
    create(admin, namespace, "pausing", after=120, suspend=True)
    job_path = f"{JOBS.format(ns=namespace)}/pausing"
    expected: list[str] = ["suspended"]
    inbox.wait_for(lambda: len(inbox.of("pausing", "suspended")) == 1, what="first suspended")
    for suspend, transition in ((False, "resumed"), (True, "suspended"), (False, "resumed")):
        admin.merge_patch(job_path, {"spec": {"suspend": suspend}})
        expected.append(transition)
        inbox.wait_for(
            lambda t=transition: len(inbox.of("pausing", t)) == expected.count(t),
            what=f"{transition} #{expected.count(transition)}",
        )
    inbox.settle(3)

    suspended, resumed = inbox.of("pausing", "suspended"), inbox.of("pausing", "resumed")
    assert (len(suspended), len(resumed)) == (2, 2)
    # each occurrence has its own id (consumers deduplicate on it), stable per occurrence
    assert len({m.id for m in suspended + resumed}) == 4
    for message in suspended + resumed:
        assert JobEvent.model_validate(message.data).id == message.id
    assert len(inbox.of("pausing", "started")) == 1
