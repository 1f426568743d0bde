"""Leader election with a coordination.k8s.io/v1 Lease, so two replicas do not both publish.

The algorithm is client-go's: a candidate reads the Lease; it takes it if nobody holds
it, if it holds it already, or if the holder's record (holderIdentity, renewTime) has
not changed for its `leaseDurationSeconds` *as measured on the candidate's own clock* (so
clock skew between replicas does not matter). Writes carry the Lease's resourceVersion,
so of two candidates racing for an expired Lease exactly one wins (the other gets 409).
The leader renews every `retry_period`; if it cannot renew within `renew_deadline` it
stops leading before anyone else may take over (renew_deadline < lease_duration). A
leader that stops cleanly releases the Lease (holderIdentity cleared) so a standby
takes over at its next try instead of waiting for expiry. Verbs: get, create, update.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jobwarden.errors import ConflictError, JobwardenError, NotFoundError
from jobwarden.kube import paths
from jobwarden.kubeapi import KubeApi

log = logging.getLogger("jobwarden.exporter")


@dataclass(frozen=True)
class LeaseConfig:
    namespace: str
    name: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError("need 0 < retry_period < renew_deadline < lease_duration")


def _micro_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaseElector:
    """Acquire, renew and release one Lease for one identity."""

    def __init__(
        self,
        api: KubeApi,
        config: LeaseConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.api = api
        self.config = config
        self._clock = clock
        self._wall = wall
        self._observed: tuple[str, str] | None = None  # (holder, renewTime) last seen
        self._observed_at = 0.0
        self.holder = ""  # the holder we last saw
        self.is_leader = False
        self._renewed_at = 0.0

    @property
    def path(self) -> str:
        c = self.config
        return paths.lease(c.namespace, c.name)

    def _spec(self, *, acquiring: bool, transitions: int) -> dict[str, Any]:
        now = _micro_time(self._wall())
        spec: dict[str, Any] = {
            "holderIdentity": self.config.identity,
            "leaseDurationSeconds": max(1, round(self.config.lease_duration)),
            "renewTime": now,
        }
        if acquiring:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = transitions
        return spec

    def try_acquire_or_renew(self) -> bool:
        """One attempt; True when this identity holds the Lease afterwards."""
        try:
            lease = self.api.get(self.path)
        except NotFoundError:
            return self._create()
        spec = lease.get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        record = (holder, str(spec.get("renewTime") or ""))
        now = self._clock()
        if record != self._observed:
            self._observed, self._observed_at = record, now
        self.holder = holder
        mine = holder == self.config.identity
        duration = float(spec.get("leaseDurationSeconds") or self.config.lease_duration)
        if holder and not mine and now - self._observed_at < duration:
            self.is_leader = False
            return False
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if mine else 1)
        lease["spec"] = {**spec, **self._spec(acquiring=not mine, transitions=transitions)}
        try:  # an update carries the resourceVersion we read: 409 if anyone wrote since
            updated = self.api.request("PUT", self.path, body=lease)
        except ConflictError:  # another candidate wrote first
            return False
        return self._won(updated, taken_from=None if mine else holder)

    def _create(self) -> bool:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.config.name, "namespace": self.config.namespace},
            "spec": self._spec(acquiring=True, transitions=0),
        }
        try:
            created = self.api.create(self.path.rsplit("/", 1)[0], body)
        except ConflictError:
            return False
        return self._won(created, taken_from="")

    def _won(self, lease: dict[str, Any], *, taken_from: str | None) -> bool:
        spec = lease.get("spec") or {}
        self._observed = (str(spec.get("holderIdentity") or ""), str(spec.get("renewTime") or ""))
        self._observed_at = self._renewed_at = self._clock()
        self.holder = self.config.identity
        if not self.is_leader:
            was = f" from {taken_from}" if taken_from else ""
            log.info(
                "%s acquired lease %s/%s%s",
                self.config.identity,
                self.config.namespace,
                self.config.name,
                was,
            )
        self.is_leader = True
        return True

    def release(self) -> None:
        """Give the Lease up if we hold it (a standby takes over at its next try)."""
        if not self.is_leader:
            return
        self.is_leader = False
        try:
            lease = self.api.get(self.path)
            if (lease.get("spec") or {}).get("holderIdentity") != self.config.identity:
                return
            spec = {
                k: v
                for k, v in lease["spec"].items()
                if k not in ("holderIdentity", "renewTime", "acquireTime")
            }
            self.api.request("PUT", self.path, body={**lease, "spec": spec})
            log.info("%s released lease %s", self.config.identity, self.config.name)
        except JobwardenError as err:
            log.warning("could not release lease %s: %s", self.config.name, err)

    def run(
        self,
        stop: threading.Event,
        *,
        on_started: Callable[[], None],
        on_stopped: Callable[[], None],
    ) -> None:
        """Campaign until `stop`: lead (calling on_started) while renewals succeed."""
        while not stop.is_set():
            if not self._attempt():
                stop.wait(self.config.retry_period)
                continue
            on_started()
            try:
                while not stop.wait(self.config.retry_period):
                    if self._attempt():
                        continue
                    if self._clock() - self._renewed_at >= self.config.renew_deadline:
                        log.error(
                            "%s lost lease %s (not renewed for %.0fs; holder now %r)",
                            self.config.identity,
                            self.config.name,
                            self._clock() - self._renewed_at,
                            self.holder,
                        )
                        self.is_leader = False
                        break
                    if self.holder and self.holder != self.config.identity:
                        self.is_leader = False
                        break
            finally:
                on_stopped()
        self.release()

    def _attempt(self) -> bool:
        try:
            return self.try_acquire_or_renew()
        except JobwardenError as err:
            log.warning("lease %s: %s", self.config.name, err)
            return False
