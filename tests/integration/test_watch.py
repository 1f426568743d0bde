"""`jobwarden watch` as a user runs it, against the local stack's kubeconfig (real API server).

One process, the real exporter and the real workflows: a failing Job is reported with its
cause and files; SIGKILL in the middle and a restart make no second report or post (the
webhook is a real receiver); two clusters are watched by one process; start-up errors
(a cluster out of reach, missing permissions) say what to do; Ctrl-C stops it.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobwarden.kubeapi import KubeApi
from jobwarden_dev.localstack.stack import StackInfo
from tests.support.kube import (
    job_condition,
    job_manifest,
    token_kubeconfig,
    unreachable_kubeconfig,
    wait_for,
)
from tests.support.watch import WatchProcess, merged_kubeconfig
from tests.support.webhook import WebhookReceiver

pytestmark = pytest.mark.stack
EVENT_WORKFLOWS = {"jobFailureReporter", "jobInfoEnricher", "jobEventsEnricher", "jobPodEnricher"}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "jobwarden.yaml"
    path.write_text(
        json.dumps(
            {
                "sinks": {
                    "storage": {"url": "file:///nowhere/overridden-by-reports"},
                    "webhooks": [
                        {
                            "name": "audit",
                            "type": "json",
                            "urlEnv": "HOOK_URL",
                            "secretEnv": "HOOK_SECRET",
                        }
                    ],
                }
            }
        )
    )
    return path


@pytest.fixture
def watching(
    stack: StackInfo, namespace: str, tmp_path: Path, config: Path, webhook: WebhookReceiver
) -> Iterator[list[WatchProcess]]:
    """Processes started by the test; each is stopped at the end."""
    started: list[WatchProcess] = []
    yield started
    for proc in started:
        proc.stop()


def _watch(started: list[WatchProcess], args: list[str], webhook: WebhookReceiver) -> WatchProcess:
    env = {"HOOK_URL": webhook.url + "/hook", "HOOK_SECRET": "s3cret", "KUBECONFIG": ""}
    proc = WatchProcess(args, env=env)
    started.append(proc)
    return proc


def _fail(api: KubeApi, namespace: str, name: str, **kw: Any) -> None:
    kw.setdefault("outcome", "fail")
    api.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", job_manifest(name, **kw))


def _stored(root: Path, workflow: str, job: str | None = None) -> list[Path]:
    return [
        p
        for p in root.rglob(f"{workflow}/*.json")
        if job is None or json.loads(p.read_text())["job"] == job
    ]


def _claimed_not_done(reports: Path, report_id: str) -> bool:
    """A post claimed (deliveries/<id>/audit.claim-N) whose outcome was never recorded."""
    folder = reports / "deliveries" / report_id
    return any(folder.glob("audit.claim-*")) and not (folder / "audit.json").exists()


def test_a_failing_job_is_reported_on_the_terminal_with_its_cause_and_files(
    stack: StackInfo,
    admin: KubeApi,
    namespace: str,
    tmp_path: Path,
    config: Path,
    webhook: WebhookReceiver,
    watching: list[WatchProcess],
) -> None:
    reports = tmp_path / "reports"
    proc = _watch(
        watching,
        [
            "--kubeconfig",
            stack.kubeconfig,
            "--namespace",
            namespace,
            "--reports",
            str(reports),
            "--config",
            str(config),
            "--port",
            "0",
        ],
        webhook,
    )
    url = proc.started()
    head = proc.lines[0]
    assert f"watching Jobs in {namespace} of local (context local)" in head
    assert f"reports to file://{reports}" in head and url.startswith("http://127.0.0.1:")
    _fail(
        admin,
        namespace,
        "import",
        exit_code=2,
        after=2,
        logs='reading input\nERROR: relation "orders" does not exist',
    )
    line = proc.wait_line(lambda ln: f"local/{namespace}/import  jobFailureReporter" in ln)
    when, where, workflow, cause, path = line.split("  ")
    assert time.strptime(when, "%Y-%m-%d %H:%M:%S")
    assert (where, workflow) == (f"local/{namespace}/import", "jobFailureReporter")
    assert cause.startswith(f"Job {namespace}/import failed: Container `main` exited with code 2")
    assert 'ERROR: relation "orders" does not exist' in cause
    page = Path(path)
    assert page.is_file() and page.suffix == ".html" and str(page).startswith(str(reports))
    for suffix in (".json", ".md"):
        assert page.with_suffix(suffix).is_file()
    report = json.loads(page.with_suffix(".json").read_text())
    assert report["cluster"] == "local" and report["severity"] == "error"
    assert "Next steps" in page.with_suffix(".md").read_text()
    # every event workflow reports the failure, once each, one line each
    for wf in EVENT_WORKFLOWS:
        proc.wait_line(lambda ln, wf=wf: f"local/{namespace}/import  {wf}  " in ln)
    wait_for(lambda: webhook.delivered(), what="the failure report's post")
    (post,) = [r for r in webhook.delivered() if r.json()["workflow"] == "jobFailureReporter"]
    assert post.json()["id"] == report["id"]


def test_sigkill_mid_run_and_restart_make_no_second_report_or_post(
    stack: StackInfo,
    admin: KubeApi,
    namespace: str,
    tmp_path: Path,
    config: Path,
    webhook: WebhookReceiver,
    watching: list[WatchProcess],
) -> None:
    reports = tmp_path / "reports"
    args = ["--kubeconfig", stack.kubeconfig, "--namespace", namespace,
            "--reports", str(reports), "--config", str(config), "--port", "0"]  # fmt: skip
    first = _watch(watching, args, webhook)
    first.started()
    for n in range(3):
        _fail(admin, namespace, f"crash-{n}", outcome="oomkill" if n % 2 else "fail")
    first.wait_line(lambda ln: f"/{namespace}/crash-" in ln and "jobFailureReporter" in ln)
    first.signal(signal.SIGKILL)  # mid-run: some reports made, others not yet
    first.proc.wait(10)
    killed_with = len(first.reports())
    _fail(admin, namespace, "while-down")  # fails while nothing watches
    wait_for(lambda: job_condition(admin, namespace, "while-down", "Failed"), timeout=90)

    second = _watch(watching, args, webhook)
    second.started()
    jobs = [f"crash-{n}" for n in range(3)] + ["while-down"]
    for job in jobs:
        for wf in EVENT_WORKFLOWS:
            wait_for(
                lambda job=job, wf=wf: _stored(reports, wf, job), timeout=120, what=f"{wf} {job}"
            )
    failure_ids = [json.loads(p.read_text())["id"] for p in _stored(reports, "jobFailureReporter")]

    def posted_or_in_flight() -> bool:
        posted = {r.json()["id"] for r in webhook.delivered()}
        # a post claimed by the killed process stays claimed for its lease, then is made once
        return all(i in posted or _claimed_not_done(reports, i) for i in failure_ids)

    wait_for(posted_or_in_flight, what="one post per failed Job", timeout=90)
    time.sleep(3)  # anything duplicated would arrive by now: the queue is idle
    made = [json.loads(p.read_text()) for wf in EVENT_WORKFLOWS for p in _stored(reports, wf)]
    per_job = Counter((r["job"], r["workflow"]) for r in made)
    # one failure report, info and pod report per failed Job; the events enricher reports the
    # failure and the relayed Warning: as many for a Job the killed process saw as for
    # `while-down`, which only the second process saw
    assert {per_job[j, wf] for j in jobs for wf in EVENT_WORKFLOWS - {"jobEventsEnricher"}} == {1}
    assert len({per_job[j, "jobEventsEnricher"] for j in jobs}) == 1, per_job
    assert set(Counter((r["workflow"], r["sourceEventId"]) for r in made).values()) == {1}
    posts = Counter(r.json()["id"] for r in webhook.delivered())
    assert posts and set(posts.values()) == {1}, posts
    # the terminal, across both runs, named each report once
    lines = first.reports()[:killed_with] + second.reports()
    named = Counter(tuple(ln.split("  ")[1:3]) for ln in lines)
    assert {k: n for k, n in named.items() if k[1] in EVENT_WORKFLOWS} == Counter(
        (f"local/{namespace}/{r['job']}", r["workflow"]) for r in made
    )


def test_one_process_watches_two_clusters_and_reports_under_each(
    stack: StackInfo,
    stack_b: StackInfo,
    admin: KubeApi,
    tmp_path: Path,
    config: Path,
    webhook: WebhookReceiver,
    watching: list[WatchProcess],
) -> None:
    from jobwarden.cluster import KubeconfigSource

    admin_b = KubeApi(KubeconfigSource(stack_b.kubeconfig))
    ns = f"two-{int(time.time())}"
    for api in (admin, admin_b):
        api.create("/api/v1/namespaces", {"metadata": {"name": ns}})
    kubeconfig = merged_kubeconfig(tmp_path / "kubeconfig", stack, stack_b)
    reports = tmp_path / "reports"
    proc = _watch(
        watching,
        ["--kubeconfig", str(kubeconfig), "--context", "local", "--context", "cluster-b",
         "--namespace", ns, "--reports", str(reports), "--config", str(config), "--port", "0"],
        webhook,
    )  # fmt: skip
    proc.started()
    assert "of local (context local), cluster-b (context cluster-b)" in proc.lines[0]
    _fail(admin, ns, "in-a")
    _fail(admin_b, ns, "in-b", outcome="oomkill")
    a = proc.wait_line(lambda ln: f"local/{ns}/in-a  jobFailureReporter" in ln)
    b = proc.wait_line(lambda ln: f"cluster-b/{ns}/in-b  jobFailureReporter" in ln)
    assert "OOMKilled" in b and "exited with code 1" in a
    assert (reports / "local" / ns / "in-a").is_dir()
    assert (reports / "cluster-b" / ns / "in-b").is_dir()
    for api in (admin, admin_b):
        api.delete(f"/api/v1/namespaces/{ns}")


def test_a_cluster_out_of_reach_stops_the_start_with_a_clear_error(
    stack: StackInfo, tmp_path: Path, webhook: WebhookReceiver, watching: list[WatchProcess]
) -> None:
    kubeconfig = unreachable_kubeconfig(tmp_path / "kubeconfig", stack)
    proc = _watch(watching, ["--kubeconfig", str(kubeconfig), "--port", "0"], webhook)
    assert proc.proc.wait(120) == 2
    time.sleep(0.3)
    text = "\n".join(proc.errors)
    assert "error: cluster local: cannot reach the API server" in text, text


def test_missing_permissions_are_named_with_the_rules_that_grant_them(
    stack: StackInfo,
    namespace: str,
    tmp_path: Path,
    mint_token: Any,
    webhook: WebhookReceiver,
    watching: list[WatchProcess],
) -> None:
    token = mint_token(
        "watcher", [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["list"]}]
    )
    kubeconfig = token_kubeconfig(tmp_path / "kubeconfig", stack, token)
    proc = _watch(
        watching,
        ["--kubeconfig", str(kubeconfig), "--cluster-name", "mine", "--namespace", namespace,
         "--port", "0"],
        webhook,
    )  # fmt: skip
    assert proc.proc.wait(60) == 2
    time.sleep(0.3)
    text = "\n".join(proc.errors)
    assert f"system:serviceaccount:{namespace}:watcher" in text, text
    assert f"`watch` on `jobs.batch` in namespace {namespace}" in text
    assert "`list` on `events`" in text and "a Role + RoleBinding" in text
    # and what the report workflows read, checked at the start too
    assert f"`get` on `jobs.batch` in namespace {namespace}" in text
    assert f"`list` on `pods` in namespace {namespace}" in text


def test_ctrl_c_stops_watch_cleanly(
    stack: StackInfo, tmp_path: Path, webhook: WebhookReceiver, watching: list[WatchProcess]
) -> None:
    proc = _watch(
        watching,
        ["--kubeconfig", stack.kubeconfig, "--reports", str(tmp_path / "r"), "--port", "0"],
        webhook,
    )
    proc.started()
    began = time.monotonic()
    proc.signal(signal.SIGINT)
    assert proc.proc.wait(30) == 0
    took = time.monotonic() - began
    proc.wait_line(lambda ln: ln == "stopped", timeout=5)
    # the promise on the terminal: Ctrl-C stops within two seconds, the process gone
    assert took < 2.0, f"watch took {took:.2f}s to stop after SIGINT"
