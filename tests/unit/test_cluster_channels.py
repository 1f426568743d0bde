"""A message is believed about cluster X only when it came from X's own Pub/Sub topic.

Run through the real function (functions-framework test client) on recorded API answers:
a failure announced on cluster `other`'s topic for cluster `local` is acknowledged and not
reported (and the cluster is never read); the same message on `local`'s topic is reported.
"""

from __future__ import annotations

from typing import Any

import pytest

from jobwarden.cluster import ClusterRegistry, ClusterSpec
from jobwarden.config import parse_config
from jobwarden.errors import ConfigError
from jobwarden.kubeapi import Credentials, KubeApi
from jobwarden.runtime import Runtime
from tests.support.replay import default_runtime, event_of, function_client, load, memory_store

LOCAL = "projects/jobwarden-local/topics/job-events-local"
OTHER = "projects/jobwarden-local/topics/job-events-other"


def runtime(replay: Any, topics: dict[str, str] | None) -> Runtime:
    clusters = [
        {"name": name, "kubeconfig": f"/nowhere/{name}", **({"pubsubTopic": t} if t else {})}
        for name, t in (topics or {"local": "", "other": ""}).items()
    ]
    settings = parse_config(
        {"clusters": clusters, "sinks": {"storage": {"url": "file://./unused"}}}, source="test"
    )
    registry = ClusterRegistry(
        [ClusterSpec(name=c["name"]) for c in clusters],
        factory=lambda spec: KubeApi(Credentials(server="https://k.invalid"), transport=replay),
    )
    return Runtime(settings=settings, clusters=registry, env={}, _store=memory_store())


def post(rt: Runtime, topic: str, message_id: str) -> int:
    recording = load("backoff-log-error")
    headers, body = event_of(recording.meta["jobObject"], "failed", message_id)
    headers["ce-source"] = f"//pubsub.googleapis.com/{topic}"
    with default_runtime(rt):
        return int(
            function_client("jobFailureReporter").post("/", headers=headers, data=body).status_code
        )


def test_a_message_for_one_cluster_from_another_clusters_topic_is_not_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    replay = load("backoff-log-error").replay()
    rt = runtime(replay, {"local": LOCAL, "other": OTHER})
    assert post(rt, OTHER, "forged-1") == 200  # acknowledged: never retried
    assert rt.store.list() == [] and replay.served == []  # nothing stored, cluster not read
    assert "claims cluster local but came from topic " + OTHER in caplog.text


def test_the_same_message_from_its_own_clusters_topic_is_reported() -> None:
    replay = load("backoff-log-error").replay()
    rt = runtime(replay, {"local": LOCAL, "other": OTHER})
    assert post(rt, LOCAL, "genuine-1") == 200
    assert any(k.endswith(".json") and "/jobFailureReporter/" in k for k in rt.store.list())


def test_an_unknown_topic_is_refused_once_clusters_declare_theirs() -> None:
    replay = load("backoff-log-error").replay()
    rt = runtime(replay, {"local": LOCAL, "other": OTHER})
    assert post(rt, "projects/jobwarden-local/topics/somewhere-else", "stray-1") == 200
    assert rt.store.list() == []


def test_without_declared_topics_one_shared_topic_is_trusted() -> None:
    replay = load("backoff-log-error").replay()
    rt = runtime(replay, None)
    assert post(rt, OTHER, "shared-1") == 200
    assert rt.store.list() != []


def test_a_topic_that_is_not_a_topic_path_fails_at_load_with_the_key_path() -> None:
    with pytest.raises(ConfigError, match=r"clusters\[0\]\.pubsubTopic"):
        parse_config(
            {"clusters": [{"name": "a", "kubeconfig": "x", "pubsubTopic": "job-events"}]},
            source="test",
        )
