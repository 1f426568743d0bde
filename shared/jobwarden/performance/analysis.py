"""Analyse a window of run records: group by family, compute statistics and findings.

Families are keyed by (cluster, namespace, family), so the same CronJob name in two
clusters or namespaces is two families. `window("7d", now)` turns a requested duration
into (since, until). The numbers are in `stats`, the recommendations in `findings`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from jobwarden.performance.findings import recommendations
from jobwarden.performance.runs import RunRecord
from jobwarden.performance.stats import (
    SEVERITIES,
    SEVERITY_RANK,
    ContainerSizing,
    FamilyStats,
    Finding,
    Severity,
    percentile,
    trend,
)
from jobwarden.quantities import parse_duration


@dataclass(frozen=True)
class WindowAnalysis:
    since: dt.datetime
    until: dt.datetime
    duration: str  # as the user wrote it: 24h, 7d
    families: tuple[FamilyStats, ...]  # most runs first

    @property
    def runs(self) -> int:
        return sum(f.count for f in self.families)

    @property
    def succeeded(self) -> int:
        return sum(f.succeeded for f in self.families)

    @property
    def findings(self) -> list[tuple[FamilyStats, Finding]]:
        pairs = [(f, x) for f in self.families for x in f.findings]
        return sorted(pairs, key=lambda p: SEVERITY_RANK[p[1].severity])

    @property
    def severity(self) -> Severity:
        worst = min((SEVERITY_RANK[x.severity] for _, x in self.findings), default=2)
        return SEVERITIES[worst]


def window(duration: str, until: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """(since, until) of a window `duration` long ending at `until`; ConfigError if unreadable."""
    return until - parse_duration(duration), until


def _sum(values: list[float | None]) -> float:
    return sum(v for v in values if v is not None)


def _sizing(runs: tuple[RunRecord, ...]) -> tuple[ContainerSizing, ...]:
    latest = runs[-1]
    names = dict.fromkeys([*latest.requests, *latest.limits])
    for run in runs:
        names.update(dict.fromkeys(run.usage or {}))
    out = []
    for name in names:
        samples = [r.usage[name] for r in runs if r.usage and name in r.usage]
        cpus = [s.cpu_millicores for s in samples if s.cpu_millicores is not None]
        mems = [s.memory_bytes for s in samples if s.memory_bytes is not None]
        throttled = [s.throttled for s in samples if s.throttled is not None]
        req, lim = latest.requests.get(name, {}), latest.limits.get(name, {})
        out.append(
            ContainerSizing(
                container=name,
                cpu_request=req.get("cpu"),
                cpu_limit=lim.get("cpu"),
                memory_request=req.get("memory"),
                memory_limit=lim.get("memory"),
                peak_cpu_millicores=max(cpus) if cpus else None,
                peak_memory_bytes=max(mems) if mems else None,
                peak_throttled=max(throttled) if throttled else None,
            )
        )
    return tuple(out)


def family_stats(runs: list[RunRecord]) -> FamilyStats:
    """Statistics and findings of one family's runs (all of the same cluster/namespace/family)."""
    ordered = tuple(sorted(runs, key=lambda r: (r.end, r.job_uid)))
    durations = [r.duration_seconds for r in ordered if r.duration_seconds is not None]
    first = ordered[0]
    stats = FamilyStats(
        cluster=first.cluster,
        namespace=first.namespace,
        family=first.family,
        runs=ordered,
        succeeded=sum(1 for r in ordered if r.outcome == "succeeded"),
        failed=sum(1 for r in ordered if r.outcome == "failed"),
        p50=percentile(durations, 50),
        p95=percentile(durations, 95),
        max=max(durations) if durations else None,
        trend=trend(durations),
        retries=sum(r.retries for r in ordered),
        pending_seconds=_sum([r.pending_seconds for r in ordered]),
        pulling_seconds=_sum([r.pulling_seconds for r in ordered]),
        running_seconds=_sum([r.running_seconds for r in ordered]),
        oom_runs=sum(1 for r in ordered if r.oom_killed),
        sizing=_sizing(ordered),
    )
    found = recommendations(stats)
    return replace(stats, findings=tuple(found))


def analyse_runs(
    runs: list[RunRecord], since: dt.datetime, until: dt.datetime, duration: str
) -> WindowAnalysis:
    """Group `runs` by (cluster, namespace, family) and analyse each group."""
    groups: dict[tuple[str, str, str], list[RunRecord]] = {}
    for run in runs:
        groups.setdefault((run.cluster, run.namespace, run.family), []).append(run)
    families = sorted(
        (family_stats(g) for g in groups.values()),
        key=lambda f: (-f.count, f.cluster, f.namespace, f.family),
    )
    return WindowAnalysis(since, until, duration, tuple(families))
