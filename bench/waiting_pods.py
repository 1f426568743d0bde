"""Benchmark: the exporter's pod watch, 10,000 pod watch events of Jobs' pods.

Each event is a pod of a Job as the API server sends it (metadata with the controller-uid
label and ownerReference, spec, status with conditions and container statuses); one in
ten waits in ImagePullBackOff. `WaitingPods.observe` (what the pod watch does per event)
is printed side by side with a baseline that does what the exporter already did per Job
event (`slim_job` + `Job.from_json` of a Job of the same size), and their ratio: the
cost of watching pods, per event, in units of watching Jobs. A pod that neither waits in
a stuck state nor is unschedulable is dismissed from its raw JSON, without building a view.

    .venv/bin/python bench/waiting_pods.py
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exporter"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "shared"))

from jobwarden.kube.objects import Job
from jobwarden_exporter.waitingpods import WaitingPods
from jobwarden_exporter.watcher import slim_job

COUNT = 10_000
ROUNDS = 5
NOW = dt.datetime(2026, 11, 1, 10, 30, tzinfo=dt.UTC)
AT = "2026-11-01T10:00:00Z"
CONTAINER = {
    "name": "worker",
    "image": "registry.example/batch/worker:1.4",
    "command": ["worker", "--run"],
    "resources": {"requests": {"memory": "256Mi", "cpu": "100m"}, "limits": {"memory": "512Mi"}},
}


def pod(i: int) -> dict[str, Any]:
    waiting = i % 10 == 0
    state = (
        {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}
        if waiting
        else {"running": {"startedAt": AT}}
    )
    return {
        "metadata": {
            "name": f"job-{i}-abcde",
            "namespace": "batch",
            "uid": f"pod-{i}",
            "resourceVersion": str(i),
            "creationTimestamp": AT,
            "labels": {"batch.kubernetes.io/controller-uid": f"job-{i}", "job-name": f"job-{i}"},
            "ownerReferences": [
                {"kind": "Job", "name": f"job-{i}", "uid": f"job-{i}", "controller": True}
            ],
        },
        "spec": {"nodeName": "node-1", "containers": [CONTAINER]},
        "status": {
            "phase": "Pending" if waiting else "Running",
            "startTime": AT,
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": AT},
                {"type": "ContainersReady", "status": str(not waiting), "lastTransitionTime": AT},
            ],
            "containerStatuses": [{"name": "worker", "restartCount": 0, "state": state}],
        },
    }


def job(i: int) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"job-{i}",
            "namespace": "batch",
            "uid": f"job-{i}",
            "resourceVersion": str(i),
            "creationTimestamp": AT,
            "labels": {"app": "etl"},
        },
        "spec": {"backoffLimit": 2, "template": {"spec": {"containers": [CONTAINER]}}},
        "status": {"startTime": AT, "active": 1, "conditions": []},
    }


def timed(work: Any, items: list[dict[str, Any]]) -> float:
    best = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        work(items)
        best.append(time.perf_counter() - start)
    return statistics.median(best)


def main() -> int:
    pods = [pod(i) for i in range(COUNT)]
    jobs = [job(i) for i in range(COUNT)]

    def watch_pods(items: list[dict[str, Any]]) -> None:
        waiting = WaitingPods()
        for item in items:
            waiting.observe(item, now=NOW)
        assert len(waiting) == COUNT // 10

    def watch_jobs(items: list[dict[str, Any]]) -> None:
        for item in items:
            Job.from_json(slim_job(item))

    pod_s, job_s = timed(watch_pods, pods), timed(watch_jobs, jobs)
    print(f"pod events: {COUNT / pod_s:,.0f}/s ({pod_s * 1e6 / COUNT:.1f} µs each)")
    print(f"job events (baseline): {COUNT / job_s:,.0f}/s ({job_s * 1e6 / COUNT:.1f} µs each)")
    print(f"ratio pod/job per event: {pod_s / job_s:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
