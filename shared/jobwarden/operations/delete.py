"""Delete a Job and its pods, with an explicit propagation policy, and confirm they are gone.

`Background` by default; `Foreground` on request; `Orphan` only when the request says so
(a batch/v1 Job deleted without a policy orphans its pods — the one mistake not to make).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jobwarden.errors import NotFoundError
from jobwarden.kubeapi import KubeApi
from jobwarden.operations.auth import ActionError, Permission
from jobwarden.views import CONTROLLER_UID_LABELS, Pod

JSON = dict[str, Any]
POLICIES = ("Background", "Foreground", "Orphan")
NEEDS = [
    Permission("get", "jobs", "batch"),
    Permission("delete", "jobs", "batch"),
    Permission("list", "pods"),
    Permission("delete", "pods"),
]
CONFIRM_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class DeletePlan:
    job: str
    uid: str
    policy: str
    pods: list[str]

    def describe(self) -> JSON:
        keep = " (kept: orphaned on request)" if self.policy == "Orphan" else ""
        return {
            "action": "delete",
            "job": self.job,
            "propagationPolicy": self.policy,
            "pods": self.pods,
            "note": f"deletes the Job and {len(self.pods)} pod(s){keep}",
        }


def policy_of(body: JSON) -> str:
    policy = body.get("propagationPolicy", "Background")
    if policy not in POLICIES:
        raise ActionError(400, f"propagationPolicy must be one of {', '.join(POLICIES)}")
    return str(policy)


def plan(job_json: JSON, pods: list[Pod], body: JSON) -> DeletePlan:
    meta = job_json["metadata"]
    return DeletePlan(str(meta["name"]), str(meta["uid"]), policy_of(body), [p.name for p in pods])


def _pods_left(api: KubeApi, namespace: str, uid: str) -> list[str]:
    items = api.get(
        f"/api/v1/namespaces/{namespace}/pods", labelSelector=f"{CONTROLLER_UID_LABELS[0]}={uid}"
    ).get("items", [])
    return [str(p["metadata"]["name"]) for p in items]


def execute(
    api: KubeApi, namespace: str, p: DeletePlan, *, sleep: Callable[[float], None] = time.sleep
) -> JSON:
    """Delete with the plan's policy, remove leftover pods, wait until all is gone."""
    path = f"/apis/batch/v1/namespaces/{namespace}/jobs/{p.job}"
    with contextlib.suppress(NotFoundError):
        api.delete(path, {"propagationPolicy": p.policy, "preconditions": {"uid": p.uid}})
    deadline = time.monotonic() + CONFIRM_TIMEOUT_S
    job_gone, left = False, p.pods
    while time.monotonic() < deadline:
        try:
            api.get(path)
        except NotFoundError:
            job_gone = True
        left = [] if p.policy == "Orphan" else _pods_left(api, namespace, p.uid)
        for pod in left:  # leftovers (e.g. pods the GC has not reached yet)
            with contextlib.suppress(NotFoundError):
                api.delete(
                    f"/api/v1/namespaces/{namespace}/pods/{pod}",
                    {"propagationPolicy": "Background"},
                )
        if job_gone and not left:
            break
        sleep(0.5)
    return {
        "status": "deleted" if job_gone and not left else "deleting",
        "job": p.job,
        "propagationPolicy": p.policy,
        "jobGone": job_gone,
        "podsLeft": left,
        "orphanedPods": p.pods if p.policy == "Orphan" else [],
    }
