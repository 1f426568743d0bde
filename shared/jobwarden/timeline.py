"""Events of a Job and its pods as one deduplicated timeline.

The Events are `jobwarden.kube.events.Event` views (how both API shapes are read is
told there). `parse_events` makes them fit for a report: the message redacted and cut
to 1000 characters, an Event of no type counted as Normal. Repeats of the same reason
on the same object are merged, with their total count and first/last times, and the
rows are ordered by their last time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from jobwarden.kube.events import Event, event_view
from jobwarden.redact import redact_text

_MAX_MESSAGE = 1000


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
    events: Iterable[Event], *, object_uids: set[str], types: Iterable[str] | None = None
) -> list[TimelineEntry]:
    """Merge the events of the given objects, keep `types`, and order them by last time (a
    merged row stands where it last happened: a BackOff repeated for an hour sorts at its
    latest occurrence, not at its first)."""
    wanted = set(types) if types is not None else None
    merged: dict[tuple[str, str, str], list[Event]] = {}
    seen: set[str] = set()
    for event in events:
        if event.involved_uid not in object_uids or (
            wanted is not None and event.type not in wanted
        ):
            continue
        if event.uid and event.uid in seen:
            continue
        seen.add(event.uid)
        merged.setdefault((event.involved, event.reason, event.type), []).append(event)
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
    entries.sort(key=lambda t: (t.last or t.first or _EPOCH, t.object, t.reason))
    return entries


SEVERITY = {"Warning": 0, "Normal": 1}


def by_severity(entries: list[TimelineEntry]) -> list[TimelineEntry]:
    """Most severe first (Warning before Normal), then most frequent, then latest."""
    return sorted(
        entries,
        key=lambda t: (SEVERITY.get(t.type, 2), -t.count, -(t.last or _EPOCH).timestamp()),
    )


def parse_events(items: Iterable[Any]) -> list[Event]:
    """Listed Events' JSON as views fit for a report (module doc); non-objects are skipped."""
    return [_for_report(event_view(e)) for e in items if isinstance(e, dict)]


def _for_report(event: Event) -> Event:
    return replace(
        event,
        type=event.type or "Normal",
        message=redact_text(event.message)[:_MAX_MESSAGE],
    )
