"""Benchmark: jobwarden's exporter against kubernetes-event-exporter v1.6.1, side by side.

Both watch the same namespace of the same local stack and publish to the same Pub/Sub
emulator (pstest), each to its own topic, through one TCP proxy that can cut them off;
this script pulls both topics straight from pstest. Every scenario starts a fresh stack
and creates COUNT Jobs (default 1,000) that fail together:

  burst              no fault
  apiserver-restart  kube-apiserver stopped for 5 s and started again mid-burst
  pubsub-away-30s    Pub/Sub unreachable for both exporters for 30 s mid-burst
  exporter-restart   each exporter stopped (SIGTERM) and started again mid-burst

Counted per exporter, with the functions' own intake (`jobwarden.intake`) deciding what a
message says, so both are judged by what the failure reporter would do with them:
failures announced (distinct failed Jobs with a `failed` message), duplicates (extra
messages announcing a failure already announced; the functions deduplicate both by id),
delay p50/p95 (the Job's Failed condition → the message's publish time; the condition's
time has 1 s resolution), and peak RSS (VmHWM, the highest of its processes).

kubernetes-event-exporter runs with the shipped `infra/kubernetes-event-exporter/config.yaml`
(leader election off, like ours: one replica each). Baseline: kubernetes-event-exporter,
measured in the same run; the ratios are jobwarden's figures over its.

Usage: .venv/bin/python bench/exporter_race.py [COUNT] [SCENARIO ...]
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import event_exporter
from tests.support.kube import job_manifest
from tests.support.tcpproxy import TcpProxy

from jobwarden.errors import MalformedEventError
from jobwarden.intake import parse_pubsub_message
from jobwarden.kube.labels import JOB_FAILURE_REASONS
from jobwarden.kubeapi import KubeApi
from jobwarden_dev.errors import LocalStackError
from jobwarden_dev.localstack.stack import BURST_SCRAPE, LocalStack, StackInfo

NS = "race"
CLUSTER = "race"
SCENARIOS = ("burst", "apiserver-restart", "pubsub-away-30s", "exporter-restart")
EXPORTERS = ("jobwarden", "kubernetes-event-exporter")
TIMEOUT = 900.0  # seconds after the last create for every Job to have failed
QUIET = 30.0  # then stop once neither exporter has done anything for this long
PUBSUB_AWAY = 30.0
APISERVER_DOWN = 5.0


def parse_time(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def vm_hwm_kib(pid: int) -> int:
    try:
        rows = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0
    return next((int(r.split()[1]) for r in rows if r.startswith("VmHWM:")), 0)


@dataclass
class Tally:
    """What one exporter's topic received."""

    name: str
    failed: list[tuple[str, float]] = field(default_factory=list)  # (job uid, publish time)
    messages: int = 0
    unusable: int = 0  # acknowledged as malformed by the functions' intake
    seen: set[str] = field(default_factory=set)  # message ids (a redelivery is no duplicate)
    peak_kib: int = 0
    problems: Counter[str] = field(default_factory=Counter)  # why the intake refused messages


class Inbox:
    def __init__(self, subscription: str, tally: Tally, capture: IO[bytes]) -> None:
        from google.cloud import pubsub_v1

        self.client = pubsub_v1.SubscriberClient()
        self.subscription = subscription
        self.tally = tally
        self.capture = capture  # every message's data, one a line, as published

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
            message = r.message
            if message.message_id in self.tally.seen:
                continue
            self.tally.seen.add(message.message_id)
            self.tally.messages += 1
            self.capture.write(bytes(message.data).replace(b"\n", b" ") + b"\n")
            try:
                trigger = parse_pubsub_message(
                    {
                        "data": base64.b64encode(message.data).decode(),
                        "messageId": message.message_id,
                        "attributes": dict(message.attributes),
                    }
                )
            except MalformedEventError as err:
                self.tally.unusable += 1
                self.tally.problems[str(err).split(":", 1)[-1][:160]] += 1
                continue
            if trigger.transition == "failed" and trigger.job_uid:
                self.tally.failed.append((trigger.job_uid, message.publish_time.timestamp()))
        return len(received)


class Exporters:
    """Both exporters on one stack, publishing through `proxy`; restartable."""

    def __init__(self, info: StackInfo, proxy: TcpProxy, topics: dict[str, str], tmp: Path):
        self.info, self.proxy, self.topics, self.tmp = info, proxy, topics, tmp
        self.binary = event_exporter.build()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: list[IO[str]] = []
        self.starts = 0
        self.kee_metrics = 0

    def kee_progress(self) -> float:
        """Events kubernetes-event-exporter has handled (sent + discarded as too old)."""
        url = f"http://127.0.0.1:{self.kee_metrics}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                text = answer.read().decode()
        except OSError:
            return -1.0
        return sum(
            float(line.split()[1])
            for line in text.splitlines()
            if line.startswith(("events_sent ", "events_discarded "))
        )

    def _log(self, name: str) -> IO[str]:
        self.starts += 1
        log = (self.tmp / f"{name}-{self.starts}.log").open("w")
        self.logs.append(log)
        return log

    def start(self, *, wait: bool = False) -> None:
        """Start both; with `wait`, return once both serve (ours: /healthz is 200)."""
        env = {**os.environ, **self.info.env(), "PUBSUB_EMULATOR_HOST": self.proxy.address}
        self.procs["jobwarden"] = subprocess.Popen(
            [
                *(sys.executable, "-m", "jobwarden_exporter", "--cluster", CLUSTER),
                *("--kubeconfig", self.info.kubeconfig, "--topic", self.topics["jobwarden"]),
                *("--namespace", NS, "--host", "127.0.0.1", "--port", "0"),
            ],
            env=env,
            stdout=self._log("jobwarden"),
            stderr=subprocess.STDOUT,
        )
        cfg = event_exporter.config(
            cluster=CLUSTER,
            namespace=NS,
            project=self.info.pubsub_project,
            topic=self.topics["kubernetes-event-exporter"],
            leader_election=False,
        )
        metrics_port = self.kee_metrics = event_exporter.free_port()
        self.procs["kubernetes-event-exporter"] = event_exporter.start(
            self.binary,
            cfg,
            kubeconfig=self.info.kubeconfig,
            pubsub_host=self.proxy.address,
            workdir=self.tmp / "kee",
            log=self._log("kubernetes-event-exporter"),
            metrics_port=metrics_port,
        )
        if wait:
            ours = self.tmp / f"jobwarden-{self.starts - 1}.log"
            wait_http(lambda: healthz_url(ours), self.check)
            wait_http(lambda: f"http://127.0.0.1:{metrics_port}/metrics", self.check)

    def check(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; logs in {self.tmp}")

    def peaks(self) -> dict[str, int]:
        return {name: vm_hwm_kib(proc.pid) for name, proc in self.procs.items()}

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

    def close(self) -> None:
        self.stop()
        for log in self.logs:
            log.close()


def healthz_url(log: Path) -> str | None:
    found = re.search(r"serving /healthz and /metrics on ([0-9.]+:[0-9]+)", log.read_text())
    return f"http://{found.group(1)}/healthz" if found else None


def wait_http(url: Callable[[], str | None], check: Callable[[], None]) -> None:
    """Poll until `url()` answers 200 (a process that exits meanwhile fails the run)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        check()
        where = url()
        if where:
            try:
                with urllib.request.urlopen(where, timeout=2) as answer:  # noqa: S310 - loopback
                    if answer.status == 200:
                        return
            except OSError:
                pass
        time.sleep(0.5)
    raise RuntimeError(f"an exporter did not become ready in 120 s ({url()})")


@dataclass
class Result:
    scenario: str
    count: int
    jobs_failed: int
    tallies: dict[str, Tally]
    failed_at: dict[str, float]
    failure_events: int  # Jobs with a failure Event (Warning, a failure reason) in the cluster


def run(scenario: str, count: int, tmp: Path) -> Result:
    stack = LocalStack(tmp / "stack", name="race", scrape_interval=BURST_SCRAPE)
    try:
        info = stack.start()
    except LocalStackError as err:  # seen once on a loaded machine: KWOK crashed at start
        print(f"  the stack did not start ({str(err)[:200]}); starting it once more", flush=True)
        info = stack.start()
    proxy = TcpProxy(info.pubsub_host).start()
    exporters: Exporters | None = None
    captures: list[IO[bytes]] = []
    try:
        os.environ.update(info.env())
        from google.cloud import pubsub_v1

        api = KubeApi(info.admin_credentials())
        api.create("/api/v1/namespaces", {"metadata": {"name": NS}})
        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        topics, inboxes, tallies = {}, [], {}
        for name in EXPORTERS:
            short = f"race-{name}"
            topics[name] = publisher.topic_path(info.pubsub_project, short)
            publisher.create_topic(name=topics[name])
            sub = subscriber.subscription_path(info.pubsub_project, f"{short}-all")
            subscriber.create_subscription(
                request={"name": sub, "topic": topics[name], "ack_deadline_seconds": 60}
            )
            tallies[name] = Tally(name)
            capture: IO[bytes] = (tmp / f"{name}.messages.jsonl").open("wb")
            captures.append(capture)
            inboxes.append(Inbox(sub, tallies[name], capture))
        exporters = Exporters(info, proxy, topics, tmp)
        exporters.start(wait=True)

        def pull_all() -> int:
            got = sum(inbox.pull() for inbox in inboxes)
            for name, kib in exporters.peaks().items():
                tallies[name].peak_kib = max(tallies[name].peak_kib, kib)
            return got

        time.sleep(2.0)  # both have listed and opened their watches
        fault: Callable[[], None] = {
            "burst": lambda: None,
            "apiserver-restart": lambda: restart_apiserver(stack),
            "pubsub-away-30s": lambda: pubsub_away(proxy),
            "exporter-restart": lambda: restart(exporters, pull_all),
        }[scenario]
        uids: set[str] = set()
        t0 = time.monotonic()
        for i in range(count):
            if i == count // 2:
                print(f"  [{scenario}] fault at {i} Jobs created", flush=True)
                fault()
            created = api.create(
                f"/apis/batch/v1/namespaces/{NS}/jobs",
                job_manifest(f"race-{i:04d}", outcome="fail"),
            )
            uids.add(created["metadata"]["uid"])
            if i % 25 == 0:
                pull_all()
            if (i + 1) % 250 == 0 or i + 1 == count:
                print(f"  created {i + 1}/{count} ({time.monotonic() - t0:.0f} s)", flush=True)
        failed_at = wait_and_pull(api, uids, tallies, pull_all, exporters.kee_progress)
        exporters.check()
        return Result(scenario, count, len(failed_at), tallies, failed_at, failure_events(api))
    finally:
        if exporters is not None:
            exporters.close()
        for capture in captures:
            capture.close()
        proxy.stop()
        stack.stop()


def restart_apiserver(stack: LocalStack) -> None:
    stack.restart_apiserver(down_for=APISERVER_DOWN)


def pubsub_away(proxy: TcpProxy) -> None:
    proxy.cut()
    threading.Timer(PUBSUB_AWAY, proxy.restore).start()


def restart(exporters: Exporters, pull_all: Callable[[], int]) -> None:
    pull_all()  # their peak RSS so far
    exporters.stop()
    exporters.start()


def failure_events(api: KubeApi) -> int:
    """Jobs the job controller recorded a failure Event for (what an Event source can see)."""
    events = api.get(f"/api/v1/namespaces/{NS}/events")["items"]
    return len(
        {
            e["involvedObject"].get("uid")
            for e in events
            if e["involvedObject"].get("kind") == "Job"
            and e.get("type") == "Warning"
            and e.get("reason") in JOB_FAILURE_REASONS
        }
    )


def failures(api: KubeApi) -> dict[str, float]:
    out: dict[str, float] = {}
    for job in api.get(f"/apis/batch/v1/namespaces/{NS}/jobs")["items"]:
        for cond in job.get("status", {}).get("conditions", []):
            if cond.get("type") == "Failed" and cond.get("status") == "True":
                out[job["metadata"]["uid"]] = parse_time(cond["lastTransitionTime"])
    return out


def wait_and_pull(
    api: KubeApi,
    uids: set[str],
    tallies: dict[str, Tally],
    pull_all: Callable[[], int],
    kee_progress: Callable[[], float],
) -> dict[str, float]:
    """Pull until every Job failed and both are done: everything announced, or for QUIET s
    no new announcement and no Event handled by kubernetes-event-exporter (its queue is empty).
    """
    deadline = time.monotonic() + TIMEOUT
    last_new = time.monotonic()
    last_check = 0.0
    failed_at: dict[str, float] = {}
    progress: tuple[int, float] = (0, 0.0)
    while time.monotonic() < deadline:
        if not pull_all():
            time.sleep(0.2)
        now = (sum(len(t.failed) for t in tallies.values()), kee_progress())
        if now != progress:
            progress, last_new = now, time.monotonic()
        if time.monotonic() - last_check > 10:
            failed_at = failures(api)
            last_check = time.monotonic()
            so_far = ", ".join(f"{n} {len({u for u, _ in t.failed})}" for n, t in tallies.items())
            print(
                f"  Jobs failed {len(failed_at)}/{len(uids)}; announced {so_far}; "
                f"Events handled by kubernetes-event-exporter {progress[1]:.0f}",
                flush=True,
            )
        everyone = all({u for u, _ in t.failed} >= uids for t in tallies.values())
        if len(failed_at) >= len(uids) and (everyone or time.monotonic() - last_new > QUIET):
            break
    return failures(api)


def percentile(values: list[float], p: float) -> float:
    return values[max(0, math.ceil(p / 100 * len(values)) - 1)]


@dataclass
class Row:
    announced: int
    duplicates: int
    p50: float | None
    p95: float | None
    peak_mib: float
    messages: int
    unusable: int


def row(tally: Tally, result: Result) -> Row:
    per_uid = Counter(u for u, _ in tally.failed if u in result.failed_at)
    first: dict[str, float] = {}
    for u, t in tally.failed:
        first[u] = min(t, first.get(u, t))
    delays = sorted(t - result.failed_at[u] for u, t in first.items() if u in result.failed_at)
    return Row(
        announced=len(per_uid),
        duplicates=sum(per_uid.values()) - len(per_uid),
        p50=percentile(delays, 50) if delays else None,
        p95=percentile(delays, 95) if delays else None,
        peak_mib=tally.peak_kib / 1024,
        messages=tally.messages,
        unusable=tally.unusable,
    )


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def ratio(ours: float | None, theirs: float | None) -> str:
    if ours is None or theirs is None or theirs == 0:
        return "-"
    return f"{ours / theirs:.3g}x"


HEADER = (
    "| scenario | exporter | failures announced | duplicates | delay p50 | delay p95 "
    "| peak RSS | messages (unusable) |\n|---|---|---|---|---|---|---|---|"
)


def table(result: Result) -> str:
    rows = {name: row(t, result) for name, t in result.tallies.items()}
    lines = [
        f"| {result.scenario} | {name} | {r.announced}/{result.count} | {r.duplicates} "
        f"| {seconds(r.p50)} | {seconds(r.p95)} | {r.peak_mib:.0f} MiB "
        f"| {r.messages} ({r.unusable}) |"
        for name, r in rows.items()
    ]
    ours, theirs = rows["jobwarden"], rows["kubernetes-event-exporter"]
    lines.append(
        f"| {result.scenario} | ratio jobwarden / kubernetes-event-exporter "
        f"| {ratio(ours.announced, theirs.announced)} | - | {ratio(ours.p50, theirs.p50)} "
        f"| {ratio(ours.p95, theirs.p95)} | {ratio(ours.peak_mib, theirs.peak_mib)} | - |"
    )
    return "\n".join(lines)


def main() -> int:
    args = sys.argv[1:]
    count = int(args.pop(0)) if args and args[0].isdigit() else 1000
    scenarios = tuple(args) or SCENARIOS
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        print(f"unknown scenario(s) {', '.join(sorted(unknown))}; known: {', '.join(SCENARIOS)}")
        return 2
    event_exporter.build()  # before any stack starts: the first build takes minutes
    results: list[Result] = []
    for scenario in scenarios:
        print(f"== {scenario}: {count} failing Jobs", flush=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"exporter-race-{scenario}-"))
        try:
            results.append(run(scenario, count, tmp))
            print(HEADER + "\n" + table(results[-1]), flush=True)  # kept if a later one fails
            print(f"  failure Events in the cluster: {results[-1].failure_events}", flush=True)
        finally:
            shutil.rmtree(tmp / "stack", ignore_errors=True)
            print(f"  the exporters' logs: {tmp}", flush=True)
    print()
    print(f"{count} Jobs failing together per scenario, one namespace, local stack, pstest")
    print(HEADER)
    met = True
    for result in results:
        print(table(result))
        print(
            f"  ({result.scenario}: the job controller recorded a failure Event for "
            f"{result.failure_events} of the {result.jobs_failed} failed Jobs)"
        )
        if result.jobs_failed != result.count:
            print(f"  ({result.scenario}: only {result.jobs_failed}/{result.count} Jobs failed)")
        for tally in result.tallies.values():
            for problem, n in tally.problems.most_common(3):
                print(f"  ({result.scenario}: {n} of {tally.name}'s messages refused: {problem})")
        ours = row(result.tallies["jobwarden"], result)
        met = met and ours.announced == result.jobs_failed == result.count
    verdict = "met" if met else "MISSED"
    print(f"target: jobwarden announces every failure in every scenario: {verdict}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
