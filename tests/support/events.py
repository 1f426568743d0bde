"""Build the triggers a function really receives: Eventarc Pub/Sub CloudEvents (binary mode).

Two payload formats ride inside: a jobwarden JobEvent (our exporter) and a
kubernetes-event-exporter Event (resmoio shape, notes/event-formats.md §2).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from jobwarden.jobevent import JobEvent, pubsub_attributes

TOPIC = "//pubsub.googleapis.com/projects/jobwarden-local/topics/job-events"


def eventarc(
    payload: bytes, *, message_id: str, attributes: dict[str, str] | None = None
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a binary-mode Eventarc CloudEvent POST carrying `payload`."""
    now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    message: dict[str, Any] = {
        "data": base64.b64encode(payload).decode(),
        "messageId": message_id,
        "message_id": message_id,
        "publishTime": now,
        "publish_time": now,
    }
    if attributes:
        message["attributes"] = attributes
    headers = {
        "ce-id": message_id,
        "ce-source": TOPIC,
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-specversion": "1.0",
        "ce-time": now,
        "Content-Type": "application/json",
    }
    body = {"message": message, "subscription": "projects/jobwarden-local/subscriptions/reporter"}
    return headers, json.dumps(body).encode()


def job_event(job: dict[str, Any], *, cluster: str, transition: str = "failed") -> JobEvent:
    """The JobEvent our exporter would publish for this Job's state."""
    meta, status = job["metadata"], job.get("status", {})
    failed = next(
        (
            c
            for c in status.get("conditions", [])
            if c["type"] == "Failed" and c["status"] == "True"
        ),
        {},
    )
    owner = next(
        (o["name"] for o in meta.get("ownerReferences", []) if o["kind"] == "CronJob"), None
    )
    return JobEvent.model_validate(
        {
            "cluster": cluster,
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta["uid"],
            "transition": transition,
            "reason": failed.get("reason", ""),
            "message": failed.get("message", ""),
            "time": failed.get("lastTransitionTime") or dt.datetime.now(dt.UTC).isoformat(),
            "status": {
                "conditions": status.get("conditions", []),
                "active": status.get("active", 0),
                "succeeded": status.get("succeeded", 0),
                "failed": status.get("failed", 0),
                "startTime": status.get("startTime"),
                "completionTime": status.get("completionTime"),
            },
            "owner": owner,
            "labels": meta.get("labels", {}),
        }
    )


def from_jobwarden(event: JobEvent, message_id: str) -> tuple[dict[str, str], bytes]:
    return eventarc(event.to_json(), message_id=message_id, attributes=pubsub_attributes(event))


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
