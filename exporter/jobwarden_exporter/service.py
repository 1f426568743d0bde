"""One cluster's exporter as a service: preflight, leader election, the watch, the publisher.

`Exporter.start()` checks the permissions it needs (SelfSubjectAccessReview: one error
lists every missing verb, who lacks it (SelfSubjectReview) and the RBAC rules that grant
it), starts the publisher, and either campaigns for the Lease (the watch runs only
while leading) or, without a Lease, watches right away.
Each leadership term gets a fresh `JobWatch` whose first list reconciles the cluster.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from jobwarden.errors import ApiError, ApiUnavailableError, CredentialsError, PermanentError
from jobwarden.kube import paths
from jobwarden.kubeapi import KubeApi
from jobwarden_exporter.leader import LeaseConfig, LeaseElector
from jobwarden_exporter.metrics import Metrics
from jobwarden_exporter.publisher import BufferedPublisher
from jobwarden_exporter.watcher import JobWatch, WatchOptions

log = logging.getLogger("jobwarden.exporter")


class ExporterStartupError(PermanentError):
    """The exporter cannot start: missing permissions, topic or configuration (says how to fix)."""


@dataclass(frozen=True)
class Permission:
    verb: str
    group: str
    resource: str
    namespace: str | None  # None: cluster-wide
    name: str | None = None  # one object (the Lease): RBAC may grant it by resourceNames

    def __str__(self) -> str:
        what = f"{self.resource}.{self.group}" if self.group else self.resource
        named = f" named {self.name}" if self.name else ""
        where = f"in namespace {self.namespace}" if self.namespace else "cluster-wide"
        return f"`{self.verb}` on `{what}`{named} {where}"


def needed_permissions(options: WatchOptions, lease: LeaseConfig | None) -> list[Permission]:
    """Every verb the exporter uses: list/watch Jobs, CronJobs (and the Jobs' pods, and
    Events), get/create/update its Lease.

    `create` cannot be limited to a name by RBAC, so it is checked without one.
    """
    scopes: tuple[str | None, ...] = options.namespaces or (None,)
    needed = []
    for ns in scopes:
        needed += [Permission(v, "batch", "jobs", ns) for v in ("list", "watch")]
        if options.watch_pods:
            needed += [Permission(v, "", "pods", ns) for v in ("list", "watch")]
        if options.watch_cronjobs:
            needed += [Permission(v, "batch", "cronjobs", ns) for v in ("list", "watch")]
        if options.relay_events:
            needed += [Permission(v, "", "events", ns) for v in ("list", "watch")]
    if lease is not None:
        leases = ("coordination.k8s.io", "leases", lease.namespace)
        needed += [
            Permission("get", *leases, lease.name),
            Permission("create", *leases),
            Permission("update", *leases, lease.name),
        ]
    return needed


def whoami(api: KubeApi) -> str | None:
    """The username the API server sees for these credentials (SelfSubjectReview), if it says."""
    try:
        review = api.create(
            paths.SELF_SUBJECT_REVIEWS,
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
    except (ApiError, ApiUnavailableError) as err:  # before 1.28, or switched off: not vital
        log.debug("cannot tell who the exporter runs as (%s)", err)
        return None
    user = ((review.get("status") or {}).get("userInfo") or {}).get("username")
    return str(user) if user else None


def grant_hint(missing: list[Permission]) -> str:
    """The RBAC rules that grant exactly `missing`: a ClusterRole, or a Role per namespace."""
    scopes: dict[str | None, dict[tuple[str, str, str | None], list[str]]] = {}
    for p in missing:
        verbs = scopes.setdefault(p.namespace, {}).setdefault((p.group, p.resource, p.name), [])
        verbs.append(p.verb)
    hints = []
    for namespace, rules in scopes.items():
        text = []
        for (group, resource, name), verbs in rules.items():
            names = f", resourceNames: [{name}]" if name else ""
            api_group = group or "''"
            text.append(
                f"{{apiGroups: [{api_group}], resources: [{resource}], "
                f"verbs: [{', '.join(verbs)}]{names}}}"
            )
        where = "a ClusterRole + ClusterRoleBinding"
        if namespace:
            where = f"a Role + RoleBinding in namespace {namespace}"
        hints.append(f"{where} with rules: [{', '.join(text)}]")
    return "; and ".join(hints)


def preflight(
    api: KubeApi,
    options: WatchOptions,
    lease: LeaseConfig | None,
    extra: Sequence[Permission] = (),
) -> None:
    """Raise ExporterStartupError naming every permission the credentials lack, and whose.

    `extra`: what else the process needs with the same credentials (`jobwarden watch` runs
    the report workflows, which read Jobs, Pods and CronJobs)."""
    missing = []
    for permission in [*needed_permissions(options, lease), *extra]:
        attributes = {
            "verb": permission.verb,
            "group": permission.group,
            "resource": permission.resource,
        }
        if permission.namespace:
            attributes["namespace"] = permission.namespace
        if permission.name:
            attributes["name"] = permission.name
        try:
            review = api.create(
                paths.SELF_SUBJECT_ACCESS_REVIEWS,
                {
                    "apiVersion": "authorization.k8s.io/v1",
                    "kind": "SelfSubjectAccessReview",
                    "spec": {"resourceAttributes": attributes},
                },
            )
        except ApiError as err:  # reviews themselves refused: the watch will tell instead
            log.warning("cannot review permissions (%s); starting anyway", err)
            return
        except CredentialsError as err:
            raise ExporterStartupError(f"cluster {options.cluster}: cannot start: {err}") from err
        except ApiUnavailableError as err:
            raise ExporterStartupError(
                f"cluster {options.cluster}: cannot reach the API server to start ({err})"
            ) from err
        if not (review.get("status") or {}).get("allowed"):
            missing.append(permission)
    if missing:
        user = whoami(api)
        who = f" (running as {user})" if user else ""
        raise ExporterStartupError(
            f"the exporter for cluster {options.cluster}{who} lacks permissions: it needs "
            + "; ".join(str(p) for p in missing)
            + f". Grant them to {user or 'its ServiceAccount'} with {grant_hint(missing)}"
            " (the Helm chart infra/helm/jobwarden-exporter grants all it needs)"
        )


class Exporter:
    """Watch one cluster and publish its Jobs' transitions (start/stop; non-blocking)."""

    def __init__(
        self,
        api: KubeApi,
        publisher: BufferedPublisher,
        options: WatchOptions,
        *,
        lease: LeaseConfig | None = None,
        metrics: Metrics | None = None,
        extra_permissions: Sequence[Permission] = (),
    ) -> None:
        self.api = api
        self.extra_permissions = tuple(extra_permissions)
        self.publisher = publisher
        self.options = options
        self.metrics = metrics or publisher.metrics
        self.lease = lease
        self.elector = LeaseElector(api, lease) if lease else None
        self.watch: JobWatch | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.terms = 0
        self.metrics.set("is_leader", 0.0)

    def start(self, *, check: bool = True) -> Exporter:
        if check:
            preflight(self.api, self.options, self.lease, self.extra_permissions)
        self.publisher.start()
        if self.elector is None:
            self._begin()
        else:
            elector = self.elector
            self._thread = threading.Thread(
                target=elector.run,
                args=(self._stop,),
                kwargs={"on_started": self._begin, "on_stopped": self._end},
                name="exporter lease",
                daemon=True,
            )
            self._thread.start()
        return self

    def _begin(self) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            self.terms += 1
            self.watch = JobWatch(
                self.api, self.options, self.publisher.submit, metrics=self.metrics
            ).start()
            self.metrics.set("is_leader", 1.0)
        log.info("cluster %s: watching Jobs (term %d)", self.options.cluster, self.terms)

    def _end(self) -> None:
        with self._lock:
            if self.watch is not None:
                self.watch.stop()
                self.watch = None
            self.metrics.set("is_leader", 0.0)

    @property
    def is_leader(self) -> bool:
        return self.watch is not None

    def health(self) -> tuple[bool, str]:
        watch = self.watch
        if watch is not None:
            ok, reason = watch.health()
            buffered = len(self.publisher)
            if buffered:
                reason += f"; {buffered} JobEvents waiting to publish"
            return ok, reason
        if self.elector is not None and not self._stop.is_set():
            return True, f"standby (lease held by {self.elector.holder or 'nobody yet'})"
        return False, "not running"

    def wait_synced(self, timeout: float) -> bool:
        watch = self.watch
        return watch is not None and watch.wait_synced(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching, release the Lease, publish what is queued (up to `timeout` s)."""
        self._stop.set()
        self._end()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        self.publisher.stop(timeout=timeout)
