"""Benchmark: a burst of failing Jobs (default 1,000) through the exporter alone.

The exporter (`python -m jobwarden_exporter`, scoped to one namespace) watches the local
stack while COUNT failing Jobs are created back to back; this script pulls every message
from an unfiltered subscription on the exporter's topic and counts the `failed` ones:
every failure must be published exactly once (published, distinct, duplicates, missing).
Also printed: transitions/s (first Failed condition to the last `failed` message's
publish time; lastTransitionTime has 1 s resolution) and the exporter's peak RSS (VmHWM
of its pid from /proc).

Baseline: issue 5 asks for the Go kubernetes-event-exporter on the same burst, where it
builds from the Go module proxy; that is not measured here (a line says so).
Target (issue 5): every failure published exactly once.

Usage: .venv/bin/python bench/burst_1000.py [COUNT]
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.kube import job_manifest

from jobwarden.kubeapi import KubeApi
from jobwarden_dev.localstack.stack import BURST_SCRAPE, LocalStack

NS = "burst"
TOPIC = "bench-burst"
TIMEOUT = 900.0  # seconds for every failure to be published after the last create
SETTLE = 10.0  # keep pulling this long after the last expected message, for duplicates


def parse_time(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def vm_hwm_kib(pid: int) -> int:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmHWM:"):
            return int(row.split()[1])
    return 0


class Inbox:
    def __init__(self, subscription: str) -> None:
        from google.cloud import pubsub_v1

        self.client = pubsub_v1.SubscriberClient()
        self.subscription = subscription
        self.failed: list[tuple[str, float]] = []  # (uid, publish time)
        self.seen: set[str] = set()  # message ids: a Pub/Sub redelivery is not a duplicate

    def pull(self) -> int:
        from google.api_core import exceptions

        try:
            resp = self.client.pull(subscription=self.subscription, max_messages=1000, timeout=1.0)
        except (exceptions.DeadlineExceeded, exceptions.RetryError, exceptions.Cancelled):
            return 0
        received = list(resp.received_messages)
        if received:
            self.client.acknowledge(
                subscription=self.subscription, ack_ids=[r.ack_id for r in received]
            )
        for r in received:
            if r.message.message_id in self.seen:
                continue
            self.seen.add(r.message.message_id)
            if r.message.attributes.get("type") == "failed":
                uid = json.loads(r.message.data)["uid"]
                self.failed.append((uid, r.message.publish_time.timestamp()))
        return len(received)


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalStack(Path(tmp) / "stack", name="bench", scrape_interval=BURST_SCRAPE) as info,
    ):
        os.environ.update(info.env())
        from google.cloud import pubsub_v1

        api = KubeApi(info.admin_credentials())
        api.create("/api/v1/namespaces", {"metadata": {"name": NS}})
        topic = pubsub_v1.PublisherClient().topic_path(info.pubsub_project, TOPIC)
        pubsub_v1.PublisherClient().create_topic(name=topic)
        sub = pubsub_v1.SubscriberClient().subscription_path(info.pubsub_project, f"{TOPIC}-all")
        pubsub_v1.SubscriberClient().create_subscription(
            request={"name": sub, "topic": topic, "ack_deadline_seconds": 60}
        )
        inbox = Inbox(sub)
        log = (Path(tmp) / "exporter.log").open("w")
        exporter = subprocess.Popen(
            [
                *(sys.executable, "-m", "jobwarden_exporter", "--cluster", "bench"),
                *("--kubeconfig", info.kubeconfig, "--topic", topic, "--namespace", NS),
                *("--host", "127.0.0.1", "--port", "0"),
            ],
            env={**os.environ, **info.env()},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            time.sleep(3.0)  # let it list and open its watch
            if exporter.poll() is not None:
                raise RuntimeError(f"exporter exited with {exporter.returncode}")
            uids: set[str] = set()
            t0 = time.monotonic()
            for i in range(count):
                created = api.create(
                    f"/apis/batch/v1/namespaces/{NS}/jobs",
                    job_manifest(f"burst-{i:04d}", outcome="fail"),
                )
                uids.add(created["metadata"]["uid"])
                if (i + 1) % 100 == 0 or i + 1 == count:
                    print(
                        f"created {i + 1}/{count} Jobs ({time.monotonic() - t0:.0f} s); "
                        f"failed messages so far {len(inbox.failed)}",
                        flush=True,
                    )
                if i % 25 == 0:
                    inbox.pull()
            deadline = time.monotonic() + TIMEOUT
            last_progress = time.monotonic()
            while len({u for u, _ in inbox.failed} & uids) < count:
                if time.monotonic() > deadline:
                    print(f"gave up after {TIMEOUT:.0f} s waiting for failures", flush=True)
                    break
                if not inbox.pull():
                    time.sleep(0.2)
                if time.monotonic() - last_progress > 30:
                    print(f"  ... {len(inbox.failed)} failed messages", flush=True)
                    last_progress = time.monotonic()
            settle = time.monotonic() + SETTLE
            while time.monotonic() < settle:
                if not inbox.pull():
                    time.sleep(0.2)
            peak_kib = vm_hwm_kib(exporter.pid)
            if exporter.poll() is not None:
                raise RuntimeError(f"exporter exited with {exporter.returncode}")
        finally:
            exporter.terminate()
            exporter.wait(timeout=30)
            log.close()
        failed_at: dict[str, float] = {}
        for job in api.get(f"/apis/batch/v1/namespaces/{NS}/jobs")["items"]:
            for cond in job.get("status", {}).get("conditions", []):
                if cond.get("type") == "Failed" and cond.get("status") == "True":
                    failed_at[job["metadata"]["uid"]] = parse_time(cond["lastTransitionTime"])
    jobs_failed = len(failed_at)
    first_failed = min(failed_at.values(), default=None)
    per_uid = Counter(u for u, _ in inbox.failed if u in uids)
    published = sum(per_uid.values())
    distinct = len(per_uid)
    duplicates = published - distinct
    missing = count - distinct
    first_publish: dict[str, float] = {}
    for u, t in inbox.failed:
        first_publish[u] = min(t, first_publish.get(u, t))
    last_msg = max(t for _, t in inbox.failed) if inbox.failed else None
    print(f"burst of {count} failing Jobs, namespace-scoped exporter on the local stack")
    print(f"Jobs with a Failed condition: {jobs_failed}/{count}")
    print(
        f"failed messages: published {published}, distinct {distinct}, "
        f"duplicates {duplicates}, missing {missing}"
    )
    if first_failed is not None and last_msg is not None and last_msg > first_failed:
        span = last_msg - first_failed
        print(
            f"transitions/s: {distinct / span:.1f} "
            f"({distinct} failures, first Failed condition -> last message {span:.1f} s; "
            "Failed times have 1 s resolution)"
        )
    if failed_at:
        print(
            f"the stack's Failed conditions span {max(failed_at.values()) - first_failed:.0f} s "
            "(the job controller's pace bounds transitions/s)"
        )
    lag = sorted(t - failed_at[u] for u, t in first_publish.items() if u in failed_at)
    if lag:
        at = lambda p: lag[max(0, math.ceil(p / 100 * len(lag)) - 1)]  # noqa: E731
        print(
            f"exporter lag, Failed condition -> published: p50 {at(50):.2f} s, "
            f"p95 {at(95):.2f} s, max {lag[-1]:.2f} s"
        )
    print(f"exporter peak RSS (VmHWM): {peak_kib / 1024:.1f} MiB")
    print(
        "baseline Go kubernetes-event-exporter: not measured (not built or run in this benchmark)"
    )
    met = duplicates == 0 and missing == 0
    print(f"target: every failure published exactly once: {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
