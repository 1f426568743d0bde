"""The new Job of a restart: the old Job cleaned, renamed and (on request) given more memory.

- The object: the old Job without `status`, `uid`, `resourceVersion`, `creationTimestamp`,
  `managedFields` (and the other server-set metadata), without `spec.selector` /
  `spec.manualSelector`, without the controller-uid and job-name labels on the Job and its
  pod template (the API server gives it its own selector). A CronJob owner reference is
  kept (the run stays in the CronJob's history); other owners are dropped (their
  controllers did not ask for this Job). `kubectl`'s last-applied annotation is dropped.
- The name: `restart.newNamePattern` (`{name}-retry-{n}`) with the first free `n`, counted
  from the original name (restarting `x-retry-1` gives `x-retry-2`), cut to 63 characters.
- The memory: each container that was OOMKilled (in any pod of the old Job) gets its
  memory limit raised by `restart.memoryStep`, at most `restart.memoryCap`, and its request
  raised the same way but never above the new limit. When the template sets neither, the
  values the pod ran with (a LimitRange default) are the base. A container already at the
  cap is refused: more of the same would fail the same way.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

from jobwarden.actions.common import JSON
from jobwarden.config import RestartConfig
from jobwarden.errors import BadRequestError, ConfigError
from jobwarden.kube.labels import (
    CONFIRMATION,
    CONTROLLER_UID_LABELS,
    JOB_NAME_LABELS,
    LAST_APPLIED,
    MEMORY_RAISED,
    OOM_KILLED,
)
from jobwarden.quantities import format_memory, parse_memory

MAX_NAME = 63
_JOB_LABELS = (*CONTROLLER_UID_LABELS, *JOB_NAME_LABELS)
_SERVER_META = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "managedFields",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "finalizers",
    "generateName",
)
_DROP_ANNOTATIONS = (
    LAST_APPLIED,
    MEMORY_RAISED,
    CONFIRMATION,
)


@dataclass(frozen=True)
class MemoryChange:
    container: str
    field: str  # "limit" or "request"
    before: str
    after: str

    def to_json(self) -> JSON:
        return {
            "container": self.container,
            "field": self.field,
            "from": self.before,
            "to": self.after,
        }

    @classmethod
    def from_json(cls, data: JSON) -> MemoryChange:
        return cls(str(data["container"]), str(data["field"]), str(data["from"]), str(data["to"]))


def set_memory(manifest: JSON, changes: list[MemoryChange]) -> None:
    """Apply changes decided earlier (a resumed restart: the old pods may be gone by now)."""
    pod_spec = manifest["spec"]["template"].setdefault("spec", {})
    containers = {
        c.get("name"): c
        for c in (pod_spec.get("containers") or []) + (pod_spec.get("initContainers") or [])
    }
    for change in changes:
        container = containers.get(change.container)
        if container is None:
            continue
        section = "limits" if change.field == "limit" else "requests"
        container.setdefault("resources", {}).setdefault(section, {})["memory"] = change.after


def _split_pattern(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\{name\}|\{n\})", pattern)
    regex = "".join(
        "(?P<name>.+)" if p == "{name}" else "(?P<n>[0-9]+)" if p == "{n}" else re.escape(p)
        for p in parts
    )
    return re.compile(regex)


def base_name(name: str, pattern: str) -> str:
    """The original name: `x-retry-2` -> `x` (so restarts count up instead of nesting)."""
    if "{name}" not in pattern:
        return name
    match = _split_pattern(pattern).fullmatch(name)
    return match.group("name") if match else name


def next_name(old: str, pattern: str, taken: set[str]) -> str:
    """The first free `pattern` name (n = 1, 2, ...), the `{name}` part cut to fit 63 chars."""
    base = base_name(old, pattern)
    for n in range(1, 10_000):
        room = MAX_NAME - len(pattern.replace("{name}", "").replace("{n}", str(n)))
        if room < 1 and "{name}" in pattern:
            break
        cut = base[:room].rstrip("-.") or base[:1]
        name = pattern.replace("{name}", cut).replace("{n}", str(n))
        if name not in taken and name != old:
            return name
    raise BadRequestError(f"restart.newNamePattern {pattern!r} gives no free name of 63 chars")


def clean_manifest(job: JSON, *, new_name: str) -> JSON:
    """The old Job's JSON made into a new Job (see the module docstring)."""
    meta = job.get("metadata") or {}
    spec = copy.deepcopy(job.get("spec") or {})
    spec.pop("selector", None)
    spec.pop("manualSelector", None)
    template = spec.setdefault("template", {})
    template_meta = template.setdefault("metadata", {})
    labels = {k: v for k, v in (template_meta.get("labels") or {}).items() if k not in _JOB_LABELS}
    template_meta["labels"] = labels
    for key in ("uid", "resourceVersion", "creationTimestamp", "name", "namespace"):
        template_meta.pop(key, None)
    new_meta: JSON = {
        k: copy.deepcopy(v)
        for k, v in meta.items()
        if k not in _SERVER_META and k != "ownerReferences"
    }
    new_meta["name"] = new_name
    new_meta["labels"] = {
        k: v for k, v in (meta.get("labels") or {}).items() if k not in _JOB_LABELS
    }
    new_meta["annotations"] = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k not in _DROP_ANNOTATIONS
    }
    owners = [
        copy.deepcopy(o) for o in meta.get("ownerReferences") or [] if o.get("kind") == "CronJob"
    ]
    if owners:
        new_meta["ownerReferences"] = owners
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": new_meta, "spec": spec}


def oomkilled(pods: list[JSON]) -> dict[str, JSON]:
    """Containers that were OOMKilled in any pod -> their resources as that pod ran them."""
    found: dict[str, JSON] = {}
    for pod in pods:
        spec = pod.get("spec") or {}
        specs = {
            c.get("name"): c
            for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])
        }
        status = pod.get("status") or {}
        for s in (status.get("containerStatuses") or []) + (
            status.get("initContainerStatuses") or []
        ):
            reasons = {
                ((s.get("state") or {}).get("terminated") or {}).get("reason"),
                ((s.get("lastState") or {}).get("terminated") or {}).get("reason"),
            }
            if OOM_KILLED in reasons and s.get("name") not in found:
                found[str(s.get("name"))] = (specs.get(s.get("name")) or {}).get("resources") or {}
    return found


def raise_memory(
    manifest: JSON, pods: list[JSON], cfg: RestartConfig, job: str
) -> list[MemoryChange]:
    """Raise the memory of each OOMKilled container in `manifest` (in place); the changes."""
    oom = oomkilled(pods)
    if not oom:
        raise BadRequestError(
            f"increaseMemory: no container of job {job} was OOMKilled (or its pods are gone); "
            "restart without increaseMemory, or change the Job's resources yourself"
        )
    pod_spec = manifest["spec"]["template"].setdefault("spec", {})
    containers = {
        c.get("name"): c
        for c in (pod_spec.get("containers") or []) + (pod_spec.get("initContainers") or [])
    }
    cap = cfg.memory_cap
    changes: list[MemoryChange] = []
    for name, ran_with in sorted(oom.items()):
        container = containers.get(name)
        if container is None:
            continue
        resources = container.setdefault("resources", {})
        limit = (resources.get("limits") or {}).get("memory") or (ran_with.get("limits") or {}).get(
            "memory"
        )
        request = (resources.get("requests") or {}).get("memory") or (
            ran_with.get("requests") or {}
        ).get("memory")
        if not limit and not request:
            raise BadRequestError(
                f"container `{name}` was OOMKilled but has no memory limit or request to raise; "
                "set resources.limits.memory in the Job's template"
            )
        try:
            new_limit = None
            if limit:
                before = parse_memory(str(limit))
                new_limit = cfg.next_memory_limit(before)
                if new_limit <= before:
                    raise BadRequestError(
                        f"container `{name}` already has memory limit {limit}, at or above "
                        f"restart.memoryCap {cap}: raise memoryCap or make the program use less"
                    )
                resources.setdefault("limits", {})["memory"] = format_memory(new_limit)
                changes.append(MemoryChange(name, "limit", str(limit), format_memory(new_limit)))
            if request:
                before = parse_memory(str(request))
                grown = cfg.next_memory_limit(before)
                new_request = min(grown, new_limit) if new_limit is not None else grown
                if new_request <= before and new_limit is None:
                    raise BadRequestError(
                        f"container `{name}` already requests memory {request}, at or above "
                        f"restart.memoryCap {cap}: raise memoryCap or make the program use less"
                    )
                if new_request > before:
                    resources.setdefault("requests", {})["memory"] = format_memory(new_request)
                    changes.append(
                        MemoryChange(name, "request", str(request), format_memory(new_request))
                    )
        except ConfigError as err:
            raise BadRequestError(f"container `{name}`: {err}") from err
    return changes
