"""The failure reporter's report on a CronJob that missed a run or stopped succeeding.

`missed` and `no-success` are CronJob transitions (`jobevent.CRONJOB_TRANSITIONS`): there
may be no Job to read, so the report is built from the event alone (its CronJob snapshot),
like a "Job gone" report, and needs no cluster access. It says what was missed, when, why
(the exporter's reason), and what to check; its routing comes from the CronJob's labels
and jobwarden.dev/notify and /silence annotations, so it routes like a failure report.
Pure; no I/O.
"""

from __future__ import annotations

import datetime as dt

from jobwarden.blocks import fmt_time
from jobwarden.errors import MalformedEventError
from jobwarden.intake import Trigger
from jobwarden.jobevent import CronJobSnapshot, rfc3339
from jobwarden.kube.labels import NOTIFY, SILENCE
from jobwarden.names import WorkflowName
from jobwarden.redact import redact_capped, redact_mapping
from jobwarden.report import FieldItem, FieldsBlock, MarkdownBlock, Report, Routing, literal

#: What to check, per reason the exporter gives.
CHECKS: dict[str, list[str]] = {
    "ConcurrencyForbid": [
        "The previous run outlasted the schedule: find out why it runs this long "
        "(`kubectl get jobs -n {ns} -l batch.kubernetes.io/cronjob-name={name}`).",
        "Give the Job an `activeDeadlineSeconds` shorter than the schedule's interval, or "
        "schedule it less often.",
        "If overlapping runs are safe, set `concurrencyPolicy: Allow` (or `Replace`).",
    ],
    "StartingDeadlineTooShort": [
        "Raise `startingDeadlineSeconds` to at least a minute (or remove it): the controller "
        "needs a few seconds to start a run.",
        "`kubectl describe cronjob -n {ns} {name}`: its MissSchedule Events list the skipped "
        "times.",
    ],
    "TooManyMissedStarts": [
        "The controller found over 100 missed start times and reports TooManyMissedTimes: "
        "`kubectl describe cronjob -n {ns} {name}`.",
        "Set `startingDeadlineSeconds` so that only recent start times count.",
        "Check whether the CronJob was suspended or the controller down for a long time.",
    ],
    "ControllerNotRunning": [
        "Check that kube-controller-manager runs with the cronjob controller enabled "
        "(`--controllers` includes `cronjob-controller` or `*`) and is leader.",
        "Look for errors about this CronJob in the controller manager's log.",
        "`kubectl describe cronjob -n {ns} {name}`: its Events say what the controller did.",
    ],
    "NotStarted": [
        "`kubectl describe cronjob -n {ns} {name}`: its Events say whether the controller "
        "skipped the run (MissSchedule) or failed to create the Job (FailedCreate).",
        "Check quotas and admission webhooks in namespace {ns} that may refuse the Job.",
        "If the controller runs late, raise `startingDeadlineSeconds`.",
    ],
    "NoSuccessSince": [
        "Read the failure reports of its recent runs "
        "(`kubectl get jobs -n {ns} -l batch.kubernetes.io/cronjob-name={name}`).",
        "Check whether its runs fail, are skipped (missed reports), or run too long to finish.",
    ],
    "NeverSucceeded": [
        "It has not succeeded once since it was created: check its Job template and the "
        "failure reports of its runs.",
        "`kubectl describe cronjob -n {ns} {name}`.",
    ],
}


def snapshot_of(trigger: Trigger) -> CronJobSnapshot:
    """The CronJob snapshot a `missed` / `no-success` trigger carries (the intake checks it)."""
    snapshot = trigger.job_event.cronjob if trigger.job_event is not None else None
    if snapshot is None:
        raise MalformedEventError(
            trigger.message_id, f"{trigger.transition} event names no CronJob snapshot"
        )
    return snapshot


def routing_of(snapshot: CronJobSnapshot, labels: dict[str, str]) -> Routing:
    """What webhook routing needs of the CronJob (labels redacted like everything else)."""
    notify = snapshot.annotations.get(NOTIFY)
    return Routing(
        labels={k: str(v) for k, v in redact_mapping(labels).items()},
        notify=[n.strip() for n in notify.split(",") if n.strip()] if notify is not None else None,
        silence=snapshot.annotations.get(SILENCE),
    )


def _zone_words(moment: dt.datetime, snapshot: CronJobSnapshot) -> str:
    text = fmt_time(moment)
    if not snapshot.time_zone:
        return text
    try:
        import zoneinfo

        local = moment.astimezone(zoneinfo.ZoneInfo(snapshot.time_zone))
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        return text
    return f"{text} ({local.strftime('%Y-%m-%d %H:%M %Z')} {snapshot.time_zone})"


def alert_report(
    workflow: WorkflowName, trigger: Trigger, *, report_id: str, now: dt.datetime
) -> Report:
    """The report on a `missed` or `no-success` CronJob transition (see module doc)."""
    snapshot = snapshot_of(trigger)
    ns, name = trigger.namespace, trigger.job  # the CronJob's name
    when = _zone_words(snapshot.scheduled_time, snapshot)
    reason = redact_capped(trigger.reason, 100) or "-"
    why = redact_capped(trigger.message, 600)
    if trigger.transition == "missed":
        title = (
            f"CronJob {ns}/{name} missed its run scheduled at {fmt_time(snapshot.scheduled_time)}"
        )
        summary = f"No Job was started for the run scheduled at {when} ({reason})."
    else:
        title = f"CronJob {ns}/{name} has not succeeded for a while"
        summary = f"No successful run since the schedule passed {when} ({reason})."
    checks = [c.format(ns=ns, name=name) for c in CHECKS.get(trigger.reason, CHECKS["NotStarted"])]
    zone = f" ({snapshot.time_zone})" if snapshot.time_zone else ""
    fields = [
        FieldItem(name="Schedule", value=literal(snapshot.schedule + zone, 200)),
        FieldItem(name="Scheduled time", value=when),
        FieldItem(name="Reason", value=reason),
        FieldItem(name="Concurrency policy", value=snapshot.concurrency_policy),
        FieldItem(
            name="startingDeadlineSeconds",
            value=str(snapshot.starting_deadline_seconds)
            if snapshot.starting_deadline_seconds is not None
            else "not set",
        ),
        FieldItem(
            name="Last scheduled",
            value=fmt_time(snapshot.last_schedule_time) if snapshot.last_schedule_time else "never",
        ),
        FieldItem(
            name="Last success",
            value=fmt_time(snapshot.last_successful_time)
            if snapshot.last_successful_time
            else "never",
        ),
        FieldItem(name="Active runs", value=", ".join(snapshot.active[:5]) or "none"),
        FieldItem(name="Suspended", value="yes" if snapshot.suspend else "no"),
    ]
    return Report(
        id=report_id,
        workflow=workflow,
        cluster=trigger.cluster,
        namespace=ns,
        job=name,
        job_uid=trigger.job_uid or "",
        created_at=now,
        severity="error",
        title=title,
        summary=summary,
        blocks=[
            MarkdownBlock(text=f"**Why**: {literal(why, 600) if why else reason}"),
            FieldsBlock(title=f"CronJob {name}", fields=fields),
            MarkdownBlock(
                text="**What to check**\n\n" + "\n".join(f"- {check}" for check in checks)
            ),
        ],
        source_event_id=trigger.event_id,
        routing=routing_of(snapshot, dict(trigger.labels)),
    )


def alert_key(trigger: Trigger) -> str:
    """One report per CronJob, transition and scheduled time, however often it is announced."""
    snapshot = snapshot_of(trigger)
    return (
        f"{trigger.cluster}/{trigger.job_uid}/{trigger.transition}/"
        f"{rfc3339(snapshot.scheduled_time)}"
    )
