"""Delete a Job and what it leaves behind, and confirm it is gone.

The propagation policy is `Background` unless the request asks for `Foreground`, or
says `"propagationPolicy": "Orphan"` in so many words (a batch/v1 Job deleted without a
policy orphans its pods, so jobwarden always sends one). The delete carries a uid
precondition: it deletes the Job that was planned for, never a newer one of the same name.
Unless orphaning, pods still labelled with the Job's controller-uid afterwards are
deleted too (pods orphaned earlier, pods the garbage collector has not reached yet).
Then jobwarden polls until the Job and (unless orphaned) its pods are gone, or a timeout.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

from jobwarden.actions.common import (
    JSON,
    Sleep,
    delete_pods,
    pod_name,
    poll,
)
from jobwarden.errors import ConflictError, NotFoundError, StaleError
from jobwarden.kube import paths
from jobwarden.kube.objects import Job
from jobwarden.kubeapi import KubeApi

#: How long to wait for the Job and its pods to disappear.
CONFIRM_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class DeletePlan:
    namespace: str
    name: str
    uid: str
    propagation: str
    state: str
    pods: tuple[str, ...]
    owner_cronjob: str | None

    @property
    def orphan(self) -> bool:
        return self.propagation == "Orphan"

    def to_json(self) -> JSON:
        return {
            "propagationPolicy": self.propagation,
            "jobState": self.state,
            "pods": list(self.pods),
            "podsWill": (
                "be kept running without an owner (Orphan)" if self.orphan else "be deleted"
            ),
            "ownerCronJob": self.owner_cronjob,
        }

    @property
    def digest(self) -> str:
        """Fingerprint of what is deleted, and how: a confirmed call must delete the same."""
        what = [self.namespace, self.name, self.uid, self.propagation]
        return hashlib.sha256(json.dumps(what).encode()).hexdigest()[:32]

    def redacted(self) -> JSON:
        """What the ledger and the audit keep (nothing secret here)."""
        return {"action": "delete", "digest": self.digest, "name": self.name, **self.to_json()}

    @classmethod
    def gone(cls, namespace: str, name: str, uid: str, propagation: str) -> DeletePlan:
        """A resumed delete whose Job is already gone: finish removing its pods."""
        return cls(namespace, name, uid, propagation, "gone", (), None)


def plan_delete(api: KubeApi, job: JSON, *, propagation: str) -> DeletePlan:
    view = Job.from_json(job)
    pods = paths.job_pods(api, view)
    return DeletePlan(
        namespace=view.namespace,
        name=view.name,
        uid=view.uid,
        propagation=propagation,
        state=view.state,
        pods=tuple(pod_name(p) for p in pods),
        owner_cronjob=view.owner_cronjob,
    )


def _job_gone(api: KubeApi, plan: DeletePlan) -> bool:
    try:
        job = api.get(paths.job(plan.namespace, plan.name))
    except NotFoundError:
        return True
    return (job.get("metadata") or {}).get("uid") != plan.uid  # a new Job of the same name


def execute_delete(
    api: KubeApi,
    plan: DeletePlan,
    *,
    timeout: float = CONFIRM_TIMEOUT_SECONDS,
    sleep: Sleep = time.sleep,
) -> JSON:
    """Delete the Job with the plan's policy, remove leftover pods, wait until gone."""
    started = time.monotonic()
    options = {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "propagationPolicy": plan.propagation,
        "preconditions": {"uid": plan.uid},
    }
    try:
        api.delete(paths.job(plan.namespace, plan.name), options)
    except NotFoundError:
        pass  # already gone (a resumed call, or someone was quicker): confirm below
    except ConflictError as err:
        raise StaleError(
            f"job {plan.namespace}/{plan.name} was replaced by a new Job of the same name "
            "since the plan; nothing deleted"
        ) from err
    removed: list[str] = []

    def gone() -> tuple[bool, list[JSON]] | None:
        pods = paths.job_pods(api, plan)
        if not plan.orphan:
            removed.extend(delete_pods(api, pods))
        job_gone = _job_gone(api, plan)
        return (job_gone, pods) if job_gone and (plan.orphan or not pods) else None

    done = poll(gone, timeout=timeout, sleep=sleep)
    pods = paths.job_pods(api, plan)
    job_gone = done is not None or _job_gone(api, plan)
    pods_gone = not pods
    body: JSON = {
        "status": "deleted" if job_gone and (plan.orphan or pods_gone) else "deleting",
        "propagationPolicy": plan.propagation,
        "jobGone": job_gone,
        "podsGone": pods_gone,
        "removedPods": sorted(set(removed)),
        "waitedSeconds": round(time.monotonic() - started, 1),
    }
    if plan.orphan:
        body["orphanedPods"] = sorted(pod_name(p) for p in pods)
    else:
        body["remainingPods"] = sorted(pod_name(p) for p in pods)
    return body
