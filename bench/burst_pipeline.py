"""Benchmark: a burst of failing Jobs (default 1,000) through the whole pipeline, two clusters.

Two local stacks (two API servers, an exporter each) -> one Pub/Sub topic (pstest) -> the
push bridge -> INSTANCES functions-framework instances of job_failure_reporter (round-robin,
as Cloud Run spreads requests; 8 threads each) -> gs:// on fake-gcs-server through a
recording proxy that answers 429 like Cloud Storage to a second write of one object name
within a second -> a real HTTP webhook receiver (`tests/support/burst.py`). COUNT Jobs are
created back to back, alternating between the clusters.

Printed: reports stored (want COUNT), duplicates (want 0), posts (want COUNT, each once),
time from the first Failed condition to the last report stored, the highest number of
writes to one object name within one second (want <= 1) and the 429s it would have cost.
Baseline, measured in the same run: the first Failed condition to the last `failed`
JobEvent published (an unfiltered subscription on the same topic), i.e. the exporter-only
burst of bench/burst_1000.py; the ratio says what the bridge, functions, storage and
webhook add. Failed conditions have 1 s resolution.

Usage: .venv/bin/python bench/burst_pipeline.py [COUNT] [INSTANCES]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.burst import Burst

from jobwarden_dev.localstack.stack import BURST_SCRAPE, LocalStack

TIMEOUT = 1800.0  # seconds for every report to be stored and posted after the last create


def say(message: str) -> None:
    print(message, flush=True)


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    instances = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with (
            LocalStack(
                work / "stack-a", name="local", progress=say, scrape_interval=BURST_SCRAPE
            ) as a,
            LocalStack(
                work / "stack-b", name="cluster-b", progress=say, scrape_interval=BURST_SCRAPE
            ) as b,
        ):
            os.environ.update(a.env())
            rig = Burst([a, b], work / "burst", instances=instances, say=say).start()
            try:
                started = time.monotonic()
                rig.create_jobs(count, progress=100)
                done = rig.wait(TIMEOUT, settle=10.0)
                if not done:
                    say(f"gave up after {TIMEOUT:.0f} s waiting for reports and posts")
                result = rig.result()
                took = time.monotonic() - started
            finally:
                rig.stop()
    say(
        f"\nburst of {count} failing Jobs on 2 clusters, {instances} instances of "
        f"job_failure_reporter, gs:// on fake-gcs-server behind the 429 proxy "
        f"({took:.0f} s from the first create)"
    )
    for line in result.lines():
        say(line)
    problems = result.problems()
    say(
        f"target: 0 lost, 0 duplicates, each post once, <= 1 write/name/s: "
        f"{'met' if not problems else 'MISSED: ' + '; '.join(problems)}"
    )
    return 0 if not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
