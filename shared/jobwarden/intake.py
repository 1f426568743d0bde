"""Event intake: every trigger a jobwarden function accepts, parsed into one `Trigger`.

Accepted (ARCHITECTURE.md §3.2):
  (a) an Eventarc Pub/Sub CloudEvent (`google.cloud.pubsub.topic.v1.messagePublished`),
      binary or structured mode: `parse_cloudevent(event.get_attributes(), event.data)`;
  (b) a raw Pub/Sub push body `{"message": {...}, "subscription": ...}`: `parse_push_body`;
  (c) a direct `dev.jobwarden.job.v1.<transition>` CloudEvent whose data is a JobEvent.
Inside (a)/(b) the base64 message data is a jobwarden JobEvent (it has `transition`) or a
kubernetes-event-exporter event (it has `involvedObject`; resmoio or opsgenie shape).

Kubernetes Events become triggers like this: a Job event names its Job directly; a Pod event
is joined to its Job through a `Job` ownerReference, else the job-name / controller-uid
labels. A Job Warning with a failure reason is transition `failed`, a Job Normal `Completed`
is `succeeded`, anything else is `event`. The cluster is `clusterName`, else the message
attribute `cluster`, else `default_cluster`.

`Trigger.event_id` is the id to deduplicate on: for a JobEvent its deterministic id
(`jobevent.event_id`, the same for a redelivery and for a second exporter replica); for a
Kubernetes Event `event_id(cluster, job uid, transition)` for a derived failed/succeeded
when the Job's uid is known, else `event_id(cluster, job uid or "", "event", <event uid or
message id or payload digest>, count)`.

Whatever the input, the parse functions return a Trigger or raise `MalformedEventError`
(permanent: acknowledge the message, never retry it), which names the message id and the
defect with a payload excerpt of at most 200 characters.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, Literal

import orjson
from pydantic import ValidationError

from jobwarden.errors import MalformedEventError, excerpt
from jobwarden.jobevent import (
    CLOUDEVENT_TYPE_PREFIX,
    JobEvent,
    Transition,
    event_id,
    identity_defect,
)
from jobwarden.kube.events import Event, event_view
from jobwarden.kube.labels import (
    COMPLETED,
    CONTROLLER_UID_LABELS,
    JOB_FAILURE_REASONS,
    JOB_NAME_LABELS,
)
from jobwarden.kube.objects import MAPPING_TYPES, text

PUBSUB_CLOUDEVENT_TYPE: Final = "google.cloud.pubsub.topic.v1.messagePublished"
SourceKind = Literal["jobwarden", "kubernetes-event-exporter"]
_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})
# isinstance() tuples as constants, like kube.objects.MAPPING_TYPES (why: see there)
_BYTES_OR_TEXT: Final = (bytes, bytearray, memoryview, str)


# Not frozen, on purpose: a frozen dataclass's __init__ sets each field through
# object.__setattr__; with kube.events.Event's, that was a fifth of parsing a message
# (bench/parse_events.py). Treat it as immutable all the same; it stays hashable.
@dataclass(slots=True, kw_only=True, unsafe_hash=True)
class Trigger:
    """One normalized trigger: which Job, in which cluster, what happened, and the evidence.

    `job_uid` is None when the input does not name it (a Pod event joined by job-name label
    only). `transition` is the JobEvent's, or derived from a Kubernetes Event (module doc);
    `reason`/`message`/`time` are the transition's or the Event's. `event_id` is the id to
    deduplicate on, `message_id` the Pub/Sub message id or CloudEvent id (for logs).
    `original` is the decoded JobEvent or Event JSON; `job_event` the validated JobEvent
    (jobwarden source); `k8s_event` the Event's view (exporter events, relayed `event`s).
    `owner` is the owning CronJob when known, `labels` the Job's labels when known, and
    `attributes` the Pub/Sub message attributes.
    """

    cluster: str
    namespace: str
    job: str
    job_uid: str | None
    transition: Transition
    reason: str
    message: str
    time: datetime | None
    event_id: str
    message_id: str | None
    source_kind: SourceKind
    original: Mapping[str, Any] = field(hash=False)
    k8s_event: Event | None = None
    job_event: JobEvent | None = field(default=None, hash=False)
    owner: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    attributes: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def subject(self) -> str:
        """`<namespace>/<job>`, the CloudEvent subject and log prefix."""
        return f"{self.namespace}/{self.job}"


def parse_cloudevent(
    attributes: Mapping[str, Any], data: Any, *, default_cluster: str = "default"
) -> Trigger:
    """Parse a CloudEvent (a Pub/Sub messagePublished, or a direct jobwarden JobEvent).

    `attributes` are the CloudEvent's context attributes and `data` its data as dict, bytes
    or str; binary and structured mode both arrive this way through functions-framework.
    """
    if not isinstance(attributes, MAPPING_TYPES):
        raise MalformedEventError(None, "CloudEvent attributes are not a mapping", attributes)
    ce_id = text(attributes.get("id")) or None
    ce_type = attributes.get("type")
    if ce_type == PUBSUB_CLOUDEVENT_TYPE:
        envelope = _object(data, ce_id, "CloudEvent data")
        return _from_envelope(envelope, ce_id, default_cluster)
    if isinstance(ce_type, str) and ce_type.startswith(CLOUDEVENT_TYPE_PREFIX):
        trigger = _from_job_event(_object(data, ce_id, "CloudEvent data"), ce_id, _EMPTY)
        if ce_type != CLOUDEVENT_TYPE_PREFIX + trigger.transition:
            raise MalformedEventError(
                ce_id,
                f"CloudEvent type {excerpt(ce_type, 80)} does not match the JobEvent's "
                f"transition {trigger.transition!r}",
            )
        return trigger
    raise MalformedEventError(
        ce_id,
        f"unsupported CloudEvent type {excerpt(ce_type, 80)} (expected "
        f"{PUBSUB_CLOUDEVENT_TYPE} or {CLOUDEVENT_TYPE_PREFIX}<transition>)",
    )


def parse_push_body(
    body: bytes | Mapping[str, Any], *, default_cluster: str = "default"
) -> Trigger:
    """Parse a raw Pub/Sub push body `{"message": {...}, "subscription": ...}` (JSON or dict)."""
    return _from_envelope(_object(body, None, "push body"), None, default_cluster)


def parse_pubsub_message(
    message: Mapping[str, Any], *, fallback_id: str | None = None, default_cluster: str = "default"
) -> Trigger:
    """Parse one Pub/Sub message `{"data": <base64>, "messageId", "attributes"?, ...}`."""
    if not isinstance(message, MAPPING_TYPES):
        raise MalformedEventError(fallback_id, "Pub/Sub message is not an object", message)
    mid = text(message.get("messageId")) or text(message.get("message_id")) or fallback_id
    attributes = message.get("attributes")
    if attributes is None:
        attributes = _EMPTY
    elif not isinstance(attributes, MAPPING_TYPES) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
    ):
        raise MalformedEventError(mid, "message.attributes is not an object of strings", attributes)
    raw = message.get("data")
    if not isinstance(raw, str) or not raw:
        defect = (
            "Pub/Sub message has no data" if raw in (None, "") else "message.data is not a string"
        )
        raise MalformedEventError(mid, defect, message)
    try:
        decoded = base64.b64decode(raw, validate=True)
    except ValueError as e:  # binascii.Error, or non-ASCII text
        raise MalformedEventError(mid, f"message.data is not valid base64 ({e})", raw) from e
    payload = _object(decoded, mid, "message data")
    if "involvedObject" in payload:
        return _from_k8s_event(payload, mid, attributes, default_cluster, decoded)
    if "transition" in payload:
        return _from_job_event(payload, mid, attributes)
    raise MalformedEventError(
        mid,
        "message data is neither a jobwarden JobEvent (no 'transition') nor a "
        "kubernetes-event-exporter event (no 'involvedObject')",
        payload,
    )


def _from_envelope(envelope: Mapping[str, Any], mid: str | None, default_cluster: str) -> Trigger:
    message = envelope.get("message")
    if not isinstance(message, MAPPING_TYPES):
        raise MalformedEventError(mid, "Pub/Sub envelope has no 'message' object", envelope)
    return parse_pubsub_message(message, fallback_id=mid, default_cluster=default_cluster)


def _object(data: object, mid: str | None, what: str) -> Mapping[str, Any]:
    """`data` as a JSON object: a mapping as is, bytes/str decoded as JSON."""
    value: object = data
    if isinstance(data, _BYTES_OR_TEXT):
        try:
            value = orjson.loads(data)
        except (ValueError, RecursionError) as e:
            raise MalformedEventError(mid, f"{what} is not JSON ({_clip(str(e), 80)})", data) from e
    if not isinstance(value, MAPPING_TYPES):
        raise MalformedEventError(mid, f"{what} is not a JSON object", value)
    return value


def _from_job_event(
    payload: Mapping[str, Any], mid: str | None, attributes: Mapping[str, str]
) -> Trigger:
    try:
        job_event = JobEvent.model_validate(payload)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in e.errors(include_url=False, include_input=False)[:3]
        )
        raise MalformedEventError(mid, f"invalid JobEvent: {_clip(problems, 300)}", payload) from e
    return Trigger(
        cluster=job_event.cluster,
        namespace=job_event.namespace,
        job=job_event.name,
        job_uid=job_event.uid,
        transition=job_event.transition,
        reason=job_event.reason,
        message=job_event.message,
        time=job_event.time,
        event_id=job_event.id,
        message_id=mid,
        source_kind="jobwarden",
        original=payload,
        k8s_event=None if job_event.event is None else event_view(job_event.event),
        job_event=job_event,
        owner=job_event.owner,
        labels=job_event.labels,
        attributes=attributes,
    )


def _from_k8s_event(
    payload: Mapping[str, Any],
    mid: str | None,
    attributes: Mapping[str, str],
    default_cluster: str,
    raw: bytes,
) -> Trigger:
    involved = payload.get("involvedObject")
    if not isinstance(involved, MAPPING_TYPES):
        raise MalformedEventError(
            mid, "Kubernetes Event's involvedObject is not an object", payload
        )
    view = event_view(payload)
    cluster = text(payload.get("clusterName")) or attributes.get("cluster") or default_cluster
    _require("cluster", cluster, "clusterName, attribute 'cluster' or the default", mid)
    namespace = view.involved_namespace or view.namespace
    kind, api_version = view.involved_kind, text(involved.get("apiVersion"))
    owner: str | None = None
    labels: Mapping[str, str] = _EMPTY
    name = view.involved_name or "(no name)"
    where = f"event about {kind} {namespace or '(no namespace)'}/{name}"
    if kind == "Job" and (not api_version or api_version.startswith("batch/")):
        job, job_uid = view.involved_name, view.involved_uid
        owner = _owner_name(involved, "CronJob")
        labels = _stringmapping(involved.get("labels"))
    elif kind == "Pod" and api_version in ("", "v1"):
        job, job_uid = _job_of_pod(involved, view, mid, where)
    else:
        raise MalformedEventError(
            mid,
            f"{where} ({api_version or 'no apiVersion'}) is not about a Job or a Pod",
            payload,
        )
    _require("namespace", namespace, where, mid)
    _require("name", job, where, mid)
    if job_uid:
        _require("uid", job_uid, where, mid)
    transition: Transition = "event"
    if kind == "Job" and view.type == "Warning" and view.reason in JOB_FAILURE_REASONS:
        transition = "failed"
    elif kind == "Job" and view.type == "Normal" and view.reason == COMPLETED:
        transition = "succeeded"
    if job_uid and transition != "event":
        dedupe_id = event_id(cluster, job_uid, transition)
    else:
        key = view.key or mid or hashlib.sha256(raw).hexdigest()
        dedupe_id = event_id(
            cluster, job_uid, "event", k8s_event_uid=key, k8s_event_count=view.count
        )
    return Trigger(
        cluster=cluster,
        namespace=namespace,
        job=job,
        job_uid=job_uid or None,
        transition=transition,
        reason=view.reason,
        message=view.message,
        time=view.last,
        event_id=dedupe_id,
        message_id=mid,
        source_kind="kubernetes-event-exporter",
        original=payload,
        k8s_event=view,
        owner=owner,
        labels=labels,
        attributes=attributes,
    )


def _job_of_pod(
    involved: Mapping[str, Any], view: Event, mid: str | None, where: str
) -> tuple[str, str]:
    """(job name, job uid or "") of a Pod: its Job ownerReference, else its labels."""
    refs = involved.get("ownerReferences")
    first: tuple[str, str] | None = None
    for ref in refs if isinstance(refs, list) else ():
        if not isinstance(ref, MAPPING_TYPES) or ref.get("kind") != "Job":
            continue
        name, api_version = ref.get("name"), ref.get("apiVersion")
        if not (isinstance(name, str) and name and isinstance(api_version, str)):
            continue
        if api_version.startswith("batch/"):
            found = (name, text(ref.get("uid")))
            if ref.get("controller") is True:
                return found
            first = first or found
    if first:
        return first
    labels = _stringmapping(involved.get("labels"))
    name = next((labels[k] for k in JOB_NAME_LABELS if labels.get(k)), "")
    if not name:
        why = (
            " (the Pod was deleted before the exporter looked it up)"
            if view.involved_deleted
            else ""
        )
        raise MalformedEventError(
            mid,
            f"{where} cannot be joined to a Job: no Job ownerReference and no job-name label{why}",
        )
    return name, next((labels[k] for k in CONTROLLER_UID_LABELS if labels.get(k)), "")


def _owner_name(involved: Mapping[str, Any], kind: str) -> str | None:
    refs = involved.get("ownerReferences")
    for ref in refs if isinstance(refs, list) else []:
        if isinstance(ref, MAPPING_TYPES) and ref.get("kind") == kind:
            name = text(ref.get("name"))
            if name and identity_defect("name", name) is None:
                return name
    return None


def _require(kind: str, value: str, where: str, mid: str | None) -> None:
    """Raise unless `value` is a valid identity of this kind (it ends up in storage paths)."""
    if not value:
        raise MalformedEventError(mid, f"{where} names no Job {kind}")
    defect = identity_defect(kind, value)
    if defect:
        raise MalformedEventError(mid, f"{where}: {defect}")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _stringmapping(value: object) -> Mapping[str, str]:
    if not isinstance(value, MAPPING_TYPES):
        return _EMPTY
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}
