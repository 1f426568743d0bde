"""Record the Kubernetes API answers that the event-path unit tests replay.

Each scenario creates real Jobs on the local stack that end the way their pod templates
choose (KWOK: README "Pod outcomes chosen by the test"), waits for the real job
controller to mark them, then posts the Eventarc Pub/Sub CloudEvent announcing the
transition to each workflow's real function (functions-framework test client) with
cluster `local` reached through a `RecordingTransport`. So exactly the requests the code
makes are recorded, with the answers the real API server gave. One file per scenario:
`tests/fixtures/recorded/<scenario>.json` (format: `jobwarden_dev.apirecording`). The files
hold no credentials: request headers are not recorded, the server's address is replaced
by `https://kube-apiserver.invalid`, and `metadata.managedFields` is dropped.

Re-record (after a change makes the code read something the recording lacks — the unit
tests then fail with `NotRecordedError` naming the request — or to add a scenario):

    .venv/bin/python -m tests.support.record_api                 # every scenario
    .venv/bin/python -m tests.support.record_api oomkilled gone  # only these
    .venv/bin/python -m tests.support.record_api --stack-dir .jobwarden/local  # a running
                                                                  # stack (`make up`)
or `make record`. Without `--stack-dir` a stack is started in a temporary directory and
stopped at the end (the stack's binaries must be built: `make tools`). Then run
`.venv/bin/pytest tests/unit/test_event_path.py` and commit the changed fixtures.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3

from jobwarden.errors import NotFoundError
from jobwarden.kube.labels import RETRY_OF
from jobwarden.kubeapi import KubeApi, Urllib3Transport
from jobwarden_dev.apirecording import Exchange, Recording, RecordingPool, RecordingTransport
from jobwarden_dev.localstack.stack import LocalStack, StackInfo
from tests.support.kube import job_manifest, wait_for
from tests.support.replay import (
    FUNCTIONS,
    RECORDED,
    REPORT_WORKFLOWS,
    default_runtime,
    function_client,
    make_runtime,
    memory_store,
    post_event,
)

JSON = dict[str, Any]
ALL = (*REPORT_WORKFLOWS, "jobPerformanceAnalysis")
REPORTS = tuple(REPORT_WORKFLOWS)  # a stuck Job: every report, no run to record
WORKER = {
    "name": "worker",
    "image": "registry.example/batch/worker:1.4",
    "command": ["worker", "--run"],
    "resources": {"requests": {"memory": "256Mi", "cpu": "100m"}, "limits": {"memory": "512Mi"}},
}
LOG_ERROR = 'ERROR: relation "orders" does not exist'


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    job: str  # the Job announced
    transition: str  # what the exporter announces
    workflows: tuple[str, ...]
    create: Callable[[KubeApi, str], None]
    ready: Callable[[KubeApi, str, str], bool]  # (api, namespace, job) -> settled?
    gone: bool = False  # delete the Job before the functions run
    extra: JSON = field(default_factory=dict)
    #: Then announced in this order to the failure reporter, with one store throughout, so
    #: its run records (`workflows.streaks`) evolve as in a deployment: (job, transition).
    sequence: tuple[tuple[str, str], ...] = ()


def _jobs(ns: str) -> str:
    return f"/apis/batch/v1/namespaces/{ns}/jobs"


def _condition(job: JSON, kind: str) -> JSON | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind and cond.get("status") == "True":
            return dict(cond)
    return None


def _pods(api: KubeApi, ns: str, job: str) -> list[JSON]:
    items = api.get(
        f"/api/v1/namespaces/{ns}/pods", labelSelector=f"batch.kubernetes.io/job-name={job}"
    ).get("items", [])
    return list(items)


def _settled(kind: str) -> Callable[[KubeApi, str, str], bool]:
    """The Job has condition `kind`, no active pods, and its pods are terminal or gone."""

    def check(api: KubeApi, ns: str, name: str) -> bool:
        job = api.get(f"{_jobs(ns)}/{name}")
        if not _condition(job, kind) or (job.get("status") or {}).get("active"):
            return False
        pods = _pods(api, ns, name)
        return all(
            (p.get("status") or {}).get("phase") in ("Succeeded", "Failed")
            and not p["metadata"].get("deletionTimestamp")
            for p in pods
        )

    return check


def _image_pull_backoff(api: KubeApi, ns: str, name: str) -> bool:
    for pod in _pods(api, ns, name):
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (status.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in ("ImagePullBackOff", "ErrImagePull"):
                return True
    return False


def _unschedulable(api: KubeApi, ns: str, name: str) -> bool:
    for pod in _pods(api, ns, name):
        for cond in (pod.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("reason") == "Unschedulable":
                return True
    return False


def _create(manifest: JSON) -> Callable[[KubeApi, str], None]:
    def create(api: KubeApi, ns: str) -> None:
        api.create(_jobs(ns), manifest)

    return create


def _worker_job(name: str, outcome: str, **kw: Any) -> JSON:
    return job_manifest(name, outcome=outcome, containers=[dict(WORKER)], **kw)


def _cron_runs(api: KubeApi, ns: str) -> None:
    """A CronJob with a successful run, then a failed one (the failure reporter's history)."""
    template = _worker_job("nightly", "fail", backoff_limit=0)
    cron = api.create(
        f"/apis/batch/v1/namespaces/{ns}/cronjobs",
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "nightly-backup"},
            "spec": {"schedule": "0 3 1 1 *", "jobTemplate": {"spec": template["spec"]}},
        },
    )
    owner = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "name": "nightly-backup",
        "uid": cron["metadata"]["uid"],
        "controller": True,
    }
    ok = _worker_job("nightly-backup-1", "succeed", logs="backed up 31 tables")
    ok["metadata"]["ownerReferences"] = [owner]
    api.create(_jobs(ns), ok)
    wait_for(lambda: _condition(api.get(f"{_jobs(ns)}/nightly-backup-1"), "Complete"), timeout=90)
    failed = _worker_job(
        "nightly-backup-2",
        "fail",
        exit_code=3,
        after=2,
        logs="dumping table orders\nTraceback (most recent call last):\nKeyError: 'region'",
    )
    failed["metadata"]["ownerReferences"] = [owner]
    api.create(_jobs(ns), failed)


def _cron_streak(api: KubeApi, ns: str) -> None:
    """CronJob nightly-sync: a run succeeds, two fail the same way, the fourth succeeds.

    The Jobs are made by hand with the CronJob as their controller (its schedule never comes
    during a recording); `failedJobsHistoryLimit: 5` keeps them all, so each announcement
    finds its Job (the integration test runs the real cronjob controller with the defaults).
    """
    template = _worker_job("nightly-sync", "fail", backoff_limit=0)
    cron = api.create(
        f"/apis/batch/v1/namespaces/{ns}/cronjobs",
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "nightly-sync", "labels": {"team": "data"}},
            "spec": {
                "schedule": "0 3 1 1 *",
                "failedJobsHistoryLimit": 5,
                "jobTemplate": {"spec": template["spec"]},
            },
        },
    )
    owner = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "name": "nightly-sync",
        "uid": cron["metadata"]["uid"],
        "controller": True,
    }
    for i, outcome in enumerate(("succeed", "fail", "fail", "succeed")):
        name = f"nightly-sync-{i}"
        logs = "synced 40 tables" if outcome == "succeed" else "syncing\nERROR: upstream 503"
        manifest = _worker_job(name, outcome, exit_code=4, after=1, logs=logs, backoff_limit=0)
        manifest["metadata"]["ownerReferences"] = [owner]
        api.create(_jobs(ns), manifest)
        kind = "Complete" if outcome == "succeed" else "Failed"
        wait_for(lambda name=name, kind=kind: _settled(kind)(api, ns, name), timeout=90)
        time.sleep(1.1)  # distinct finish times (the API's times have whole seconds)


def _retry_job() -> JSON:
    """The new Job a restart with increaseMemory makes of an OOMKilled `resize` (the
    annotations and label `jobwarden.actions.restart` writes), which then completes."""
    worker = {**WORKER, "resources": {"limits": {"memory": "768Mi"}}}
    manifest = job_manifest("resize-retry-1", outcome="succeed", after=1, containers=[worker])
    uid = "5d8f7a9e-0c1b-4e2f-9a3d-7b6c5e4f3a21"  # the original's uid (the original is gone)
    manifest["metadata"]["labels"] = {RETRY_OF: uid}
    manifest["metadata"]["annotations"] = {
        "jobwarden.dev/restarted-from": "resize",
        "jobwarden.dev/restarted-from-uid": uid,
        "jobwarden.dev/restarted-by": "system:serviceaccount:ops:oncall",
        RETRY_OF: uid,
        "jobwarden.dev/memory-raised": "worker limit 512Mi->768Mi",
    }
    return manifest


SCENARIOS = [
    Scenario(
        "backoff-log-error",
        "A Job whose pods exit 2 printing an error, until backoffLimit (1) is exceeded.",
        "import-orders",
        "failed",
        ALL,
        _create(
            _worker_job(
                "import-orders",
                "fail",
                exit_code=2,
                after=2,
                logs=f"connecting to db\nreading input\n{LOG_ERROR}",
                backoff_limit=1,
            )
        ),
        _settled("Failed"),
    ),
    Scenario(
        "oomkilled",
        "A Job whose container `worker` (memory limit 512Mi) is OOMKilled (exit 137) after "
        "using 498Mi (its emulated usage, scraped by the stack's Prometheus).",
        "resize-images",
        "failed",
        ALL,
        _create(
            _worker_job(
                "resize-images",
                "oomkill",
                after=4,  # a few scrapes of its emulated usage: 498Mi of the 512Mi limit
                memory={"worker": "498Mi"},
                cpu={"worker": "350m"},
            )
        ),
        _settled("Failed"),
    ),
    Scenario(
        "deadline-exceeded",
        "A Job that runs past activeDeadlineSeconds (3s); the job controller stops its pod.",
        "sync-ledger",
        "failed",
        ALL,
        _create(_worker_job("sync-ledger", "succeed", after=60, activeDeadlineSeconds=3)),
        _settled("Failed"),
    ),
    Scenario(
        "stuck-image-pull",
        "A Job whose pod never starts: its image cannot be pulled (ImagePullBackOff).",
        "fetch-feed",
        "stuck",
        REPORTS,
        _create(_worker_job("fetch-feed", "imagepull")),
        _image_pull_backoff,
    ),
    Scenario(
        "stuck-unschedulable",
        "A Job whose pod no node can take: its nodeSelector matches no node (the real "
        "scheduler says why: PodScheduled=False, Unschedulable).",
        "train-model",
        "stuck",
        REPORTS,
        _create(_worker_job("train-model", "succeed", node_selector={"cloud.example/gpu": "a100"})),
        _unschedulable,
    ),
    Scenario(
        "deadline-image-pull",
        "A Job whose pod never pulls its image, until activeDeadlineSeconds (6s) passes: the "
        "job controller deletes the pod, which is known only from its events afterwards.",
        "publish-site",
        "failed",
        ALL,
        _create(_worker_job("publish-site", "imagepull", activeDeadlineSeconds=6)),
        _settled("Failed"),
    ),
    Scenario(
        "succeeded",
        "A Job that completes after printing its result (a run for performance analysis).",
        "daily-report",
        "succeeded",
        ("jobPerformanceAnalysis",),
        _create(_worker_job("daily-report", "succeed", after=1, logs="wrote 1200 rows")),
        _settled("Complete"),
    ),
    Scenario(
        "cronjob-failure",
        "The second run of CronJob nightly-backup fails (exit 3, a Traceback in its log) "
        "after a first run succeeded.",
        "nightly-backup-2",
        "failed",
        ALL,
        _cron_runs,
        _settled("Failed"),
    ),
    Scenario(
        "cronjob-streak",
        "CronJob nightly-sync: run 0 succeeds, runs 1 and 2 fail the same way (exit 4), "
        "run 3 succeeds.",
        "nightly-sync-2",
        "failed",
        ALL,
        _cron_streak,
        _settled("Failed"),
        sequence=(
            ("nightly-sync-0", "succeeded"),
            ("nightly-sync-1", "failed"),
            ("nightly-sync-2", "failed"),
            ("nightly-sync-3", "succeeded"),
        ),
    ),
    Scenario(
        "retry-succeeded",
        "The retry a restart made of an OOMKilled Job (memory raised to 768Mi) completes.",
        "resize-retry-1",
        "succeeded",
        ("jobFailureReporter", "jobPerformanceAnalysis"),
        _create(_retry_job()),
        _settled("Complete"),
    ),
    Scenario(
        "gone",
        "A failed Job deleted before the functions read it: the API answers 404.",
        "cleanup-tmp",
        "failed",
        ALL,
        _create(_worker_job("cleanup-tmp", "fail", after=1)),
        _settled("Failed"),
        gone=True,
    ),
    Scenario(
        "oom-second-container",
        "A Job of two containers whose second, `resizer` (memory limit 1Gi), is OOMKilled "
        "(exit 137) while `fetcher` exits 0.",
        "thumbnails",
        "failed",
        ALL,
        _create(
            job_manifest(
                "thumbnails",
                outcome="oomkill",
                after=1,
                container="resizer",
                containers=[
                    {**WORKER, "name": "fetcher", "command": ["fetch"]},
                    {
                        **WORKER,
                        "name": "resizer",
                        "command": ["resize", "--all"],
                        "resources": {"limits": {"memory": "1Gi"}},
                    },
                ],
            )
        ),
        _settled("Failed"),
    ),
    Scenario(
        "indexed-failed-indexes",
        "An Indexed Job (3 completions, backoffLimitPerIndex 0) whose pods exit 1: every "
        "index fails (reason FailedIndexes, status.failedIndexes).",
        "shard-export",
        "failed",
        ALL,
        _create(
            _worker_job(
                "shard-export",
                "fail",
                after=1,
                exit_code=1,
                backoff_limit=None,
                completionMode="Indexed",
                completions=3,
                parallelism=3,
                backoffLimitPerIndex=0,
            )
        ),
        _settled("Failed"),
    ),
    Scenario(
        "pod-failure-policy-failjob",
        "A Job whose podFailurePolicy fails it at once (FailJob) when `worker` exits 42, "
        "with backoffLimit 6 unused (reason PodFailurePolicy).",
        "bill-customers",
        "failed",
        ALL,
        _create(
            _worker_job(
                "bill-customers",
                "fail",
                after=1,
                exit_code=42,
                backoff_limit=6,
                podFailurePolicy={
                    "rules": [
                        {
                            "action": "FailJob",
                            "onExitCodes": {
                                "containerName": "worker",
                                "operator": "In",
                                "values": [42],
                            },
                        }
                    ]
                },
            )
        ),
        _settled("Failed"),
    ),
]


@contextlib.contextmanager
def _stack(stack_dir: Path | None) -> Iterator[StackInfo]:
    if stack_dir is not None:
        yield StackInfo.load(stack_dir)
        return
    with tempfile.TemporaryDirectory(prefix="jobwarden-record-") as tmp:
        stack = LocalStack(Path(tmp), name="local")
        info = stack.start()
        try:
            yield info
        finally:
            stack.stop()


def _fresh_namespace(api: KubeApi, ns: str) -> None:
    with contextlib.suppress(NotFoundError):
        api.delete(f"/api/v1/namespaces/{ns}")

    def absent() -> bool:
        try:
            api.get(f"/api/v1/namespaces/{ns}")
        except NotFoundError:
            return True
        return False

    wait_for(absent, timeout=120, what=f"namespace {ns} deleted")
    api.create("/api/v1/namespaces", {"metadata": {"name": ns}})


def _differences(a: Any, b: Any, at: str = "") -> list[str]:
    """Where two decoded answers differ (key paths, at most a few)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            out += _differences(a.get(key), b.get(key), f"{at}.{key}")
        return out[:5]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _differences(x, y, f"{at}[{i}]")
        ][:5]
    return [] if a == b else [at or "."]


def _dedupe(exchanges: list[Exchange], say: Callable[[str], None]) -> list[Exchange]:
    """One answer per request (the first); says where a later answer differed."""
    seen: dict[tuple[str, str, str], Exchange] = {}
    for exchange in exchanges:
        first = seen.setdefault(exchange.key, exchange)
        if first is not exchange and (first.status, first.body) != (exchange.status, exchange.body):
            try:
                where = _differences(json.loads(first.body), json.loads(exchange.body))
            except ValueError:
                where = ["body"]
            if where == [".metadata.resourceVersion"]:
                continue  # a list's resourceVersion is the store's latest revision: it moves
            say(
                f"    note: {exchange.method} {exchange.path} answered differently later "
                f"(at {', '.join(where)}); kept the first answer"
            )
    return list(seen.values())


def record(scenario: Scenario, admin: KubeApi, info: StackInfo, say: Callable[[str], None]) -> Path:
    ns = f"rec-{scenario.name}"
    path = f"{_jobs(ns)}/{scenario.job}"
    wait_for(
        lambda: scenario.ready(admin, ns, scenario.job),
        timeout=120,
        what=f"{scenario.name}: {ns}/{scenario.job} settled",
    )
    time.sleep(1.0)  # let the last events land
    credentials = info.admin_credentials()
    recorder = RecordingTransport(
        Urllib3Transport(credentials), server=credentials.server, secrets=[credentials.token or ""]
    )
    # Prometheus (KWOK's emulated cAdvisor) answers the reports' usage queries, recorded too
    prom = RecordingPool(urllib3.PoolManager(retries=False), target=info.prometheus_url)
    job = admin.get(path)
    if scenario.gone:
        admin.delete(path, {"propagationPolicy": "Background"})
        wait_for(lambda: _absent(admin, path), timeout=60, what=f"{path} deleted")
    job_json = recorder.scrub_json(job)
    answered: dict[str, int] = {}
    sequence = []
    # each workflow runs twice: reading usage from Prometheus, and without it (metrics.k8s.io),
    # so both configurations replay from one recording
    for pool in (prom, None):
        for workflow in scenario.workflows:
            runtime = make_runtime(
                recorder, store=memory_store(), server=credentials.server, prometheus=pool
            )
            with default_runtime(runtime):
                status = post_event(
                    workflow,
                    job_json,
                    scenario.transition,
                    f"rec-{scenario.name}-{workflow}",
                    client=function_client(workflow),
                )
            answered.setdefault(workflow, status)
            say(f"    {FUNCTIONS[workflow]}{'' if pool else ' (no Prometheus)'}: HTTP {status}")
        if scenario.sequence:
            runtime = make_runtime(
                recorder, store=memory_store(), server=credentials.server, prometheus=pool
            )
            client = function_client("jobFailureReporter")
            for i, (name, transition) in enumerate(scenario.sequence):
                obj = recorder.scrub_json(admin.get(f"{_jobs(ns)}/{name}"))
                with default_runtime(runtime):
                    status = post_event(
                        "jobFailureReporter",
                        obj,
                        transition,
                        f"rec-{scenario.name}-{i}",
                        client=client,
                    )
                say(f"    sequence {transition} {name}: HTTP {status}")
                if pool is not None:
                    sequence.append({"job": name, "transition": transition, "jobObject": obj})
    recording = Recording(
        scenario.name,
        _dedupe(recorder.exchanges, say),
        description=scenario.description,
        prometheus=prom.exchanges,
        meta={
            "cluster": "local",
            "namespace": ns,
            "job": scenario.job,
            "transition": scenario.transition,
            "workflows": list(scenario.workflows),
            "answered": answered,
            "recordedAt": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "recordedWith": "python -m tests.support.record_api",
            "jobObject": job_json,
            **({"sequence": sequence} if sequence else {}),
        },
    )
    out = RECORDED / f"{scenario.name}.json"
    recording.save(out)
    return out


def _absent(api: KubeApi, path: str) -> bool:
    try:
        api.get(path)
    except NotFoundError:
        return True
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenarios", nargs="*", help="names (default: all)")
    parser.add_argument("--stack-dir", type=Path, help="use the running stack in this directory")
    args = parser.parse_args(argv)
    known = {s.name: s for s in SCENARIOS}
    unknown = [n for n in args.scenarios if n not in known]
    if unknown:
        parser.error(f"unknown scenarios {unknown}; known: {', '.join(known)}")
    chosen = [known[n] for n in args.scenarios] or SCENARIOS

    def say(line: str) -> None:
        print(line, flush=True)

    with _stack(args.stack_dir) as info:
        admin = KubeApi(info.admin_credentials())
        for scenario in chosen:  # create everything first: the Jobs run side by side
            ns = f"rec-{scenario.name}"
            _fresh_namespace(admin, ns)
            scenario.create(admin, ns)
            say(f"created {scenario.name} in namespace {ns}")
        for scenario in chosen:
            say(f"recording {scenario.name}")
            out = record(scenario, admin, info, say)
            say(f"  wrote {out.relative_to(RECORDED.parents[2])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
