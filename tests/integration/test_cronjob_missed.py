"""Missed CronJob runs on the real cronjob controller: what a subscriber of the topic receives.

Two CronJobs run every minute in the test's namespace: one with `concurrencyPolicy:
Forbid` whose pods run (KWOK, `sim.jobwarden.dev/after`) longer than a minute, so the
controller skips the next scheduled time; one created suspended, which must stay quiet.
The exporter's grace is 20 s (plus its 5 s settle), so the skipped time is announced
about 25 s after it passed. Generous timeouts: the controller schedules within seconds of
the minute, and the machine is shared.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from jobwarden.jobevent import JobEvent, event_id, rfc3339
from jobwarden.kube.objects import parse_time
from jobwarden.kubeapi import KubeApi
from jobwarden_exporter.service import Exporter
from tests.support.exporter import CLUSTER, Inbox, make_exporter
from tests.support.kube import job_manifest, wait_for

CRONJOBS = "/apis/batch/v1/namespaces/{ns}/cronjobs"
JOBS = "/apis/batch/v1/namespaces/{ns}/jobs"


@pytest.fixture
def exporters() -> Iterator[list[Exporter]]:
    started: list[Exporter] = []
    yield started
    for exporter in started:
        exporter.stop(timeout=2)


def cronjob(name: str, *, run_seconds: float, **spec: Any) -> dict[str, Any]:
    """An every-minute CronJob whose pods run `run_seconds` and then succeed."""
    template = job_manifest(name, after=run_seconds)["spec"]
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name},
        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": template}, **spec},
    }


def test_a_forbid_cronjob_whose_run_outlasts_the_next_schedule_is_missed_and_a_suspended_one_stays_quiet(  # noqa: E501
    admin: KubeApi, namespace: str, topic: tuple[str, Inbox], exporters: list[Exporter]
) -> None:
    path, inbox = topic
    exporter = make_exporter(admin, path, namespace, missed_schedule_grace=dt.timedelta(seconds=20))
    exporters.append(exporter.start())
    assert exporter.wait_synced(30), exporter.health()
    created = admin.create(
        CRONJOBS.format(ns=namespace),
        cronjob("slow", run_seconds=150, concurrencyPolicy="Forbid"),
    )
    uid = str(created["metadata"]["uid"])
    admin.create(CRONJOBS.format(ns=namespace), cronjob("paused", run_seconds=1, suspend=True))

    # the controller starts the first run; it is still running at the next minute
    first = wait_for(
        lambda: next(
            (
                j
                for j in admin.get(JOBS.format(ns=namespace))["items"]
                if j["metadata"]["name"].startswith("slow-")
            ),
            None,
        ),
        timeout=150,
        what="the Forbid CronJob's first Job",
    )
    first_name = first["metadata"]["name"]
    first_time = dt.datetime.fromtimestamp(int(first_name.rsplit("-", 1)[1]) * 60, dt.UTC)
    skipped = first_time + dt.timedelta(minutes=1)

    inbox.wait_for(lambda: bool(inbox.of("slow", "missed")), timeout=200, what="slow missed")
    inbox.settle(5)
    (missed,) = [m for m in inbox.of("slow", "missed") if m.data["time"] == rfc3339(skipped)]
    assert missed.attributes == {
        "type": "missed",
        "cluster": CLUSTER,
        "namespace": namespace,
        "cronjob": "slow",
        "reason": "ConcurrencyForbid",
        "ce-specversion": "1.0",
        "ce-id": event_id(CLUSTER, uid, "missed", occurrence=rfc3339(skipped)),
        "ce-source": f"//jobwarden/clusters/{CLUSTER}",
        "ce-type": "dev.jobwarden.job.v1.missed",
        "ce-subject": f"{namespace}/slow",
        "ce-datacontenttype": "application/json",
        "ce-time": rfc3339(skipped),
    }
    body = JobEvent.model_validate(missed.data)
    assert body.uid == uid and body.cronjob is not None
    assert body.cronjob.concurrency_policy == "Forbid"
    assert body.message == (
        f"no Job was started for the run scheduled at {rfc3339(skipped)} within the 20s grace "
        f"(exporter.missedScheduleGrace): concurrencyPolicy is Forbid and the previous run "
        f"{first_name} was still active, so the cronjob controller skipped this one"
    )
    # the controller agrees: no Job for the skipped time, and the first one still runs
    names = {j["metadata"]["name"] for j in admin.get(JOBS.format(ns=namespace))["items"]}
    assert f"slow-{int(skipped.timestamp()) // 60}" not in names
    live = admin.get(f"{CRONJOBS.format(ns=namespace)}/slow")
    assert parse_time(live["status"]["lastScheduleTime"]) == first_time
    assert [a["name"] for a in live["status"].get("active", [])] == [first_name]

    # one announcement per scheduled time; the suspended CronJob said nothing at all
    ids = [m.id for m in inbox.of("slow", "missed")]
    assert len(ids) == len(set(ids))
    assert inbox.of("paused") == []
    paused = admin.get(f"{CRONJOBS.format(ns=namespace)}/paused")
    assert "lastScheduleTime" not in paused["status"]  # really never ran
