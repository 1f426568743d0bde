"""Benchmark: enrich and analyse a failed Job with 50 pods on the local stack.

Prints the API calls and time of `jobwarden.enrich` + `analyse`, side by side with a
baseline that reads the same facts the common way (a GET per pod, an event query per
object, a log request per container), and the ratio. Target (issue 3): at most 4 calls
plus one per failed container's log (capped at MAX_LOGS).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.kube import job_condition, job_manifest, wait_for

from jobwarden.enrich import MAX_LOGS, enrich
from jobwarden.failure import analyse
from jobwarden.kube.objects import JobRef
from jobwarden.kubeapi import KubeApi
from jobwarden_dev.localstack.stack import LocalStack

PODS = 50
ROUNDS = 5


def baseline(api: KubeApi, ref: JobRef) -> int:
    """The per-object way: job, its events, each pod, each pod's events, each log."""
    ns = ref.namespace
    job = api.get(f"/apis/batch/v1/namespaces/{ns}/jobs/{ref.name}")
    api.get(
        f"/api/v1/namespaces/{ns}/events",
        fieldSelector=f"involvedObject.uid={job['metadata']['uid']}",
    )
    names = [
        p["metadata"]["name"]
        for p in api.get(f"/api/v1/namespaces/{ns}/pods", labelSelector=f"job-name={ref.name}")[
            "items"
        ]
    ]
    logs = 0
    for name in names:
        pod = api.get(f"/api/v1/namespaces/{ns}/pods/{name}")
        api.get(
            f"/api/v1/namespaces/{ns}/events",
            fieldSelector=f"involvedObject.uid={pod['metadata']['uid']}",
        )
        for c in pod["spec"]["containers"]:
            api.text(f"/api/v1/namespaces/{ns}/pods/{name}/log", container=c["name"], tailLines=200)
            logs += 1
    return logs


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, LocalStack(Path(tmp), name="bench") as info:
        api = KubeApi(info.admin_credentials())
        ns = "bench"
        api.create("/api/v1/namespaces", {"metadata": {"name": ns}})
        manifest = job_manifest(
            "wide",
            outcome="fail",
            logs="step 1\nERROR: boom",
            completions=PODS,
            parallelism=PODS,
            backoff_limit=PODS - 1,
        )
        created = api.create(f"/apis/batch/v1/namespaces/{ns}/jobs", manifest)
        wait_for(lambda: job_condition(api, ns, "wide", "Failed"), timeout=180, what="Failed")
        ref = JobRef("bench", ns, "wide", created["metadata"]["uid"])
        ours_t, base_t, ours_calls, base_calls = [], [], 0, 0
        for _ in range(ROUNDS):  # alternate so both see the same machine load
            api.calls = 0
            t0 = time.perf_counter()
            result = enrich(api, ref)
            analyse(result)
            ours_t.append(time.perf_counter() - t0)
            ours_calls = api.calls
            api.calls = 0
            t0 = time.perf_counter()
            baseline(api, ref)
            base_t.append(time.perf_counter() - t0)
            base_calls = api.calls
        pods = len(result.pods)
        target = 4 + MAX_LOGS
        ours, base = statistics.median(ours_t), statistics.median(base_t)
        print(f"failed Job with {pods} pods, median of {ROUNDS} rounds")
        print(f"jobwarden enrich+analyse: {ours_calls} API calls, {ours * 1000:.0f} ms")
        print(f"baseline per-object reads: {base_calls} API calls, {base * 1000:.0f} ms")
        print(
            f"ratio (jobwarden/baseline): calls {ours_calls / base_calls:.2f}, "
            f"time {ours / base:.2f}"
        )
        print(
            f"target: at most {target} calls (4 + {MAX_LOGS} logs cap): "
            f"{'met' if ours_calls <= target else 'MISSED'}"
        )
        return 0 if ours_calls <= target else 1


if __name__ == "__main__":
    raise SystemExit(main())
