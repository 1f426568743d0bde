"""Events from both API shapes merge into one timeline, deduplicated, filtered, ordered."""

from __future__ import annotations

from jobwarden.kube.events import Event
from jobwarden.timeline import build_timeline, by_severity, parse_events

JOB_UID, POD_UID = "job-uid", "pod-uid"


def core(
    uid: str,
    reason: str,
    *,
    kind: str = "Pod",
    obj: str = POD_UID,
    count: int = 1,
    first: str = "2026-11-01T10:00:00Z",
    last: str = "2026-11-01T10:00:00Z",
    type_: str = "Normal",
    message: str = "m",
) -> dict[str, object]:
    return {
        "metadata": {"uid": uid, "creationTimestamp": first},
        "involvedObject": {"kind": kind, "name": f"{kind.lower()}-x", "uid": obj},
        "reason": reason,
        "message": message,
        "type": type_,
        "count": count,
        "firstTimestamp": first,
        "lastTimestamp": last,
        "source": {"component": "kubelet"},
    }


def test_scheduler_events_take_their_time_from_event_time() -> None:
    (event,) = parse_events(
        [
            {
                "metadata": {"uid": "e1", "creationTimestamp": "2026-11-01T09:59:00Z"},
                "involvedObject": {"kind": "Pod", "name": "p", "uid": POD_UID},
                "reason": "FailedScheduling",
                "type": "Warning",
                "note": "0/1 nodes are available",
                "eventTime": "2026-11-01T10:00:00.123456Z",
                "firstTimestamp": None,
                "lastTimestamp": None,
                "reportingComponent": "default-scheduler",
            }
        ]
    )
    assert event.count == 1
    assert event.first is not None and event.first.isoformat() == "2026-11-01T10:00:00.123456+00:00"
    assert event.message == "0/1 nodes are available"
    assert event.component == "default-scheduler"


def test_repeats_merge_with_total_count_and_first_last_times() -> None:
    events = parse_events(
        [
            core(
                "a",
                "BackOff",
                count=3,
                first="2026-11-01T10:00:00Z",
                last="2026-11-01T10:05:00Z",
                type_="Warning",
                message="old",
            ),
            core(
                "b",
                "BackOff",
                count=2,
                first="2026-11-01T10:06:00Z",
                last="2026-11-01T10:09:00Z",
                type_="Warning",
                message="new",
            ),
            core("b", "BackOff", count=2, type_="Warning"),  # the same event listed twice
            core("c", "SuccessfulCreate", kind="Job", obj=JOB_UID),
            core("d", "Other", obj="someone-else"),
        ]
    )
    timeline = build_timeline(events, object_uids={JOB_UID, POD_UID})
    assert [(t.object, t.reason) for t in timeline] == [
        ("Job/job-x", "SuccessfulCreate"),
        ("Pod/pod-x", "BackOff"),
    ]
    backoff = timeline[1]
    assert backoff.count == 5
    assert backoff.message == "new"
    assert backoff.first is not None and backoff.first.minute == 0
    assert backoff.last is not None and backoff.last.minute == 9


def test_type_filter_and_most_severe_first() -> None:
    events = parse_events(
        [
            core("a", "Pulled"),
            core("b", "Failed", type_="Warning", count=1),
            core("c", "BackOff", type_="Warning", count=4),
        ]
    )
    warnings = build_timeline(events, object_uids={POD_UID}, types=["Warning"])
    assert {t.type for t in warnings} == {"Warning"}
    ordered = by_severity(build_timeline(events, object_uids={POD_UID}))
    assert [t.reason for t in ordered] == ["BackOff", "Failed", "Pulled"]


def test_secret_in_an_event_message_is_redacted() -> None:
    (event,) = parse_events([core("a", "Failed", message="pull with password=hunter2 failed")])
    assert isinstance(event, Event)
    assert "hunter2" not in event.message


def test_merged_rows_stand_where_they_last_happened() -> None:
    events = parse_events(
        [
            core("a", "BackOff", type_="Warning", last="2026-11-01T10:01:00Z"),
            core(
                "b",
                "BackOff",
                type_="Warning",
                first="2026-11-01T10:20:00Z",
                last="2026-11-01T10:30:00Z",
            ),
            core("c", "Pulling", first="2026-11-01T10:10:00Z", last="2026-11-01T10:10:00Z"),
        ]
    )
    timeline = build_timeline(events, object_uids={POD_UID})
    assert [t.reason for t in timeline] == ["Pulling", "BackOff"]  # first seen 10:00, last 10:30
