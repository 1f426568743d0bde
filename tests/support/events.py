"""Build the triggers a function really receives: Eventarc Pub/Sub CloudEvents (binary mode).

Two payload formats ride inside: a jobwarden JobEvent (our exporter) and a
kubernetes-event-exporter Event (resmoio shape, ARCHITECTURE.md §4.2).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from jobwarden.jobevent import JobEvent, pubsub_attributes
from jobwarden.kube.objects import Job
from jobwarden_exporter.transitions import Detected
from jobwarden_exporter.watcher import job_event as exporter_job_event

TOPIC = "//pubsub.googleapis.com/projects/jobwarden-local/topics/job-events"


def eventarc(
    payload: bytes,
    *,
    message_id: str,
    attributes: dict[str, str] | None = None,
    now: dt.datetime | None = None,
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a binary-mode Eventarc CloudEvent POST carrying `payload`,
    published at `now` (default: the wall clock)."""
    now_text = (now or dt.datetime.now(dt.UTC)).isoformat().replace("+00:00", "Z")
    message: dict[str, Any] = {
        "data": base64.b64encode(payload).decode(),
        "messageId": message_id,
        "message_id": message_id,
        "publishTime": now_text,
        "publish_time": now_text,
    }
    if attributes:
        message["attributes"] = attributes
    headers = {
        "ce-id": message_id,
        "ce-source": TOPIC,
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-specversion": "1.0",
        "ce-time": now_text,
        "Content-Type": "application/json",
    }
    body = {"message": message, "subscription": "projects/jobwarden-local/subscriptions/reporter"}
    return headers, json.dumps(body).encode()


def job_event(
    job: dict[str, Any],
    *,
    cluster: str,
    transition: str = "failed",
    now: dt.datetime | None = None,
) -> JobEvent:
    """The JobEvent our exporter would publish for this Job's state (built by the exporter),
    detected at `now` (default: the wall clock) when the Job has no finished condition."""
    view = Job.from_json(job)
    done = view.failed_condition
    detected = Detected(
        transition,  # type: ignore[arg-type]
        done.reason if done else "",
        done.message if done else "",
        (done.last_transition if done else None) or now or dt.datetime.now(dt.UTC),
    )
    return exporter_job_event(cluster, view, detected)


def relayed_event(job: dict[str, Any], k8s_event: dict[str, Any], *, cluster: str) -> JobEvent:
    """The JobEvent our exporter publishes to relay a Kubernetes Event about `job`."""
    detected = Detected(
        "event",
        str(k8s_event.get("reason", "")),
        str(k8s_event.get("message", "")),
        dt.datetime.now(dt.UTC),
    )
    return exporter_job_event(cluster, Job.from_json(job), detected, event=k8s_event)


def from_jobwarden(
    event: JobEvent, message_id: str, now: dt.datetime | None = None
) -> tuple[dict[str, str], bytes]:
    return eventarc(
        event.to_json(), message_id=message_id, attributes=pubsub_attributes(event), now=now
    )


def from_event_exporter(
    k8s_event: dict[str, Any], involved: dict[str, Any], *, cluster: str, message_id: str
) -> tuple[dict[str, str], bytes]:
    """A resmoio kubernetes-event-exporter message: the Event + enriched involvedObject."""
    meta = involved["metadata"]
    payload = {
        **k8s_event,
        "clusterName": cluster,
        "involvedObject": {
            **k8s_event["involvedObject"],
            "labels": meta.get("labels", {}),
            "annotations": meta.get("annotations", {}),
            "ownerReferences": meta.get("ownerReferences", []),
            "deleted": False,
        },
    }
    return eventarc(json.dumps(payload).encode(), message_id=message_id)  # no attributes
