"""What a failure report adds beyond the cause: the retry it belongs to, the family's
history, and the restart command; and the report of a retry that succeeded. Pure.

- A Job made by a restart carries `jobwarden.dev/retry-of` (the original's uid; see
  `jobwarden.actions.restart`). Its end is reported linked to the original: a failure
  report that says "the retry of nightly with memory raised to 768Mi failed again", or, on
  `succeeded`, a report of its own: "the retry of nightly with memory raised to 768Mi
  succeeded".
- A family with recorded runs (`job_performance_analysis`) is quoted: its p50 and p95 over
  the history window, against this run.
- An OOMKilled failure names the exact `jobwarden restart … --increase-memory` command
  (`restart.url` fills in `--url`; without it the command line reads
  `$JOBWARDEN_RESTART_URL`).
"""

from __future__ import annotations

import datetime as dt
import shlex
from dataclasses import dataclass

from jobwarden.enrich import Enrichment
from jobwarden.failure import FailureAnalysis
from jobwarden.history import FamilyHistory, fmt_seconds
from jobwarden.kube.labels import (
    MEMORY_RAISED,
    OOM_KILLED,
    RESTARTED_BY,
    RESTARTED_FROM,
    RETRY_OF,
)
from jobwarden.kube.objects import Job
from jobwarden.report import Block, FieldItem, FieldsBlock, MarkdownBlock, Report


@dataclass(frozen=True)
class RetryLink:
    """The original Job a restarted Job retries, and what the restart changed."""

    original: str  # name
    original_uid: str
    memory: str  # "memory raised to 768Mi", or ""
    requested_by: str


def retry_link(job: Job) -> RetryLink | None:
    notes = job.annotations
    uid = notes.get(RETRY_OF) or job.labels.get(RETRY_OF)
    if not uid:
        return None
    return RetryLink(
        original=notes.get(RESTARTED_FROM, "") or "?",
        original_uid=uid,
        memory=memory_phrase(notes.get(MEMORY_RAISED, "")),
        requested_by=notes.get(RESTARTED_BY, ""),
    )


def memory_phrase(raised: str) -> str:
    """`worker limit 512Mi->768Mi, worker request 256Mi->384Mi` -> `memory raised to 768Mi`.

    Limits are named (requests follow them); several containers are named each.
    """
    changes = []
    for part in (p.strip() for p in raised.split(",")):
        words = part.split()
        if len(words) == 3 and "->" in words[2]:
            changes.append((words[0], words[1], words[2].split("->", 1)[1]))
    limits = [c for c in changes if c[1] == "limit"] or changes
    if not limits:
        return ""
    if len({c[0] for c in limits}) == 1:
        return f"memory raised to {limits[0][2]}"
    return "memory raised: " + ", ".join(f"`{name}` to {to}" for name, _, to in limits)


def _duration(job: Job) -> float | None:
    start, end = job.start_time or job.created, job.finished_at
    return max(0.0, (end - start).total_seconds()) if start and end else None


def history_text(history: FamilyHistory, job: Job) -> str:
    took = _duration(job)
    this = f"; this run took {fmt_seconds(took)}" if took is not None else ""
    return (
        f"Runs of {history.label} over the last {history.window}: {history.runs}, "
        f"{history.success_rate:.0%} succeeded, p50 {fmt_seconds(history.p50)}, "
        f"p95 {fmt_seconds(history.p95)}{this}."
    )


def history_block(history: FamilyHistory, job: Job) -> FieldsBlock:
    took = _duration(job)
    return FieldsBlock(
        title=f"Family {history.label}",
        fields=[
            FieldItem(name=f"Runs (last {history.window})", value=str(history.runs)),
            FieldItem(name="Succeeded", value=f"{history.success_rate:.0%}"),
            FieldItem(name="p50", value=fmt_seconds(history.p50)),
            FieldItem(name="p95", value=fmt_seconds(history.p95)),
            FieldItem(name="This run", value=fmt_seconds(took)),
        ],
    )


def restart_command(cluster: str, job: Job, url: str | None) -> str:
    """The exact command line that restarts `job` with more memory (README: Restart)."""
    words = ["jobwarden", "restart"]
    if url:
        words += ["--url", url]
    words += ["--cluster", cluster, "--namespace", job.namespace, "--name", job.name]
    return " ".join(shlex.quote(w) for w in words) + " --increase-memory"


def oom_killed(analysis: FailureAnalysis) -> bool:
    return any(c.code == OOM_KILLED for c in (analysis.headline, *analysis.pod_causes))


def _link_block(link: RetryLink, job: Job, outcome: str) -> FieldsBlock:
    fields = [
        FieldItem(name="Retry of", value=f"{job.namespace}/{link.original}"),
        FieldItem(name="Original uid", value=link.original_uid),
        FieldItem(name="Changed", value=link.memory or "nothing (same spec)"),
        FieldItem(name="Retry", value=f"{job.namespace}/{job.name}: {outcome}"),
    ]
    if link.requested_by:
        fields.append(FieldItem(name="Restarted by", value=link.requested_by))
    return FieldsBlock(title="Restart", fields=fields)


def _with(link: RetryLink) -> str:
    return f" with {link.memory}" if link.memory else ""


def add_to_failure(
    report: Report,
    e: Enrichment,
    analysis: FailureAnalysis,
    *,
    history: FamilyHistory | None,
    restart_url: str | None,
) -> Report:
    """The failure report with the retry link, the family's history and the restart command."""
    job = e.job
    blocks: list[Block] = list(report.blocks)
    extra: list[Block] = []
    summary = report.summary
    link = retry_link(job)
    if link:
        summary = (
            f"The retry of {job.namespace}/{link.original}{_with(link)} failed again. {summary}"
        )
        extra.append(_link_block(link, job, "failed"))
    if history:
        summary = f"{summary} {history_text(history, job)}"
        extra.append(history_block(history, job))
    if oom_killed(analysis):
        command = restart_command(e.ref.cluster, job, restart_url)
        where = "" if restart_url else " (with $JOBWARDEN_RESTART_URL set to job_restart's URL)"
        extra.append(
            MarkdownBlock(
                text=f"### Restart with more memory\n```\n{command}\n```\nraises the memory of "
                f"each OOMKilled container by restart.memoryStep{where}; it shows the plan "
                "and asks before it acts."
            )
        )
    if not extra:
        return report
    return report.model_copy(
        update={"blocks": [*blocks[:1], *extra, *blocks[1:]], "summary": summary}
    )


def retry_succeeded_report(
    e: Enrichment,
    *,
    report_id: str,
    source_event_id: str,
    now: dt.datetime,
    history: FamilyHistory | None,
) -> Report:
    """A retry made by restart succeeded: say so, linked to the original Job."""
    job = e.job
    link = retry_link(job)
    assert link is not None  # the spec accepts only retries
    took = _duration(job)
    ran = f" in {fmt_seconds(took)}" if took is not None else ""
    title = (
        f"The retry of {job.namespace}/{link.original}{_with(link)} succeeded: "
        f"{job.name} completed{ran}"
    )
    summary = (
        f"{job.namespace}/{job.name}, restarted from {link.original} (uid {link.original_uid})"
        f"{_with(link)}, completed{ran}."
    )
    if link.memory:
        summary += " Keep the raised memory in the Job's own spec, or the next run fails again."
    blocks: list[Block] = [_link_block(link, job, "succeeded")]
    if history:
        summary = f"{summary} {history_text(history, job)}"
        blocks.append(history_block(history, job))
    return Report(
        id=report_id,
        workflow="jobFailureReporter",
        cluster=e.ref.cluster,
        namespace=job.namespace,
        job=job.name,
        job_uid=job.uid,
        created_at=now,
        severity="info",
        title=title,
        summary=summary,
        blocks=blocks,
        source_event_id=source_event_id,
    )
