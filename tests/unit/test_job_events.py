"""A Job's events are read object by object, not by listing the whole namespace.

In a namespace with thousands of Jobs (a burst), listing every event for each report made
the work per report grow with the namespace. `enrich.job_events` asks the API server for
the Job's events, then each of its pods' (live, and gone ones named by the Job's
`SuccessfulCreate` events); only a Job with many pods lists the namespace once. The
transport here answers like the API server's field selectors (the integration tier and
the recorded scenarios run the same reads on the real one).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jobwarden.enrich import TARGETED_EVENT_READS, job_events
from jobwarden.kube.objects import Job, Pod
from jobwarden.kubeapi import Credentials, KubeApi, Stream

SERVER = "https://10.0.0.1:6443"
NS = "batch"


def _event(uid: str, kind: str, name: str, obj_uid: str, reason: str, message: str) -> Any:
    return {
        "metadata": {"name": f"{name}.{uid}", "namespace": NS, "uid": uid},
        "involvedObject": {"kind": kind, "name": name, "namespace": NS, "uid": obj_uid},
        "reason": reason,
        "message": message,
        "type": "Normal",
        "count": 1,
        "firstTimestamp": "2026-12-01T00:00:00Z",
        "lastTimestamp": "2026-12-01T00:00:00Z",
    }


def _matches(event: Any, selector: str) -> bool:
    for term in filter(None, selector.split(",")):
        key, value = term.split("=", 1)
        field = key.removeprefix("involvedObject.")
        if event["involvedObject"].get(field) != value:
            return False
    return True


class _Events:
    """Answers GET …/events (with or without `fieldSelector`) from a list of events."""

    def __init__(self, events: list[Any]) -> None:
        self.events = events
        self.queries: list[str] = []

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float | None,
    ) -> tuple[int, bytes]:
        parts = urlsplit(url)
        assert parts.path == f"/api/v1/namespaces/{NS}/events", url
        selector = parse_qs(parts.query).get("fieldSelector", [""])[0]
        self.queries.append(selector)
        items = [e for e in self.events if _matches(e, selector)]
        return 200, json.dumps({"kind": "EventList", "metadata": {}, "items": items}).encode()

    def stream(
        self, method: str, url: str, *, headers: Mapping[str, str], timeout: float | None
    ) -> Stream:
        raise ConnectionError("no streams here")


def _job(name: str, uid: str) -> Job:
    return Job.from_json(
        {"metadata": {"name": name, "namespace": NS, "uid": uid}, "spec": {}, "status": {}}
    )


def _pod(name: str, uid: str) -> Pod:
    return Pod.from_json({"metadata": {"name": name, "namespace": NS, "uid": uid}, "status": {}})


def _namespace(pods_of_ours: int) -> list[Any]:
    """Our Job `etl` (uid j1) made `pods_of_ours` pods; a neighbour Job made 50."""
    events = []
    for i in range(pods_of_ours):
        events.append(
            _event(f"c{i}", "Job", "etl", "j1", "SuccessfulCreate", f"Created pod: etl-{i}")
        )
        events.append(_event(f"s{i}", "Pod", f"etl-{i}", f"p{i}", "Scheduled", "assigned"))
    for i in range(50):
        events.append(
            _event(f"nc{i}", "Job", "other", "j2", "SuccessfulCreate", f"Created pod: other-{i}")
        )
        events.append(_event(f"ns{i}", "Pod", f"other-{i}", f"q{i}", "Scheduled", "assigned"))
    return events


def test_the_events_of_a_job_and_its_live_and_gone_pods_come_without_the_neighbours() -> None:
    transport = _Events(_namespace(2))
    api = KubeApi(Credentials(server=SERVER, token="t"), transport=transport)
    # etl-0 is live; etl-1 is gone (only the Job's SuccessfulCreate still names it)
    events = job_events(api, _job("etl", "j1"), [_pod("etl-0", "p0")])
    assert sorted(e.involved_name for e in events) == ["etl", "etl", "etl-0", "etl-1"]
    assert transport.queries == [
        "involvedObject.uid=j1",
        "involvedObject.kind=Pod,involvedObject.name=etl-0",
        "involvedObject.kind=Pod,involvedObject.name=etl-1",
    ]


def test_a_job_with_many_pods_lists_the_namespace_once() -> None:
    many = TARGETED_EVENT_READS + 1
    transport = _Events(_namespace(many))
    api = KubeApi(Credentials(server=SERVER, token="t"), transport=transport)
    pods = [_pod(f"etl-{i}", f"p{i}") for i in range(many)]
    events = job_events(api, _job("etl", "j1"), pods)
    assert transport.queries == [""]  # one unfiltered list; the caller keeps its own
    assert len(events) == 2 * many + 100

    transport = _Events(_namespace(many))
    api = KubeApi(Credentials(server=SERVER, token="t"), transport=transport)
    job_events(api, _job("etl", "j1"), pods[:1])  # the pods are gone: the events name them
    assert transport.queries == ["involvedObject.uid=j1", ""]


def test_combined_created_events_fall_back_to_the_namespace_list() -> None:
    """After ten alike events the recorder folds the rest into one "(combined from similar
    events)" event naming only the last pod: the others can only be found by listing."""
    events = _namespace(3)
    events.append(
        _event("cc", "Job", "etl", "j1", "SuccessfulCreate",
               "(combined from similar events): Created pod: etl-2")
    )  # fmt: skip
    transport = _Events(events)
    api = KubeApi(Credentials(server=SERVER, token="t"), transport=transport)
    job_events(api, _job("etl", "j1"))
    assert transport.queries == ["involvedObject.uid=j1", ""]


def test_a_forged_created_event_cannot_smuggle_terms_into_a_field_selector() -> None:
    """Whoever may create Events can write any "Created pod: ..." on the Job: only names that
    are Kubernetes object names are read (the others would add selector terms)."""
    events = _namespace(1)
    events.append(
        _event("f1", "Job", "etl", "j1", "SuccessfulCreate",
               "Created pod: x,involvedObject.kind=Job")
    )  # fmt: skip
    transport = _Events(events)
    api = KubeApi(Credentials(server=SERVER, token="t"), transport=transport)
    job_events(api, _job("etl", "j1"))
    assert transport.queries == [
        "involvedObject.uid=j1",
        "involvedObject.kind=Pod,involvedObject.name=etl-0",
    ]
