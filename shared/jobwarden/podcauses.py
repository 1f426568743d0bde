"""Why did one pod fail or get stuck? Each cause in words a user can act on.

A pod's cause comes from its container states (OOMKilled, non-zero exit, image pull,
config error, crash loop), its own status (evicted, node lost), the scheduler's
PodScheduled condition (unschedulable), or, for a pod already deleted, the Warning events
it left. Every cause carries a one-line plain explanation and concrete next steps that
name the container, the image, the limit or the setting to change. `failure.analyse`
frames these with the Job's condition.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass

from jobwarden.enrich import NO_PROMETHEUS, LogTail, PodReport, Usage
from jobwarden.errors import ConfigError
from jobwarden.kube.events import Event
from jobwarden.kube.labels import (
    CONFIG_WAITING,
    CRASH_LOOP_BACK_OFF,
    DEADLINE_EXCEEDED,
    EVICTED,
    FAILED_SCHEDULING,
    IMAGE_PULL_WAITING,
    OOM_KILLED,
    OOM_KILLING,
)
from jobwarden.kube.objects import ContainerStatus, Job, Pod
from jobwarden.quantities import format_memory, parse_memory
from jobwarden.redact import redact_text
from jobwarden.report import inline_safe, literal

_IMAGE_PULL = IMAGE_PULL_WAITING
_CONFIG = CONFIG_WAITING


@dataclass(frozen=True)
class Cause:
    """One reason a pod (or the Job) failed, in words a user can act on."""

    code: str
    title: str
    explanation: str
    next_steps: tuple[str, ...]
    evidence: tuple[str, ...] = ()
    pod: str | None = None
    container: str | None = None

    @property
    def key(self) -> tuple[str, str | None, str]:
        """What makes two failures 'the same way' (same code, container and detail)."""
        return (self.code, self.container, self.title)


def fmt_seconds(delta: dt.timedelta | None) -> str:
    if delta is None:
        return "unknown"
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def _memory_step(limit: str | None, container: str) -> str:
    if not limit:
        return (
            f"Set a memory request and limit for container `{container}` sized from its peak use; "
            "without a limit it was killed by node memory pressure"
        )
    try:
        bigger = format_memory(int(parse_memory(limit) * 1.5))
    except ConfigError:
        return f"Raise the memory limit of container `{container}` above {limit}"
    return (
        f"Raise the memory limit of container `{container}` above {limit} "
        f"(for example to {bigger}), or reduce its memory use"
    )


def _image_pull(
    image: str, pod: str, message: str, container: str | None = None, reason: str = ""
) -> Cause:
    whose = f" of container `{container}`" if container else ""
    steps = [
        f"Check that {literal(image)} exists (name and tag) and that the registry is reachable",
        "If the registry is private, add or fix the pod's imagePullSecrets (a Secret of type "
        "kubernetes.io/dockerconfigjson in the Job's namespace)",
    ]
    if reason == "InvalidImageName":
        steps.insert(0, f"Fix the image reference {literal(image)}: it is not a valid name")
    return Cause(
        "ImagePull",
        f"Image {literal(image)}{whose} could not be pulled"
        + (f" ({inline_safe(reason)})" if reason else ""),
        "The node could not pull the container image, so the container never started.",
        tuple(steps),
        (message,) if message else (),
        pod,
        container,
    )


_SCHEDULER_HINTS = (
    ("insufficient", "Lower the pod's resource requests ({what}) or add nodes with that much free"),
    (
        "affinity/selector",
        "Relax the pod's nodeSelector or node affinity{selector}, or add a node that matches",
    ),
    (
        "untolerated taint",
        "Add a toleration for the node taint the scheduler names, or use untainted nodes",
    ),
    ("persistentvolumeclaim", "Create or bind the PersistentVolumeClaim the pod mounts"),
    ("volume node affinity", "Run the pod in the zone of its volume"),
    ("too many pods", "Free pod slots on the nodes or add nodes"),
)


def _unschedulable(job: Job, pod: str, why: str) -> Cause:
    """A pod the scheduler cannot place; the steps follow what the scheduler said."""
    selector = f" ({', '.join(f'{k}={v}' for k, v in job.node_selector.items())})"
    selector = selector if job.node_selector else ""
    lowered = why.lower()
    wanted = [m.group(1).rstrip(".") for m in re.finditer(r"insufficient ([\w./-]+)", lowered)]
    steps = [
        hint.format(what=", ".join(dict.fromkeys(wanted)) or "cpu, memory", selector=selector)
        for key, hint in _SCHEDULER_HINTS
        if key in lowered
    ]
    if not steps:
        steps = [
            "Relax the pod's nodeSelector, affinity or tolerations, "
            f"or add a node that matches{selector}",
            "Lower the resource requests if no node has that much free",
        ]
    said = f": {inline_safe(why, 120)}" if why else ""
    return Cause(
        "Unschedulable",
        f"Pod {pod} could not be scheduled{said}",
        "No node satisfies the pod's requirements, so it stays Pending; the scheduler's "
        "message says which requirement fails on how many nodes.",
        tuple(steps),
        (why,) if why else (),
        pod,
    )


def _log_evidence(logs: tuple[LogTail, ...], container: str) -> tuple[str, ...]:
    for tail in logs:
        if tail.container == container and tail.lines:
            lines = [tail.lines[i] for i in tail.error_lines] or list(tail.lines[-3:])
            return tuple(lines[-3:])
    return ()


#: A peak working set at least this share of the limit: the container reached its limit
#: (a scrape rarely catches the very last bytes before the kill).
NEAR_LIMIT = 0.9


def _oom(
    pod: Pod,
    name: str,
    limit: str | None,
    usage: Usage | None,
    usage_note: str,
) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """Explanation, next steps and evidence of an OOM kill: with a peak from Prometheus,
    whether the container hit its limit or the node ran out of memory."""
    step = _memory_step(limit, name)
    if usage is None or usage.memory_bytes is None:
        # without Prometheus the metrics.k8s.io part of the note says nothing of a peak
        why = usage_note.split("; ")[0] if usage_note.startswith(NO_PROMETHEUS) else usage_note
        why = why or "no usage was read"
        return (
            "The kernel killed the container because it used more memory than allowed. "
            f"Peak memory is unknown ({why}), so whether it hit its limit or the node ran "
            "out of memory cannot be told.",
            (step,),
            (),
        )
    peak = format_memory(usage.memory_bytes)
    node = pod.node or "its node"
    node_steps = (
        f"Check memory pressure on {node} at that time (`kubectl describe node {node}`) and "
        "the pods there without memory limits",
        f"Set a memory request for `{name}` near its peak ({peak}) so the scheduler keeps "
        "room for it",
    )
    if not limit:
        return (
            f"Peak memory {peak}, with no limit: the node ran out of memory and the kernel "
            "killed this container to free it.",
            (*node_steps, step),
            (f"peak memory {peak}, no limit (Prometheus)",),
        )
    try:
        share = usage.memory_bytes / parse_memory(limit)
    except (ConfigError, ZeroDivisionError):
        share = 1.0
    evidence = (f"peak memory {peak} of limit {limit} ({share:.0%}, Prometheus)",)
    if share >= NEAR_LIMIT:
        return (
            f"Peak memory {peak} of limit {limit} ({share:.0%}): the container hit its "
            "memory limit and the kernel killed it.",
            (step,),
            evidence,
        )
    return (
        f"Peak memory {peak} of limit {limit} ({share:.0%}), sampled at each scrape: well "
        "under its limit, so most likely the node ran out of memory and the kernel killed "
        "this container for the node (or a spike shorter than a scrape passed the limit).",
        (*node_steps, step),
        evidence,
    )


def _container_cause(
    job: Job,
    pod: Pod,
    status: ContainerStatus,
    logs: tuple[LogTail, ...],
    usage: Mapping[str, Usage] | None = None,
    usage_note: str = "",
) -> Cause | None:
    name = status.name
    spec = job.container(name)
    if status.state == "waiting" and status.reason in _IMAGE_PULL:
        return _image_pull(
            spec.image if spec else "?", pod.name, status.message, name, status.reason
        )
    if status.state == "waiting" and status.reason in _CONFIG:
        return Cause(
            "CreateContainerConfigError",
            f"Container `{name}` could not be created ({status.reason})",
            "The container's configuration refers to something missing, such as a Secret, "
            "ConfigMap or key.",
            (
                "Read the message and create the missing object or key: "
                + (literal(redact_text(status.message)) if status.message else "?"),
                "Check envFrom / valueFrom / volume references of the pod template",
            ),
            tuple(x for x in (status.message,) if x),
            pod.name,
            name,
        )
    if (
        status.state == "waiting"
        and status.reason == CRASH_LOOP_BACK_OFF
        and status.last_reason != OOM_KILLED
    ):
        evidence = _log_evidence(logs, name)
        code = status.last_exit_code
        hint = f": {inline_safe(evidence[-1], 200)}" if evidence else ""
        return Cause(
            CRASH_LOOP_BACK_OFF,
            f"Container `{name}` keeps crashing (CrashLoopBackOff, {status.restart_count} "
            f"restarts, last exit code {code if code is not None else '?'}){hint}",
            "The container exits soon after it starts and the kubelet restarts it with "
            "growing delays; it will not get better by waiting.",
            (
                f"Read the previous log of `{name}` in pod {pod.name} (`kubectl logs "
                f"{pod.name} -c {name} --previous`) for the error",
                "Fix the program, its command or its configuration, then restart the Job",
            ),
            (f"last exit code {code}", *evidence) if code is not None else evidence,
            pod.name,
            name,
        )
    oom = OOM_KILLED in (status.reason, status.last_reason)
    if oom:
        limit = spec.resources.limits.get("memory") if spec else None
        explanation, steps, peak = _oom(pod, name, limit, (usage or {}).get(name), usage_note)
        return Cause(
            OOM_KILLED,
            f"Container `{name}` ran out of memory (OOMKilled, limit {limit or 'none'})",
            explanation,
            steps,
            (
                f"exit code {status.exit_code or status.last_exit_code or 137}",
                *peak,
                *_log_evidence(logs, name),
            ),
            pod.name,
            name,
        )
    if status.reason == DEADLINE_EXCEEDED:
        return Cause(
            DEADLINE_EXCEEDED,
            f"Container `{name}` was stopped at the Job's deadline",
            "The Job's activeDeadlineSeconds passed while the container was running.",
            ("See the Job's deadline analysis",),
            (),
            pod.name,
            name,
        )
    if status.failed:
        code = status.exit_code if status.state == "terminated" else status.last_exit_code
        evidence = _log_evidence(logs, name)
        hint = f": {inline_safe(evidence[-1], 200)}" if evidence else ""
        return Cause(
            "NonZeroExit",
            f"Container `{name}` exited with code {code}{hint}",
            "The program in the container reported failure by exiting with a non-zero code.",
            (
                f"Read the log of `{name}` in pod {pod.name} for the error"
                + (" (the lines that look like it are shown)" if evidence else ""),
                "Fix the program or its input, then restart the Job",
            ),
            (f"exit code {code}", *evidence),
            pod.name,
            name,
        )
    return None


def pod_cause(
    job: Job, report: PodReport, pending_for_scheduling: str | None = None, usage_note: str = ""
) -> Cause | None:
    """The reason this pod failed or is stuck, or None if it did not."""
    pod = report.pod
    if pod.reason == EVICTED:
        return Cause(
            EVICTED,
            f"Pod {pod.name} was evicted from node {pod.node}",
            "The kubelet evicted the pod, usually because the node ran short of memory or disk.",
            (
                "Set resource requests that reflect real use so the pod lands on a node with room",
                "Check the node's pressure conditions at the time of eviction",
            ),
            (pod.message,) if pod.message else (),
            pod.name,
        )
    disrupted = pod.disrupted
    if pod.reason == "NodeLost" or (disrupted and disrupted.reason == "DeletionByTaintManager"):
        return Cause(
            "NodeLost",
            f"Pod {pod.name} was lost with its node {pod.node}",
            "The node stopped responding or was removed, and the pod was deleted with it.",
            (
                "Retry the Job; if nodes are preempted often, use podFailurePolicy to ignore "
                "DisruptionTarget failures so they do not count against backoffLimit",
            ),
            (disrupted.message,) if disrupted and disrupted.message else (),
            pod.name,
        )
    for status in pod.containers:
        cause = _container_cause(job, pod, status, report.logs, report.usage, usage_note)
        if cause:
            return cause
    if pod.phase == "Pending" and (pod.unschedulable or pending_for_scheduling):
        return _unschedulable(job, pod.name, pod.unschedulable or pending_for_scheduling or "")
    if pod.phase == "Failed":
        return Cause(
            "PodFailed",
            f"Pod {pod.name} failed ({pod.reason or 'no reason given'})",
            "The pod failed without a container reporting why.",
            ("Look at the pod's events in the timeline",),
            (pod.message,) if pod.message else (),
            pod.name,
        )
    return None


def event_causes(job: Job, events: tuple[Event, ...], known: set[str]) -> list[Cause]:
    """Causes of pods that are gone (deadline, GC), read from the Warning events they left."""
    causes: dict[str, Cause] = {}
    image = next((c.image for c in job.containers if not c.init), "?")
    for e in sorted(events, key=lambda e: e.last or dt.datetime.min.replace(tzinfo=dt.UTC)):
        if e.involved_kind != "Pod" or e.involved_name in known or e.type != "Warning":
            continue
        pod, text = e.involved_name, e.message
        if e.reason == FAILED_SCHEDULING:
            causes.setdefault(pod, _unschedulable(job, pod, text))
        elif "pull" in text.lower() and e.reason in ("Failed", "BackOff", "ErrImagePull"):
            causes[pod] = _image_pull(image, pod, text)
        elif e.reason in (OOM_KILLING, EVICTED):
            code = OOM_KILLED if e.reason == OOM_KILLING else EVICTED
            causes[pod] = Cause(
                code,
                f"Pod {pod}: {inline_safe(e.reason, 100)}",
                "The pod was killed for lack of memory on its node."
                if code == OOM_KILLED
                else "The kubelet evicted the pod, usually for node memory or disk pressure.",
                ("Set resource requests and limits that reflect real use",),
                (text,),
                pod,
            )
    return list(causes.values())
