"""The exporter's start-up check: every missing permission named, with who lacks it and the fix."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from jobwarden.errors import NotFoundError
from jobwarden_exporter.leader import LeaseConfig
from jobwarden_exporter.service import ExporterStartupError, needed_permissions, preflight
from jobwarden_exporter.watcher import WatchOptions

USER = "system:serviceaccount:jobwarden:exporter"
LEASE = LeaseConfig("jobwarden", "exporter-lease", "pod-0")


class ReviewingApi:
    """Answers SelfSubjectAccessReviews from a set of allowed attribute tuples."""

    def __init__(self, allowed: set[tuple[str, ...]], *, knows_self: bool = True) -> None:
        self.allowed = allowed
        self.knows_self = knows_self
        self.reviews: list[dict[str, str]] = []

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if path.endswith("/selfsubjectreviews"):
            if not self.knows_self:
                raise NotFoundError("404", status=404, method="POST", path=path)
            return {"status": {"userInfo": {"username": USER}}}
        attributes = body["spec"]["resourceAttributes"]
        self.reviews.append(attributes)
        fields = ("verb", "group", "resource", "namespace", "name")
        key = tuple(attributes.get(k, "") for k in fields)
        return {"status": {"allowed": key in self.allowed}}


def everything(options: WatchOptions, lease: LeaseConfig | None) -> set[tuple[str, ...]]:
    return {
        (p.verb, p.group, p.resource, p.namespace or "", p.name or "")
        for p in needed_permissions(options, lease)
    }


def check(api: ReviewingApi, options: WatchOptions, lease: LeaseConfig | None) -> None:
    preflight(api, options, lease)  # type: ignore[arg-type]  # a fake at the KubeApi seam


def test_all_granted_starts_and_reviews_the_lease_by_its_name() -> None:
    options = WatchOptions(cluster="prod")
    api = ReviewingApi(everything(options, LEASE))
    check(api, options, LEASE)
    lease_reviews = [r for r in api.reviews if r["resource"] == "leases"]
    assert [(r["verb"], r.get("name")) for r in lease_reviews] == [
        ("get", "exporter-lease"),
        ("create", None),  # RBAC cannot limit create to a name
        ("update", "exporter-lease"),
    ]


def test_missing_permissions_are_named_with_the_user_and_the_rules_that_grant_them() -> None:
    options = WatchOptions(cluster="prod")
    granted = everything(options, LEASE) - {
        ("watch", "batch", "jobs", "", ""),
        ("update", "coordination.k8s.io", "leases", "jobwarden", "exporter-lease"),
    }
    with pytest.raises(ExporterStartupError) as caught:
        check(ReviewingApi(granted), options, LEASE)
    message = str(caught.value)
    assert message.startswith(f"the exporter for cluster prod (running as {USER}) lacks")
    assert "it needs `watch` on `jobs.batch` cluster-wide; `update` on" in message
    assert "`leases.coordination.k8s.io` named exporter-lease in namespace jobwarden" in message
    assert f"Grant them to {USER} with a ClusterRole + ClusterRoleBinding with rules: " in message
    assert "[{apiGroups: [batch], resources: [jobs], verbs: [watch]}]" in message
    assert (
        "a Role + RoleBinding in namespace jobwarden with rules: [{apiGroups: "
        "[coordination.k8s.io], resources: [leases], verbs: [update], "
        "resourceNames: [exporter-lease]}]"
    ) in message
    assert "`list` on `jobs.batch`" not in message


def test_per_namespace_watches_are_asked_per_namespace_and_core_events_read_as_such() -> None:
    options = WatchOptions(cluster="prod", namespaces=("batch", "etl"))
    granted = everything(options, None) - {("list", "", "events", "etl", "")}
    with pytest.raises(ExporterStartupError) as caught:
        check(ReviewingApi(granted, knows_self=False), options, None)
    message = str(caught.value)
    assert "running as" not in message  # a cluster that cannot say: no guess
    assert "`list` on `events` in namespace etl" in message
    assert "Grant them to its ServiceAccount with a Role + RoleBinding in namespace etl" in message
    assert "{apiGroups: [''], resources: [events], verbs: [list]}" in message


def test_a_missing_pod_watch_is_named_and_not_asked_when_pods_are_not_watched() -> None:
    options = WatchOptions(cluster="prod", namespaces=("batch",))
    granted = everything(options, None) - {("watch", "", "pods", "batch", "")}
    with pytest.raises(ExporterStartupError) as caught:
        check(ReviewingApi(granted, knows_self=False), options, None)
    message = str(caught.value)
    assert "it needs `watch` on `pods` in namespace batch" in message
    assert "a Role + RoleBinding in namespace batch with rules: [{apiGroups: [''], " in message
    assert "resources: [pods], verbs: [watch]}]" in message
    without = WatchOptions(cluster="prod", namespaces=("batch",), watch_pods=False)
    check(ReviewingApi(granted, knows_self=False), without, None)  # starts


def test_stuck_pod_after_comes_from_the_configuration_and_a_flag_wins() -> None:
    from jobwarden.config import parse_config
    from jobwarden_exporter.main import watch_options

    settings = parse_config({"exporter": {"stuckPodAfter": "90s"}}, source="test")
    assert watch_options(settings, "prod").stuck_pod_after == dt.timedelta(seconds=90)
    flag = watch_options(settings, "prod", stuck_pod_after=dt.timedelta(minutes=2))
    assert flag.stuck_pod_after == dt.timedelta(minutes=2)
    default = watch_options(parse_config({}, source="test"), "prod")
    assert default.stuck_pod_after == dt.timedelta(minutes=5) and default.watch_pods


def test_cronjobs_are_listed_and_watched_so_a_missing_verb_is_named_with_its_rule() -> None:
    options = WatchOptions(cluster="prod", namespaces=("batch",))
    granted = everything(options, None) - {("watch", "batch", "cronjobs", "batch", "")}
    with pytest.raises(ExporterStartupError) as caught:
        check(ReviewingApi(granted), options, None)
    message = str(caught.value)
    assert "it needs `watch` on `cronjobs.batch` in namespace batch." in message
    assert (
        "a Role + RoleBinding in namespace batch with rules: "
        "[{apiGroups: [batch], resources: [cronjobs], verbs: [watch]}]"
    ) in message


def test_an_exporter_told_not_to_watch_cronjobs_does_not_ask_for_them() -> None:
    options = WatchOptions(cluster="prod", watch_cronjobs=False)
    assert not [p for p in needed_permissions(options, None) if p.resource == "cronjobs"]
