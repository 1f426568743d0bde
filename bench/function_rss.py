"""Benchmark: peak RSS of the failure reporter handling a failed Job with 50 pods.

Starts a local stack, fails a Job with 50 pods, runs `job_failure_reporter` in its own
functions-framework process, sends it the Job's failure as an Eventarc CloudEvent and
reads the process's peak RSS (VmHWM); a hello-world function handling one CloudEvent is
the baseline, side by side. Target (issue 4): at most 200 MiB.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.events import from_jobwarden, job_event
from tests.support.kube import job_condition, job_manifest, wait_for

from jobwarden.kubeapi import KubeApi
from jobwarden_dev.localstack.stack import LocalStack

ROOT = Path(__file__).resolve().parents[1]
FF = str(Path(sys.executable).parent / "functions-framework")
TARGET_MIB = 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (functions-framework serves requests in a gunicorn worker)."""
    out = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            out += _tree(int(child))
    return out


def peak_rss_mib(pid: int) -> float:
    """The largest peak RSS (VmHWM) among the server's processes."""
    peaks = []
    for p in _tree(pid):
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks)


def serve_one(
    target: str, source: Path, headers: dict[str, str], body: bytes, env: dict[str, str]
) -> float:
    port = free_port()
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
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/", data=body, headers=headers)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310
                    if resp.status != 200:
                        raise RuntimeError(f"{target} answered {resp.status}")
                    break
            except (ConnectionError, urllib.error.URLError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{target} did not start") from None
                time.sleep(0.05)
        return peak_rss_mib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> int:
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalStack(Path(tmp) / "stack", name="bench") as info,
    ):
        api = KubeApi(info.admin_credentials())
        api.create("/api/v1/namespaces", {"metadata": {"name": "bench"}})
        api.create(
            "/apis/batch/v1/namespaces/bench/jobs",
            job_manifest(
                "wide",
                outcome="fail",
                completions=50,
                parallelism=50,
                backoff_limit=49,
                logs="step 1\n" + "x" * 200 + "\nERROR: boom",
            ),
        )
        wait_for(lambda: job_condition(api, "bench", "wide", "Failed"), timeout=180, what="Failed")
        job = api.get("/apis/batch/v1/namespaces/bench/jobs/wide")
        headers, body = from_jobwarden(job_event(job, cluster="bench"), "rss-1")
        config = Path(tmp) / "config.yaml"
        config.write_text(
            f"clusters:\n- name: bench\n  kubeconfig: {info.kubeconfig}\n"
            f"sinks:\n  storage:\n    url: file://{tmp}/reports\n"
        )
        ours = serve_one(
            "job_failure_reporter",
            ROOT / "functions/job_failure_reporter/main.py",
            headers,
            body,
            {"JOBWARDEN_CONFIG": str(config)},
        )
        reports = list(Path(tmp, "reports").glob("**/jobFailureReporter/*.json"))
        base = serve_one("hello", ROOT / "bench/hello/main.py", headers, body, {})
    print("peak RSS after handling one CloudEvent")
    print(f"job_failure_reporter, failed Job with 50 pods: {ours:.0f} MiB ({len(reports)} report)")
    print(f"hello-world function:                          {base:.0f} MiB")
    verdict = "met" if ours <= TARGET_MIB else "MISSED"
    print(f"ratio {ours / base:.2f}; target <= {TARGET_MIB} MiB: {verdict}")
    return 0 if reports else 1


if __name__ == "__main__":
    raise SystemExit(main())
