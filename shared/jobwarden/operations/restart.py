"""Restart a Job: delete its remaining pods, recreate it from its own spec under a new name.

The old Job is kept (its report and history stay readable); its leftover pods are
deleted. The new Job is the old one's spec with everything the API server or the job
controller set stripped (DESIGN §3.5, notes/event-formats.md §1), a CronJob owner link
kept, and an annotation saying where it came from and who asked. After an OOMKilled
failure the caller may ask to raise the memory of the killed containers by
`restart.memoryStep`, never above `restart.memoryCap`.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jobwarden.config import RestartConfig
from jobwarden.errors import ConfigError, NotFoundError
from jobwarden.kubeapi import KubeApi
from jobwarden.operations.auth import ActionError, Permission
from jobwarden.quantities import format_memory, parse_memory
from jobwarden.views import CONTROLLER_UID_LABELS, JOB_NAME_LABELS, Job, Pod

JSON = dict[str, Any]
NEEDS = [
    Permission("get", "jobs", "batch"),
    Permission("create", "jobs", "batch"),
    Permission("list", "pods"),
    Permission("delete", "pods"),
]
_STRIP_META = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "managedFields",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
_STRIP_LABELS = (*CONTROLLER_UID_LABELS, *JOB_NAME_LABELS)
_STRIP_ANNOTATIONS = (
    "batch.kubernetes.io/job-tracking",
    "kubectl.kubernetes.io/last-applied-configuration",
)


@dataclass(frozen=True)
class RestartPlan:
    job: str
    new_name: str
    delete_pods: list[str]
    memory: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # container: old, new
    manifest: JSON = field(default_factory=dict)

    def describe(self) -> JSON:
        return {
            "action": "restart",
            "job": self.job,
            "newJob": self.new_name,
            "deletePods": self.delete_pods,
            "memory": {c: {"from": old, "to": new} for c, (old, new) in self.memory.items()},
        }


def next_name(pattern: str, name: str, taken: set[str]) -> str:
    """The first free `pattern` name ({name}, {n}), cut to the 63-character limit."""
    for n in range(1, 1000):
        suffix = pattern.format(name="", n=n)
        candidate = pattern.format(name=name[: 63 - len(suffix)], n=n).rstrip("-.")
        if candidate not in taken:
            return candidate
    raise ActionError(409, f"no free name for a restart of {name} (pattern {pattern})")


def clean_manifest(job: JSON, new_name: str, *, requested_by: str) -> JSON:
    """The Job to create: the old one's spec, minus what the system set."""
    old = copy.deepcopy(job)
    meta = old.get("metadata") or {}
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in _STRIP_LABELS}
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k not in _STRIP_ANNOTATIONS
    }
    annotations["jobwarden.dev/restarted-from"] = str(meta.get("name", ""))
    annotations["jobwarden.dev/restarted-by"] = requested_by
    new_meta: JSON = {
        k: v for k, v in meta.items() if k not in (*_STRIP_META, "name", "labels", "annotations")
    }
    new_meta.update(name=new_name, labels=labels, annotations=annotations)
    owners = [o for o in meta.get("ownerReferences") or [] if o.get("kind") == "CronJob"]
    if owners:
        new_meta["ownerReferences"] = owners
    else:
        new_meta.pop("ownerReferences", None)
    spec = old.get("spec") or {}
    spec.pop("selector", None)
    spec.pop("manualSelector", None)
    template_meta = (spec.get("template") or {}).get("metadata") or {}
    template_meta["labels"] = {
        k: v for k, v in (template_meta.get("labels") or {}).items() if k not in _STRIP_LABELS
    }
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": new_meta, "spec": spec}


def oom_killed(pods: list[Pod]) -> set[str]:
    return {
        c.name
        for p in pods
        for c in p.containers
        if c.reason == "OOMKilled" or c.last_reason == "OOMKilled"
    }


def raise_memory(
    manifest: JSON, containers: set[str], cfg: RestartConfig
) -> dict[str, tuple[str | None, str]]:
    """Raise the memory limit (and request, if above it) of `containers`; old and new."""
    changes: dict[str, tuple[str | None, str]] = {}
    cap = parse_memory(cfg.memory_cap)
    for c in manifest["spec"]["template"]["spec"].get("containers", []):
        if c.get("name") not in containers:
            continue
        resources = c.setdefault("resources", {})
        limits = resources.setdefault("limits", {})
        old = limits.get("memory") or (resources.get("requests") or {}).get("memory")
        if old is None:
            raise ActionError(
                400,
                f"container `{c['name']}` has no memory request or limit to raise; set one in the "
                "Job template instead",
            )
        try:
            current = parse_memory(str(old))
        except ConfigError as err:
            raise ActionError(400, f"container `{c['name']}`: {err}") from err
        if current >= cap:
            raise ActionError(
                409,
                f"container `{c['name']}` is already at {old}, the restart.memoryCap of "
                f"{cfg.memory_cap}: raise the cap or fix the memory use",
            )
        new = format_memory(cfg.next_memory_limit(current))
        limits["memory"] = new
        changes[str(c["name"])] = (str(old), new)
    return changes


def plan(
    api: KubeApi,
    job_json: JSON,
    pods: list[Pod],
    cfg: RestartConfig,
    *,
    user: str,
    increase_memory: bool,
) -> RestartPlan:
    job = Job.from_json(job_json)
    names = {
        str(j["metadata"]["name"])
        for j in api.get(f"/apis/batch/v1/namespaces/{job.namespace}/jobs").get("items", [])
    }
    new_name = next_name(cfg.new_name_pattern, job.name, names)
    manifest = clean_manifest(job_json, new_name, requested_by=user)
    memory: dict[str, tuple[str | None, str]] = {}
    if increase_memory:
        killed = oom_killed(pods)
        if not killed:
            raise ActionError(400, f"increaseMemory: no container of {job.name} was OOMKilled")
        memory = raise_memory(manifest, killed, cfg)
    leftovers = [p.name for p in pods if not p.deleted]
    return RestartPlan(job.name, new_name, leftovers, memory, manifest)


def execute(
    api: KubeApi,
    namespace: str,
    p: RestartPlan,
    cfg: RestartConfig,
    *,
    clock: Callable[[], dt.datetime],
    sleep: Callable[[float], None] = time.sleep,
) -> JSON:
    """Delete the leftover pods, create the new Job, follow it until it has pods running."""
    for pod in p.delete_pods:
        with contextlib.suppress(NotFoundError):
            api.delete(
                f"/api/v1/namespaces/{namespace}/pods/{pod}", {"propagationPolicy": "Background"}
            )
    created = api.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", p.manifest)
    progress: list[JSON] = []
    deadline = time.monotonic() + cfg.follow_timeout_seconds
    state = "created"
    while True:
        job = Job.from_json(api.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/{p.new_name}"))
        state = job.state
        if not progress or progress[-1]["state"] != state:
            progress.append({"time": clock().isoformat().replace("+00:00", "Z"), "state": state})
        if job.active or job.succeeded or job.failed_condition or job.condition("Complete"):
            break
        if time.monotonic() > deadline:
            state = f"no active pods after {cfg.follow_timeout_seconds}s ({state})"
            break
        sleep(0.5)
    return {
        "status": "restarted",
        "job": p.job,
        "newJob": p.new_name,
        "newJobUid": created["metadata"]["uid"],
        "deletedPods": p.delete_pods,
        "memory": {c: {"from": old, "to": new} for c, (old, new) in p.memory.items()},
        "state": state,
        "progress": progress,
    }
