"""The numbers of a family's runs: percentiles, trend, totals, and the types findings use.

Percentiles interpolate linearly between ranks (numpy's default). The trend compares the
median duration of the older half of the window's runs with that of the newer half (at
least `MIN_TREND_RUNS` runs with a duration; halves by run order, so an uneven spread of
runs over time never leaves a half empty); a change beyond `TREND_THRESHOLD` percent is
"getting slower/faster by X%".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import median
from typing import Literal

from jobwarden.history import fmt_seconds as fmt_seconds  # shared with the failure reports
from jobwarden.performance.runs import RunRecord

Severity = Literal["info", "warning", "error"]
SEVERITY_RANK: dict[str, int] = {"error": 0, "warning": 1, "info": 2}
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
TREND_THRESHOLD = 10.0  # percent
MIN_TREND_RUNS = 4


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0..100) by linear interpolation between ranks; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def one_in(count: int, total: int) -> str:
    """`1 in 20` for 5% (rounded), `all` when every one."""
    if count >= total:
        return "all"
    return f"1 in {max(2, round(total / count))}" if count else "none"


@dataclass(frozen=True)
class Trend:
    direction: Literal["slower", "faster", "stable", "unknown"]
    change_pct: float | None = None
    before: float | None = None  # median seconds of the older half
    after: float | None = None  # median seconds of the newer half

    def describe(self) -> str:
        if self.direction == "unknown" or self.change_pct is None:
            return f"not enough runs for a trend (needs {MIN_TREND_RUNS})"
        span = f"median {fmt_seconds(self.before)} → {fmt_seconds(self.after)}"
        if self.direction == "stable":
            return f"stable ({span})"
        return f"getting {self.direction} by {abs(self.change_pct):.0f}% ({span})"


def trend(durations: list[float]) -> Trend:
    """Older half versus newer half of `durations` (in run order), by median."""
    if len(durations) < MIN_TREND_RUNS:
        return Trend("unknown")
    half = len(durations) // 2
    before, after = median(durations[:half]), median(durations[-half:])
    if before <= 0:
        return Trend("unknown")
    change = (after - before) / before * 100.0
    if change > TREND_THRESHOLD:
        return Trend("slower", change, before, after)
    if change < -TREND_THRESHOLD:
        return Trend("faster", change, before, after)
    return Trend("stable", change, before, after)


@dataclass(frozen=True)
class Finding:
    severity: Severity
    kind: str  # deadline, backoff, parallelism, image-pull, pending, oom, sizing, success, trend
    text: str


@dataclass(frozen=True)
class ContainerSizing:
    """A container's requests and limits (latest run) against its peak usage in the window."""

    container: str
    cpu_request: str | None
    cpu_limit: str | None
    memory_request: str | None
    memory_limit: str | None
    peak_cpu_millicores: float | None
    peak_memory_bytes: int | None
    peak_throttled: float | None = None  # share of CFS periods throttled, 0..1


@dataclass(frozen=True)
class FamilyStats:
    cluster: str
    namespace: str
    family: str
    runs: tuple[RunRecord, ...]  # oldest first
    succeeded: int
    failed: int
    p50: float | None
    p95: float | None
    max: float | None
    trend: Trend
    retries: int
    pending_seconds: float
    pulling_seconds: float
    running_seconds: float
    oom_runs: int
    sizing: tuple[ContainerSizing, ...]
    findings: tuple[Finding, ...] = field(default=())

    @property
    def count(self) -> int:
        return len(self.runs)

    @property
    def success_rate(self) -> float:
        return self.succeeded / self.count if self.count else 0.0

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.family}"

    @property
    def pod_seconds(self) -> float:
        return self.pending_seconds + self.pulling_seconds + self.running_seconds

    def share(self, phase: float) -> float:
        return phase / self.pod_seconds if self.pod_seconds else 0.0
