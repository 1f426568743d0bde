"""Benchmark: performance analysis over 10,000 runs in a 24h window from local storage.

Writes 10,000 run records (20 families, some failing, some OOMKilled) to a file:// store,
then times load + analyse + render HTML, side by side with a baseline that only reads
the same 10,000 JSON files from disk. Target (issue 4): at most 2 s.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "shared"))

from jobwarden.performance.analysis import analyse_runs
from jobwarden.performance.report import build_report
from jobwarden.performance.runs import RunRecord, append_run, load_runs
from jobwarden.render.html import render_html
from jobwarden.sinks.storage import open_store

RUNS = 10_000
ROUNDS = 3
TARGET_S = 2.0


def records(until: dt.datetime) -> list[RunRecord]:
    rng = random.Random(7)
    out = []
    for i in range(RUNS):
        family = f"family-{i % 20}"
        end = until - dt.timedelta(seconds=rng.uniform(0, 86_000))
        duration = rng.lognormvariate(4, 0.5)
        failed = rng.random() < 0.1
        out.append(
            RunRecord.model_validate(
                {
                    "cluster": "prod-eu" if i % 3 else "prod-us",
                    "namespace": "batch",
                    "job": f"{family}-{i}",
                    "jobUid": f"uid-{i:06d}",
                    "family": family,
                    "start": end - dt.timedelta(seconds=duration),
                    "end": end,
                    "durationSeconds": duration,
                    "outcome": "failed" if failed else "succeeded",
                    "reason": "BackoffLimitExceeded" if failed else "Completed",
                    "cause": "OOMKilled" if failed and i % 2 else ("NonZeroExit" if failed else ""),
                    "oomKilled": failed and i % 2 == 1,
                    "podCount": 1 + failed,
                    "retries": int(failed),
                    "pendingSeconds": rng.uniform(0, 5),
                    "pullingSeconds": rng.uniform(0, 20),
                    "runningSeconds": duration,
                    "requests": {"worker": {"memory": "256Mi", "cpu": "100m"}},
                    "limits": {"worker": {"memory": "512Mi"}},
                    "activeDeadlineSeconds": 120,
                    "backoffLimit": 3,
                }
            )
        )
    return out


def main() -> int:
    until = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    since = until - dt.timedelta(hours=24)
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"file://{tmp}")
        for record in records(until):
            append_run(store, record)
        files = list(Path(tmp, "runs").rglob("*.json"))
        ours, base = [], []
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            for path in files:
                json.loads(path.read_bytes())
            base.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            runs = load_runs(store, since, until)
            analysis = analyse_runs(runs, since, until, "24h")
            report = build_report(
                analysis,
                report_id="bench",
                source_event_id="bench",
                now=until,
                cluster="all-clusters",
                namespace="all-namespaces",
                job="all-families",
                scope="all families",
            )
            html = render_html(report)
            ours.append(time.perf_counter() - t0)
        o, b = statistics.median(ours), statistics.median(base)
        print(f"{len(runs)} runs in the window, {len(files)} records stored, median of {ROUNDS}")
        print(f"jobwarden load + analyse + HTML: {o:.2f} s ({len(html) // 1024} KiB of HTML)")
        print(f"baseline read 10,000 JSON files: {b:.2f} s")
        print(f"ratio: {o / b:.2f}; target <= {TARGET_S} s: {'met' if o <= TARGET_S else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
