"""Benchmark: cold start of each function, fresh process to first handled request.

Every function is started as `functions-framework --target <name>` in a new process and
sent one real Eventarc Pub/Sub CloudEvent (a JobEvent for a cluster that is not
configured, so the whole decode path runs and nothing needs a cluster); the time from
process start to its 200 answer is compared with a hello-world function started the same
way, alternating, median of ROUNDS. Target (issue 4): at most 1.5x.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FF = str(Path(sys.executable).parent / "functions-framework")
ROUNDS = 5
FUNCTIONS = [
    "job_failure_reporter",
    "job_info_enricher",
    "job_events_enricher",
    "job_pod_enricher",
    "job_performance_analysis",
]

EVENT = {
    "cluster": "not-configured",
    "namespace": "batch",
    "name": "nightly-1",
    "uid": "6f1c2d9e-0000-4000-8000-000000000001",
    "transition": "failed",
    "reason": "BackoffLimitExceeded",
    "time": "2026-11-01T10:00:00Z",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(port: int) -> urllib.request.Request:
    body = {
        "message": {
            "data": base64.b64encode(json.dumps(EVENT).encode()).decode(),
            "messageId": "bench-1",
            "attributes": {"type": "failed", "cluster": "not-configured"},
        },
        "subscription": "projects/p/subscriptions/s",
    }
    headers = {
        "ce-id": "bench-1",
        "ce-source": "//pubsub.googleapis.com/projects/p/topics/t",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-specversion": "1.0",
        "Content-Type": "application/json",
    }
    return urllib.request.Request(
        f"http://127.0.0.1:{port}/", data=json.dumps(body).encode(), headers=headers
    )


def cold_start(target: str, source: Path) -> float:
    port = free_port()
    env = {**os.environ, "JOBWARDEN_CONFIG": ""}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [
            FF,
            "--target",
            target,
            "--source",
            str(source),
            "--signature-type",
            "cloudevent",
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                with urllib.request.urlopen(request(port), timeout=5) as resp:  # noqa: S310
                    if resp.status != 200:
                        raise RuntimeError(f"{target} answered {resp.status}")
                    return time.perf_counter() - t0
            except (ConnectionError, urllib.error.URLError):
                if proc.poll() is not None:
                    raise RuntimeError(f"{target} exited with {proc.returncode}") from None
                time.sleep(0.01)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> int:
    hello = ROOT / "bench" / "hello" / "main.py"
    worst = 0.0
    print(f"cold start to first handled CloudEvent, median of {ROUNDS} (ms)")
    for name in FUNCTIONS:
        source = ROOT / "functions" / name / "main.py"
        if not source.exists():
            print(f"{name:28} not built yet")
            continue
        ours, base = [], []
        for _ in range(ROUNDS):
            base.append(cold_start("hello", hello))
            ours.append(cold_start(name, source))
        o, b = statistics.median(ours), statistics.median(base)
        worst = max(worst, o / b)
        print(f"{name:28} {o * 1000:6.0f}   hello-world {b * 1000:6.0f}   ratio {o / b:.2f}")
    print(f"worst ratio {worst:.2f} (target <= 1.5: {'met' if worst <= 1.5 else 'MISSED'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
