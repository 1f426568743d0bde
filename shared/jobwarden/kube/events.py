"""The one view of a Kubernetes Event, whoever hands it over.

Listed from the API (enrichment, performance), relayed inside a JobEvent by jobwarden's
exporter, or sent by kubernetes-event-exporter: every Event becomes an `Event` through
`event_view`, the one place for the differences between the API shapes.

core/v1 and events.k8s.io/v1 Events are the same objects served in two shapes. Read
through core/v1, the scheduler's events.k8s.io events arrive with no `count`, null
first/last timestamps and `eventTime`/`series` set; read natively they say `regarding`
for `involvedObject` and `note` for `message`. So `count` is `count`, else `series.count`,
else 1; `first` is firstTimestamp → eventTime → lastTimestamp → metadata.creationTimestamp;
`last` is series.lastObservedTime → eventTime → lastTimestamp → firstTimestamp →
metadata.creationTimestamp (unparseable times count as absent); `component` is
source.component, else reportingComponent / reportingController. Missing fields are empty:
the view never raises, whatever the JSON.

`event_view` runs once per message of a busy stream (bench/parse_events.py): it is
written flat, and `Event` is a slotted dataclass that is not frozen (a frozen dataclass's
__init__ sets each field through object.__setattr__: that was a fifth of parsing a
message). Treat an Event as immutable all the same; it is hashable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jobwarden.kube.objects import MAPPING_TYPES, first_time, mapping, positive_int, text


@dataclass(slots=True, kw_only=True, unsafe_hash=True)
class Event:
    """A Kubernetes Event, normalized from either API shape (see the module doc)."""

    uid: str
    name: str
    namespace: str
    type: str  # "Warning" / "Normal" ("" if the Event says neither)
    reason: str
    message: str
    count: int
    first: dt.datetime | None
    last: dt.datetime | None
    component: str
    involved_kind: str
    involved_namespace: str
    involved_name: str
    involved_uid: str
    involved_deleted: bool  # kubernetes-event-exporter: the object was gone when it looked

    @property
    def key(self) -> str:
        """The Event's identity: its uid, else `<namespace>/<name>`, else ""."""
        return _event_key(self.uid, self.namespace, self.name)

    @property
    def involved(self) -> str:
        """`<kind>/<name>` of the object the Event is about."""
        return f"{self.involved_kind}/{self.involved_name}"


def event_view(event: Mapping[str, Any]) -> Event:
    """The normalized view of a Kubernetes Event's JSON; lenient: missing fields are empty."""
    # Written flat (no helper call per field): it runs once per message of a busy stream.
    get = event.get
    meta, series = mapping(get("metadata")), None
    involved = get("involvedObject")
    if not isinstance(involved, MAPPING_TYPES):  # events.k8s.io's native shape
        involved = mapping(get("regarding"))
    first, last, event_time = get("firstTimestamp"), get("lastTimestamp"), get("eventTime")
    created = meta.get("creationTimestamp")
    count = positive_int(get("count"))
    observed = None
    if not count or "series" in event:
        series = mapping(get("series"))
        count = count or positive_int(series.get("count")) or 1
        observed = series.get("lastObservedTime")
    component = get("source")
    component = component.get("component") if isinstance(component, MAPPING_TYPES) else None
    if not (isinstance(component, str) and component):
        component = get("reportingComponent")
        if not (isinstance(component, str) and component):
            component = get("reportingController")
    return Event(
        uid=v if isinstance(v := meta.get("uid"), str) else "",
        name=v if isinstance(v := meta.get("name"), str) else "",
        namespace=v if isinstance(v := meta.get("namespace"), str) else "",
        type=v if isinstance(v := get("type"), str) else "",
        reason=v if isinstance(v := get("reason"), str) else "",
        message=v if isinstance(v := get("message"), str) and v else text(get("note")),
        count=count,
        first=first_time(first, event_time, last, created),
        last=first_time(observed, event_time, last, first, created),
        component=component if isinstance(component, str) else "",
        involved_kind=v if isinstance(v := involved.get("kind"), str) else "",
        involved_namespace=v if isinstance(v := involved.get("namespace"), str) else "",
        involved_name=v if isinstance(v := involved.get("name"), str) else "",
        involved_uid=v if isinstance(v := involved.get("uid"), str) else "",
        involved_deleted=involved.get("deleted") is True,
    )


def event_key(event: Mapping[str, Any] | None) -> tuple[str, int]:
    """(identity, count) of an Event's JSON without building its view: metadata.uid (else
    namespace/name) and `count` (else `series.count`, else 1); ("", 0) if it has no identity."""
    event = mapping(event)
    meta = mapping(event.get("metadata"))
    key = _event_key(text(meta.get("uid")), text(meta.get("namespace")), text(meta.get("name")))
    if not key:
        return "", 0
    series_count = positive_int(mapping(event.get("series")).get("count"))
    return key, positive_int(event.get("count")) or series_count or 1


def _event_key(uid: str, namespace: str, name: str) -> str:
    return uid or (f"{namespace}/{name}" if name else "")
