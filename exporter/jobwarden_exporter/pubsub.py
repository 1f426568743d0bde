"""The Pub/Sub adapter: google-cloud-pubsub's PublisherClient behind `PublishClient`.

Batching and flow control are the client's (`BatchSettings`, `PublishFlowControl` with
BLOCK); each publish gets a short retry deadline, because the exporter's own buffer
retries with backoff for as long as Pub/Sub stays away. The gRPC reconnect backoff is
capped at a few seconds (gRPC's default grows to two minutes), so publishing resumes
soon after Pub/Sub is back. `PUBSUB_EMULATOR_HOST` is honoured, as by the client.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from typing import Any

from jobwarden.errors import PermanentError
from jobwarden_exporter.publisher import PublishFuture, PublishRejectedError

TOPIC_PATTERN = re.compile(r"^projects/([a-z][-a-z0-9.:]{0,62})/topics/([A-Za-z][-\w.~+%]{2,254})$")
_CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 3000),
]


class TopicError(PermanentError):
    """The topic name is malformed or the topic does not exist (the message says how to fix it)."""


def check_topic_name(topic: str) -> tuple[str, str]:
    """(project, topic id) of `projects/P/topics/T`, else TopicError."""
    match = TOPIC_PATTERN.fullmatch(topic)
    if not match:
        raise TopicError(
            f"--topic {topic[:120]!r} is not a Pub/Sub topic path; write projects/<project>/"
            "topics/<topic>, e.g. projects/my-project/topics/job-events"
        )
    return match.group(1), match.group(2)


class _Mapped:
    """A publish future whose permanent refusals become PublishRejectedError."""

    def __init__(self, future: Any) -> None:
        self._future = future

    def result(self, timeout: float | None = None) -> Any:
        from google.api_core import exceptions

        try:
            return self._future.result(timeout=timeout)
        except exceptions.InvalidArgument as err:
            raise PublishRejectedError(f"invalid message: {err}") from err


class PubSubClient:
    """A lazily created PublisherClient with batching, flow control and short retries."""

    def __init__(
        self,
        *,
        max_messages: int = 100,
        max_bytes: int = 1_000_000,
        max_latency: float = 0.05,
        flow_messages: int = 1000,
        flow_bytes: int = 16 * 1024 * 1024,
        rpc_timeout: float = 10.0,
        emulator_host: str | None = None,
    ) -> None:
        """`emulator_host` overrides $PUBSUB_EMULATOR_HOST (read when the client is made)."""
        self.emulator_host = emulator_host
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.max_latency = max_latency
        self.flow_messages = flow_messages
        self.flow_bytes = flow_bytes
        self.rpc_timeout = rpc_timeout
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from google.cloud import pubsub_v1

            types = pubsub_v1.types
            self._client = pubsub_v1.PublisherClient(
                batch_settings=types.BatchSettings(
                    max_messages=self.max_messages,
                    max_bytes=self.max_bytes,
                    max_latency=self.max_latency,
                ),
                publisher_options=types.PublisherOptions(
                    flow_control=types.PublishFlowControl(
                        message_limit=self.flow_messages,
                        byte_limit=self.flow_bytes,
                        limit_exceeded_behavior=types.LimitExceededBehavior.BLOCK,
                    )
                ),
                transport=_transport(self.emulator_host),
            )
        return self._client

    def publish(self, topic: str, data: bytes, attributes: Mapping[str, str]) -> PublishFuture:
        from google.api_core.retry import Retry

        retry = Retry(initial=0.1, maximum=2.0, multiplier=2.0, timeout=self.rpc_timeout)
        future = self.client.publish(
            topic, data, retry=retry, timeout=self.rpc_timeout, **dict(attributes)
        )
        return _Mapped(future)

    def check_topic(self, topic: str) -> str | None:
        """Raise TopicError if the topic does not exist; a warning text if it cannot tell."""
        from google.api_core import exceptions

        project, name = check_topic_name(topic)
        try:
            self.client.get_topic(topic=topic, timeout=min(self.rpc_timeout, 5.0), retry=None)
        except exceptions.NotFound as err:
            raise TopicError(
                f"Pub/Sub topic {topic} does not exist; create it with `gcloud pubsub topics "
                f"create {name} --project={project}` (or the Terraform in infra/terraform)"
                + _emulator_hint(self.emulator_host or os.environ.get("PUBSUB_EMULATOR_HOST"))
            ) from err
        except exceptions.PermissionDenied:
            return (
                f"cannot check that {topic} exists (no pubsub.topics.get; "
                "roles/pubsub.publisher only publishes): going on"
            )
        except exceptions.GoogleAPICallError as err:
            return f"cannot reach Pub/Sub to check {topic} ({type(err).__name__}): messages wait"
        except exceptions.RetryError as err:
            return f"cannot reach Pub/Sub to check {topic} ({err}): messages wait in the buffer"
        return None

    def close(self) -> None:
        if self._client is not None:
            self._client.stop()
            self._client = None


def _emulator_hint(host: str | None) -> str:
    if not host:
        return ""
    return (
        f"; against the emulator at {host}: PublisherClient().create_topic(name=...) "
        "from google.cloud.pubsub_v1"
    )


def _transport(emulator_host: str | None) -> Any:
    """A gRPC transport whose reconnect backoff is capped (see module doc)."""
    import grpc  # type: ignore[import-untyped]
    from google.pubsub_v1.services.publisher.transports.grpc import PublisherGrpcTransport

    emulator = emulator_host or os.environ.get("PUBSUB_EMULATOR_HOST")
    if emulator:
        return PublisherGrpcTransport(
            channel=grpc.insecure_channel(emulator, options=_CHANNEL_OPTIONS)
        )

    def channel(host: str, **kwargs: Any) -> Any:
        kwargs["options"] = [*kwargs.get("options", []), *_CHANNEL_OPTIONS]
        return PublisherGrpcTransport.create_channel(host, **kwargs)

    return functools.partial(PublisherGrpcTransport, channel=channel)
