"""The JobEvent wire model and its envelope: camelCase JSON, deterministic ids, attributes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from jobwarden.jobevent import (
    JobEvent,
    cloudevent_attributes,
    event_id,
    pubsub_attributes,
)

JOB_UID = "7c1e0b5f-3a49-4d0e-9a53-5d2f3c1b8e10"


def failed_job_event(**overrides: Any) -> JobEvent:
    wire: dict[str, Any] = {
        "cluster": "prod-eu",
        "namespace": "batch",
        "name": "nightly-28744",
        "uid": JOB_UID,
        "transition": "failed",
        "reason": "BackoffLimitExceeded",
        "message": "Job has reached the specified backoff limit",
        "time": "2024-05-01T02:07:41Z",
        "status": {
            "conditions": [
                {
                    "type": "FailureTarget",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                    "lastTransitionTime": "2024-05-01T02:07:39Z",
                },
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                    "lastTransitionTime": "2024-05-01T02:07:41Z",
                },
            ],
            "active": 0,
            "succeeded": 0,
            "failed": 4,
            "startTime": "2024-05-01T02:00:00Z",
        },
        "owner": "nightly",
        "labels": {"app": "nightly", "team": "data"},
    }
    wire.update(overrides)
    return JobEvent.model_validate(wire)


def relayed_event(uid: str = "e1", count: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"name": "nightly-28744-x7k2p.17c9", "namespace": "batch", "uid": uid},
        "type": "Warning",
        "reason": "BackOff",
        "message": "Back-off restarting failed container worker",
        "count": count,
        "involvedObject": {"kind": "Pod", "namespace": "batch", "name": "nightly-28744-x7k2p"},
    }


def test_job_event_json_uses_camel_case_wire_names() -> None:
    wire = json.loads(failed_job_event().to_json())

    assert wire["status"]["startTime"] == "2024-05-01T02:00:00Z"
    assert wire["status"]["conditions"][1]["lastTransitionTime"] == "2024-05-01T02:07:41Z"
    assert "completionTime" in wire["status"]
    assert "start_time" not in wire["status"]
    assert wire["owner"] == "nightly"


def test_job_event_round_trips_through_its_wire_json() -> None:
    job_event = failed_job_event()

    assert JobEvent.model_validate_json(job_event.to_json()) == job_event


def test_job_event_can_be_built_with_python_field_names() -> None:
    job_event = JobEvent(
        cluster="prod-eu",
        namespace="batch",
        name="nightly-28744",
        uid=JOB_UID,
        transition="started",
        status={"start_time": datetime(2024, 5, 1, 2, tzinfo=UTC), "active": 1},  # type: ignore[arg-type]
    )

    assert job_event.status.start_time == datetime(2024, 5, 1, 2, tzinfo=UTC)
    assert job_event.status.active == 1


def test_failed_condition_counts_only_when_its_status_is_true() -> None:
    status = failed_job_event().status

    assert status.true_condition("Failed") is not None
    assert status.true_condition("Complete") is None
    flipped = failed_job_event(
        status={"conditions": [{"type": "Failed", "status": "False", "reason": "x"}]}
    ).status
    assert flipped.true_condition("Failed") is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("namespace", "../etc"),
        ("name", "Nightly"),
        ("name", "a..b"),
        ("cluster", "../prod"),
        ("uid", ""),
        ("transition", "exploded"),
        ("time", "2024-05-01T02:07:41"),
    ],
)
def test_job_event_rejects_invalid_identity_and_values(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        failed_job_event(**{field: value})

    assert field in str(caught.value)


def test_event_transition_requires_the_kubernetes_event() -> None:
    with pytest.raises(ValidationError, match="needs the Kubernetes Event"):
        failed_job_event(transition="event", reason="BackOff")


def test_event_id_is_the_same_for_the_same_transition_in_every_process() -> None:
    first = event_id("prod-eu", JOB_UID, "failed")

    assert first == event_id("prod-eu", JOB_UID, "failed")
    # Pinned: ids are compared across processes, replicas and releases.
    assert first == "469eb0316694a17cda23e6f3bdefc4c5"
    assert len(first) == 32


def test_each_suspension_of_a_job_has_its_own_id_which_every_replica_agrees_on() -> None:
    first = event_id("prod-eu", JOB_UID, "suspended", occurrence="1")
    second = event_id("prod-eu", JOB_UID, "suspended", occurrence="3")

    assert first != second
    assert first == event_id("prod-eu", JOB_UID, "suspended", occurrence="1")
    # an exporter that sends no generation keeps the id it always had
    assert event_id("prod-eu", JOB_UID, "suspended") not in (first, second)
    # once-only transitions ignore it: a failure is one failure whatever the generation
    assert event_id("prod-eu", JOB_UID, "failed", occurrence="7") == event_id(
        "prod-eu", JOB_UID, "failed"
    )


def test_a_job_events_id_covers_its_generation_for_suspend_and_resume() -> None:
    wire = {
        "cluster": "prod-eu",
        "namespace": "batch",
        "name": "nightly",
        "uid": JOB_UID,
        "transition": "resumed",
        "generation": 4,
    }
    resumed = JobEvent.model_validate(wire)

    assert resumed.id == event_id("prod-eu", JOB_UID, "resumed", occurrence="4")
    assert JobEvent.model_validate({**wire, "generation": 6}).id != resumed.id
    assert JobEvent.model_validate_json(resumed.to_json()).id == resumed.id


def test_event_id_of_a_kubernetes_event_is_pinned_too() -> None:
    # Ids of relayed Kubernetes Events cover the Event's identity and count; pinned like
    # the transitions' (including a part that holds the separator, length-prefixed).
    assert (
        event_id("prod-eu", "6f1c", "event", k8s_event_uid="ev-1", k8s_event_count=3)
        == "ba2147c1022c7b4322cd4e8b3c5d659a"
    )
    assert (
        event_id("prod-eu", "", "event", k8s_event_uid="ns/a\x1fb", k8s_event_count=1)
        == "dc6fe115ab544f478f7aad5e733fb759"
    )


def test_event_id_differs_by_transition_cluster_and_job() -> None:
    ids = {
        event_id("prod-eu", JOB_UID, "failed"),
        event_id("prod-eu", JOB_UID, "succeeded"),
        event_id("prod-us", JOB_UID, "failed"),
        event_id("prod-eu", "another-uid", "failed"),
    }

    assert len(ids) == 4


def test_event_id_parts_cannot_run_into_each_other() -> None:
    assert event_id("a\x1fb", "c", "failed") != event_id("a", "b\x1fc", "failed")
    assert event_id("a", "b\x1fc", "failed") != event_id("a", "b", "c\x1ffailed")


def test_relayed_events_get_distinct_ids_per_event_and_per_repeat() -> None:
    first = failed_job_event(transition="event", event=relayed_event("e1", 1))
    again = failed_job_event(transition="event", event=relayed_event("e1", 1))
    repeat = failed_job_event(transition="event", event=relayed_event("e1", 2))
    other = failed_job_event(transition="event", event=relayed_event("e2", 1))

    assert first.id == again.id
    assert len({first.id, repeat.id, other.id}) == 3
    assert first.id == event_id("prod-eu", JOB_UID, "event", k8s_event_uid="e1", k8s_event_count=1)


def test_event_arguments_do_not_change_the_id_of_other_transitions() -> None:
    assert event_id("c", JOB_UID, "failed", k8s_event_uid="e1", k8s_event_count=3) == event_id(
        "c", JOB_UID, "failed"
    )


def test_cloudevent_attributes_name_cluster_job_and_transition() -> None:
    job_event = failed_job_event()

    assert cloudevent_attributes(job_event) == {
        "specversion": "1.0",
        "id": job_event.id,
        "source": "//jobwarden/clusters/prod-eu",
        "type": "dev.jobwarden.job.v1.failed",
        "subject": "batch/nightly-28744",
        "datacontenttype": "application/json",
        "time": "2024-05-01T02:07:41Z",
    }


def test_cloudevent_attributes_leave_out_an_unknown_time() -> None:
    assert "time" not in cloudevent_attributes(failed_job_event(time=None))


def test_cloudevent_time_is_utc_even_when_the_event_time_is_not() -> None:
    job_event = failed_job_event(time="2024-05-01T04:07:41+02:00")

    assert cloudevent_attributes(job_event)["time"] == "2024-05-01T02:07:41Z"


def test_pubsub_attributes_let_subscriptions_filter_by_transition_and_job() -> None:
    assert pubsub_attributes(failed_job_event()) == {
        "type": "failed",
        "cluster": "prod-eu",
        "namespace": "batch",
        "job": "nightly-28744",
        "reason": "BackoffLimitExceeded",
        "cronjob": "nightly",  # its owner: the failure reporter takes CronJob runs' successes
    }
    assert "cronjob" not in pubsub_attributes(failed_job_event(owner=None))


def test_pubsub_attributes_of_a_relayed_event_carry_its_event_type() -> None:
    job_event = failed_job_event(transition="event", reason="BackOff", event=relayed_event())

    attributes = pubsub_attributes(job_event)

    assert attributes["type"] == "event"
    assert attributes["eventType"] == "Warning"
    assert all(isinstance(value, str) for value in attributes.values())
