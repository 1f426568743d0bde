"""A burst of failing Jobs through the whole pipeline, on two clusters, counted at every end.

Two local stacks (two API servers, two exporters) -> one Pub/Sub topic (pstest) -> the push
bridge -> several functions-framework instances of `job_failure_reporter` (round-robin, as
Cloud Run spreads a service's requests) -> `gs://` on fake-gcs-server through the recording
proxy (`jobwarden_dev.localstack.gcsproxy`: writes per object name per second, 429 like
Cloud Storage) -> a real HTTP webhook receiver. `BurstResult` says what arrived where.

Shared by `tests/e2e/test_burst.py` (a small burst, and the same burst with faults) and
`bench/burst_pipeline.py` (1,000 Jobs).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobwarden.kubeapi import KubeApi
from jobwarden_dev.localstack.embedded import Pipeline
from jobwarden_dev.localstack.gcsproxy import GcsRecordingProxy
from jobwarden_dev.localstack.stack import StackInfo
from tests.support.kube import job_manifest
from tests.support.tcpproxy import TcpProxy
from tests.support.webhook import WebhookReceiver

FUNCTION = "job_failure_reporter"
WORKFLOW = "jobFailureReporter"


def parse_time(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class BurstResult:
    """What a burst left behind, counted at each end of the pipeline."""

    count: int  # Jobs created
    jobs_failed: int  # of them, with a Failed condition
    reports: int  # failed Jobs with a stored failure report
    duplicates: int  # report objects and index entries beyond one per failed Job
    lost: list[str]  # failed Jobs (cluster/name) with no report
    posts: int  # posts the webhook answered 2xx
    posted: int  # distinct report ids among them
    reposted: dict[str, int]  # report id -> posts beyond the first
    orphaned: set[str]  # report ids with a claim left without outcome (its process died)
    unposted: list[str]  # stored report ids never posted
    first_failed: float | None  # earliest Failed lastTransitionTime (1 s resolution)
    last_report: float | None  # when the last report's .json was written (at the proxy)
    last_published: float | None  # when the last `failed` JobEvent was published (baseline)
    max_writes: int  # most writes to one object name within one second
    hottest: str  # that object name
    throttled: int  # writes the proxy answered 429 (hot object)
    dead_lettered: int  # messages the bridge gave up on
    refused: int  # webhook requests answered >= 400 (during a webhook fault)

    @property
    def span(self) -> float | None:
        """First Failed condition -> last report stored."""
        if self.first_failed is None or self.last_report is None:
            return None
        return self.last_report - self.first_failed

    @property
    def exporter_span(self) -> float | None:
        """Baseline: first Failed condition -> last failed JobEvent published."""
        if self.first_failed is None or self.last_published is None:
            return None
        return self.last_published - self.first_failed

    def problems(self) -> list[str]:
        """Every broken promise: lost, doubled, unposted or reposted reports, hot objects."""
        found = []
        if self.jobs_failed != self.count:
            found.append(f"{self.count - self.jobs_failed} Jobs never failed")
        if self.lost:
            found.append(f"{len(self.lost)} reports lost: {self.lost[:5]}")
        if self.duplicates:
            found.append(f"{self.duplicates} duplicate report objects or index entries")
        if self.unposted:
            found.append(f"{len(self.unposted)} reports never posted: {self.unposted[:5]}")
        unexplained = {r: c for r, c in self.reposted.items() if r not in self.orphaned}
        if unexplained:
            found.append(f"{sum(unexplained.values())} repeated posts: {unexplained}")
        if self.max_writes > 1:
            found.append(f"{self.max_writes} writes/s to {self.hottest}")
        if self.dead_lettered:
            found.append(f"{self.dead_lettered} messages dead-lettered")
        return found

    def lines(self) -> list[str]:
        span, base = self.span, self.exporter_span
        out = [
            f"Jobs with a Failed condition: {self.jobs_failed}/{self.count}",
            f"reports stored: {self.reports}/{self.jobs_failed}  (lost {len(self.lost)}, "
            f"duplicates {self.duplicates})",
            f"webhook posts: {self.posts} answered 2xx, {self.posted} distinct reports, "
            f"repeated {sum(self.reposted.values())} (after a claim orphaned by a dead process: "
            f"{len(self.orphaned)}), never posted {len(self.unposted)} "
            f"({self.refused} refused requests)",
            f"highest writes to one object name in one second: {self.max_writes} "
            f"({self.hottest or '-'}); answered 429 as Cloud Storage would: {self.throttled}",
            f"dead-lettered: {self.dead_lettered}",
        ]
        if span is not None:
            out.append(f"first Failed condition -> last report stored: {span:.1f} s")
        if base is not None:
            out.append(f"baseline, first Failed condition -> last JobEvent published: {base:.1f} s")
        if span is not None and base:
            out.append(f"ratio pipeline/exporter: {span / base:.2f}")
        return out


@dataclass
class _Audit:
    """An unfiltered subscription on the topic: when each `failed` JobEvent was published."""

    subscription: str
    published: dict[str, float] = field(default_factory=dict)  # job uid -> publish time
    future: Any = None

    def on_message(self, message: Any) -> None:
        message.ack()
        if message.attributes.get("type") == "failed":
            uid = json.loads(message.data)["uid"]
            self.published.setdefault(uid, message.publish_time.timestamp())


class Burst:
    """The rig: start it, create Jobs, wait, count. See the module docstring."""

    def __init__(
        self,
        infos: list[StackInfo],
        workdir: Path,
        *,
        instances: int = 3,
        max_attempts: int = 10,
        backoff_s: tuple[float, float] = (2.0, 30.0),
        lease_s: float = 20.0,
        pubsub_proxy: bool = False,
        say: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.infos = infos
        self.workdir = workdir
        self.say = say
        self.ns = f"burst-{uuid.uuid4().hex[:6]}"
        self.bucket = f"burst-{uuid.uuid4().hex[:10]}"
        self.apis = {i.name: KubeApi(i.admin_credentials(), timeout=30.0) for i in infos}
        self.storage = GcsRecordingProxy(infos[0].storage_host)
        self.webhook = WebhookReceiver()
        # Pub/Sub as the exporters, the functions and the bridge reach it (cut for outages)
        self.pubsub = TcpProxy(infos[0].pubsub_host) if pubsub_proxy else None
        self.jobs: dict[str, tuple[str, str]] = {}  # uid -> (cluster, name)
        self.instances = instances
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.lease_s = lease_s  # the webhook's leaseSeconds: a dead instance's claim expires
        self.pipeline: Pipeline | None = None
        self.audit: _Audit | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> Burst:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import pubsub_v1, storage

        self.gcs = storage.Client(
            project=self.infos[0].pubsub_project,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": self.infos[0].storage_host},
        )
        self.gcs.create_bucket(self.bucket)
        for api in self.apis.values():
            api.create("/api/v1/namespaces", {"metadata": {"name": self.ns}})
        self.storage.start()
        self.webhook.start()
        env = {"HOOK_URL": self.webhook.url + "/hook", "STORAGE_EMULATOR_HOST": self.storage.url}
        if self.pubsub is not None:
            self.pubsub.start()
            env["PUBSUB_EMULATOR_HOST"] = self.pubsub.address
        self.pipeline = Pipeline(
            self.infos,
            self.workdir / "run",
            self.workdir / "unused-reports",
            self.say,
            functions=(FUNCTION,),
            namespaces=(self.ns,),
            topic_id=f"burst-{uuid.uuid4().hex[:8]}",
            env=env,
            webhooks="  - {name: oncall, type: json, urlEnv: HOOK_URL, timeoutSeconds: 5, "
            f"leaseSeconds: {self.lease_s:g}}}\n",
            storage_url=f"gs://{self.bucket}",
            instances=self.instances,
            max_in_flight=8 * self.instances,
            max_attempts=self.max_attempts,
            backoff_s=self.backoff_s,
        )
        self.pipeline.start()
        subscriber = pubsub_v1.SubscriberClient()  # PUBSUB_EMULATOR_HOST: set by the pipeline
        name = subscriber.subscription_path(self.infos[0].pubsub_project, f"{self.ns}-audit")
        subscriber.create_subscription(
            request={"name": name, "topic": self.pipeline.topic, "ack_deadline_seconds": 60}
        )
        self.audit = _Audit(name)
        self.audit.future = subscriber.subscribe(name, callback=self.audit.on_message)
        return self

    def stop(self) -> None:
        if self.audit is not None and self.audit.future is not None:
            self.audit.future.cancel()
        if self.pipeline is not None:
            self.pipeline.stop()
        self.storage.stop()
        self.webhook.stop()
        if self.pubsub is not None:
            self.pubsub.stop()

    # --- the burst ------------------------------------------------------------------------

    def create_jobs(
        self, count: int, *, during: Callable[[int], None] | None = None, progress: int = 0
    ) -> None:
        """Create `count` failing Jobs, alternating between the clusters; `during(i)` runs
        after the i-th create (for faults mid-burst)."""
        clusters = list(self.apis)
        started = time.monotonic()
        for i in range(count):
            cluster = clusters[i % len(clusters)]
            name = f"burst-{i:04d}"
            created = self._create(cluster, name)
            self.jobs[created["metadata"]["uid"]] = (cluster, name)
            if during is not None:
                during(i + 1)
            if progress and ((i + 1) % progress == 0 or i + 1 == count):
                self.say(
                    f"created {i + 1}/{count} Jobs ({time.monotonic() - started:.0f} s); "
                    f"reports so far {len(self.stored_uids())}, posts {len(self.posted_ids())}"
                )

    def _create(self, cluster: str, name: str) -> dict[str, Any]:
        """Create one Job, waiting out an API server that is away (a restart mid-burst)."""
        from jobwarden.errors import ConflictError, TemporaryError

        jobs = f"/apis/batch/v1/namespaces/{self.ns}/jobs"
        deadline = time.monotonic() + 120
        while True:
            try:
                return self.apis[cluster].create(jobs, job_manifest(name, outcome="fail"))
            except ConflictError:  # created just before the connection broke
                return self.apis[cluster].get(f"{jobs}/{name}")
            except (TemporaryError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)

    def stored_uids(self) -> set[str]:
        """Job uids whose failure report's `.json` was written (as the proxy saw it)."""
        uids = set()
        for name, writes in self.storage.writes_by_name().items():
            parts = name.split("/")  # bucket/cluster/ns/job/uid/workflow/id.json
            if (
                len(parts) == 7
                and parts[5] == WORKFLOW
                and parts[6].endswith(".json")
                and any(200 <= w.status < 300 for w in writes)
            ):
                uids.add(parts[4])
        return uids

    def posted_ids(self) -> set[str]:
        return {r.headers.get("X-Jobwarden-Report-Id", "") for r in self.webhook.delivered()}

    def wait(self, timeout: float, *, settle: float = 5.0) -> bool:
        """Until every created Job has a stored and posted report (then `settle` more
        seconds, so a late duplicate is counted); False on timeout."""
        deadline = time.monotonic() + timeout
        last_say = time.monotonic()
        while True:
            stored, posted = len(self.stored_uids() & set(self.jobs)), len(self.posted_ids())
            if stored >= len(self.jobs) and posted >= len(self.jobs) and self._quiet():
                time.sleep(settle)
                return True
            if time.monotonic() > deadline:
                return False
            if time.monotonic() - last_say > 30:
                self.say(f"  ... {stored} reports stored, {posted} posted of {len(self.jobs)}")
                last_say = time.monotonic()
            time.sleep(1.0)

    def _quiet(self) -> bool:
        """Nothing left to do: every stored report's post has its outcome recorded, and the
        bridge holds no message for a retry (a post repeated after a lease comes late)."""
        bridge = self.pipeline.bridge if self.pipeline else None
        if bridge is not None and bridge.stats.attempts:
            return False
        names = [b.name for b in self.gcs.list_blobs(self.bucket, prefix="deliveries/")]
        outcomes = sum(1 for n in names if n.endswith("/oncall.json"))
        return outcomes >= len(self.jobs)

    # --- counting -------------------------------------------------------------------------

    def failed_at(self) -> dict[str, float]:
        """Failed condition time of every created Job that failed, by uid."""
        found: dict[str, float] = {}
        for api in self.apis.values():
            for job in api.get(f"/apis/batch/v1/namespaces/{self.ns}/jobs")["items"]:
                for cond in job.get("status", {}).get("conditions", []):
                    if cond.get("type") == "Failed" and cond.get("status") == "True":
                        found[job["metadata"]["uid"]] = parse_time(cond["lastTransitionTime"])
        return {u: t for u, t in found.items() if u in self.jobs}

    def result(self) -> BurstResult:
        failed = self.failed_at()
        names = [b.name for b in self.gcs.list_blobs(self.bucket)]
        reports: Counter[str] = Counter()
        report_ids: dict[str, str] = {}
        for name in names:
            parts = name.split("/")
            if len(parts) == 6 and parts[4] == WORKFLOW and parts[5].endswith(".json"):
                reports[parts[3]] += 1
                report_ids[parts[5].removesuffix(".json")] = parts[3]
        entries = Counter(
            n.rsplit("/", 1)[1].split("-", 1)[1].removesuffix(".json")
            for n in names
            if n.startswith("index/")
        )
        duplicates = sum(c - 1 for c in reports.values() if c > 1)
        duplicates += sum(c - 1 for c in entries.values() if c > 1)
        duplicates += sum(1 for rid in entries if rid not in report_ids)
        claims: Counter[str] = Counter()
        for name in names:
            if name.startswith("deliveries/") and ".claim-" in name:
                rid = name.split("/")[1]
                claims[rid] += -1 if name.endswith(".released") else 1
        lost = sorted("/".join(self.jobs[u]) for u in failed if reports[u] == 0)
        delivered = Counter(
            r.headers.get("X-Jobwarden-Report-Id", "") for r in self.webhook.delivered()
        )
        report_writes = [
            w.at
            for name, writes in self.storage.writes_by_name().items()
            if f"/{WORKFLOW}/" in name and name.endswith(".json")
            for w in writes
            if 200 <= w.status < 300
        ]
        published = self.audit.published if self.audit else {}
        last_published = [t for u, t in published.items() if u in failed]
        max_writes, hottest = self.storage.max_writes_per_name_per_second()
        bridge = self.pipeline.bridge if self.pipeline else None
        return BurstResult(
            count=len(self.jobs),
            jobs_failed=len(failed),
            reports=sum(1 for u in failed if reports[u] > 0),
            duplicates=duplicates,
            lost=lost,
            posts=sum(delivered.values()),
            posted=len(delivered),
            reposted={rid: c - 1 for rid, c in delivered.items() if c > 1},
            orphaned={rid for rid, held in claims.items() if held > 1},
            unposted=sorted(rid for rid in report_ids if rid not in delivered),
            first_failed=min(failed.values(), default=None),
            last_report=max(report_writes, default=None),
            last_published=max(last_published, default=None),
            max_writes=max_writes,
            hottest=hottest,
            throttled=len(self.storage.throttled()),
            dead_lettered=bridge.stats.dead_lettered if bridge else 0,
            refused=sum(1 for r in self.webhook.requests if r.status >= 400),
        )


def local_ports(pid_group: int, remote_port: int) -> set[int]:
    """Local ports of the TCP connections to 127.0.0.1:`remote_port` that processes of the
    process group `pid_group` hold (from /proc: their socket inodes, then /proc/net/tcp)."""
    inodes: set[str] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) != pid_group:
                continue
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except (OSError, ValueError, IndexError):
            continue
    ports = set()
    for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cols = row.split()
        local, remote, inode = cols[1], cols[2], cols[9]
        if inode in inodes and int(remote.split(":")[1], 16) == remote_port:
            ports.add(int(local.split(":")[1], 16))
    return ports


def run_in_background(action: Callable[[], None]) -> threading.Thread:
    """Run a fault (`action`) beside the burst; join the returned thread before counting."""
    thread = threading.Thread(target=action, daemon=True)
    thread.start()
    return thread
