"""Turn an enrichment and its analysis into report blocks a person can read.

Shared by the workflows: the failure reporter, the three enrichers and the
performance analysis all show parts of the same picture (job info, pods, logs,
events, cause), so each part is built once here. Text from the cluster is redacted
here (`jobwarden.redact`: command and args, env values, messages; log lines and event
messages already were when read) and cut to a field's length, and it enters a Markdown
block only as a `literal`, before anything reaches a renderer or a webhook.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Collection

from jobwarden.enrich import Enrichment, PodReport
from jobwarden.failure import Cause, FailureAnalysis
from jobwarden.kube.objects import Job
from jobwarden.redact import redact_args, redact_capped, redact_env_value, redact_text
from jobwarden.report import (
    FieldItem,
    FieldsBlock,
    LogBlock,
    MarkdownBlock,
    TableBlock,
    TimelineBlock,
    TimelineEntry,
    literal,
)
from jobwarden.timeline import TimelineEntry as Entry

_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)

#: Longest cluster text in one table cell or field (a condition message, a command line).
MAX_CELL = 1000


def fmt_time(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


def _cut(text: str, limit: int = MAX_CELL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fmt_duration(delta: dt.timedelta | None) -> str:
    if delta is None:
        return "-"
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def _opt(value: object) -> str:
    return "-" if value is None else str(value)


def job_status_fields(job: Job) -> FieldsBlock:
    """Status in words, counts, times and durations."""
    end = job.finished_at
    start = job.start_time
    fields = [
        FieldItem(name="Status", value=job.state),
        FieldItem(
            name="Pods",
            value=f"{job.active} active, {job.succeeded} succeeded, {job.failed} failed",
        ),
        FieldItem(name="Started", value=fmt_time(start)),
        FieldItem(name="Finished", value=fmt_time(end)),
        FieldItem(name="Duration", value=fmt_duration(end - start if end and start else None)),
    ]
    if job.owner_cronjob:
        fields.append(FieldItem(name="CronJob", value=job.owner_cronjob))
    return FieldsBlock(title="Status", fields=fields)


def job_spec_fields(job: Job) -> FieldsBlock:
    """Completions, parallelism, retries, deadlines: the settings that shape a run."""
    policy = "-"
    if job.pod_failure_policy:
        policy = redact_capped(json.dumps(job.pod_failure_policy, sort_keys=True), 300)
    return FieldsBlock(
        title="Configuration",
        fields=[
            FieldItem(name="Completions", value=_opt(job.completions)),
            FieldItem(name="Parallelism", value=_opt(job.parallelism)),
            FieldItem(name="Completion mode", value=job.completion_mode),
            FieldItem(name="backoffLimit", value=_opt(job.backoff_limit)),
            FieldItem(name="activeDeadlineSeconds", value=_opt(job.active_deadline_seconds)),
            FieldItem(name="ttlSecondsAfterFinished", value=_opt(job.ttl_seconds_after_finished)),
            FieldItem(name="Suspended", value="yes" if job.suspend else "no"),
            FieldItem(name="podFailurePolicy", value=policy),
        ],
    )


def conditions_table(job: Job) -> TableBlock:
    return TableBlock(
        title="Conditions",
        columns=["Type", "Status", "Reason", "Since", "Message"],
        rows=[
            [
                c.type,
                c.status,
                c.reason or "-",
                fmt_time(c.last_transition),
                redact_capped(c.message, MAX_CELL) or "-",
            ]
            for c in job.conditions
        ],
    )


def containers_table(job: Job) -> TableBlock:
    """Each container's image, command, resources and environment (secrets redacted)."""
    rows = []
    for c in job.containers:
        env = []
        for var in c.env:
            if var.source:
                env.append(f"{var.name} (from {var.source})")
            else:
                env.append(f"{var.name}={redact_env_value(var.name, var.value)}")
        resources = ", ".join(
            [f"requests {k}={v}" for k, v in sorted(c.resources.requests.items())]
            + [f"limits {k}={v}" for k, v in sorted(c.resources.limits.items())]
        )
        rows.append(
            [
                c.name + (" (init)" if c.init else ""),
                redact_text(c.image),
                _cut(" ".join(redact_args(c.command + c.args))) or "-",
                resources or "none",
                _cut("; ".join(env)) or "-",
            ]
        )
    return TableBlock(
        title="Containers",
        columns=["Container", "Image", "Command", "Resources", "Environment"],
        rows=rows,
    )


def _container_state(report: PodReport) -> str:
    if report.gone:
        return "unknown (the pod is gone)"
    parts = []
    for c in report.pod.containers:
        detail = c.state
        if c.reason:
            detail += f" {c.reason}"
        if c.exit_code is not None:
            detail += f" (exit {c.exit_code})"
        if c.restart_count:
            detail += f", {c.restart_count} restarts"
        parts.append(f"{c.name}: {detail}")
    return "; ".join(parts) or "-"


def _phase(report: PodReport) -> str:
    pod = report.pod
    if report.gone:
        return "Gone (deleted)"
    return pod.phase + (f" ({pod.reason})" if pod.reason else "")


def _starting(report: PodReport) -> str:
    """How long the pod took to start; a pod still waiting says in what, since when."""
    waiting = report.pod.waiting
    if report.phases.starting is None and waiting is not None:
        return f"{waiting.reason} since {fmt_time(waiting.since)}"
    return fmt_duration(report.phases.starting)


def pods_table(enrichment: Enrichment, analysis: FailureAnalysis | None = None) -> TableBlock:
    """Every pod, the deleted ones too (from their events), each with its cause."""
    causes = {c.pod: c.title for c in analysis.pod_causes if c.pod} if analysis else {}
    rows = []
    for r in enrichment.all_pods:
        usage = "; ".join(f"{n}: {u}" for n, u in sorted(r.usage.items()))
        rows.append(
            [
                r.pod.name,
                _phase(r),
                r.pod.node or "-",
                _container_state(r),
                fmt_duration(r.phases.pending),
                _starting(r),
                fmt_duration(r.phases.running),
                usage or "-",
                causes.get(r.pod.name, "-"),
            ]
        )
    return TableBlock(
        title=f"Pods ({len(rows)})",
        columns=[
            "Pod",
            "Phase",
            "Node",
            "Containers",
            "Pending",
            "Starting",
            "Running",
            "Usage",
            "Cause",
        ],
        rows=rows,
    )


def log_blocks(
    enrichment: Enrichment, *, pods: Collection[str] | None = None, note: str = ""
) -> list[LogBlock | MarkdownBlock]:
    """The log tails of the Job's pods (only `pods` when given), each title ending in `note`."""
    blocks: list[LogBlock | MarkdownBlock] = []
    for report in enrichment.all_pods:
        if pods is not None and report.pod.name not in pods:
            continue
        for tail in report.logs:
            title = f"Log of {tail.container} in {tail.pod}" + (
                " (previous run)" if tail.previous else ""
            )
            title += f" ({note})" if note else ""
            if tail.unavailable:
                why = literal(redact_text(tail.unavailable))
                blocks.append(MarkdownBlock(text=f"**{title}**: {why}"))
                continue
            blocks.append(
                LogBlock(
                    title=title,
                    pod=tail.pod,
                    container=tail.container,
                    lines=list(tail.lines),
                    truncated=tail.truncated,
                    highlight=list(tail.error_lines),
                )
            )
    return blocks


def retried_log_blocks(
    enrichment: Enrichment, analysis: FailureAnalysis
) -> list[LogBlock | MarkdownBlock]:
    """Identical retries: one log, the newest failed attempt's ("3 attempts, same failure")."""
    failed = {c.pod for c in analysis.pod_causes if c.pod}
    attempts = [r.pod for r in enrichment.pods if r.pod.name in failed]
    if not attempts:
        return log_blocks(enrichment)
    newest = max(attempts, key=lambda p: (p.created or _EPOCH, p.name))
    note = f"{len(analysis.pod_causes)} attempts, same failure"
    return log_blocks(enrichment, pods={newest.name}, note=note)


def timeline_block(
    entries: list[Entry] | tuple[Entry, ...], title: str = "Events", *, fold_normal: bool = False
) -> TimelineBlock:
    """A table of events; with `fold_normal`, Warnings in full and the Normal events folded
    into one summary line (`12 Normal events: Started x3, Scheduled x3, ...`)."""
    shown = [e for e in entries if e.type == "Warning"] if fold_normal else list(entries)
    rows = [
        TimelineEntry(
            time=e.last or e.first,
            type="Warning" if e.type == "Warning" else "Normal",
            reason=e.reason or "-",
            object=e.object,
            message=e.message or "-",
            count=max(1, e.count),
        )
        for e in shown
    ]
    normal = [e for e in entries if e.type != "Warning"] if fold_normal else []
    if normal:
        counts = Counter[str]()
        for e in normal:
            counts[e.reason or "-"] += max(1, e.count)
        times = [t for e in normal if (t := e.last or e.first)]
        total = sum(counts.values())
        rows.append(
            TimelineEntry(
                time=max(times) if times else None,
                type="Normal",
                reason="Normal events",
                object="the Job and its pods",
                message=f"{total} Normal event(s): "
                + ", ".join(f"{reason} x{n}" for reason, n in counts.most_common()),
                count=total,
            )
        )
    return TimelineBlock(title=title, entries=rows)


def cause_block(cause: Cause, title: str = "Cause") -> MarkdownBlock:
    lines = [f"**{cause.title}**", "", cause.explanation, "", "**Next steps**"]
    lines += [f"- {step}" for step in cause.next_steps]
    if cause.evidence:
        lines += ["", "**Evidence**"] + [
            f"- {literal(redact_text(e))}" for e in cause.evidence if e
        ]
    return MarkdownBlock(text="\n".join(lines))


def pod_causes_table(analysis: FailureAnalysis) -> TableBlock:
    return TableBlock(
        title="Each pod's cause",
        columns=["Pod", "Container", "Cause"],
        rows=[[c.pod or "-", c.container or "-", c.title] for c in analysis.pod_causes],
    )
