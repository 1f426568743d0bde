"""Benchmark: parse and normalize 10,000 kubernetes-event-exporter messages.

Each message is a raw Pub/Sub push body (base64 JSON of a resmoio-shaped Event of a
Job's pod). Printed side by side with a baseline that only does the unavoidable part
(JSON-decode the envelope, base64-decode, JSON-decode the event), and their ratio.
Target (issue 3): at least 20,000 messages/s.
"""

from __future__ import annotations

import base64
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "shared"))

from jobwarden.intake import parse_push_body

COUNT = 10_000
ROUNDS = 5
TARGET = 20_000


def message(i: int) -> bytes:
    event = {
        "metadata": {
            "name": f"nightly-{i}.17a",
            "namespace": "batch",
            "uid": f"ev-{i}",
            "resourceVersion": str(1000 + i),
            "creationTimestamp": "2026-11-01T10:00:00Z",
        },
        "reason": "BackOff" if i % 2 else "Failed",
        "message": "Back-off restarting failed container worker in pod nightly-28744-abcde",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2026-11-01T10:00:00Z",
        "lastTimestamp": "2026-11-01T10:05:00Z",
        "count": 3 + i % 5,
        "type": "Warning",
        "eventTime": None,
        "reportingComponent": "kubelet",
        "reportingInstance": "node-1",
        "clusterName": "prod-eu",
        "involvedObject": {
            "kind": "Pod",
            "namespace": "batch",
            "name": f"nightly-28744-{i:05d}",
            "uid": f"pod-{i}",
            "apiVersion": "v1",
            "resourceVersion": "77",
            "labels": {
                "batch.kubernetes.io/job-name": "nightly-28744",
                "batch.kubernetes.io/controller-uid": "6f1c2d9e-0000-4000-8000-000000000001",
            },
            "annotations": {},
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": "nightly-28744",
                    "uid": "6f1c2d9e-0000-4000-8000-000000000001",
                    "controller": True,
                }
            ],
            "deleted": False,
        },
    }
    data = base64.b64encode(json.dumps(event).encode()).decode()
    body = {
        "message": {"data": data, "messageId": str(i), "publishTime": "2026-11-01T10:05:01Z"},
        "subscription": "projects/p/subscriptions/s",
    }
    return json.dumps(body).encode()


def baseline(bodies: list[bytes]) -> None:
    for body in bodies:
        envelope = json.loads(body)
        json.loads(base64.b64decode(envelope["message"]["data"]))


def ours(bodies: list[bytes]) -> None:
    for body in bodies:
        parse_push_body(body)


def main() -> int:
    bodies = [message(i) for i in range(COUNT)]
    trigger = parse_push_body(bodies[1])
    assert (trigger.cluster, trigger.job, trigger.transition) == (
        "prod-eu",
        "nightly-28744",
        "event",
    )
    ours(bodies[:200])  # warm up (model builds, regex compiles)
    ours_t, base_t = [], []
    for _ in range(ROUNDS):  # alternate so both see the same machine load
        t0 = time.perf_counter()
        ours(bodies)
        ours_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        baseline(bodies)
        base_t.append(time.perf_counter() - t0)
    rate = COUNT / statistics.median(ours_t)
    base_rate = COUNT / statistics.median(base_t)
    print(f"{COUNT} kubernetes-event-exporter messages, median of {ROUNDS} rounds")
    print(f"jobwarden parse+normalize: {rate:,.0f} messages/s")
    print(f"baseline json+base64 only: {base_rate:,.0f} messages/s")
    print(f"ratio (jobwarden time / baseline time): {base_rate / rate:.2f}")
    print(f"target >= {TARGET:,} messages/s: {'met' if rate >= TARGET else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
