"""A Job family's recent history, as the failure reporter quotes it: inert data.

`job_performance_analysis` records every finished run (`jobwarden.performance.runs`); the
edge hands the failure reporter a lookup (`jobwarden.performance.history`) that sums a
family's runs into a `FamilyHistory`, so that a failure report can say "runs of this family
usually take 4m10s (p95 6m02s); this one ran 12m30s". The report workflows never import
the performance package (import-linter keeps them independent); this model is what they
share.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FamilyHistory:
    """A family's runs over `window` (this run excluded): counts and duration percentiles."""

    cluster: str
    namespace: str
    family: str
    window: str  # as configured: 14d
    runs: int
    succeeded: int
    p50: float | None  # seconds
    p95: float | None

    @property
    def success_rate(self) -> float:
        return self.succeeded / self.runs if self.runs else 0.0

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.family}"


def fmt_seconds(seconds: float | None) -> str:
    """`42s`, `7m02s`, `3h05m`, or `-` (the performance report's format)."""
    if seconds is None:
        return "-"
    s = round(seconds)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"
