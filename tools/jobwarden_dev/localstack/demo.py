"""The embedded default's demo Jobs: one per way a Job commonly ends, on a local stack.

Real Jobs, run by the real job controller, ending the way their pod templates choose
(KWOK stages): one succeeds, one fails with an error in its log, one is OOMKilled, one
exceeds its deadline; and three runs of CronJob `nightly-backup` (made now rather than
waiting for its schedule): two fail the same way, then the fixed third succeeds — one full
report, one short follow-up, one `recovered`; and CronJob `report-every-minute` misses
its runs (`demo_missed_cronjob`). `embedded.py` runs the pipeline on them.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jobwarden.kubeapi import KubeApi

NAMESPACE = "jobwarden-demo"
_MISSING_TABLE = 'ERROR: relation "orders" does not exist'
JSON = dict[str, Any]


def _job(name: str, outcome: str, *, annotations: JSON | None = None, **spec: Any) -> JSON:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "jobwarden-demo"}},
        "spec": {
            "backoffLimit": 1,
            **spec,
            "template": {
                "metadata": {
                    "labels": {"sim.jobwarden.dev/outcome": outcome},
                    "annotations": annotations or {},
                },
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "worker",
                            "image": "registry.example/batch/worker:1.4",
                            "command": ["worker", "--run"],
                            "resources": {
                                "requests": {"memory": "256Mi", "cpu": "100m"},
                                "limits": {"memory": "512Mi"},
                            },
                        }
                    ],
                },
            },
        },
    }


def demo_jobs() -> list[JSON]:
    """The demo set: succeeds, fails with an error in its log, OOMKilled, past its deadline."""
    return [
        _job("report-ok", "succeed", annotations={"sim.jobwarden.dev/logs": "wrote 1200 rows"}),
        _job(
            "import-fails",
            "fail",
            annotations={
                "sim.jobwarden.dev/exit-code": "2",
                "sim.jobwarden.dev/logs": "connecting to db\n" + _MISSING_TABLE,
            },
        ),
        _job(
            "resize-oom",
            "oomkill",
            annotations={
                "sim.jobwarden.dev/after": "3",  # a few scrapes of its usage
                "sim.jobwarden.dev/memory-worker": "500Mi",  # of its 512Mi limit
                "sim.jobwarden.dev/cpu-worker": "300m",
            },
        ),
        _job(
            "sync-deadline",
            "succeed",
            annotations={"sim.jobwarden.dev/after": "60"},
            activeDeadlineSeconds=3,
        ),
    ]


def demo_cronjob() -> JSON:
    job = _job("nightly", "fail", annotations={"sim.jobwarden.dev/logs": "Traceback: KeyError 'x'"})
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly-backup"},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": job["spec"]}},
    }


#: The CronJob's runs, in order: (name, pod outcome); the third runs the fixed template.
CRON_RUNS = (
    ("nightly-backup-1", "fail"),
    ("nightly-backup-2", "fail"),
    ("nightly-backup-3", "succeed"),
)


def demo_missed_cronjob() -> JSON:
    """A CronJob that misses every run: `startingDeadlineSeconds: 0` leaves the cronjob
    controller no time to start one (it reports MissSchedule; the exporter, `missed`)."""
    job = _job("report-every-minute", "succeed")
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "report-every-minute"},
        "spec": {
            "schedule": "* * * * *",
            "startingDeadlineSeconds": 0,
            "jobTemplate": {"spec": job["spec"]},
        },
    }


def wait_for_missed_run(
    api: KubeApi, say: Callable[[str], None], *, timeout: float = 90.0
) -> Outcome:
    """Wait until a scheduled minute of `demo_missed_cronjob` has passed without a Job."""
    name = demo_missed_cronjob()["metadata"]["name"]
    cron = api.get(f"/apis/batch/v1/namespaces/{NAMESPACE}/cronjobs/{name}")
    created = dt.datetime.fromisoformat(cron["metadata"]["creationTimestamp"])
    due = created.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    say(f"waiting for CronJob {name} to miss its run at {due:%H:%M} UTC")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if dt.datetime.now(dt.UTC) > due + dt.timedelta(seconds=5):
            jobs = api.get(f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs").get("items", [])
            if any(j["metadata"]["name"].startswith(f"{name}-") for j in jobs):
                break
            cron = api.get(f"/apis/batch/v1/namespaces/{NAMESPACE}/cronjobs/{name}")
            if not (cron.get("status") or {}).get("lastScheduleTime"):
                say(f"  {name}: no Job for {due:%H:%M} UTC")
                return Outcome(name, "Missed", f"no Job for {due:%H:%M} UTC", "-")
        time.sleep(1.0)
    return Outcome(name, "unfinished", f"no missed run seen after {timeout:.0f}s", "-")


@dataclass(frozen=True)
class Outcome:
    job: str
    outcome: str
    reason: str
    detail: str
    cronjob: str | None = None  # the CronJob whose run this is


def _finished(job: JSON) -> tuple[str, str] | None:
    for cond in job.get("status", {}).get("conditions", []):
        if cond.get("status") == "True" and cond.get("type") in ("Complete", "Failed"):
            return str(cond["type"]), str(cond.get("reason", ""))
    return None


def _pod_detail(api: KubeApi, name: str) -> str:
    pods = api.get(
        f"/api/v1/namespaces/{NAMESPACE}/pods", labelSelector=f"batch.kubernetes.io/job-name={name}"
    ).get("items", [])
    details = []
    for pod in pods:
        for status in pod.get("status", {}).get("containerStatuses", []):
            term = status.get("state", {}).get("terminated")
            if term and term.get("exitCode"):
                details.append(f"{status['name']}: {term.get('reason')} exit {term['exitCode']}")
    return "; ".join(sorted(set(details))) or "-"


def _wait_finished(
    api: KubeApi, names: list[str], say: Callable[[str], None], timeout: float, cronjob: str | None
) -> dict[str, Outcome]:
    jobs_path = f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs"
    deadline = time.monotonic() + timeout
    results: dict[str, Outcome] = {}
    while len(results) < len(names) and time.monotonic() < deadline:
        for name in names:
            if name in results:
                continue
            done = _finished(api.get(f"{jobs_path}/{name}"))
            if done:
                results[name] = Outcome(name, done[0], done[1], _pod_detail(api, name), cronjob)
                say(f"  {name}: {done[0]} ({done[1] or 'no reason'})")
        time.sleep(0.5)
    for name in names:
        results.setdefault(
            name, Outcome(name, "unfinished", f"not done after {timeout:.0f}s", "-", cronjob)
        )
    return results


def _cron_runs(
    api: KubeApi,
    say: Callable[[str], None],
    timeout: float,
    reported: Callable[[str], bool] | None,
) -> list[Outcome]:
    """CronJob nightly-backup and its three runs, one after the other as its schedule would
    make them (each waits for the one before to finish and, with `reported`, to be
    reported: the failure reporter sees the runs in the order a schedule gives, minutes
    apart)."""
    jobs_path = f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs"
    cron = api.create(f"/apis/batch/v1/namespaces/{NAMESPACE}/cronjobs", demo_cronjob())
    owner = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "name": cron["metadata"]["name"],
        "uid": cron["metadata"]["uid"],
        "controller": True,
    }
    outcomes = []
    for name, outcome in CRON_RUNS:
        spec = cron["spec"]["jobTemplate"]["spec"]
        if outcome == "succeed":  # the cause was fixed
            spec = _job(name, "succeed", annotations={"sim.jobwarden.dev/logs": "backed up"})[
                "spec"
            ]
        api.create(
            jobs_path, {"metadata": {"name": name, "ownerReferences": [owner]}, "spec": spec}
        )
        done = _wait_finished(api, [name], say, timeout, cron["metadata"]["name"])[name]
        outcomes.append(done)
        deadline = time.monotonic() + timeout
        while reported and not reported(name) and time.monotonic() < deadline:
            time.sleep(0.5)
    return outcomes


def run_demo(
    api: KubeApi,
    say: Callable[[str], None],
    *,
    timeout: float = 90.0,
    reported: Callable[[str], bool] | None = None,
) -> list[Outcome]:
    """Create the demo Jobs and a CronJob's runs, wait for all to finish, return what
    happened. `reported(job)`: whether a run's report is in (see `_cron_runs`)."""
    api.create("/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
    api.create(f"/apis/batch/v1/namespaces/{NAMESPACE}/cronjobs", demo_missed_cronjob())
    jobs_path = f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs"
    names = []
    for manifest in demo_jobs():
        api.create(jobs_path, manifest)
        names.append(manifest["metadata"]["name"])
    say(
        f"created {len(names)} demo Jobs and CronJob nightly-backup in namespace {NAMESPACE}; "
        "waiting for them to finish"
    )
    cron = _cron_runs(api, say, timeout, reported)
    results = _wait_finished(api, names, say, timeout, None)
    return [results[n] for n in names] + cron + [wait_for_missed_run(api, say)]
