"""An in-process stand-in for the Pub/Sub topic and its subscriptions, with the same promises.

The exporter's `BufferedPublisher` publishes to `LocalTopic` exactly as to Pub/Sub (it is a
`PublishClient`). Each event workflow has a subscription with its production filter
(`jobwarden.subscriptions.FILTERS`, evaluated here); a matching message becomes one delivery
per subscription, handed to `jobwarden.edge.handle_cloudevent` as the Pub/Sub CloudEvent
Eventarc sends (ARCHITECTURE.md §4.3). Like Pub/Sub with a retry policy:

- at least once: an exception (a `TemporaryError`, or a bug) redelivers the message after
  a backoff; after `max_attempts` it is dead-lettered (one error line naming the Job);
- nothing is kept across processes: the exporter's first list after a restart announces
  every finished Job again, and the workflows' idempotency (create-only reports, claimed
  webhook posts) makes that redelivery report and post nothing twice.
"""

from __future__ import annotations

import base64
import datetime as dt
import heapq
import itertools
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jobwarden.names import WorkflowName

log = logging.getLogger("jobwarden.watch")

#: The topic the exporter is told to publish to; only a name (messages never leave the process).
TOPIC = "projects/jobwarden-watch/topics/job-events"
SOURCE = f"//pubsub.googleapis.com/{TOPIC}"
PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"

Attributes = Mapping[str, str]
Predicate = Callable[[Attributes], bool]


class FilterSyntaxError(ValueError):
    """A subscription filter this evaluator does not understand (names the filter and where)."""


_TOKEN = re.compile(
    r'\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<op>!=|=|:)|(?P<str>"(?:[^"\\]|\\.)*")'
    r"|(?P<word>[A-Za-z_][\w.\-]*))"
)


def compile_filter(text: str) -> Predicate:
    """A predicate over message attributes for Pub/Sub filter `text`.

    The subset jobwarden's filters use: `attributes.K = "v"`, `attributes.K != "v"`,
    `attributes:K` (has the attribute), `AND`, `OR`, `NOT`, parentheses. Pub/Sub does not
    allow AND and OR side by side without parentheses; neither does this.
    """
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            raise FilterSyntaxError(f"filter {text!r}: cannot read it at character {pos}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    parser = _Parser(text, tokens)
    predicate = parser.expression()
    if parser.at < len(tokens):
        raise FilterSyntaxError(f"filter {text!r}: unexpected {tokens[parser.at][1]!r}")
    return predicate


@dataclass
class _Parser:
    text: str
    tokens: list[tuple[str, str]]
    at: int = 0

    def _peek(self) -> tuple[str, str]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("end", "")

    def _take(self, kind: str) -> str:
        got, value = self._peek()
        if got != kind:
            raise FilterSyntaxError(f"filter {self.text!r}: expected {kind}, found {value!r}")
        self.at += 1
        return value

    def expression(self) -> Predicate:
        first = self.unary()
        joiner = None
        parts = [first]
        while self._peek() in (("word", "AND"), ("word", "OR")):
            word = self._take("word")
            if joiner not in (None, word):
                raise FilterSyntaxError(
                    f"filter {self.text!r}: AND and OR together need parentheses"
                )
            joiner = word
            parts.append(self.unary())
        if joiner is None:
            return first
        if joiner == "AND":
            return lambda attrs: all(p(attrs) for p in parts)
        return lambda attrs: any(p(attrs) for p in parts)

    def unary(self) -> Predicate:
        if self._peek() == ("word", "NOT"):
            self.at += 1
            inner = self.unary()
            return lambda attrs: not inner(attrs)
        if self._peek()[0] == "lp":
            self.at += 1
            inner = self.expression()
            self._take("rp")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        word = self._take("word")
        op = self._take("op")
        if op == ":":
            if word != "attributes":
                raise FilterSyntaxError(f"filter {self.text!r}: only attributes:KEY is known")
            key = self._take("word")
            return lambda attrs: key in attrs
        if not word.startswith("attributes."):
            raise FilterSyntaxError(f"filter {self.text!r}: {word!r} is not attributes.KEY")
        key = word.removeprefix("attributes.")
        value = json.loads(self._take("str"))
        if op == "=":
            return lambda attrs: attrs.get(key) == value
        return lambda attrs: attrs.get(key) != value


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    workflow: WorkflowName = field(compare=False)
    message_id: str = field(compare=False)
    data: bytes = field(compare=False)
    attributes: dict[str, str] = field(compare=False)
    published: dt.datetime = field(compare=False)
    attempts: int = field(default=0, compare=False)


class _Done:
    """The future of a publish: the message is in the queue once `publish` returns."""

    def result(self, timeout: float | None = None) -> str:
        return "ok"


#: handle(workflow, attributes, data) -> outcome; raising asks for redelivery.
Handler = Callable[[WorkflowName, dict[str, Any], dict[str, Any]], str]


@dataclass
class QueueStats:
    published: int = 0
    delivered: int = 0
    retried: int = 0
    dead_lettered: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


class LocalTopic:
    """The topic, its filtered subscriptions and the workers that deliver (start / stop).

    Each subscription has its own queue and `workers` threads, as each deployed workflow
    has its own subscription and function: a slow enricher never holds back the failure
    reporter."""

    def __init__(
        self,
        filters: Mapping[WorkflowName, str],
        handle: Handler,
        *,
        workers: int = 2,
        max_attempts: int = 10,
        backoff: tuple[float, float] = (10.0, 600.0),
    ) -> None:
        """The retry policy defaults to the deployed subscriptions' (infra/terraform:
        max_delivery_attempts 10, backoff 10 s doubling to 600 s): it outlasts a webhook
        claim's lease (`sinks.webhooks.DELIVERY_LEASE_S`), so a post claimed by a process
        that died is made once the lease expires, not given up."""
        self.subscriptions = {name: compile_filter(text) for name, text in filters.items()}
        self.handle = handle
        self.workers = workers
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.stats = QueueStats()
        self._heaps: dict[WorkflowName, list[_Delivery]] = {name: [] for name in filters}
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopping = False
        self._busy = 0
        self._threads: list[threading.Thread] = []

    # -- the publishing side (the exporter's PublishClient) ---------------------------------
    def publish(self, topic: str, data: bytes, attributes: Mapping[str, str]) -> _Done:
        attrs = dict(attributes)
        now = dt.datetime.now(dt.UTC)
        with self._cond:
            self.stats.published += 1
            message_id = str(self.stats.published)
            for name, wants in self.subscriptions.items():
                if wants(attrs):
                    heapq.heappush(
                        self._heaps[name],
                        _Delivery(0.0, next(self._seq), name, message_id, data, attrs, now),
                    )
            self._cond.notify_all()
        return _Done()

    # -- the delivering side ----------------------------------------------------------------
    def start(self) -> LocalTopic:
        for name in self._heaps:
            for n in range(self.workers):
                thread = threading.Thread(
                    target=self._work, args=(name,), name=f"{name} {n}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
        return self

    def stop(self, timeout: float = 1.0) -> int:
        """Stop delivering; deliveries still queued are dropped (the next start re-announces
        what they were about). Returns how many were dropped."""
        with self._cond:
            self._stopping = True
            left = sum(len(heap) for heap in self._heaps.values())
            for heap in self._heaps.values():
                heap.clear()
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return left

    def idle(self) -> bool:
        with self._cond:
            return not any(self._heaps.values()) and not self._busy

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued or being delivered (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        while not self.idle():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _next(self, name: WorkflowName) -> _Delivery | None:
        heap = self._heaps[name]
        with self._cond:
            while not self._stopping:
                if heap:
                    wait = heap[0].due - time.monotonic()
                    if wait <= 0:
                        self._busy += 1
                        return heapq.heappop(heap)
                    self._cond.wait(min(wait, 0.5))
                else:
                    self._cond.wait(0.5)
            return None

    def _work(self, name: WorkflowName) -> None:
        while (delivery := self._next(name)) is not None:
            try:
                self._deliver(delivery)
            finally:
                with self._cond:
                    self._busy -= 1

    def _deliver(self, d: _Delivery) -> None:
        d.attempts += 1
        attributes, data = envelope(d)
        try:
            outcome = self.handle(d.workflow, attributes, data)
        except Exception as err:  # noqa: BLE001 - any failure is a nack: redelivered, like Pub/Sub
            self._nack(d, err)
            return
        with self._cond:
            self.stats.delivered += 1
            self.stats.outcomes[outcome] = self.stats.outcomes.get(outcome, 0) + 1

    def _nack(self, d: _Delivery, err: Exception) -> None:
        who = f"{d.attributes.get('cluster')} {d.attributes.get('namespace')}/" + str(
            d.attributes.get("job")
        )
        if d.attempts >= self.max_attempts:
            with self._cond:
                self.stats.dead_lettered += 1
            log.error(
                "[%s] %s: %s event dead-lettered after %d attempts (%s: %s)",
                who,
                d.workflow,
                d.attributes.get("type"),
                d.attempts,
                type(err).__name__,
                str(err)[:300],
            )
            return
        low, high = self.backoff
        delay = min(high, low * 2 ** (d.attempts - 1))
        with self._cond:
            if self._stopping:
                return
            self.stats.retried += 1
            d.due = time.monotonic() + delay
            heapq.heappush(self._heaps[d.workflow], d)
            self._cond.notify_all()
        log.warning(
            "[%s] %s: attempt %d failed (%s); redelivering in %.0fs",
            who,
            d.workflow,
            d.attempts,
            type(err).__name__,
            delay,
        )


def envelope(d: _Delivery) -> tuple[dict[str, Any], dict[str, Any]]:
    """The CloudEvent attributes and data Eventarc would send for this delivery (§4.3)."""
    published = d.published.isoformat().replace("+00:00", "Z")
    data = {
        "message": {
            "data": base64.b64encode(d.data).decode(),
            "messageId": d.message_id,
            "publishTime": published,
            "attributes": dict(d.attributes),
        },
        "subscription": f"projects/jobwarden-watch/subscriptions/{d.workflow}",
    }
    attributes = {
        "id": d.message_id,
        "source": SOURCE,
        "type": PUBLISHED,
        "specversion": "1.0",
        "time": published,
    }
    return attributes, data
