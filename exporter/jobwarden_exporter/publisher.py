"""Publish JobEvents to a Pub/Sub topic, and keep them while Pub/Sub cannot take them.

Each JobEvent becomes one message: data = the JobEvent JSON; attributes = the filter
attributes (`type`, `cluster`, `namespace`, `job`, `reason`, ...) plus the CloudEvent
context as `ce-*` attributes (the CloudEvents Pub/Sub binding), so the id is
deterministic end to end (ARCHITECTURE.md §3.3).

`BufferedPublisher` holds a bounded in-memory buffer; a sender thread hands ready
messages to the client (which batches them and applies flow control), waits for the
acknowledgements, and puts failures back with exponential backoff; while Pub/Sub stays
unreachable each retry is a probe with the oldest message only, and the whole buffer
follows as soon as one gets through. When the buffer is
full a relayed `event` is evicted before a state transition is refused; every drop is
counted (`dropped_total`) and logged with the Job's identity. The client is anything
with `publish(topic, data, attributes) -> future` (`PubSubClient` in production, a fake
in unit tests).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from jobwarden.errors import PermanentError
from jobwarden.jobevent import JobEvent, cloudevent_attributes, pubsub_attributes
from jobwarden_exporter.metrics import Metrics

log = logging.getLogger("jobwarden.exporter")


class PublishRejectedError(PermanentError):
    """Pub/Sub refused a message for good (invalid, too large): resending will not help."""


class PublishFuture(Protocol):
    def result(self, timeout: float | None = None) -> Any: ...


class PublishClient(Protocol):
    """What the publisher needs from a Pub/Sub client (a seam for unit tests)."""

    def publish(self, topic: str, data: bytes, attributes: Mapping[str, str]) -> PublishFuture: ...


def message_for(event: JobEvent) -> tuple[bytes, dict[str, str]]:
    """The Pub/Sub message (data, attributes) of a JobEvent."""
    attributes = pubsub_attributes(event)
    attributes.update({f"ce-{k}": v for k, v in cloudevent_attributes(event).items()})
    return event.to_json(), attributes


def identity(event: JobEvent) -> str:
    """How logs name the Job of a JobEvent."""
    return f"[{event.cluster} {event.namespace}/{event.name}] {event.transition} (uid {event.uid})"


@dataclass
class _Pending:
    event: JobEvent
    data: bytes
    attributes: dict[str, str]
    detected: float  # monotonic
    attempts: int = 0
    in_flight: bool = False
    last_error: str = field(default="", repr=False)


class BufferedPublisher:
    """A bounded buffer in front of a Pub/Sub client, drained by one sender thread."""

    def __init__(
        self,
        client: PublishClient,
        topic: str,
        *,
        metrics: Metrics | None = None,
        capacity: int = 10_000,
        max_in_flight: int = 1000,
        ack_timeout: float = 30.0,
        backoff: tuple[float, float] = (0.5, 10.0),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if capacity < 1 or max_in_flight < 1:
            raise ValueError("capacity and max_in_flight must be at least 1")
        self.client = client
        self.topic = topic
        self.metrics = metrics or Metrics()
        self.capacity = capacity
        self.max_in_flight = max_in_flight
        self.ack_timeout = ack_timeout
        self.backoff = backoff
        self._clock = clock
        self._buffer: OrderedDict[int, _Pending] = OrderedDict()
        self._next_key = 0
        self._cond = threading.Condition()
        self._failures = 0  # consecutive rounds with a failure
        self._retry_at = 0.0
        self._closing = False
        self._thread: threading.Thread | None = None
        self.metrics.compute("buffer_size", lambda: float(len(self)))
        self.metrics.compute("publish_lag_seconds", self.lag)

    # -- producer side -------------------------------------------------------------
    def submit(self, event: JobEvent) -> bool:
        """Queue one JobEvent; False (counted and logged) when it had to be dropped."""
        data, attributes = message_for(event)
        with self._cond:
            if self._closing:
                self._dropped(event, "stopped")
                return False
            if len(self._buffer) >= self.capacity and not self._evict_for(event):
                self._dropped(event, "buffer_full")
                return False
            self._buffer[self._next_key] = _Pending(event, data, attributes, self._clock())
            self._next_key += 1
            self._cond.notify_all()
        return True

    def _evict_for(self, event: JobEvent) -> bool:
        """Make room for a state transition by dropping the oldest queued relayed `event`."""
        if event.transition == "event":
            return False
        for key, pending in self._buffer.items():
            if pending.event.transition == "event" and not pending.in_flight:
                del self._buffer[key]
                self._dropped(pending.event, "evicted")
                return True
        return False

    def _dropped(self, event: JobEvent, reason: str) -> None:
        self.metrics.inc("dropped_total", transition=event.transition, reason=reason)
        log.error(
            "dropped %s: %s (buffer %d/%d); not confirmed by %s",
            identity(event),
            reason.replace("_", " "),
            len(self._buffer),
            self.capacity,
            self.topic,
        )

    def __len__(self) -> int:
        return len(self._buffer)

    def lag(self) -> float:
        """Seconds since the oldest unpublished JobEvent was detected (0 when none)."""
        with self._cond:
            oldest = next(iter(self._buffer.values()), None)
            return max(0.0, self._clock() - oldest.detected) if oldest else 0.0

    # -- sender side -----------------------------------------------------------------
    def start(self) -> BufferedPublisher:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> int:
        """Stop taking events, try to publish what is queued for up to `timeout` seconds,
        then drop (count and log) whatever is left. Returns how many were dropped."""
        deadline = self._clock() + timeout
        with self._cond:
            self._closing = True
            self._retry_at = 0.0  # one last try now
            self._cond.notify_all()
            while self._buffer and self._clock() < deadline:
                self._cond.wait(min(0.1, max(0.0, deadline - self._clock())))
            left = list(self._buffer.values())
            self._buffer.clear()
            self._cond.notify_all()
        for pending in left:
            self._dropped(pending.event, "shutdown")
        if self._thread is not None:
            self._thread.join(timeout=max(0.0, deadline - self._clock()) + 1.0)
        return len(left)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the buffer is empty (True) or `timeout` passes (False)."""
        deadline = self._clock() + timeout
        with self._cond:
            while self._buffer and self._clock() < deadline:
                self._cond.wait(min(0.1, max(0.0, deadline - self._clock())))
            return not self._buffer

    def _take(self) -> list[tuple[int, _Pending]]:
        """Wait for ready messages and mark up to `max_in_flight` of them in flight."""
        with self._cond:
            while True:
                if self._closing and not self._buffer:
                    return []
                wait = self._retry_at - self._clock()
                if self._buffer and wait <= 0:
                    # after a failed round, probe with the oldest message only
                    limit = 1 if self._failures else self.max_in_flight
                    batch: list[tuple[int, _Pending]] = []
                    for key, pending in self._buffer.items():
                        if len(batch) >= limit:
                            break
                        pending.in_flight = True
                        batch.append((key, pending))
                    return batch
                self._cond.wait(wait if self._buffer else 1.0)

    def _run(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                return
            self._send(batch)

    def _send(self, batch: list[tuple[int, _Pending]]) -> None:
        futures: list[tuple[int, _Pending, PublishFuture | BaseException]] = []
        for key, pending in batch:
            try:
                future: PublishFuture | BaseException = self.client.publish(
                    self.topic, pending.data, pending.attributes
                )
            except Exception as err:  # noqa: BLE001 - a client's synchronous refusal, per message
                future = err
            futures.append((key, pending, future))
        failed = 0
        first_error = ""
        for key, pending, future in futures:
            error = future if isinstance(future, BaseException) else self._wait(future)
            with self._cond:
                pending.in_flight = False
                if error is None:
                    self._acked(key, pending)
                elif isinstance(error, PublishRejectedError):
                    self._buffer.pop(key, None)
                    self._dropped(pending.event, "rejected")
                    log.error("Pub/Sub rejected %s: %s", identity(pending.event), error)
                else:
                    failed += 1
                    pending.attempts += 1
                    pending.last_error = first_error = first_error or _short(error)
                    if key in self._buffer:
                        self.metrics.inc("publish_retries_total")
                self._cond.notify_all()
        self._after_round(failed, len(batch), first_error)

    def _wait(self, future: PublishFuture) -> BaseException | None:
        try:
            future.result(timeout=self.ack_timeout)
        except Exception as err:  # noqa: BLE001 - any failure of one publish is retried
            return err
        return None

    def _acked(self, key: int, pending: _Pending) -> None:
        if self._buffer.pop(key, None) is None:
            return  # dropped at shutdown meanwhile
        self.metrics.inc("published_total", transition=pending.event.transition)
        self.metrics.observe("publish_latency_seconds", self._clock() - pending.detected)
        if pending.attempts:
            log.info("published %s after %d retries", identity(pending.event), pending.attempts)

    def _after_round(self, failed: int, sent: int, error: str) -> None:
        with self._cond:
            if not failed:
                if self._failures:
                    log.warning("Pub/Sub %s reachable again; %d queued", self.topic, len(self))
                self._failures = 0
                self._retry_at = 0.0
                return
            self._failures += 1
            low, high = self.backoff
            delay = min(high, low * 2 ** (self._failures - 1)) * random.uniform(0.8, 1.0)  # noqa: S311
            self._retry_at = self._clock() + (min(delay, 0.5) if self._closing else delay)
            log.warning(
                "publishing to %s failed for %d of %d messages (%s); %d queued, retrying in %.1fs",
                self.topic,
                failed,
                sent,
                error,
                len(self),
                delay,
            )


def _short(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= 200 else text[:199] + "…"
