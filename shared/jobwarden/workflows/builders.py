"""Build the enrichers' and the failure reporter's reports from what was read.

Pure functions of already-fetched data (no I/O): the failure report, job info, events
and pods reports, each honouring its workflow's configuration keys, and the report on a
Job deleted before it could be read (from its event alone).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from jobwarden.blocks import (
    cause_block,
    conditions_table,
    containers_table,
    fmt_duration,
    fmt_time,
    job_spec_fields,
    job_status_fields,
    log_blocks,
    pod_causes_table,
    pods_table,
    retried_log_blocks,
    timeline_block,
)
from jobwarden.enrich import CronHistory, Enrichment
from jobwarden.failure import FailureAnalysis
from jobwarden.intake import Trigger
from jobwarden.kube.labels import DEADLINE_EXCEEDED
from jobwarden.kube.objects import Job
from jobwarden.names import WorkflowName
from jobwarden.redact import redact_capped, redact_text
from jobwarden.report import (
    Block,
    CronJobRun,
    FieldItem,
    FieldsBlock,
    MarkdownBlock,
    Report,
    inline_safe,
    literal,
)
from jobwarden.timeline import by_severity

#: Longest event text (reason and message) a "Job gone" report quotes.
MAX_EVENT_TEXT = 500


def _base(
    workflow: str, e: Enrichment, *, report_id: str, source_event_id: str, now: dt.datetime
) -> dict[str, object]:
    return {
        "id": report_id,
        "workflow": workflow,
        "cluster": e.ref.cluster,
        "namespace": e.job.namespace,
        "job": e.job.name,
        "job_uid": e.job.uid,
        "created_at": now,
        "source_event_id": source_event_id,
    }


def schedule_state(run: CronJobRun) -> str:
    """`0 3 * * *, active` / `..., suspended` / `unknown (the CronJob could not be read)`."""
    if run.suspended is None:
        return "unknown (the CronJob could not be read)"
    state = "suspended (no new runs until resumed)" if run.suspended else "active"
    return f"{run.schedule}, {state}" if run.schedule else state


def cron_block(history: CronHistory, run: CronJobRun | None = None) -> FieldsBlock:
    """The CronJob's view of this run: the streak, the last success, the schedule."""
    recent = ", ".join(f"{r.name}: {r.state}" for r in history.runs[:5]) or "-"
    failed = run.failed_runs if run else history.consecutive_failures
    last = run.last_success if run and run.last_success else history.last_success
    fields = [
        FieldItem(name="Consecutive failed runs", value=str(failed)),
        FieldItem(name="Last success", value=fmt_time(last) if last else "never (in history)"),
    ]
    if run:
        fields.append(FieldItem(name="Schedule", value=schedule_state(run)))
        if run.first_failure_at and failed > 1:
            fields.append(FieldItem(name="Failing since", value=fmt_time(run.first_failure_at)))
        if run.follow_up_of:
            fields.append(
                FieldItem(name="First report of this streak", value=run.follow_up_of_url or "-")
            )
    fields.append(FieldItem(name="Recent runs", value=recent))
    return FieldsBlock(title=f"CronJob {history.cronjob}", fields=fields)


def failure_report(
    e: Enrichment,
    analysis: FailureAnalysis,
    *,
    report_id: str,
    source_event_id: str,
    now: dt.datetime,
    include_logs: bool,
    include_events: bool,
    cron: CronHistory | None = None,
    cron_run: CronJobRun | None = None,
) -> Report:
    """One report per failed Job: cause and next steps, status, configuration, events, logs.

    A CronJob's run is reported under its CronJob: the title names it, the summary the
    streak, and `cron_job` carries the streak (posted as a short follow-up when it is one)."""
    job = e.job
    cause = analysis.headline
    blocks: list[Block] = [cause_block(cause), job_status_fields(job), conditions_table(job)]
    if cron:
        blocks.append(cron_block(cron, cron_run))
    if len(analysis.pod_causes) > 1 and not analysis.identical_retries:
        blocks.append(pod_causes_table(analysis))
    blocks += [job_spec_fields(job), containers_table(job), pods_table(e, analysis)]
    if include_events:
        blocks.append(timeline_block(e.timeline))
    if include_logs:  # identical retries: one log, not the same one per attempt
        blocks += retried_log_blocks(e, analysis) if analysis.identical_retries else log_blocks(e)
    runs = ""
    failed_runs = cron_run.failed_runs if cron_run else (cron.consecutive_failures if cron else 0)
    if cron and failed_runs > 1:
        runs = f" CronJob {cron.cronjob} has failed {failed_runs} runs in a row."
    if cron_run and cron_run.suspended:
        runs += f" CronJob {cron_run.cronjob} is suspended: no new runs until it is resumed."
    verb = "failed" if job.failed_condition is not None else "is stuck"
    title = f"Job {job.namespace}/{job.name} {verb}: {cause.title}"
    if cron:
        title = f"CronJob {job.namespace}/{cron.cronjob}: run {job.name} {verb}: {cause.title}"
    return Report.model_validate(
        {
            **_base(
                "jobFailureReporter",
                e,
                report_id=report_id,
                source_event_id=source_event_id,
                now=now,
            ),
            "severity": analysis.severity,
            "title": title,
            "summary": outcome_line(e, analysis) + runs,
            "blocks": blocks,
            "cron_job": cron_run,
        }
    )


def recovered_report(
    job: Job,
    run: CronJobRun,
    *,
    cluster: str,
    report_id: str,
    source_event_id: str,
    now: dt.datetime,
) -> Report:
    """One message when a CronJob's run succeeds after failed runs: which streak it ends."""
    streak = f"{run.failed_runs} failed run{'s' if run.failed_runs != 1 else ''}"
    since = f" (failing since {fmt_time(run.first_failure_at)})" if run.first_failure_at else ""
    fields = [
        FieldItem(name="Run", value=job.name),
        FieldItem(name="Succeeded at", value=fmt_time(job.finished_at)),
        FieldItem(name="Failed runs before it", value=str(run.failed_runs)),
        FieldItem(name="Schedule", value=schedule_state(run)),
    ]
    if run.cause:
        fields.append(FieldItem(name="Cause of the failures", value=run.cause))
    if run.follow_up_of:
        fields.append(
            FieldItem(name="First report of the streak", value=run.follow_up_of_url or "-")
        )
    return Report.model_validate(
        {
            "id": report_id,
            "workflow": "jobFailureReporter",
            "cluster": cluster,
            "namespace": job.namespace,
            "job": job.name,
            "job_uid": job.uid,
            "created_at": now,
            "severity": "info",
            "title": f"CronJob {job.namespace}/{run.cronjob} recovered: run {job.name} "
            f"succeeded after {streak}",
            "summary": f"Run {job.name} succeeded after {streak}{since}.",
            "blocks": [FieldsBlock(title=f"CronJob {run.cronjob}", fields=fields)],
            "source_event_id": source_event_id,
            "cron_job": run,
        }
    )


def outcome_line(e: Enrichment, analysis: FailureAnalysis) -> str:
    """What happened, in one line the cause block below does not repeat: how long the Job
    ran and how its pods ended (a failure), or which pod waits in what since when (stuck)."""
    job = e.job
    if job.failed_condition is None:
        waiting = [(r.pod, w) for r in e.pods if (w := r.pod.waiting) is not None]
        if not waiting:
            return f"{job.state}; no pod shows a cause yet."
        pod, wait = waiting[0]
        since = f" since {fmt_time(wait.since)}" if wait.since else ""
        more = f" ({_pods(len(waiting) - 1)} more waiting)" if len(waiting) > 1 else ""
        return f"{job.state}; pod {pod.name} waits in {wait.reason}{since}{more}."
    attempts = len(analysis.pod_causes)
    how = ""
    if analysis.identical_retries:
        how = f"; all {attempts} attempts failed the same way"
    elif attempts and analysis.job_reason == DEADLINE_EXCEEDED:
        how = f"; {_pods(attempts)} stopped at the deadline"
    elif attempts:
        how = f"; {_pods(attempts)} failed"
    return f"{job.state} after {fmt_duration(analysis.runtime)}{how}."


def settings_findings(job: Job, analysis: FailureAnalysis | None = None) -> list[str]:
    """Parallelism, retry and deadline settings worth a second look."""
    out = []
    if analysis and analysis.identical_retries and (job.backoff_limit or 0) > 1:
        out.append(
            f"backoffLimit is {job.backoff_limit} while every retry failed the same way "
            f"({analysis.headline.title}): retries only delay the failure; lower backoffLimit "
            "or add a podFailurePolicy FailJob rule for this exit code"
        )
    if job.parallelism and job.completions and job.parallelism > job.completions:
        out.append(
            f"parallelism {job.parallelism} exceeds completions {job.completions}: "
            "the extra pods never start"
        )
    if job.active_deadline_seconds is None:
        out.append(
            "no activeDeadlineSeconds: a Job whose pods hang or stay Pending runs forever "
            "(jobwarden reports it as stuck)"
        )
    if job.ttl_seconds_after_finished is None:
        out.append("no ttlSecondsAfterFinished: finished Jobs and their pods accumulate")
    elif job.ttl_seconds_after_finished < 300:
        out.append(
            f"ttlSecondsAfterFinished is {job.ttl_seconds_after_finished}s: failed pods and their "
            "logs may be gone before anyone looks"
        )
    if job.backoff_limit is None and job.completion_mode != "Indexed":
        out.append("backoffLimit not set: Kubernetes retries 6 times by default")
    return out


def info_report(
    e: Enrichment,
    *,
    report_id: str,
    source_event_id: str,
    now: dt.datetime,
    show_details: bool,
    analysis: FailureAnalysis | None = None,
) -> Report:
    job = e.job
    deadline = "-"
    if job.active_deadline_seconds is not None and job.start_time:
        ends = job.start_time + dt.timedelta(seconds=job.active_deadline_seconds)
        deadline = f"{job.active_deadline_seconds}s (until {fmt_time(ends)})"
    blocks: list[Block] = [
        job_status_fields(job),
        conditions_table(job),
        FieldsBlock(
            title="Deadlines",
            fields=[
                FieldItem(name="activeDeadlineSeconds", value=deadline),
                FieldItem(
                    name="ttlSecondsAfterFinished", value=str(job.ttl_seconds_after_finished or "-")
                ),
            ],
        ),
    ]
    if analysis is not None:
        blocks.insert(0, cause_block(analysis.headline))
    findings = settings_findings(job, analysis)
    if findings:
        blocks.append(
            MarkdownBlock(
                text="**Parallelism, retries and deadlines**\n\n"
                + "\n".join(f"- {f}" for f in findings)
            )
        )
    if show_details:
        blocks += [job_spec_fields(job), containers_table(job)]
        if job.node_selector:
            blocks.append(
                FieldsBlock(
                    title="Scheduling",
                    fields=[
                        FieldItem(
                            name="nodeSelector",
                            value=", ".join(f"{k}={v}" for k, v in job.node_selector.items()),
                        )
                    ],
                )
            )
    return Report.model_validate(
        {
            **_base(
                "jobInfoEnricher", e, report_id=report_id, source_event_id=source_event_id, now=now
            ),
            "severity": "error"
            if job.failed_condition
            else ("warning" if analysis is not None else "info"),
            "title": f"Job {job.namespace}/{job.name}: {job.state}",
            "summary": f"{job.state}; {len(findings)} setting(s) worth a look.",
            "blocks": blocks,
        }
    )


def events_report(
    e: Enrichment,
    *,
    report_id: str,
    source_event_id: str,
    now: dt.datetime,
    analysis: FailureAnalysis | None = None,
) -> Report:
    """The events (already filtered by eventTypes): the Warnings in full, most severe first,
    and the Normal events folded into one summary line, with an analysis."""
    ordered = by_severity(list(e.timeline))
    total = sum(t.count for t in e.timeline)
    warnings = [t for t in ordered if t.type == "Warning"]
    reasons = Counter({t.reason: t.count for t in warnings})
    lines = [
        f"- **{inline_safe(reason, 100)}** seen {count} time(s)"
        for reason, count in reasons.most_common(5)
    ]
    repeated = [t for t in warnings if t.count >= 3]
    if repeated:
        lines.append(
            f"- {literal(repeated[0].reason, 100)} on {inline_safe(repeated[0].object, 300)} "
            f"repeated {repeated[0].count} times: "
            "the condition is persistent, not a blip"
        )
    if analysis is not None:
        lines.insert(0, f"- Cause: {analysis.headline.title}")
    blocks: list[Block] = [
        MarkdownBlock(
            text="**Analysis**\n\n" + ("\n".join(lines) if lines else "- no Warning events")
        ),
        timeline_block(ordered, title="Events, Warnings first", fold_normal=True),
    ]
    return Report.model_validate(
        {
            **_base(
                "jobEventsEnricher",
                e,
                report_id=report_id,
                source_event_id=source_event_id,
                now=now,
            ),
            "severity": "warning" if warnings else "info",
            "title": f"Events of job {e.job.namespace}/{e.job.name}: {len(warnings)} warning(s)",
            "summary": f"{total} events on the Job and its {_pods(len(e.pods))}.",
            "blocks": blocks,
        }
    )


def pods_report(
    e: Enrichment,
    *,
    report_id: str,
    source_event_id: str,
    now: dt.datetime,
    include_logs: bool,
    analysis: FailureAnalysis | None = None,
) -> Report:
    """Every pod, deleted ones included: status, its cause, where its time went, usage,
    events and logs (a deleted pod's log is marked lost)."""
    pods = e.all_pods
    phases = Counter("Gone" if r.gone else r.pod.phase for r in pods)
    blocks: list[Block] = []
    if analysis is not None:
        blocks.append(cause_block(analysis.headline))
    blocks += [
        FieldsBlock(
            title="Pods",
            fields=[FieldItem(name=k, value=str(v)) for k, v in sorted(phases.items())]
            or [FieldItem(name="Pods", value="none left (deleted or never created)")],
        ),
        pods_table(e, analysis),
        MarkdownBlock(
            text="**Resource usage**: "
            + inline_safe(redact_text(e.usage_note or "see the Usage column"))
        ),
    ]
    pod_events = [t for t in e.timeline if t.object.startswith("Pod/")]
    if pod_events:
        blocks.append(timeline_block(pod_events, title="Pod events"))
    if include_logs:
        blocks += log_blocks(e)
    pending = [r.phases.pending for r in pods if r.phases.pending]
    slowest = max(pending) if pending else None
    gone = f" ({phases['Gone']} deleted, known from their events)" if phases.get("Gone") else ""
    return Report.model_validate(
        {
            **_base(
                "jobPodEnricher", e, report_id=report_id, source_event_id=source_event_id, now=now
            ),
            "severity": "warning"
            if phases.get("Failed") or phases.get("Pending") or analysis is not None
            else "info",
            "title": f"Pods of job {e.job.namespace}/{e.job.name}: "
            + (", ".join(f"{v} {k}" for k, v in sorted(phases.items())) or "none"),
            "summary": f"{_pods(len(pods))}{gone}; longest wait to be scheduled: "
            f"{fmt_duration(slowest)}.",
            "blocks": blocks,
        }
    )


def gone_report(
    workflow: WorkflowName, trigger: Trigger, *, report_id: str, now: dt.datetime
) -> Report:
    """What can be said of a Job deleted before it could be read: what the event carried
    (its reason and message redacted and cut to `MAX_EVENT_TEXT`)."""
    reason = redact_capped(trigger.reason, 100)
    what = redact_capped(f"{reason}: {trigger.message}".strip(": "), MAX_EVENT_TEXT)
    what = what or trigger.transition
    return Report.model_validate(
        {
            "id": report_id,
            "workflow": workflow,
            "cluster": trigger.cluster,
            "namespace": trigger.namespace,
            "job": trigger.job,
            "job_uid": trigger.job_uid or "",
            "created_at": now,
            "severity": "error" if trigger.transition == "failed" else "warning",
            "title": f"Job {trigger.namespace}/{trigger.job} {trigger.transition} "
            f"({reason or '-'}); it was deleted before jobwarden could read it",
            "summary": f"{what}. Keep finished Jobs longer (ttlSecondsAfterFinished) to get pods, "
            "logs and events in this report.",
            "blocks": [
                {
                    "type": "markdown",
                    "text": f"**Event**: {literal(what, MAX_EVENT_TEXT)} "
                    f"(id {inline_safe(trigger.event_id, 200)})",
                }
            ],
            "source_event_id": trigger.event_id,
        }
    )


def _pods(n: int) -> str:
    """'1 pod', '3 pods': counts in summaries read as sentences."""
    return f"{n} pod" if n == 1 else f"{n} pods"
