"""The exporter's counters and gauges, rendered in the Prometheus text format (version 0.0.4).

A dozen series do not need a client library: `Metrics` keeps thread-safe labelled
counters and gauges, gauges may be computed at scrape time (buffer size, publish lag),
and `render()` writes the exposition text. `value()` reads one series back (tests,
health checks).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

PREFIX = "jobwarden_exporter_"


@dataclass(frozen=True)
class Family:
    name: str
    kind: str  # counter | gauge | summary (a sum and a count, no quantiles)
    help: str


FAMILIES: tuple[Family, ...] = (
    Family(
        "jobs_seen_total", "counter", "Distinct Jobs (by uid) observed in each leadership term."
    ),
    Family("transitions_total", "counter", "Transitions detected, by transition."),
    Family("published_total", "counter", "JobEvents acknowledged by Pub/Sub, by transition."),
    Family("publish_retries_total", "counter", "Publish attempts that failed and will be retried."),
    Family("dropped_total", "counter", "JobEvents dropped, by transition and reason."),
    Family("watch_restarts_total", "counter", "Watches restarted, by resource and reason."),
    Family("publish_lag_seconds", "gauge", "Age of the oldest JobEvent not yet published."),
    Family("publish_latency_seconds", "summary", "Time from detection to Pub/Sub acknowledgement."),
    Family("buffer_size", "gauge", "JobEvents waiting to be published (including in flight)."),
    Family("is_leader", "gauge", "1 when this replica holds the lease (or runs without one)."),
    Family("tracked_jobs", "gauge", "Jobs currently remembered by the watcher."),
    Family("waiting_pods", "gauge", "Pods of Jobs waiting in a state they will not leave (stuck)."),
)

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Metrics:
    """Labelled counters and gauges of one exporter (constant labels on every series)."""

    def __init__(self, **constant: str) -> None:
        self._families = {f.name: f for f in FAMILIES}
        self._values: dict[str, dict[Labels, float]] = {f.name: {} for f in FAMILIES}
        self._computed: dict[str, Callable[[], float]] = {}
        self._constant: Labels = tuple(sorted(constant.items()))
        self._lock = threading.Lock()

    def _key(self, name: str, labels: dict[str, str]) -> Labels:
        if name not in self._families:
            raise KeyError(f"unknown metric {name!r}")
        return tuple(sorted(labels.items()))

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = self._key(name, labels)
        with self._lock:
            series = self._values[name]
            series[key] = series.get(key, 0.0) + amount

    def observe(self, name: str, value: float) -> None:
        """One observation of a summary (adds to its `_sum` and `_count`)."""
        self._key(name, {})
        with self._lock:
            series = self._values[name]
            series[(("", "sum"),)] = series.get((("", "sum"),), 0.0) + value
            series[(("", "count"),)] = series.get((("", "count"),), 0.0) + 1

    def set(self, name: str, value: float, **labels: str) -> None:
        key = self._key(name, labels)
        with self._lock:
            self._values[name][key] = value

    def compute(self, name: str, fn: Callable[[], float]) -> None:
        """Evaluate `fn` at each scrape for this (unlabelled) gauge."""
        self._key(name, {})
        with self._lock:
            self._computed[name] = fn

    def value(self, name: str, **labels: str) -> float:
        """One series' value; with no labels given, the sum over all series of `name`."""
        if name in self._computed and not labels:
            return float(self._computed[name]())
        with self._lock:
            series = self._values[name]
            if labels:
                return series.get(self._key(name, labels), 0.0)
            return sum(series.values())

    def render(self) -> str:
        """The Prometheus text exposition of every family."""
        computed = {name: fn() for name, fn in list(self._computed.items())}
        with self._lock:
            snapshot = {name: dict(series) for name, series in self._values.items()}
        lines = []
        for family in FAMILIES:
            full = PREFIX + family.name
            lines += [f"# HELP {full} {family.help}", f"# TYPE {full} {family.kind}"]
            series = snapshot[family.name]
            if family.kind == "summary":
                for part in ("sum", "count"):
                    lines.append(self._line(f"{full}_{part}", (), series.get((("", part),), 0.0)))
                continue
            if family.name in computed:
                series = {(): computed[family.name]}
            if not series and family.kind == "counter":
                series = {(): 0.0}
            lines += [self._line(full, labels, value) for labels, value in sorted(series.items())]
        return "\n".join(lines) + "\n"

    def _line(self, name: str, labels: Labels, value: float) -> str:
        pairs = ",".join(f'{k}="{_escape(v)}"' for k, v in (*self._constant, *labels))
        return f"{name}{{{pairs}}} {_number(value)}" if pairs else f"{name} {_number(value)}"
