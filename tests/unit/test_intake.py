"""Event intake: every trigger shape becomes one Trigger, and anything else one typed error."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cloudevents.http import from_http
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobwarden.errors import PermanentError
from jobwarden.intake import (
    MalformedEventError,
    Trigger,
    parse_cloudevent,
    parse_pubsub_message,
    parse_push_body,
)
from jobwarden.jobevent import JobEvent, cloudevent_attributes, event_id

JOB_UID = "7c1e0b5f-3a49-4d0e-9a53-5d2f3c1b8e10"
POD_UID = "a3d1f0e2-1b2c-4d5e-8f90-1a2b3c4d5e6f"
PUBSUB_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"


# --- realistic payloads -------------------------------------------------------------------


def resmoio_pod_backoff() -> dict[str, Any]:
    """kubernetes-event-exporter (resmoio): kubelet BackOff of a Job's pod, enriched."""
    return {
        "metadata": {
            "name": "nightly-28744-x7k2p.17c9a5b3e2d1f0a4",
            "namespace": "batch",
            "uid": "5f0c8d2e-6a1b-4c3d-9e8f-7a6b5c4d3e2f",
            "resourceVersion": "918273",
            "creationTimestamp": "2024-05-01T02:01:10Z",
        },
        "reason": "BackOff",
        "message": "Back-off restarting failed container worker in pod nightly-28744-x7k2p",
        "source": {"component": "kubelet", "host": "node-3"},
        "firstTimestamp": "2024-05-01T02:01:10Z",
        "lastTimestamp": "2024-05-01T02:04:55Z",
        "count": 5,
        "type": "Warning",
        "eventTime": None,
        "reportingComponent": "kubelet",
        "reportingInstance": "node-3",
        "clusterName": "prod-eu",
        "involvedObject": {
            "kind": "Pod",
            "namespace": "batch",
            "name": "nightly-28744-x7k2p",
            "uid": POD_UID,
            "apiVersion": "v1",
            "resourceVersion": "918100",
            "fieldPath": "spec.containers{worker}",
            "labels": {
                "batch.kubernetes.io/controller-uid": JOB_UID,
                "batch.kubernetes.io/job-name": "nightly-28744",
                "controller-uid": JOB_UID,
                "job-name": "nightly-28744",
            },
            "annotations": {"batch.kubernetes.io/job-tracking": ""},
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": "nightly-28744",
                    "uid": JOB_UID,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            "deleted": False,
        },
    }


def resmoio_job_backoff_limit(deleted: bool = False) -> dict[str, Any]:
    """kubernetes-event-exporter (resmoio): the job controller's failure Warning."""
    involved: dict[str, Any] = {
        "kind": "Job",
        "namespace": "batch",
        "name": "nightly-28744",
        "uid": JOB_UID,
        "apiVersion": "batch/v1",
        "resourceVersion": "918400",
        "deleted": deleted,
    }
    if not deleted:
        involved["labels"] = {"app": "nightly"}
        involved["ownerReferences"] = [
            {"apiVersion": "batch/v1", "kind": "CronJob", "name": "nightly", "uid": "c1"}
        ]
    return {
        "metadata": {
            "name": "nightly-28744.17c9a5b9aa11",
            "namespace": "batch",
            "uid": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
            "creationTimestamp": "2024-05-01T02:07:41Z",
        },
        "reason": "BackoffLimitExceeded",
        "message": "Job has reached the specified backoff limit",
        "source": {"component": "job-controller"},
        "firstTimestamp": "2024-05-01T02:07:41Z",
        "lastTimestamp": "2024-05-01T02:07:41Z",
        "count": 1,
        "type": "Warning",
        "eventTime": None,
        "reportingComponent": "job-controller",
        "reportingInstance": "",
        "clusterName": "prod-eu",
        "involvedObject": involved,
    }


def opsgenie_pod_failed() -> dict[str, Any]:
    """The older opsgenie fork: no clusterName, no ownerReferences, no deleted."""
    return {
        "metadata": {
            "name": "report-1-abcde.17c9",
            "namespace": "etl",
            "uid": "0d1e2f3a-4b5c-4d6e-8f7a-9b0c1d2e3f4a",
            "creationTimestamp": "2024-05-01T03:00:00Z",
        },
        "reason": "Failed",
        "message": 'Error: ImagePullBackOff: Back-off pulling image "etl/report:bad"',
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2024-05-01T03:00:00Z",
        "lastTimestamp": "2024-05-01T03:02:00Z",
        "count": 3,
        "type": "Warning",
        "involvedObject": {
            "kind": "Pod",
            "namespace": "etl",
            "name": "report-1-abcde",
            "uid": POD_UID,
            "apiVersion": "v1",
            "labels": {"controller-uid": JOB_UID, "job-name": "report-1"},
        },
    }


def scheduler_failed_scheduling() -> dict[str, Any]:
    """An events.k8s.io event (scheduler): no count, null first/last, only eventTime."""
    return {
        "metadata": {
            "name": "train-7-q9w8e.17c9b0",
            "namespace": "ml",
            "uid": "1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b",
            "creationTimestamp": "2024-05-01T04:00:00Z",
        },
        "reason": "FailedScheduling",
        "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
        "source": {},
        "firstTimestamp": None,
        "lastTimestamp": None,
        "type": "Warning",
        "eventTime": "2024-05-01T04:00:00.123456Z",
        "action": "Scheduling",
        "reportingComponent": "default-scheduler",
        "reportingInstance": "default-scheduler-control-plane",
        "clusterName": "",
        "involvedObject": {
            "kind": "Pod",
            "namespace": "ml",
            "name": "train-7-q9w8e",
            "uid": POD_UID,
            "apiVersion": "v1",
            "labels": {"batch.kubernetes.io/job-name": "train-7"},
            "deleted": False,
        },
    }


def job_event_wire(transition: str = "failed") -> dict[str, Any]:
    return {
        "cluster": "prod-eu",
        "namespace": "batch",
        "name": "nightly-28744",
        "uid": JOB_UID,
        "transition": transition,
        "reason": "BackoffLimitExceeded",
        "message": "Job has reached the specified backoff limit",
        "time": "2024-05-01T02:07:41Z",
        "status": {
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "lastTransitionTime": "2024-05-01T02:07:41Z",
                }
            ],
            "failed": 4,
            "startTime": "2024-05-01T02:00:00Z",
        },
        "owner": "nightly",
        "labels": {"app": "nightly"},
    }


def push_body(
    payload: Any, message_id: str = "11873264598231", attributes: dict[str, Any] | None = None
) -> dict[str, Any]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    message: dict[str, Any] = {
        "data": base64.b64encode(data).decode(),
        "messageId": message_id,
        "message_id": message_id,
        "publishTime": "2024-05-01T02:07:42.001Z",
        "publish_time": "2024-05-01T02:07:42.001Z",
    }
    if attributes is not None:
        message["attributes"] = attributes
    return {"message": message, "subscription": "projects/p/subscriptions/job-failure-reporter"}


def eventarc_binary(payload: Any, message_id: str = "11873264598231") -> Trigger:
    """Through the cloudevents library, as functions-framework decodes a binary-mode POST."""
    headers = {
        "ce-id": message_id,
        "ce-source": "//pubsub.googleapis.com/projects/p/topics/job-events",
        "ce-type": PUBSUB_TYPE,
        "ce-specversion": "1.0",
        "ce-time": "2024-05-01T02:07:42.001Z",
        "content-type": "application/json",
    }
    event = from_http(headers, json.dumps(push_body(payload, message_id)).encode())
    return parse_cloudevent(event.get_attributes(), event.data)


def eventarc_structured(payload: Any, message_id: str = "11873264598231") -> Trigger:
    body = {
        "specversion": "1.0",
        "id": message_id,
        "source": "//pubsub.googleapis.com/projects/p/topics/job-events",
        "type": PUBSUB_TYPE,
        "datacontenttype": "application/json",
        "data": push_body(payload, message_id),
    }
    event = from_http({"content-type": "application/cloudevents+json"}, json.dumps(body).encode())
    return parse_cloudevent(event.get_attributes(), event.data)


# --- the three trigger shapes -------------------------------------------------------------


@pytest.mark.parametrize("deliver", [eventarc_binary, eventarc_structured])
def test_eventarc_pubsub_cloudevent_of_a_job_event_names_the_failed_job(deliver: Any) -> None:
    trigger = deliver(job_event_wire())

    assert (trigger.cluster, trigger.namespace, trigger.job) == (
        "prod-eu",
        "batch",
        "nightly-28744",
    )
    assert trigger.job_uid == JOB_UID
    assert trigger.transition == "failed"
    assert trigger.reason == "BackoffLimitExceeded"
    assert trigger.owner == "nightly"
    assert trigger.source_kind == "jobwarden"
    assert trigger.message_id == "11873264598231"
    assert trigger.event_id == event_id("prod-eu", JOB_UID, "failed")
    assert trigger.time == datetime(2024, 5, 1, 2, 7, 41, tzinfo=UTC)
    assert trigger.job_event is not None
    assert trigger.job_event.status.failed == 4


def test_binary_mode_data_left_as_bytes_is_decoded_too() -> None:
    attributes = {"id": "42", "type": PUBSUB_TYPE, "source": "//pubsub", "specversion": "1.0"}

    trigger = parse_cloudevent(attributes, json.dumps(push_body(job_event_wire())).encode())

    assert trigger.subject == "batch/nightly-28744"


def test_raw_push_body_of_a_job_event_parses_from_bytes_and_from_a_dict() -> None:
    body = push_body(job_event_wire(), attributes={"type": "failed", "cluster": "prod-eu"})

    from_bytes = parse_push_body(json.dumps(body).encode())
    from_dict = parse_push_body(body)

    assert from_bytes == from_dict
    assert from_bytes.attributes == {"type": "failed", "cluster": "prod-eu"}
    assert from_bytes.message_id == "11873264598231"


def test_direct_jobwarden_cloudevent_parses_its_job_event_data() -> None:
    job_event = JobEvent.model_validate(job_event_wire("stuck"))

    trigger = parse_cloudevent(cloudevent_attributes(job_event), job_event.to_json())

    assert trigger.transition == "stuck"
    assert trigger.event_id == job_event.id
    assert trigger.message_id == job_event.id


def test_two_exporter_replicas_publishing_the_same_transition_dedupe_to_one_id() -> None:
    first = parse_push_body(push_body(job_event_wire(), message_id="1"))
    second = parse_push_body(push_body(job_event_wire(), message_id="2"))

    assert first.message_id != second.message_id
    assert first.event_id == second.event_id


def test_relayed_kubernetes_event_in_a_job_event_gets_a_normalized_view() -> None:
    wire = job_event_wire("event") | {"reason": "BackOff", "event": resmoio_pod_backoff()}

    trigger = parse_push_body(push_body(wire))

    assert trigger.k8s_event is not None
    assert trigger.k8s_event.type == "Warning"
    assert trigger.k8s_event.count == 5


# --- kubernetes-event-exporter events ------------------------------------------------------


def test_pod_backoff_event_is_joined_to_its_job_through_the_owner_reference() -> None:
    trigger = parse_push_body(push_body(resmoio_pod_backoff()))

    assert (trigger.cluster, trigger.namespace, trigger.job) == (
        "prod-eu",
        "batch",
        "nightly-28744",
    )
    assert trigger.job_uid == JOB_UID
    assert trigger.transition == "event"
    assert trigger.reason == "BackOff"
    assert trigger.source_kind == "kubernetes-event-exporter"
    view = trigger.k8s_event
    assert view is not None
    assert (view.involved_kind, view.involved_name) == ("Pod", "nightly-28744-x7k2p")
    assert view.component == "kubelet"
    assert view.count == 5
    assert view.first == datetime(2024, 5, 1, 2, 1, 10, tzinfo=UTC)
    assert view.last == datetime(2024, 5, 1, 2, 4, 55, tzinfo=UTC)
    assert trigger.time == view.last


def test_owner_reference_wins_over_labels_when_they_disagree() -> None:
    event = resmoio_pod_backoff()
    event["involvedObject"]["labels"]["batch.kubernetes.io/job-name"] = "stale-name"

    assert parse_push_body(push_body(event)).job == "nightly-28744"


def test_pod_owned_by_a_job_of_another_api_group_is_joined_through_labels_only() -> None:
    event = resmoio_pod_backoff()
    event["involvedObject"]["ownerReferences"][0]["apiVersion"] = "batch.volcano.sh/v1alpha1"
    event["involvedObject"]["ownerReferences"][0]["name"] = "volcano-job"

    assert parse_push_body(push_body(event)).job == "nightly-28744"


def test_job_backoff_limit_warning_is_a_failed_transition_of_the_cronjob_run() -> None:
    trigger = eventarc_binary(resmoio_job_backoff_limit())

    assert trigger.transition == "failed"
    assert trigger.reason == "BackoffLimitExceeded"
    assert trigger.message == "Job has reached the specified backoff limit"
    assert trigger.job_uid == JOB_UID
    assert trigger.owner == "nightly"
    assert trigger.labels == {"app": "nightly"}
    assert trigger.event_id == event_id("prod-eu", JOB_UID, "failed")


@pytest.mark.parametrize(
    "reason",
    ["DeadlineExceeded", "PodFailurePolicy", "MaxFailedIndexesExceeded", "FailedIndexes"],
)
def test_every_job_failure_reason_is_a_failed_transition(reason: str) -> None:
    event = resmoio_job_backoff_limit() | {"reason": reason}

    assert parse_push_body(push_body(event)).transition == "failed"


def test_job_completed_event_is_a_succeeded_transition() -> None:
    event = resmoio_job_backoff_limit() | {"type": "Normal", "reason": "Completed"}

    trigger = parse_push_body(push_body(event))

    assert (trigger.transition, trigger.reason) == ("succeeded", "Completed")


def test_other_job_events_stay_events_with_their_reason() -> None:
    event = resmoio_job_backoff_limit() | {"type": "Normal", "reason": "SuccessfulCreate"}

    trigger = parse_push_body(push_body(event))

    assert (trigger.transition, trigger.reason) == ("event", "SuccessfulCreate")


def test_event_of_a_deleted_job_still_parses() -> None:
    trigger = parse_push_body(push_body(resmoio_job_backoff_limit(deleted=True)))

    assert trigger.job == "nightly-28744"
    assert trigger.transition == "failed"
    assert trigger.owner is None
    assert trigger.k8s_event is not None
    assert trigger.k8s_event.involved_deleted is True


def test_opsgenie_pod_event_is_joined_through_job_name_and_controller_uid_labels() -> None:
    trigger = parse_push_body(push_body(opsgenie_pod_failed()), default_cluster="onprem")

    assert (trigger.cluster, trigger.namespace, trigger.job) == ("onprem", "etl", "report-1")
    assert trigger.job_uid == JOB_UID
    assert (trigger.transition, trigger.reason) == ("event", "Failed")


def test_scheduler_event_takes_its_time_from_event_time_and_counts_once() -> None:
    trigger = parse_push_body(push_body(scheduler_failed_scheduling()))

    view = trigger.k8s_event
    assert view is not None
    assert (trigger.namespace, trigger.job, trigger.job_uid) == ("ml", "train-7", None)
    assert view.count == 1
    assert view.first == view.last == datetime(2024, 5, 1, 4, 0, 0, 123456, tzinfo=UTC)
    assert view.component == "default-scheduler"
    assert trigger.reason == "FailedScheduling"


def test_event_with_no_times_at_all_falls_back_to_its_creation_timestamp() -> None:
    event = scheduler_failed_scheduling() | {"eventTime": None}

    view = parse_push_body(push_body(event)).k8s_event

    assert view is not None
    assert view.last == datetime(2024, 5, 1, 4, 0, tzinfo=UTC)


def test_cluster_comes_from_cluster_name_then_message_attribute_then_default() -> None:
    named = push_body(resmoio_pod_backoff(), attributes={"cluster": "other"})
    unnamed = push_body(scheduler_failed_scheduling(), attributes={"cluster": "prod-us"})

    assert parse_push_body(named).cluster == "prod-eu"
    assert parse_push_body(unnamed).cluster == "prod-us"
    assert parse_push_body(push_body(opsgenie_pod_failed())).cluster == "default"


def test_redelivered_event_keeps_its_id_and_a_repeat_of_the_event_gets_a_new_one() -> None:
    event = resmoio_pod_backoff()
    repeat = copy.deepcopy(event) | {"count": 6}

    first = parse_push_body(push_body(event, message_id="1"))
    redelivered = eventarc_structured(event, message_id="1")
    repeated = parse_push_body(push_body(repeat, message_id="2"))

    assert first.event_id == redelivered.event_id
    assert repeated.event_id != first.event_id


def test_parse_pubsub_message_takes_one_message_from_a_pull() -> None:
    message = push_body(resmoio_pod_backoff(), message_id="77")["message"]

    assert parse_pubsub_message(message).message_id == "77"


# --- what cannot be processed --------------------------------------------------------------


def _with_data(data: str) -> dict[str, Any]:
    body = push_body({})
    body["message"]["data"] = data
    return body


def _b64(payload: Any) -> str:
    return base64.b64encode(json.dumps(payload).encode()).decode()


def _pod_without_job(deleted: bool) -> dict[str, Any]:
    event = resmoio_pod_backoff()
    involved = event["involvedObject"]
    del involved["ownerReferences"], involved["labels"]
    involved["deleted"] = deleted
    return event


MALFORMED = {
    "bad base64": (_with_data("not base64!!"), "not valid base64"),
    "not json": (_with_data(base64.b64encode(b"\xff\xfe<xml/>").decode()), "is not JSON"),
    "json array": (_with_data(_b64([1, 2])), "not a JSON object"),
    "unknown shape": (_with_data(_b64({"hello": "world"})), "neither a jobwarden JobEvent"),
    "no data": (_with_data(""), "has no data"),
    "no message": ({"subscription": "s"}, "no 'message' object"),
    "invalid job event": (
        _with_data(_b64(job_event_wire() | {"namespace": "Bad_NS"})),
        "invalid JobEvent: namespace",
    ),
    "no namespace": (
        _with_data(
            _b64(opsgenie_pod_failed() | {"metadata": {}, "involvedObject": {"kind": "Job"}})
        ),
        "namespace",
    ),
    "pod of no job": (_with_data(_b64(_pod_without_job(False))), "cannot be joined to a Job"),
    "deleted pod": (_with_data(_b64(_pod_without_job(True))), "Pod was deleted"),
    "cronjob event": (
        _with_data(
            _b64(resmoio_pod_backoff() | {"involvedObject": {"kind": "CronJob", "name": "nightly"}})
        ),
        "not about a Job",
    ),
    "other Job kind": (
        _with_data(
            _b64(
                resmoio_job_backoff_limit()
                | {"involvedObject": {"kind": "Job", "apiVersion": "batch.volcano.sh/v1alpha1"}}
            )
        ),
        "not about a Job",
    ),
    "cluster attribute escaping storage": (
        push_body(scheduler_failed_scheduling(), attributes={"cluster": "../../etc"}),
        "is not a valid cluster",
    ),
    "garbage attributes": (
        push_body(resmoio_pod_backoff(), attributes={"cluster": 5}),
        "attributes is not an object of strings",
    ),
}


@pytest.mark.parametrize(("body", "defect"), MALFORMED.values(), ids=MALFORMED.keys())
def test_unprocessable_message_is_a_permanent_error_naming_message_id_and_defect(
    body: dict[str, Any], defect: str
) -> None:
    with pytest.raises(MalformedEventError) as caught:
        parse_push_body(body)

    assert isinstance(caught.value, PermanentError)
    assert caught.value.message_id == body.get("message", {}).get("messageId")
    assert defect in str(caught.value)
    if "message" in body:
        assert "11873264598231" in str(caught.value)


def test_unsupported_cloudevent_type_is_rejected_with_its_id() -> None:
    attributes = {"id": "ce-9", "type": "google.cloud.storage.object.v1.finalized"}

    with pytest.raises(MalformedEventError, match=r"ce-9.*unsupported CloudEvent type"):
        parse_cloudevent(attributes, {"bucket": "b"})


def test_direct_cloudevent_whose_type_contradicts_its_data_is_rejected() -> None:
    attributes = {"id": "ce-1", "type": "dev.jobwarden.job.v1.succeeded"}

    with pytest.raises(MalformedEventError, match="does not match the JobEvent's transition"):
        parse_cloudevent(attributes, job_event_wire("failed"))


def test_error_quotes_at_most_200_characters_of_a_huge_payload() -> None:
    huge = {"hello": "x" * 100_000, "more": list(range(10_000))}

    with pytest.raises(MalformedEventError) as caught:
        parse_push_body(_with_data(_b64(huge)))

    assert len(str(caught.value)) < 400
    assert "payload: " in str(caught.value)


# --- no input makes the parsers raise anything else ---------------------------------------

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
any_values = st.recursive(
    json_values | st.binary(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=8) | st.integers(), inner, max_size=3)
        | st.tuples(inner)
    ),
    max_leaves=12,
)
FIXTURES = [
    resmoio_pod_backoff(),
    resmoio_job_backoff_limit(),
    resmoio_job_backoff_limit(deleted=True),
    opsgenie_pod_failed(),
    scheduler_failed_scheduling(),
    job_event_wire(),
    job_event_wire("event") | {"event": resmoio_pod_backoff()},
]
KEYS = ["data", "message", "attributes", "messageId", "involvedObject", "kind", "labels",
        "ownerReferences", "metadata", "uid", "name", "namespace", "transition", "event", "count",
        "eventTime", "clusterName", "status", "conditions", "type", "series"]  # fmt: skip


def _only_malformed(parse: Any, *args: Any, **kwargs: Any) -> None:
    outcome: Trigger | MalformedEventError
    try:
        outcome = parse(*args, **kwargs)
    except MalformedEventError as e:
        outcome = e
    if isinstance(outcome, MalformedEventError):
        assert len(str(outcome)) < 1000
    else:
        assert isinstance(outcome, Trigger)


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """A valid payload with a few values replaced, removed or added at random paths."""
    value = copy.deepcopy(draw(st.sampled_from(FIXTURES)))
    for _ in range(draw(st.integers(1, 4))):
        node = value
        while isinstance(node, dict) and node and draw(st.booleans()):
            child = node[draw(st.sampled_from(sorted(node)))]
            if not isinstance(child, dict | list) or not child:
                break
            node = child if isinstance(child, dict) else child[0]
        if isinstance(node, dict):
            key = draw(st.sampled_from(sorted(node) + KEYS))
            if draw(st.booleans()):
                node[key] = draw(json_values)
            else:
                node.pop(key, None)
    return value


@FAST
@given(st.binary(max_size=200))
def test_arbitrary_bytes_as_a_push_body_only_raise_malformed(body: bytes) -> None:
    _only_malformed(parse_push_body, body)


@FAST
@given(json_values)
def test_arbitrary_json_inside_a_message_only_raises_malformed(payload: Any) -> None:
    _only_malformed(parse_push_body, push_body(payload))


@FAST
@given(st.binary(max_size=200))
def test_arbitrary_bytes_as_message_data_only_raise_malformed(payload: bytes) -> None:
    _only_malformed(parse_push_body, push_body(payload))


@FAST
@given(mutated())
def test_mutated_real_events_in_envelopes_only_raise_malformed(payload: Any) -> None:
    _only_malformed(parse_push_body, push_body(payload))
    _only_malformed(parse_cloudevent, {"id": "1", "type": "dev.jobwarden.job.v1.failed"}, payload)


@FAST
@given(
    attributes=any_values,
    ce_type=st.sampled_from([PUBSUB_TYPE, "dev.jobwarden.job.v1.failed", "dev.jobwarden.job.v1."]),
    ce_id=any_values,
    data=any_values,
)
def test_garbage_cloudevent_attributes_and_data_only_raise_malformed(
    attributes: Any, ce_type: str, ce_id: Any, data: Any
) -> None:
    _only_malformed(parse_cloudevent, attributes, data)
    _only_malformed(parse_cloudevent, {"id": ce_id, "type": ce_type}, data)


@FAST
@given(message=st.dictionaries(st.sampled_from(KEYS), any_values, max_size=5), envelope=any_values)
def test_garbage_envelopes_only_raise_malformed(message: dict[str, Any], envelope: Any) -> None:
    _only_malformed(parse_push_body, {"message": message})
    _only_malformed(
        parse_push_body, {"message": push_body(resmoio_pod_backoff())["message"] | message}
    )
    _only_malformed(parse_cloudevent, {"type": PUBSUB_TYPE}, envelope)


def test_deeply_nested_json_is_malformed_not_a_recursion_error() -> None:
    with pytest.raises(MalformedEventError):
        parse_push_body(b"[" * 100_000)
