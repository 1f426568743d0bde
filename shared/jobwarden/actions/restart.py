"""Restart a finished Job: recreate it from its own spec under a new name, then follow it.

Only a Job that has finished (Failed or Complete) is restarted: deleting the pods of a
running Job would only make its controller replace them, beside a second copy.
The plan: the new Job (see `jobwarden.actions.newjob` for how it is made from the old one)
annotated `jobwarden.dev/restarted-from`, `-from-uid`, `restarted-by`, `retry-of` (the old
Job's uid, also as a label: the event announcing the retry's end carries it) and, for a confirmed
restart, `jobwarden.dev/confirmation` (the token's id: a resumed call recognises the Job
it already created). Execution, with a client that acts as the caller (impersonation): a
server-side dry run of the create (nothing is deleted unless the cluster, its admission
policies included, would accept the new Job from this caller), delete the old Job's remaining pods
(Background), create the new Job, follow it until it has active (or finished) pods or
`restart.followTimeoutSeconds` passed. The old Job stays, as the record of the failed run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from jobwarden.actions.common import (
    JSON,
    Clock,
    Sleep,
    delete_pods,
    pod_name,
)
from jobwarden.actions.newjob import (
    MemoryChange,
    clean_manifest,
    next_name,
    raise_memory,
    set_memory,
)
from jobwarden.config import RestartConfig
from jobwarden.errors import ConflictError, StaleError
from jobwarden.jobevent import rfc3339
from jobwarden.kube import paths
from jobwarden.kube.labels import (
    COMPLETE,
    CONFIRMATION,
    FAILED,
    MEMORY_RAISED,
    RESTARTED_BY,
    RESTARTED_FROM,
    RESTARTED_FROM_UID,
    RETRY_OF,
)
from jobwarden.kube.objects import Job
from jobwarden.kubeapi import KubeApi


@dataclass(frozen=True)
class RestartPlan:
    namespace: str
    old_name: str
    old_uid: str
    new_name: str
    manifest: JSON
    pods: tuple[str, ...]
    memory: tuple[MemoryChange, ...]
    owner_cronjob: str | None

    @property
    def digest(self) -> str:
        """Fingerprint of the object to create: a confirmed call must create the same."""
        text = json.dumps(self.manifest, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def to_json(self) -> JSON:
        return {
            "newName": self.new_name,
            "deletePods": list(self.pods),
            "memoryChanges": [m.to_json() for m in self.memory],
            "ownerCronJob": self.owner_cronjob,
            "object": self.manifest,
        }

    def redacted(self) -> JSON:
        """What the ledger and the audit keep: the digest and what a reviewer needs."""
        from jobwarden.actions.review import pod_template_summary

        return {
            "action": "restart",
            "digest": self.digest,
            "newName": self.new_name,
            "from": self.old_name,
            "fromUid": self.old_uid,
            "deletePods": list(self.pods),
            "memoryChanges": [m.to_json() for m in self.memory],
            "ownerCronJob": self.owner_cronjob,
            **pod_template_summary(self.manifest),
        }


def plan_restart(
    api: KubeApi,
    job: JSON,
    *,
    cfg: RestartConfig,
    increase_memory: bool,
    requested_by: str,
    confirmation_id: str | None = None,
    new_name: str | None = None,
    memory: list[MemoryChange] | None = None,
) -> RestartPlan:
    """What a restart of `job` would do. Refuses (409) a Job that has not finished.

    A resumed restart passes the `new_name` and `memory` changes decided the first time
    (the old pods, which showed the OOMKill, may be gone); its digest must come out the same.
    """
    view = Job.from_json(job)
    if not (view.condition(FAILED) or view.condition(COMPLETE)):
        raise StaleError(
            f"job {view.namespace}/{view.name} has not finished ({view.state}): only failed "
            "or completed Jobs are restarted; wait for it, or delete it",
            code="not_finished",
        )
    pods = paths.job_pods(api, view)
    if new_name is None:
        listed = api.get(paths.jobs(view.namespace)).get("items", [])
        taken = {str((j.get("metadata") or {}).get("name")) for j in listed}
        new_name = next_name(view.name, cfg.new_name_pattern, taken)
    manifest = clean_manifest(job, new_name=new_name)
    if memory is not None:
        set_memory(manifest, memory)
    elif increase_memory:
        memory = raise_memory(manifest, pods, cfg, f"{view.namespace}/{view.name}")
    else:
        memory = []
    notes = manifest["metadata"]["annotations"]
    notes[RESTARTED_FROM] = view.name
    notes[RESTARTED_FROM_UID] = view.uid
    notes[RESTARTED_BY] = requested_by
    notes[RETRY_OF] = view.uid
    manifest["metadata"].setdefault("labels", {})[RETRY_OF] = view.uid
    if confirmation_id:
        notes[CONFIRMATION] = confirmation_id
    if memory:
        notes[MEMORY_RAISED] = ", ".join(
            f"{m.container} {m.field} {m.before}->{m.after}" for m in memory
        )
    return RestartPlan(
        namespace=view.namespace,
        old_name=view.name,
        old_uid=view.uid,
        new_name=new_name,
        manifest=manifest,
        pods=tuple(pod_name(p) for p in pods),
        memory=tuple(memory),
        owner_cronjob=view.owner_cronjob,
    )


def dry_run(api: KubeApi, plan: RestartPlan) -> JSON:
    """The new Job as the API server would create it (server-side dry run: nothing changes)."""
    return api.request(
        "POST", paths.jobs(plan.namespace), body=plan.manifest, params={"dryRun": "All"}
    )


def _state(job: Job) -> str:
    if job.condition(FAILED):
        return "failed"
    if job.condition(COMPLETE):
        return "succeeded"
    return "active" if job.active or job.ready else "pending"


def follow(
    api: KubeApi, namespace: str, name: str, *, timeout: float, clock: Clock, sleep: Sleep
) -> tuple[list[JSON], Job, bool]:
    """Watch the Job until it has active or finished pods, or `timeout`.

    Returns (progress: each observed change with its time, the last Job view, timed out).
    """
    deadline = time.monotonic() + timeout
    progress: list[JSON] = []
    while True:
        job = Job.from_json(api.get(paths.job(namespace, name)))
        entry = {
            "at": rfc3339(clock()),
            "state": _state(job),
            "detail": job.state,
            "active": job.active,
            "ready": job.ready,
            "succeeded": job.succeeded,
            "failed": job.failed,
        }
        if not progress or {k: v for k, v in progress[-1].items() if k != "at"} != {
            k: v for k, v in entry.items() if k != "at"
        }:
            progress.append(entry)
        if entry["state"] != "pending":
            return progress, job, False
        if time.monotonic() >= deadline:
            return progress, job, True
        sleep(0.5)


def _pod_summary(pod: JSON) -> JSON:
    status = pod.get("status") or {}
    waiting = [
        ((s.get("state") or {}).get("waiting") or {}).get("reason")
        for s in status.get("containerStatuses") or []
    ]
    reason = next((w for w in waiting if w), status.get("reason") or "")
    return {"name": pod_name(pod), "phase": status.get("phase") or "Pending", "reason": reason}


def execute_restart(
    api: KubeApi,
    plan: RestartPlan,
    *,
    follow_timeout: float,
    clock: Clock,
    sleep: Sleep = time.sleep,
) -> JSON:
    """Delete the old Job's remaining pods, create the new Job, follow it; the answer's body."""
    # The cluster would accept the new Job: only then delete anything. If the name exists
    # already, the create below tells ours (a resumed call) from another's.
    with contextlib.suppress(ConflictError):
        dry_run(api, plan)
    deleted = delete_pods(api, paths.job_pods(api, paths.JobId(plan.namespace, plan.old_uid)))
    resumed = False
    try:
        created = api.create(paths.jobs(plan.namespace), plan.manifest)
    except ConflictError as err:
        existing = api.get(paths.job(plan.namespace, plan.new_name))
        ours = (plan.manifest["metadata"]["annotations"]).get(CONFIRMATION)
        theirs = ((existing.get("metadata") or {}).get("annotations") or {}).get(CONFIRMATION)
        if not ours or ours != theirs:
            raise StaleError(
                f"a Job named {plan.new_name} already exists in {plan.namespace} (created since "
                "the plan); ask for a new plan"
            ) from err
        created, resumed = existing, True
    progress, job, timed_out = follow(
        api, plan.namespace, plan.new_name, timeout=follow_timeout, clock=clock, sleep=sleep
    )
    pods = [_pod_summary(p) for p in paths.job_pods(api, job)]
    body: dict[str, Any] = {
        "status": "restarted",
        "newJob": {
            "name": plan.new_name,
            "uid": (created.get("metadata") or {}).get("uid"),
            "state": _state(job),
            "detail": job.state,
            "active": job.active,
            "succeeded": job.succeeded,
            "failed": job.failed,
            "pods": pods,
        },
        "deletedPods": deleted,
        "memoryChanges": [m.to_json() for m in plan.memory],
        "ownerCronJob": plan.owner_cronjob,
        "progress": progress,
        "timedOut": timed_out,
        "followTimeoutSeconds": follow_timeout,
    }
    if resumed:
        body["resumed"] = True
    return body
