"""The outcome of a restart or delete, as a report: stored and routed like every other.

A call that executed (first answer, retry or replay alike) makes one `jobRestart` or
`jobDelete` report on the Job it acted on (`<cluster>/<namespace>/<job>/<uid>/jobRestart/`),
with the deterministic id of the execution: the confirmation's id, the idempotency
record's id, or, without either, the intent's audit id. So a replayed call finds the report
stored and each webhook gets it once. Plans, dry runs and refusals make no report (they are
audited). `build_outcome` is pure; `report_outcome` stores and posts, and never fails the
action: the Job has been restarted or deleted whatever storage says.

A restart's report says which Job was created, what memory was raised, and that the new
Job's end will be reported linked to this one (`jobwarden.dev/retry-of`).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from jobwarden.actions.common import JSON, Action
from jobwarden.errors import JobwardenError
from jobwarden.names import WorkflowName
from jobwarden.publish import Published, publish, routing_of_metadata
from jobwarden.report import (
    Block,
    FieldItem,
    FieldsBlock,
    Report,
    Severity,
    TableBlock,
    report_id,
)
from jobwarden.runtime import Runtime, job_logger

log = logging.getLogger("jobwarden.actions")

WORKFLOW: dict[Action, WorkflowName] = {"restart": "jobRestart", "delete": "jobDelete"}


def memory_text(changes: list[JSON]) -> str:
    """`memory of `worker` raised 512Mi → 768Mi`: the limits (the requests follow them), or
    the requests when no limit was set."""
    limits = [c for c in changes if c.get("field") == "limit"]
    parts = [
        f"`{c.get('container')}` raised {c.get('from')} → {c.get('to')}" for c in limits or changes
    ]
    return "memory of " + ", ".join(parts) if parts else ""


def execution_key(details: JSON) -> str | None:
    """What identifies one execution: the confirmation, the idempotency record, the intent."""
    for key in ("confirmationId", "idempotencyId", "intentId"):
        value = details.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _restart(
    namespace: str, name: str, body: JSON, who: str
) -> tuple[Severity, str, str, list[Block]]:
    new: JSON = body.get("newJob") or {}
    changes = [c for c in body.get("memoryChanges") or [] if isinstance(c, dict)]
    memory = memory_text(changes)
    state = str(new.get("state") or "unknown")
    timed_out = bool(body.get("timedOut"))
    with_memory = f" with {memory}" if memory else ""
    if state == "failed":
        severity: Severity = "warning"
        now = "and it has failed already"
    elif timed_out:
        severity, now = (
            "warning",
            (f"it has no running pod after {body.get('followTimeoutSeconds')}s (still pending)"),
        )
    else:
        severity, now = "info", f"it is {state}"
    title = f"Job {namespace}/{name} restarted as {new.get('name')}{with_memory}: {now}"
    summary = (
        f"{who} restarted {namespace}/{name} as {new.get('name')}{with_memory}; {now}. "
        f"The old Job is kept as the record of the failed run. When {new.get('name')} "
        "ends, its success or failure is reported linked to this Job (jobwarden.dev/retry-of)."
    )
    fields = [
        FieldItem(name="Requested by", value=who),
        FieldItem(name="New Job", value=f"{namespace}/{new.get('name')}"),
        FieldItem(name="New Job uid", value=str(new.get("uid") or "-")),
        FieldItem(name="New Job state", value=str(new.get("detail") or state)),
        FieldItem(name="Memory", value=memory or "unchanged"),
        FieldItem(
            name="Old pods deleted", value=", ".join(body.get("deletedPods") or []) or "none"
        ),
    ]
    if body.get("ownerCronJob"):
        fields.append(FieldItem(name="CronJob", value=str(body["ownerCronJob"])))
    blocks: list[Block] = [FieldsBlock(title="Restart", fields=fields)]
    pods = [p for p in new.get("pods") or [] if isinstance(p, dict)]
    if pods:
        rows = [
            [str(p.get("name")), str(p.get("phase")), str(p.get("reason") or "-")] for p in pods
        ]
        blocks.append(
            TableBlock(title="Pods of the new Job", columns=["Pod", "Phase", "Reason"], rows=rows)
        )
    return severity, title, summary, blocks


def _delete(
    namespace: str, name: str, body: JSON, who: str
) -> tuple[Severity, str, str, list[Block]]:
    policy = str(body.get("propagationPolicy") or "Background")
    gone = body.get("status") == "deleted"
    removed = body.get("removedPods") or []
    if gone:
        severity: Severity = "info"
        what = "the Job is gone" + (
            " and its pods were kept (Orphan)" if policy == "Orphan" else ""
        )
    else:
        severity = "warning"
        left = body.get("remainingPods") or []
        what = f"still deleting after {body.get('waitedSeconds')}s" + (
            f" ({len(left)} pod(s) left)" if left else ""
        )
    title = f"Job {namespace}/{name} deleted ({policy}): {what}"
    summary = f"{who} deleted {namespace}/{name} with propagationPolicy {policy}: {what}."
    fields = [
        FieldItem(name="Requested by", value=who),
        FieldItem(name="Propagation policy", value=policy),
        FieldItem(name="Job gone", value="yes" if body.get("jobGone") else "no"),
        FieldItem(name="Pods gone", value="yes" if body.get("podsGone") else "no"),
        FieldItem(name="Pods removed", value=", ".join(removed) or "none"),
    ]
    if body.get("orphanedPods"):
        fields.append(FieldItem(name="Orphaned pods", value=", ".join(body["orphanedPods"])))
    return severity, title, summary, [FieldsBlock(title="Delete", fields=fields)]


def build_outcome(
    action: Action,
    *,
    cluster: str,
    namespace: str,
    name: str,
    uid: str,
    who: str,
    body: JSON,
    key: str,
    now: dt.datetime,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> Report:
    """The report of one executed action (pure); `key` identifies the execution."""
    build = _restart if action == "restart" else _delete
    severity, title, summary, blocks = build(namespace, name, body, who)
    workflow = WORKFLOW[action]
    source = f"{cluster}/{uid}/{action}/{key}"
    return Report(
        id=report_id(source, workflow),
        workflow=workflow,
        cluster=cluster,
        namespace=namespace,
        job=name,
        job_uid=uid,
        created_at=now,
        severity=severity,
        title=title,
        summary=summary,
        blocks=blocks,
        source_event_id=source,
        routing=routing_of_metadata(labels or {}, annotations or {}),
    )


def report_outcome(
    action: Action,
    runtime: Runtime,
    *,
    cluster: str,
    namespace: str,
    name: str,
    uid: str,
    who: str,
    body: JSON,
    details: JSON,
    job_meta: dict[str, Any] | None,
) -> Published | None:
    """Store and post the outcome report; None (logged) when there is no key or it failed."""
    key = execution_key(details)
    if key is None:
        return None
    meta = job_meta or {}
    report = build_outcome(
        action,
        cluster=cluster,
        namespace=namespace,
        name=name,
        uid=uid,
        who=who,
        body=body,
        key=key,
        now=runtime.clock(),
        labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
        annotations={str(k): str(v) for k, v in (meta.get("annotations") or {}).items()},
    )
    jlog = job_logger(cluster, namespace, name)
    try:
        return publish(report, runtime, jlog)
    except JobwardenError as err:  # the action is done: say so, do not undo the answer
        jlog.error(
            "%s done, but its report %s was not stored or posted: %s", action, report.id, err
        )
        return None
