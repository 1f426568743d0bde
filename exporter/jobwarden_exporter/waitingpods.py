"""The pods of Jobs that wait in a state they will not leave on their own.

The exporter watches the pods of Jobs (label `batch.kubernetes.io/controller-uid`) only to
see this: a pod in ImagePullBackOff, CrashLoopBackOff, CreateContainerConfigError or
Unschedulable (`jobwarden.kube.objects.Pod.waiting`). `WaitingPods` remembers just those
pods (a pod that starts, finishes or is deleted is forgotten), so the memory it takes is
the number of stuck pods, not of pods. The watcher's ticker asks `due(now, after)` which
have waited long enough and announces their Job `stuck` (once per Job uid, in the tracker).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jobwarden.kube.labels import POD_SCHEDULED, STUCK_WAITING
from jobwarden.kube.objects import Pod, Waiting


def _may_wait(obj: Mapping[str, Any]) -> bool:
    """A cheap look at the raw pod: could `Pod.waiting` find something? (A container waiting
    in a stuck state, or PodScheduled False.) Saves building the view for every event."""
    status = obj.get("status") or {}
    for key in ("initContainerStatuses", "containerStatuses"):
        for container in status.get(key) or []:
            waiting = (container.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in STUCK_WAITING:
                return True
    return any(
        c.get("type") == POD_SCHEDULED and c.get("status") == "False"
        for c in status.get("conditions") or []
    )


@dataclass(frozen=True)
class WaitingPod:
    job_uid: str
    namespace: str
    pod: str
    waiting: Waiting


class WaitingPods:
    """pod uid -> the pod's stuck state, for pods of Jobs that wait (one term)."""

    def __init__(self) -> None:
        self._pods: dict[str, WaitingPod] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._pods)

    def observe(self, obj: Mapping[str, Any], *, now: dt.datetime) -> None:
        """A pod's new state (list item or watch event): remember it if it waits, else forget.

        A wait whose start the pod does not tell counts from `now` (its first sighting).
        """
        if not _may_wait(obj):  # most events: a pod that runs, ends or is being created
            self.forget(obj)
            return
        pod = Pod.from_json(dict(obj))
        waiting = pod.waiting
        with self._lock:
            if waiting is None or not pod.job_uid or not pod.uid:
                self._pods.pop(pod.uid, None)
                return
            known = self._pods.get(pod.uid)
            if waiting.since is None:
                same = known is not None and known.waiting.reason == waiting.reason
                since = known.waiting.since if same and known is not None else now
                waiting = Waiting(waiting.reason, waiting.message, waiting.container, since)
            self._pods[pod.uid] = WaitingPod(pod.job_uid, pod.namespace, pod.name, waiting)

    def forget(self, obj: Mapping[str, Any]) -> None:
        uid = str((obj.get("metadata") or {}).get("uid") or "")
        with self._lock:
            self._pods.pop(uid, None)

    def sync(
        self, items: Iterable[Mapping[str, Any]], *, namespace: str | None, now: dt.datetime
    ) -> None:
        """A full list of `namespace` (None: all): observe each, forget the pods not listed."""
        listed = set()
        for item in items:
            listed.add(str((item.get("metadata") or {}).get("uid") or ""))
            self.observe(item, now=now)
        with self._lock:
            for uid, known in list(self._pods.items()):
                if uid not in listed and (namespace is None or known.namespace == namespace):
                    del self._pods[uid]

    def due(self, now: dt.datetime, after: dt.timedelta) -> list[WaitingPod]:
        """The pods that have waited `after` or longer, longest first."""
        epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
        with self._lock:
            found = [
                p
                for p in self._pods.values()
                if p.waiting.since is not None and now - p.waiting.since >= after
            ]
        return sorted(found, key=lambda p: (p.waiting.since or epoch, p.pod))
