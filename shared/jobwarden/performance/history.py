"""A family's recent runs: what regressions compare with and failure reports quote.

`family_runs` reads the run records of one family (one cluster and namespace) that ended
within `regressions.history` (default 14 days), the run being judged excluded: the most
recent `regressions.maxRuns` (default 200), one bucket listing per day of the window at
most, so that a Job that runs every minute costs the same as one that runs daily.
`history_of` sums them into the `FamilyHistory` the failure
reporter quotes (the edge hands it to the report workflows as a lookup: they never import
this package).
"""

from __future__ import annotations

from jobwarden.enrich import Enrichment
from jobwarden.history import FamilyHistory
from jobwarden.performance.analysis import window
from jobwarden.performance.runs import RunRecord, job_family, load_recent_runs
from jobwarden.performance.stats import percentile
from jobwarden.runtime import Runtime


def family_runs(
    runtime: Runtime, *, cluster: str, namespace: str, family: str, exclude_uid: str
) -> list[RunRecord]:
    """The family's runs in the history window, oldest first, without run `exclude_uid`."""
    cfg = runtime.settings.workflows.job_workflows.job_performance_analysis.regressions
    since, until = window(cfg.history, runtime.clock())
    runs = load_recent_runs(
        runtime.store, since, until, cluster=cluster, family=family, limit=cfg.max_runs + 1
    )
    return [r for r in runs if r.namespace == namespace and r.job_uid != exclude_uid][
        -cfg.max_runs :
    ]


def summarize(runs: list[RunRecord], *, window_text: str) -> FamilyHistory | None:
    """The counts and duration percentiles of `runs` (all of one family); None if none."""
    if not runs:
        return None
    durations = [r.duration_seconds for r in runs if r.duration_seconds is not None]
    first = runs[0]
    return FamilyHistory(
        cluster=first.cluster,
        namespace=first.namespace,
        family=first.family,
        window=window_text,
        runs=len(runs),
        succeeded=sum(1 for r in runs if r.outcome == "succeeded"),
        p50=percentile(durations, 50),
        p95=percentile(durations, 95),
    )


def history_of(runtime: Runtime, facts: Enrichment) -> FamilyHistory | None:
    """The history of the family of the Job `facts` describe (its own run excluded)."""
    cfg = runtime.settings.workflows.job_workflows.job_performance_analysis
    if not cfg.enabled:
        return None
    job = facts.job
    runs = family_runs(
        runtime,
        cluster=facts.ref.cluster,
        namespace=job.namespace,
        family=job_family(job),
        exclude_uid=job.uid,
    )
    return summarize(runs, window_text=cfg.regressions.history)
