"""Events of a Job and its pods as one deduplicated timeline.

Both core/v1 Events and events.k8s.io/v1 Events are read through the core/v1 list
(the API server stores them once and serves both shapes); the scheduler's
events.k8s.io events arrive with no `count`, null first/last timestamps and
`eventTime`/`series` set, so times fall back eventTime -> lastTimestamp ->
firstTimestamp -> metadata.creationTimestamp. Repeats of the same reason on the
same object are merged, with their total count and first/last times.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jobwarden.jobevent import k8s_event_view
from jobwarden.kube.objects import JSON
from jobwarden.redact import redact_text

_MAX_MESSAGE = 1000


@dataclass(frozen=True)
class KubeEvent:
    """One Kubernetes Event, normalised from either API shape."""

    uid: str
    type: str
    reason: str
    message: str
    object_kind: str
    object_name: str
    object_uid: str
    count: int
    first: dt.datetime | None
    last: dt.datetime | None
    component: str

    @classmethod
    def from_json(cls, e: JSON) -> KubeEvent:
        """From an Event's JSON; the normalization is `jobevent.k8s_event_view`'s (one
        place for the events.k8s.io quirks), plus redaction and a length cap here."""
        if "involvedObject" not in e and "regarding" in e:  # events.k8s.io/v1 native shape
            e = {**e, "involvedObject": e["regarding"]}
        view = k8s_event_view(e)
        note = e.get("note")  # events.k8s.io's name for the message
        message = view.message or (note if isinstance(note, str) else "")
        return cls(
            uid=view.uid,
            type=view.type or "Normal",
            reason=view.reason,
            message=redact_text(message)[:_MAX_MESSAGE],
            object_kind=view.involved_kind,
            object_name=view.involved_name,
            object_uid=view.involved_uid,
            count=view.count,
            first=view.first_time,
            last=view.last_time,
            component=view.component,
        )

    @property
    def object(self) -> str:
        return f"{self.object_kind}/{self.object_name}"


@dataclass(frozen=True)
class TimelineEntry:
    """Events of one reason on one object, merged."""

    type: str
    reason: str
    object: str
    message: str  # the latest message
    count: int
    first: dt.datetime | None
    last: dt.datetime | None


_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)


def build_timeline(
    events: Iterable[KubeEvent], *, object_uids: set[str], types: Iterable[str] | None = None
) -> list[TimelineEntry]:
    """Merge the events of the given objects, keep `types`, and order them by first time."""
    wanted = set(types) if types is not None else None
    merged: dict[tuple[str, str, str], list[KubeEvent]] = {}
    seen: set[str] = set()
    for event in events:
        if event.object_uid not in object_uids or (wanted is not None and event.type not in wanted):
            continue
        if event.uid and event.uid in seen:
            continue
        seen.add(event.uid)
        merged.setdefault((event.object, event.reason, event.type), []).append(event)
    entries = []
    for (obj, reason, kind), group in merged.items():
        group.sort(key=lambda e: e.last or _EPOCH)
        firsts = [e.first for e in group if e.first]
        lasts = [e.last for e in group if e.last]
        entries.append(
            TimelineEntry(
                type=kind,
                reason=reason,
                object=obj,
                message=group[-1].message,
                count=sum(e.count for e in group),
                first=min(firsts) if firsts else None,
                last=max(lasts) if lasts else None,
            )
        )
    entries.sort(key=lambda t: (t.first or _EPOCH, t.object, t.reason))
    return entries


SEVERITY = {"Warning": 0, "Normal": 1}


def by_severity(entries: list[TimelineEntry]) -> list[TimelineEntry]:
    """Most severe first (Warning before Normal), then most frequent, then latest."""
    return sorted(
        entries,
        key=lambda t: (SEVERITY.get(t.type, 2), -t.count, -(t.last or _EPOCH).timestamp()),
    )


def parse_events(items: Iterable[Any]) -> list[KubeEvent]:
    return [KubeEvent.from_json(e) for e in items if isinstance(e, dict)]
