"""Performance without asking: every finished run is compared with its family's history.

`record_run` calls `check_run` after recording a run (and again on a redelivery: the report
id is the run's, so storage and the webhooks see it once). A run is a regression when
(`workflows.jobWorkflows.jobPerformanceAnalysis.regressions`):

- `slow`: it took longer than the family's p95 times `p95Factor` (default 1.5), with at
  least `minRuns` earlier runs with a duration in the `history` window (default 14d);
- `deadline`: it used `deadlineFraction` (default 80%) or more of its activeDeadlineSeconds
  and was not killed by it (a run the deadline killed is a failure, and reported as one);
- `success-rate`: it failed, and this failure brought the family's success rate over the
  window (at least `minRuns` runs, this one included) from at or above
  `successRateBelow` (default 80%) to below it: reported once as it falls, not on every
  failure after.

The report (`jobPerformanceAnalysis`, posted by default) sits with the run's Job:
`<cluster>/<namespace>/<job>/<uid>/jobPerformanceAnalysis/`. `find_regressions` and
`regression_report` are pure.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from jobwarden.history import fmt_seconds
from jobwarden.kube.labels import DEADLINE_EXCEEDED
from jobwarden.names import WorkflowName
from jobwarden.performance.runs import RunRecord
from jobwarden.performance.stats import percentile
from jobwarden.report import Block, FieldItem, FieldsBlock, Report, Routing, TableBlock, report_id
from jobwarden.workflowconfig import Regressions

WORKFLOW: WorkflowName = "jobPerformanceAnalysis"
RECENT = 10


@dataclass(frozen=True)
class Regression:
    kind: str  # slow, deadline, success-rate
    headline: str  # what the title says
    text: str


def _pct(value: float) -> str:
    return f"{value:.0%}"


def find_regressions(
    run: RunRecord, history: list[RunRecord], cfg: Regressions
) -> list[Regression]:
    """What is wrong with `run` against `history` (the family's earlier runs, not `run`)."""
    found: list[Regression] = []
    took = run.duration_seconds
    durations = [r.duration_seconds for r in history if r.duration_seconds is not None]
    p95 = percentile(durations, 95)
    if took is not None and p95 and len(durations) >= cfg.min_runs and took > p95 * cfg.p95_factor:
        found.append(
            Regression(
                "slow",
                f"took {fmt_seconds(took)}, {took / p95:.1f}x its family's p95 "
                f"({fmt_seconds(p95)})",
                f"took {fmt_seconds(took)}, {took / p95:.1f}x the family's p95 of "
                f"{fmt_seconds(p95)} over its last {len(durations)} runs "
                f"(p50 {fmt_seconds(percentile(durations, 50))}; regression above "
                f"{cfg.p95_factor:g}x p95)",
            )
        )
    deadline = run.active_deadline_seconds
    if (
        took is not None
        and deadline
        and run.reason != DEADLINE_EXCEEDED
        and took >= deadline * cfg.deadline_fraction
    ):
        found.append(
            Regression(
                "deadline",
                f"used {took / deadline:.0%} of its deadline ({fmt_seconds(took)} of {deadline}s)",
                f"used {took / deadline:.0%} of its activeDeadlineSeconds ({fmt_seconds(took)} "
                f"of {deadline}s): a little slower and the deadline kills it; raise "
                "activeDeadlineSeconds or find what slowed it",
            )
        )
    if run.outcome == "failed":
        before = len(history)
        ok = sum(1 for r in history if r.outcome == "succeeded")
        after_rate = ok / (before + 1)
        before_rate = ok / before if before else 1.0
        threshold = cfg.success_rate_below
        if before + 1 >= cfg.min_runs and after_rate < threshold <= before_rate:
            found.append(
                Regression(
                    "success-rate",
                    f"failed: its family's success rate fell to {_pct(after_rate)}",
                    f"this failure brought the family's success rate to {_pct(after_rate)} "
                    f"({ok} of {before + 1} runs), below {_pct(threshold)} (it was "
                    f"{_pct(before_rate)})",
                )
            )
    return found


def report_key(run: RunRecord) -> str:
    """One regression report per run, whoever announced its end and how often."""
    return f"{run.cluster}/{run.job_uid}/regression"


def regression_report(
    run: RunRecord,
    history: list[RunRecord],
    found: list[Regression],
    *,
    window: str,
    now: dt.datetime,
    routing: Routing | None,
) -> Report:
    """The report of `found` (non-empty) for `run` (pure)."""
    durations = [r.duration_seconds for r in history if r.duration_seconds is not None]
    ok = sum(1 for r in history if r.outcome == "succeeded")
    label = f"{run.namespace}/{run.family}"
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    title = f"Job {run.namespace}/{run.job} {found[0].headline}{more}"
    summary = (
        f"Performance regression of family {label} ({run.outcome}): "
        + "; ".join(f.text for f in found)
        + "."
    )
    fields = [
        FieldItem(name="Family", value=label),
        FieldItem(name="This run", value=f"{fmt_seconds(run.duration_seconds)} ({run.outcome})"),
        FieldItem(name=f"Runs in the last {window}", value=str(len(history))),
        FieldItem(
            name="Success rate before this run",
            value=_pct(ok / len(history)) if history else "-",
        ),
        FieldItem(name="p50", value=fmt_seconds(percentile(durations, 50))),
        FieldItem(name="p95", value=fmt_seconds(percentile(durations, 95))),
        FieldItem(name="Longest", value=fmt_seconds(max(durations) if durations else None)),
    ]
    if run.active_deadline_seconds:
        fields.append(
            FieldItem(name="activeDeadlineSeconds", value=str(run.active_deadline_seconds))
        )
    blocks: list[Block] = [
        FieldsBlock(title="Regression", fields=fields),
        TableBlock(
            title="What changed",
            columns=["Check", "Finding"],
            rows=[[f.kind, f.text] for f in found],
        ),
    ]
    recent = history[-RECENT:]
    if recent:
        blocks.append(
            TableBlock(
                title="Recent runs of the family",
                columns=["Job", "Ended (UTC)", "Duration", "Outcome"],
                rows=[
                    [
                        r.job,
                        r.end.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M"),
                        fmt_seconds(r.duration_seconds),
                        r.outcome,
                    ]
                    for r in reversed(recent)
                ],
            )
        )
    key = report_key(run)
    return Report(
        id=report_id(key, WORKFLOW),
        workflow=WORKFLOW,
        cluster=run.cluster,
        namespace=run.namespace,
        job=run.job,
        job_uid=run.job_uid,
        created_at=now,
        severity="warning",
        title=title,
        summary=summary,
        blocks=blocks,
        source_event_id=key,
        routing=routing,
    )
