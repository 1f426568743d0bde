"""What this exporter process knows: each Job's last state and what it already reported.

The watcher feeds every observation (list, watch event, relist after a gap) through a
`JobTracker`, which diffs it against the last known state of the same uid (so a relist
neither loses nor repeats a transition) and lets the once-only transitions (started,
succeeded, failed, stuck) through once per uid. `EventMemory` does the same for relayed
Kubernetes Events: an Event is relayed again only when its count went up.

Pure and thread-safe; nothing here talks to the cluster.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jobwarden.kube.events import event_key
from jobwarden.kube.objects import Job
from jobwarden_exporter.transitions import ONCE, Detected, detect, first_look, stuck, stuck_pod
from jobwarden_exporter.waitingpods import WaitingPod

_INDEXED_STEM = re.compile(r"(.+)-[0-9]+-")
_GENERATED_SUFFIX = 5  # random characters the API server appends to generateName
_MAX_GENERATE_NAME = 63 - _GENERATED_SUFFIX  # generateName is cut to this length


@dataclass
class _Entry:
    job: Job
    reported: set[str] = field(default_factory=set)


class JobTracker:
    """Last known state and reported transitions per Job uid (one process, one term)."""

    def __init__(
        self,
        *,
        stuck_after: dt.timedelta,
        on_new: Callable[[Job], object] = lambda _job: None,
    ) -> None:
        self.stuck_after = stuck_after
        self._on_new = on_new
        self._jobs: dict[str, _Entry] = {}
        self._names: dict[tuple[str, str], str] = {}  # (namespace, name) -> uid
        self._lock = threading.Lock()
        self.seen = 0  # distinct Job uids observed

    def __len__(self) -> int:
        return len(self._jobs)

    def observe(self, job: Job, *, startup: bool = False) -> list[Detected]:
        """A new state of `job` (watch event or list item); returns what to report.

        `startup`: the first list of this process; a Job seen there reports its latest
        state only (`first_look`). Otherwise a Job new to us reports its inferred history.
        """
        with self._lock:
            return self._observe(job, startup=startup)

    def _observe(self, job: Job, *, startup: bool) -> list[Detected]:
        entry = self._jobs.get(job.uid)
        if entry is None:
            entry = self._add(job)
            found = first_look(job) if startup else detect(None, job)
        else:
            found = detect(entry.job, job)
            entry.job = job
        return self._once(entry, found)

    def _add(self, job: Job) -> _Entry:
        entry = _Entry(job)
        self._jobs[job.uid] = entry
        self._names[(job.namespace, job.name)] = job.uid
        self.seen += 1
        self._on_new(job)
        return entry

    def _drop(self, uid: str) -> _Entry | None:
        entry = self._jobs.pop(uid, None)
        if entry is not None:
            key = (entry.job.namespace, entry.job.name)
            if self._names.get(key) == uid:
                del self._names[key]
        return entry

    @staticmethod
    def _once(entry: _Entry, found: Iterable[Detected]) -> list[Detected]:
        kept = []
        for detected in found:
            if detected.transition in ONCE:
                if detected.transition in entry.reported:
                    continue
                entry.reported.add(detected.transition)
            kept.append(detected)
        return kept

    def deleted(self, job: Job) -> list[Detected]:
        """`job` was deleted; `job` is its last state. Reports what it had not yet."""
        with self._lock:
            entry = self._drop(job.uid)
            previous = entry.job if entry is not None else None
            found = detect(previous, job, gone=True)
            return self._once(entry or _Entry(job), found)

    def sync(
        self, jobs: Iterable[Job], *, namespace: str | None, startup: bool
    ) -> list[tuple[Job, Detected]]:
        """A full list of the Jobs in `namespace` (None: all): reconcile against memory.

        Listed Jobs are observed; remembered Jobs of that scope missing from the list
        were deleted while we were not watching and are forgotten (reporting a terminal
        transition their last known state had announced).
        """
        found: list[tuple[Job, Detected]] = []
        with self._lock:
            listed = set()
            for job in jobs:
                listed.add(job.uid)
                found += [(job, d) for d in self._observe(job, startup=startup)]
            for uid, entry in list(self._jobs.items()):
                in_scope = namespace is None or entry.job.namespace == namespace
                if in_scope and uid not in listed:
                    self._drop(uid)
                    last = entry.job
                    found += [(last, d) for d in self._once(entry, detect(last, last, gone=True))]
        return found

    def due_stuck(self, now: dt.datetime) -> list[tuple[Job, Detected]]:
        """Jobs that just crossed the stuck threshold (each reported once per uid)."""
        found = []
        with self._lock:
            for entry in self._jobs.values():
                if "stuck" in entry.reported:
                    continue
                detected = stuck(entry.job, now=now, after=self.stuck_after)
                if detected is not None:
                    entry.reported.add("stuck")
                    found.append((entry.job, detected))
        return found

    def due_stuck_pod(
        self, waiting: WaitingPod, now: dt.datetime, after: dt.timedelta
    ) -> tuple[Job, Detected] | None:
        """`stuck` for the Job of a pod that waited past `after` (once per Job uid, shared
        with the run-too-long `stuck`); None if the Job is unknown, done or reported."""
        with self._lock:
            entry = self._jobs.get(waiting.job_uid)
            if entry is None or "stuck" in entry.reported:
                return None
            detected = stuck_pod(entry.job, waiting.pod, waiting.waiting, now=now, after=after)
            if detected is None:
                return None
            entry.reported.add("stuck")
            return entry.job, detected

    def job(self, uid: str) -> Job | None:
        with self._lock:
            entry = self._jobs.get(uid)
            return entry.job if entry else None

    def job_named(self, namespace: str, name: str) -> Job | None:
        with self._lock:
            uid = self._names.get((namespace, name))
            return self._jobs[uid].job if uid else None

    def job_of_pod(self, namespace: str, pod: str) -> Job | None:
        """The known Job whose pods are named like `pod` (generateName `<job>-[<index>-]`)."""
        with self._lock:
            names = _job_names_for_pod(pod)
            if len(pod) == _MAX_GENERATE_NAME + _GENERATED_SUFFIX:  # generateName was cut
                stem = pod[:_MAX_GENERATE_NAME]
                names += [
                    n for ns, n in self._names if ns == namespace and f"{n}-".startswith(stem)
                ]
            for name in sorted(names, key=len, reverse=True):
                uid = self._names.get((namespace, name))
                if uid is not None:
                    return self._jobs[uid].job
        return None


def _job_names_for_pod(pod: str) -> list[str]:
    stem = pod[:-_GENERATED_SUFFIX]
    if len(stem) < 2 or not stem.endswith("-"):
        return []
    names = [stem[:-1]]
    indexed = _INDEXED_STEM.fullmatch(stem)
    if indexed:
        names.append(indexed.group(1))
    return names


class EventMemory:
    """Kubernetes Events already relayed: identity -> (namespace, highest count relayed)."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[str, int]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._counts)

    def fresh(self, event: Mapping[str, Any]) -> bool:
        """True (and remembered) if this Event, at this count, was not relayed yet."""
        key, count = event_key(event)
        if not key:
            return False
        namespace = str((event.get("metadata") or {}).get("namespace") or "")
        with self._lock:
            if key in self._counts and self._counts[key][1] >= count:
                return False
            self._counts[key] = (namespace, count)
            return True

    def forget(self, event: Mapping[str, Any]) -> None:
        key, _ = event_key(event)
        with self._lock:
            self._counts.pop(key, None)

    def retain(self, events: Iterable[Mapping[str, Any]], *, namespace: str | None) -> None:
        """After a relist of `namespace` (None: all): forget Events that no longer exist."""
        keep = {event_key(e)[0] for e in events}
        with self._lock:
            for key, (ns, _) in list(self._counts.items()):
                if key not in keep and (namespace is None or ns == namespace):
                    del self._counts[key]
