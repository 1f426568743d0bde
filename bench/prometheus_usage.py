"""Benchmark: what reading usage from Prometheus adds to a report.

A fresh local stack (KWOK emulating cAdvisor's series, Prometheus scraping it every
second); JOBS Jobs run OOMKilled with a chosen memory peak. For each, in alternation and
ROUNDS times, the report's read (`enrich.enrich`: Job, pods, events, logs) is timed with
usage from Prometheus (three queries) and, as the baseline in the same run, without it
(one metrics.k8s.io request, which this stack answers 404). Printed: the median per
read for each, the time added, the ratio, Prometheus queries per report, and whether every
read saw the peak the Job was given.

Usage: .venv/bin/python bench/prometheus_usage.py [JOBS]
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.kube import job_condition, job_manifest, wait_for

from jobwarden.config import PrometheusConfig
from jobwarden.enrich import enrich
from jobwarden.kube.objects import JobRef
from jobwarden.kubeapi import KubeApi
from jobwarden.prometheus import Prometheus
from jobwarden_dev.localstack.stack import LocalStack

NS = "bench-usage"
ROUNDS = 5
PEAK = "498Mi"


def main() -> int:
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalStack(Path(tmp) / "stack", name="bench") as info,
    ):
        api = KubeApi(info.admin_credentials())
        api.create("/api/v1/namespaces", {"metadata": {"name": NS}})
        box = {"name": "worker", "image": "r.example/w:1",
               "resources": {"limits": {"memory": "512Mi"}}}  # fmt: skip
        refs = []
        for i in range(jobs):
            manifest = job_manifest(
                f"oom-{i}", outcome="oomkill", after=4, containers=[dict(box)],
                memory={"worker": PEAK}, cpu={"worker": "250m"},
            )  # fmt: skip
            made = api.create(f"/apis/batch/v1/namespaces/{NS}/jobs", manifest)
            refs.append(JobRef("bench", NS, f"oom-{i}", made["metadata"]["uid"]))

        def failed(name: str) -> bool:
            return job_condition(api, NS, name, "Failed") is not None

        for ref in refs:
            wait_for(partial(failed, ref.name), what=ref.name, timeout=180)
        time.sleep(2)  # the last scrape after the end
        config = PrometheusConfig(url=info.prometheus_url)
        prom = Prometheus(config, "bench", env={}, clock=lambda: dt.datetime.now(dt.UTC))
        with_prom: list[float] = []
        without: list[float] = []
        seen = 0
        for _ in range(ROUNDS):
            for ref in refs:
                began = time.perf_counter()
                enrich(api, ref)
                without.append(time.perf_counter() - began)
                began = time.perf_counter()
                e = enrich(api, ref, usage_source=prom)
                with_prom.append(time.perf_counter() - began)
                seen += any(u.memory == PEAK for r in e.pods for u in r.usage.values())
        reads = ROUNDS * len(refs)
        base, prom_ms = statistics.median(without) * 1000, statistics.median(with_prom) * 1000
        print(f"{len(refs)} OOMKilled Jobs, {ROUNDS} rounds, reads alternated in one process")
        print(f"baseline (no Prometheus, metrics.k8s.io 404):  median {base:7.1f} ms per read")
        print(f"with Prometheus (3 queries):                  median {prom_ms:7.1f} ms per read")
        print(f"added per report: {prom_ms - base:.1f} ms; ratio {prom_ms / base:.2f}x")
        print(f"Prometheus queries per report: {prom.queries / reads:.0f}")
        print(f"reads that saw the chosen peak {PEAK}: {seen}/{reads}")
        return 0 if seen == reads else 1


if __name__ == "__main__":
    sys.exit(main())
