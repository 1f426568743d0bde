"""Benchmark: the exporter's CronJob tick (`CronJobTracker.due`) over many CronJobs.

The watcher's ticker asks the tracker every `tick` seconds (5 by default) which scheduled
times passed without a Job; most ticks have nothing due. Measured, in the same run, on
COUNT CronJobs (default 1,000) scheduled hourly, each with its last run covered:

- `due`: the tracker's tick (cached next due time per CronJob);
- baseline: evaluating each CronJob's schedule once per tick (one `Schedule.between`
  call each), which is what a tick without the cache did.

Prints both per tick and their ratio. No thresholds: a number to compare across changes.

Usage: .venv/bin/python bench/cronjob_ticks.py [COUNT]
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / p) for p in ("shared", "exporter")]

from jobwarden_exporter.cronjobs import CronJobTracker  # noqa: E402
from jobwarden_exporter.schedule import Schedule  # noqa: E402

T0 = dt.datetime(2026, 5, 1, 12, 10, tzinfo=dt.UTC)
TICKS = 20


def cronjob(i: int) -> dict[str, object]:
    return {
        "metadata": {
            "name": f"hourly-{i}",
            "namespace": "batch",
            "uid": f"uid-{i}",
            "creationTimestamp": "2026-05-01T09:00:00Z",
        },
        "spec": {"schedule": "0 * * * *"},
        "status": {
            "lastScheduleTime": "2026-05-01T12:00:00Z",
            "lastSuccessfulTime": "2026-05-01T12:00:30Z",
        },
    }


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    tracker = CronJobTracker(grace=dt.timedelta(minutes=2), no_success_after=3)
    for i in range(count):
        tracker.observe(cronjob(i), now=T0)
    tracker.due(T0)  # the first tick judges 12:00 and learns the next due time
    start = time.perf_counter()
    for k in range(1, TICKS + 1):
        alerts = tracker.due(T0 + dt.timedelta(seconds=5 * k))
        assert not alerts, alerts
    cached = (time.perf_counter() - start) / TICKS

    schedules = [Schedule.parse("0 * * * *") for _ in range(count)]
    since = T0 - dt.timedelta(minutes=9)
    start = time.perf_counter()
    for k in range(1, TICKS + 1):
        horizon = T0 + dt.timedelta(seconds=5 * k) - dt.timedelta(minutes=2, seconds=5)
        for schedule in schedules:
            schedule.between(since, horizon)
    baseline = (time.perf_counter() - start) / TICKS

    print(f"{count} hourly CronJobs, {TICKS} ticks with nothing due")
    print(f"tracker tick:                 {cached * 1000:8.2f} ms")
    print(f"baseline (schedule per tick): {baseline * 1000:8.2f} ms")
    print(f"ratio tracker/baseline:       {cached / baseline:8.3f}")


if __name__ == "__main__":
    main()
