"""Benchmark: memory and CPU of `jobwarden watch` over a burst of failing Jobs (default 1,000).

`jobwarden watch` (the exporter, the in-process queue and every event workflow in one
process, reports to a folder) and, as the baseline, the exporter alone
(`python -m jobwarden_exporter`, publishing to the local Pub/Sub) watch the same namespace
of a fresh local stack while COUNT failing Jobs are created back to back. Printed: for each
process its peak RSS (VmHWM) and CPU seconds (utime + stime) until watch has printed a
failure report for every Job; watch's failure reports/s and all reports/s (first Failed
condition -> last report line); and the ratios watch / exporter alone.

Usage: .venv/bin/python bench/watch_burst.py [COUNT]
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.kube import job_manifest

from jobwarden.kubeapi import KubeApi
from jobwarden_dev.localstack.stack import BURST_SCRAPE, LocalStack

NS = "burst"
TOPIC = "bench-watch-burst"
TIMEOUT = 1800.0  # seconds for every failure report after the last create
ROOT = Path(__file__).resolve().parents[1]


def vm_hwm_mib(pid: int) -> float:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmHWM:"):
            return int(row.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Lines:
    """watch's stdout: report lines with the time each was read."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in iter(proc.stdout.readline, ""):
            with self._lock:
                self.lines.append((time.time(), line.rstrip("\n")))

    def reports(self, workflow: str | None = None) -> list[tuple[float, str]]:
        with self._lock:
            return [
                (t, ln)
                for t, ln in self.lines
                if ln.startswith("20") and (workflow is None or f"  {workflow}  " in ln)
            ]


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalStack(Path(tmp) / "stack", name="bench", scrape_interval=BURST_SCRAPE) as info,
    ):
        env = {**os.environ, **info.env()}
        os.environ.update(info.env())
        from google.cloud import pubsub_v1

        api = KubeApi(info.admin_credentials())
        api.create("/api/v1/namespaces", {"metadata": {"name": NS}})
        topic = pubsub_v1.PublisherClient().topic_path(info.pubsub_project, TOPIC)
        pubsub_v1.PublisherClient().create_topic(name=topic)
        log = (Path(tmp) / "exporter.log").open("w")
        exporter = subprocess.Popen(
            [
                *(sys.executable, "-m", "jobwarden_exporter", "--cluster", "bench"),
                *("--kubeconfig", info.kubeconfig, "--topic", topic, "--namespace", NS),
                *("--host", "127.0.0.1", "--port", "0"),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        watch = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/jobwarden"),
                *("watch", "--kubeconfig", info.kubeconfig, "--cluster-name", "bench"),
                *("--namespace", NS, "--reports", str(Path(tmp) / "reports"), "--port", "0"),
            ],
            env={**env, "KUBECONFIG": ""},
            stdout=subprocess.PIPE,
            stderr=(Path(tmp) / "watch.log").open("w"),
            text=True,
        )
        lines = Lines(watch)
        try:
            time.sleep(5.0)  # let both list and open their watches
            for name, proc in (("exporter", exporter), ("watch", watch)):
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}")
            t0 = time.monotonic()
            for i in range(count):
                api.create(
                    f"/apis/batch/v1/namespaces/{NS}/jobs",
                    job_manifest(f"burst-{i:04d}", outcome="fail"),
                )
                if (i + 1) % 100 == 0 or i + 1 == count:
                    done = len(lines.reports("jobFailureReporter"))
                    print(
                        f"created {i + 1}/{count} Jobs ({time.monotonic() - t0:.0f} s); "
                        f"failure reports so far {done}",
                        flush=True,
                    )
            deadline = time.monotonic() + TIMEOUT
            last = time.monotonic()
            while len(lines.reports("jobFailureReporter")) < count:
                if time.monotonic() > deadline or watch.poll() is not None:
                    print("gave up waiting for failure reports", flush=True)
                    break
                if time.monotonic() - last > 30:
                    print(
                        f"  ... {len(lines.reports('jobFailureReporter'))} failure reports, "
                        f"{len(lines.reports())} reports in all",
                        flush=True,
                    )
                    last = time.monotonic()
                time.sleep(0.5)
            time.sleep(10.0)  # the enrichers finish the last Jobs
            figures = {
                name: (vm_hwm_mib(proc.pid), cpu_seconds(proc.pid))
                for name, proc in (("exporter", exporter), ("watch", watch))
            }
        finally:
            for proc in (exporter, watch):
                proc.terminate()
                proc.wait(timeout=30)
            log.close()
        failed_at = []
        for job in api.get(f"/apis/batch/v1/namespaces/{NS}/jobs")["items"]:
            for cond in job.get("status", {}).get("conditions", []):
                if cond.get("type") == "Failed" and cond.get("status") == "True":
                    when = dt.datetime.fromisoformat(
                        cond["lastTransitionTime"].replace("Z", "+00:00")
                    )
                    failed_at.append(when.timestamp())
    failures = lines.reports("jobFailureReporter")
    every = lines.reports()
    print(f"burst of {count} failing Jobs, both processes scoped to one namespace")
    print(f"Jobs with a Failed condition: {len(failed_at)}/{count}")
    print(f"watch: {len(failures)} failure reports, {len(every)} reports in all")
    if failed_at and failures:
        first = min(failed_at)
        span = max(t for t, _ in failures) - first
        span_all = max(t for t, _ in every) - first
        print(
            f"watch failure reports/s: {len(failures) / span:.1f} (first Failed condition -> "
            f"last failure report {span:.0f} s); all reports/s: {len(every) / span_all:.1f}"
        )
        print(f"the stack's Failed conditions span {max(failed_at) - first:.0f} s")
    (rss_e, cpu_e), (rss_w, cpu_w) = figures["exporter"], figures["watch"]
    print(f"exporter alone (baseline): peak RSS {rss_e:.1f} MiB, CPU {cpu_e:.1f} s")
    print(f"jobwarden watch:           peak RSS {rss_w:.1f} MiB, CPU {cpu_w:.1f} s")
    print(f"ratio watch / exporter alone: RSS {rss_w / rss_e:.2f}x, CPU {cpu_w / cpu_e:.2f}x")
    return 0 if len(failures) >= count else 1


if __name__ == "__main__":
    raise SystemExit(main())
