"""Benchmark: the regression check made on every finished run, for a Job that runs every minute.

A family with a record per minute over 14 days (20,160 run records) in a file:// store.
Times `family_runs` + `find_regressions` (what `job_performance_analysis` adds to each
finished run: the most recent `regressions.maxRuns`, 200 by default) against a baseline
measured in the same run: loading the family's whole 14-day history with `load_runs`
(what reading every record would cost). Prints both and their ratio.

    .venv/bin/python bench/regression_check.py
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "shared"))

from jobwarden.config import parse_config
from jobwarden.performance.history import family_runs
from jobwarden.performance.regression import find_regressions
from jobwarden.performance.runs import RunRecord, append_run, load_runs
from jobwarden.runtime import Runtime
from jobwarden.sinks.storage import open_store

RUNS = 14 * 24 * 60
ROUNDS = 3


def main() -> int:
    now = dt.datetime.now(dt.UTC)
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"file://{tmp}")
        for i in range(RUNS):
            end = now - dt.timedelta(minutes=i + 1)
            append_run(
                store,
                RunRecord(
                    cluster="prod",
                    namespace="batch",
                    job=f"tick-{i}",
                    job_uid=f"uid-{i:06d}",
                    family="tick",
                    start=end - dt.timedelta(seconds=20),
                    end=end,
                    duration_seconds=20.0 + (i % 7),
                    outcome="succeeded",
                ),
            )
        settings = parse_config({"sinks": {"storage": {"url": f"file://{tmp}"}}}, source="bench")
        from jobwarden.cluster import ClusterRegistry

        runtime = Runtime(settings=settings, clusters=ClusterRegistry([]), env={}, _store=store)
        cfg = settings.workflows.job_workflows.job_performance_analysis.regressions
        run = RunRecord(
            cluster="prod",
            namespace="batch",
            job="tick-new",
            job_uid="uid-new",
            family="tick",
            start=now - dt.timedelta(seconds=90),
            end=now,
            duration_seconds=90.0,
            outcome="succeeded",
        )
        checks, everything = [], []
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            history = family_runs(
                runtime, cluster="prod", namespace="batch", family="tick", exclude_uid="uid-new"
            )
            found = find_regressions(run, history, cfg)
            checks.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            every = load_runs(store, now - dt.timedelta(days=14), now, ["prod"], family="tick")
            everything.append(time.perf_counter() - t0)
        check, base = statistics.median(checks), statistics.median(everything)
        print(f"history records: {RUNS}; read per check: {len(history)}; regression: {bool(found)}")
        print(f"regression check (maxRuns {cfg.max_runs}): {check * 1000:.0f} ms")
        print(f"baseline, the whole 14-day history: {base * 1000:.0f} ms ({len(every)} records)")
        print(f"ratio check / baseline: {check / base:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
