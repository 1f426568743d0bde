"""Helpers for exporter tests: an exporter wired to the stack, and an inbox that pulls a topic."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jobwarden.kubeapi import KubeApi
from jobwarden_exporter.leader import LeaseConfig
from jobwarden_exporter.metrics import Metrics
from jobwarden_exporter.publisher import BufferedPublisher
from jobwarden_exporter.pubsub import PubSubClient
from jobwarden_exporter.service import Exporter
from jobwarden_exporter.watcher import WatchOptions

CLUSTER = "local"


@dataclass(frozen=True)
class Message:
    data: dict[str, Any]
    attributes: dict[str, str]

    @property
    def job(self) -> str:
        """The Job's name, or the CronJob's for a CronJob transition (`missed`, ...)."""
        return self.attributes.get("job") or self.attributes["cronjob"]

    @property
    def transition(self) -> str:
        return self.attributes["type"]

    @property
    def id(self) -> str:
        return self.attributes["ce-id"]


class Inbox:
    """Pulls (and acks) everything published to one subscription."""

    def __init__(self, subscriber: Any, subscription: str) -> None:
        self.subscriber = subscriber
        self.subscription = subscription
        self.messages: list[Message] = []

    def pull(self, timeout: float = 1.0) -> int:
        from google.api_core import exceptions

        try:
            response = self.subscriber.pull(
                subscription=self.subscription, max_messages=500, timeout=timeout
            )
        except (exceptions.DeadlineExceeded, exceptions.RetryError, exceptions.Cancelled):
            return 0
        received = list(response.received_messages)
        if received:
            self.subscriber.acknowledge(
                subscription=self.subscription, ack_ids=[r.ack_id for r in received]
            )
        for r in received:
            self.messages.append(Message(json.loads(r.message.data), dict(r.message.attributes)))
        return len(received)

    def of(self, job: str, transition: str | None = None) -> list[Message]:
        return [
            m
            for m in self.messages
            if m.job == job and (transition is None or m.transition == transition)
        ]

    def wait_for(
        self, check: Callable[[], bool], *, timeout: float = 60.0, what: str = "messages"
    ) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                seen = sorted((m.job, m.transition) for m in self.messages)
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}: {seen}")
            if not self.pull(timeout=1.0):
                time.sleep(0.2)

    def wait_for_jobs(self, transitions: dict[str, str], *, timeout: float = 60.0) -> None:
        """Wait until each job has a message of its transition."""
        self.wait_for(
            lambda: all(self.of(job, t) for job, t in transitions.items()),
            timeout=timeout,
            what=str(transitions),
        )

    def settle(self, seconds: float = 3.0) -> None:
        """Keep pulling for a while, so late duplicates would show."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self.pull(timeout=0.5):
                time.sleep(0.2)

    def counts(self, *, exclude: tuple[str, ...] = ("event",)) -> dict[tuple[str, str], int]:
        found: dict[tuple[str, str], int] = {}
        for m in self.messages:
            if m.transition not in exclude:
                found[(m.job, m.transition)] = found.get((m.job, m.transition), 0) + 1
        return found


def make_exporter(
    api: KubeApi,
    topic: str,
    namespace: str,
    *,
    emulator_host: str | None = None,
    lease: LeaseConfig | None = None,
    watch_timeout: int = 2,
    stuck_after: dt.timedelta = dt.timedelta(hours=1),
    stuck_pod_after: dt.timedelta = dt.timedelta(minutes=5),
    tick: float = 0.5,
    **options: Any,
) -> Exporter:
    metrics = Metrics(cluster=CLUSTER)
    publisher = BufferedPublisher(
        PubSubClient(emulator_host=emulator_host, rpc_timeout=3.0),
        topic,
        metrics=metrics,
        backoff=(0.2, 2.0),
        ack_timeout=10.0,
    )
    options = WatchOptions(
        cluster=CLUSTER,
        namespaces=(namespace,),
        watch_timeout=watch_timeout,
        stuck_after=stuck_after,
        stuck_pod_after=stuck_pod_after,
        tick=tick,
        **options,
    )
    return Exporter(api, publisher, options, lease=lease, metrics=metrics)
