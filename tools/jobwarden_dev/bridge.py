"""The local stand-in for Eventarc / Pub/Sub push: pull each workflow's subscription, POST.

pstest (the local Pub/Sub) stores push configs but never pushes. The bridge keeps a
streaming pull open on each workflow's subscription (pstest hands a message to a stream
within about 10 ms; a synchronous pull would wait out its fixed 500 ms when the
subscription is empty) and POSTs every message to that function's functions-framework
process as the binary-mode CloudEvent Eventarc would send (ARCHITECTURE.md §4.3).
A 2xx acknowledges; anything else holds the message for a backoff, then nacks it so it
comes back at once, like a retry policy; after `max_attempts` deliveries the message
is published to the dead-letter topic with its attributes plus `deadLetterReason` and
acknowledged, so a poison message never stops the others. pstest itself honours a
subscription's DeadLetterPolicy on pull and streaming pull (it counts deliveries, sets
`delivery_attempt`, and moves the message, attributes unchanged, to the dead-letter topic
once they reach `max_delivery_attempts`: `tests/integration/test_bridge.py`), but it has no
retry policy (a nack comes back at once) and never pushes; so the bridge does the backoff
and the dead-lettering, with the reason, as a push subscription with both policies would.
Deliveries go round-robin over a function's instances (`Route.replicas`), and a streaming
pull that the client gave up on (Pub/Sub away for about a minute) is opened again.

The subscriptions carry the same attribute filters as production (ARCHITECTURE.md §3.1): the
defaults below, one subscription per workflow, as `infra/terraform` creates them.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jobwarden.names import snake
from jobwarden.subscriptions import FILTERS as SUBSCRIPTION_FILTERS

log = logging.getLogger("jobwarden.bridge")

#: Default subscription filter per function (ARCHITECTURE.md §3.1), from the runtime's one list.
FILTERS: dict[str, str] = {snake(name): text for name, text in SUBSCRIPTION_FILTERS.items()}


@dataclass(frozen=True)
class Route:
    """One workflow: its subscription and where its function listens."""

    function: str
    url: str
    subscription: str  # projects/P/subscriptions/S
    #: More instances of the same function: deliveries go round-robin over `url` and these,
    #: as Cloud Run spreads requests over a service's instances.
    replicas: tuple[str, ...] = ()

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.url, *self.replicas)


@dataclass
class Stats:
    delivered: int = 0
    retried: int = 0
    dead_lettered: int = 0
    attempts: dict[str, int] = field(default_factory=dict)


def envelope(message: Any, subscription: str, topic: str) -> tuple[dict[str, str], bytes]:
    """Headers and body of the Eventarc CloudEvent for one pulled Pub/Sub message."""
    published = message.publish_time.isoformat().replace("+00:00", "Z")
    body = {
        "message": {
            "data": base64.b64encode(message.data).decode(),
            "messageId": message.message_id,
            "message_id": message.message_id,
            "publishTime": published,
            "publish_time": published,
            "attributes": dict(message.attributes),
        },
        "subscription": subscription,
    }
    headers = {
        "ce-id": message.message_id,
        "ce-source": f"//pubsub.googleapis.com/{topic}",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-specversion": "1.0",
        "ce-time": published,
        "Content-Type": "application/json",
    }
    return headers, json.dumps(body).encode()


def post(url: str, headers: Mapping[str, str], body: bytes, timeout: float = 60.0) -> int:
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except (urllib.error.URLError, OSError):
        return 0  # not reachable: retried like a 5xx


class Bridge:
    """Streaming pull -> POST -> ack / backoff / dead-letter, one stream per route."""

    def __init__(
        self,
        routes: list[Route],
        *,
        topic: str,
        dead_letter_topic: str,
        max_attempts: int = 5,
        base_backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        max_in_flight: int = 10,
    ) -> None:
        from google.cloud import pubsub_v1

        self.routes = routes
        self.topic = topic
        self.dead_letter_topic = dead_letter_topic
        self.max_attempts = max_attempts
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_in_flight = max_in_flight  # per route: flow control of the streaming pull
        self.subscriber = pubsub_v1.SubscriberClient()
        self.publisher = pubsub_v1.PublisherClient()
        self.stats = Stats()
        self._stop = threading.Event()
        self._streams: list[Any] = []  # StreamingPullFuture per route
        self._timers: dict[str, threading.Timer] = {}  # backoffs in progress, by message
        self._lock = threading.Lock()
        self._turns: dict[str, int] = {}  # round-robin position per route

    @staticmethod
    def create_subscriptions(
        project: str, topic_id: str, functions: list[str], dead_letter_topic_id: str
    ) -> tuple[str, str, dict[str, str]]:
        """Create the topic, the dead-letter topic and a filtered subscription per function."""
        from google.api_core import exceptions
        from google.cloud import pubsub_v1

        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        topic = publisher.topic_path(project, topic_id)
        dead = publisher.topic_path(project, dead_letter_topic_id)
        for name in (topic, dead):
            with contextlib.suppress(exceptions.AlreadyExists):
                publisher.create_topic(name=name)
        subs = {}
        for function in [*functions, "dead-letter"]:
            sub = subscriber.subscription_path(project, f"{topic_id}-{function}")
            request: dict[str, Any] = {
                "name": sub,
                "topic": dead if function == "dead-letter" else topic,
                "ack_deadline_seconds": 30,
            }
            if function in FILTERS:
                request["filter"] = FILTERS[function]
            with contextlib.suppress(exceptions.AlreadyExists):
                subscriber.create_subscription(request=request)
            subs[function] = sub
        return topic, dead, subs

    def start(self) -> Bridge:
        for route in self.routes:
            self._subscribe(route)
        return self

    def _subscribe(self, route: Route) -> None:
        from google.cloud import pubsub_v1

        if self._stop.is_set():
            return
        future = self.subscriber.subscribe(
            route.subscription,
            callback=functools.partial(self._deliver, route),
            flow_control=pubsub_v1.types.FlowControl(max_messages=self.max_in_flight),
        )
        future.add_done_callback(functools.partial(self._stream_ended, route))
        with self._lock:
            self._streams.append(future)

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            timers, self._timers = list(self._timers.values()), {}
        for timer in timers:  # messages waiting out a backoff come back after their lease
            timer.cancel()
        with self._lock:
            streams = list(self._streams)
        for future in streams:
            future.cancel()
        for future in streams:
            with contextlib.suppress(Exception):
                future.result(timeout=15)

    def _stream_ended(self, route: Route, future: Any) -> None:
        """A stream that ended by itself (the client gives up after about a minute of Pub/Sub
        unreachable) is opened again: a push subscription never stops pushing."""
        if self._stop.is_set():
            return
        log.error(
            "bridge %s: streaming pull of %s ended (%s); opening it again in %.0fs",
            route.function,
            route.subscription,
            future.exception(),
            self.base_backoff_s,
        )
        timer = threading.Timer(self.base_backoff_s, self._subscribe, args=(route,))
        timer.daemon = True
        timer.start()

    def _deliver(self, route: Route, message: Any) -> None:
        """One delivery of one message (on a subscriber worker thread)."""
        key = f"{route.function}/{message.message_id}"
        with self._lock:
            attempt = self.stats.attempts.get(key, 0) + 1
            self.stats.attempts[key] = attempt
            turn = self._turns.get(route.function, 0)
            self._turns[route.function] = turn + 1
        headers, body = envelope(message, route.subscription, self.topic)
        status = post(route.targets[turn % len(route.targets)], headers, body)
        if 200 <= status < 300:
            message.ack()
            with self._lock:
                self.stats.delivered += 1
                self.stats.attempts.pop(key, None)
            return
        if attempt >= self.max_attempts:
            attributes = {
                **dict(message.attributes),
                "deadLetterReason": f"{route.function} answered {status or 'nothing'} "
                f"{attempt} times",
                "deadLetterFunction": route.function,
                "originalMessageId": message.message_id,
            }
            self.publisher.publish(self.dead_letter_topic, message.data, **attributes).result(30)
            message.ack()
            log.error(
                "bridge %s: message %s dead-lettered after %d attempts (last status %s)",
                route.function,
                message.message_id,
                attempt,
                status,
            )
            with self._lock:
                self.stats.dead_lettered += 1
                self.stats.attempts.pop(key, None)
            return
        backoff = min(self.max_backoff_s, self.base_backoff_s * 2 ** (attempt - 1))
        log.warning(
            "bridge %s: message %s answered %s (attempt %d); redelivery in %.0fs",
            route.function,
            message.message_id,
            status or "nothing",
            attempt,
            backoff,
        )
        # Held (its lease kept alive by the client) until the backoff ends, then nacked:
        # Pub/Sub redelivers it at once, as a push subscription's retry policy would.
        timer = threading.Timer(backoff, self._release, args=(key, message))
        timer.daemon = True
        with self._lock:
            self._timers[key] = timer
        timer.start()
        with self._lock:
            self.stats.retried += 1

    def _release(self, key: str, message: Any) -> None:
        with self._lock:
            self._timers.pop(key, None)
        if not self._stop.is_set():
            message.nack()
