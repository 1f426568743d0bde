"""CronJob runs grouped: the current streak of failed runs, kept as create-only records.

A CronJob's history limits delete its older Jobs (`failedJobsHistoryLimit` defaults to 1),
so the cluster alone cannot say how many runs in a row failed, nor which report began the
streak. The failure reporter therefore keeps one small record per run it reports on:

    cronjobs/<cluster>/<namespace>/<cronjob>/<finished, UTC %Y%m%dT%H%M%SZ>-<job uid>-<outcome>.json

`outcome` is `failed` (a failure report) or `succeeded` (a `recovered` report). Records are
created once (create-only) and never rewritten; listing the prefix gives them in time order
from their names alone. The streak of a run finishing at `t` is every failed run after the
last success before `t`: the latest of the CronJob's `status.lastSuccessfulTime`, its kept
Complete Jobs and the `succeeded` records. Failed Jobs still kept in the cluster but never
recorded (reported before this existed, or by nobody) count too.

A failed run whose streak holds an earlier failure of the same cause (`cause_key`: the
headline's code and container) that was posted in full becomes a *follow-up* of that first
report: stored in full, posted as a short message referencing it (`render.followup`). The
record is the decision: a redelivery, or a concurrent duplicate that loses the create, reads
the record that won and follows the same decision, so every delivery posts the same thing.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Literal

from jobwarden.enrich import CronHistory
from jobwarden.failure import Cause
from jobwarden.kube.objects import Job, parse_time
from jobwarden.names import WorkflowName
from jobwarden.report import CronJobRun, report_id
from jobwarden.sinks.storage import ReportStore, report_key, segment

log = logging.getLogger(__name__)

LEDGER_PREFIX = "cronjobs"
_STAMP = "%Y%m%dT%H%M%SZ"
_STAMP_LEN = 16
FAILURE_WORKFLOW: WorkflowName = "jobFailureReporter"
Outcome = Literal["failed", "succeeded"]


@dataclass(frozen=True)
class LedgerEntry:
    """One record, as its name tells it (no read)."""

    key: str
    finished: dt.datetime
    job_uid: str
    outcome: Outcome


def ledger_prefix(cluster: str, namespace: str, cronjob: str) -> str:
    """`cronjobs/<cluster>/<namespace>/<cronjob>/`: list it for a CronJob's run records."""
    return f"{LEDGER_PREFIX}/{segment(cluster)}/{segment(namespace)}/{segment(cronjob)}/"


def entry_key(prefix: str, finished: dt.datetime, job_uid: str, outcome: Outcome) -> str:
    stamp = finished.astimezone(dt.UTC).strftime(_STAMP)
    return f"{prefix}{stamp}-{segment(job_uid)}-{outcome}.json"


def parse_entry(prefix: str, key: str) -> LedgerEntry | None:
    """The entry a record's key names, or None for a key that is not a record's."""
    name = key.removeprefix(prefix).removesuffix(".json")
    stem, _, outcome = name.rpartition("-")
    if outcome not in ("failed", "succeeded") or len(stem) <= _STAMP_LEN + 1:
        return None
    try:
        finished = dt.datetime.strptime(stem[:_STAMP_LEN], _STAMP).replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    uid = stem[_STAMP_LEN + 1 :]
    return LedgerEntry(key, finished, uid, "failed" if outcome == "failed" else "succeeded")


def list_entries(store: ReportStore, prefix: str) -> list[LedgerEntry]:
    """The CronJob's records, oldest first (one listing)."""
    found = (parse_entry(prefix, k) for k in store.list(prefix))
    return sorted((e for e in found if e is not None), key=lambda e: (e.finished, e.key))


def cause_key(cause: Cause) -> str:
    """Two failed runs fail "the same way" when their headline cause has the same code and
    container (its title may carry a log line or a run time that differ from run to run)."""
    return f"{cause.code}/{cause.container or '-'}"


def failure_report_id(cluster: str, job_uid: str) -> str:
    """The failure report id of a run (`specs.by_failed_job`), without importing the specs."""
    return report_id(f"{cluster}/{job_uid}/failed", FAILURE_WORKFLOW)


def recovered_report_id(cluster: str, job_uid: str) -> str:
    """The id of the `recovered` report of a run: one per succeeded run, however often and by
    whom its success is announced."""
    return report_id(f"{cluster}/{job_uid}/recovered", FAILURE_WORKFLOW)


def last_success_before(
    history: CronHistory, entries: list[LedgerEntry], moment: dt.datetime
) -> dt.datetime | None:
    """The latest success known to have ended before `moment`."""
    candidates = [r.finished for r in history.runs if r.complete and r.finished]
    candidates += [e.finished for e in entries if e.outcome == "succeeded"]
    if history.status_last_success:
        candidates.append(history.status_last_success)
    before = [c for c in candidates if c is not None and c < moment]
    return max(before) if before else None


@dataclass(frozen=True)
class Streak:
    """The failed runs that ended after the last success and before a moment."""

    entries: tuple[LedgerEntry, ...]  # recorded failures, oldest first
    unrecorded: frozenset[str]  # uids of failed Jobs still kept but never recorded
    last_success: dt.datetime | None

    @property
    def runs(self) -> int:
        return len({e.job_uid for e in self.entries} | self.unrecorded)


def streak_before(
    history: CronHistory, entries: list[LedgerEntry], moment: dt.datetime, job_uid: str
) -> Streak:
    """The streak of failed runs before the run `job_uid` that ended at `moment`."""
    since = last_success_before(history, entries, moment)

    def inside(t: dt.datetime | None) -> bool:
        return t is not None and t <= moment and (since is None or t > since)

    recorded = tuple(
        e for e in entries if e.outcome == "failed" and e.job_uid != job_uid and inside(e.finished)
    )
    known = {e.job_uid for e in recorded}
    kept = frozenset(
        r.uid
        for r in history.runs
        if r.failed and r.uid != job_uid and r.uid not in known and inside(r.finished)
    )
    return Streak(recorded, kept, since)


def _record_of(store: ReportStore, key: str) -> dict[str, Any]:
    found = store.get_json(key)
    return found if isinstance(found, dict) else {}


def _time(value: object) -> dt.datetime | None:
    return parse_time(value) if isinstance(value, str) else None


def record_failure(
    store: ReportStore,
    *,
    cluster: str,
    job: Job,
    history: CronHistory,
    cause: Cause,
    cause_title: str,
    now: dt.datetime,
) -> CronJobRun:
    """Where this failed run stands in its CronJob's streak; records it (create-only) and
    decides whether it is posted as a follow-up of the streak's first report."""
    finished = job.finished_at or now
    prefix = ledger_prefix(cluster, job.namespace, history.cronjob)
    entries = list_entries(store, prefix)
    streak = streak_before(history, entries, finished, job.uid)
    key = cause_key(cause)
    head: dict[str, Any] = {}
    for entry in streak.entries:  # oldest first: the first full report of this cause
        rec = _record_of(store, entry.key)
        if rec.get("cause") == key and not rec.get("followUpOf") and rec.get("reportId"):
            head = rec
            break
    first = streak.entries[0].finished if streak.entries else None
    head_key = str(head.get("reportKey") or "")
    record: dict[str, Any] = {
        "cronJob": history.cronjob,
        "job": job.name,
        "jobUid": job.uid,
        "outcome": "failed",
        "finishedAt": finished.astimezone(dt.UTC).isoformat(),
        "cause": key,
        "causeTitle": cause_title,
        "reportId": failure_report_id(cluster, job.uid),
        "reportKey": report_key(
            cluster,
            job.namespace,
            job.name,
            job.uid,
            FAILURE_WORKFLOW,
            failure_report_id(cluster, job.uid),
        ),
        "failedRuns": streak.runs + 1,
        "firstFailureAt": (first or finished).astimezone(dt.UTC).isoformat(),
        "lastSuccess": streak.last_success.isoformat() if streak.last_success else None,
        "followUpOf": head.get("reportId"),
        "followUpOfUrl": store.url_for(head_key + ".html") if head_key else None,
    }
    record_key = entry_key(prefix, finished, job.uid, "failed")
    if not store.put_json(record_key, record, only_if_absent=True):
        won = _record_of(store, record_key)  # a redelivery or a concurrent duplicate: its
        record = won or record  # decision stands, so every delivery posts the same thing
    return CronJobRun(
        cronjob=history.cronjob,
        outcome="failed",
        schedule=history.schedule,
        suspended=history.suspended,
        failed_runs=int(record.get("failedRuns") or 1),
        last_success=_time(record.get("lastSuccess")),
        first_failure_at=_time(record.get("firstFailureAt")),
        cause=str(record.get("causeTitle") or cause_title),
        follow_up_of=record.get("followUpOf") or None,
        follow_up_of_url=record.get("followUpOfUrl") or None,
    )


def record_recovery(
    store: ReportStore, *, cluster: str, job: Job, history: CronHistory
) -> CronJobRun | None:
    """The streak a succeeded run ends, recorded (create-only), or None when no failed run
    came before it since the last success (then nothing is reported)."""
    finished = job.finished_at
    if finished is None:
        return None
    prefix = ledger_prefix(cluster, job.namespace, history.cronjob)
    entries = list_entries(store, prefix)
    record_key = entry_key(prefix, finished, job.uid, "succeeded")
    record = _record_of(store, record_key) if any(e.key == record_key for e in entries) else {}
    if not record:
        streak = streak_before(history, entries, finished, job.uid)
        if not streak.runs:
            return None
        head = _record_of(store, streak.entries[0].key) if streak.entries else {}
        head_key = str(head.get("reportKey") or "")
        first = streak.entries[0].finished if streak.entries else None
        record = {
            "cronJob": history.cronjob,
            "job": job.name,
            "jobUid": job.uid,
            "outcome": "succeeded",
            "finishedAt": finished.astimezone(dt.UTC).isoformat(),
            "reportId": recovered_report_id(cluster, job.uid),
            "failedRuns": streak.runs,
            "firstFailureAt": first.isoformat() if first else None,
            "cause": head.get("causeTitle") or "",
            "followUpOf": head.get("reportId"),
            "followUpOfUrl": store.url_for(head_key + ".html") if head_key else None,
        }
        if not store.put_json(record_key, record, only_if_absent=True):
            record = _record_of(store, record_key) or record
    return CronJobRun(
        cronjob=history.cronjob,
        outcome="recovered",
        schedule=history.schedule,
        suspended=history.suspended,
        failed_runs=int(record.get("failedRuns") or 0),
        last_success=finished,
        first_failure_at=_time(record.get("firstFailureAt")),
        cause=str(record.get("cause") or ""),
        follow_up_of=record.get("followUpOf") or None,
        follow_up_of_url=record.get("followUpOfUrl") or None,
    )
