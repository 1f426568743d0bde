"""What a function instance needs, built lazily once per process (cold start matters).

`Runtime` bundles the settings, the cluster registry, the report store and a
clock. Handlers receive it as an argument; `default_runtime()` builds it from
the environment (`JOBWARDEN_CONFIG`) on first use and caches it, so nothing
happens at import time and tests can pass their own.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jobwarden.cluster import ClusterRegistry, ClusterSpec
from jobwarden.config import Settings, load_config
from jobwarden.prometheus import Prometheus
from jobwarden.redact import redact_text

if TYPE_CHECKING:
    from jobwarden.sinks.storage import ReportStore

Clock = Callable[[], dt.datetime]
_MAX_LINE = 4000  # characters of one log line written by a JobLogger


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def registry_for(settings: Settings, env: Mapping[str, str]) -> ClusterRegistry:
    specs = []
    for c in settings.resolved_clusters(env):
        gke = c.gke.model_dump() if c.gke else None
        specs.append(
            ClusterSpec(
                name=c.name,
                kubeconfig=str(c.kubeconfig_path()) if c.kubeconfig else None,
                context=c.context,
                in_cluster=c.in_cluster,
                gke=gke,
            )
        )
    return ClusterRegistry(specs)


@dataclass
class Runtime:
    settings: Settings
    clusters: ClusterRegistry
    env: Mapping[str, str]
    clock: Clock = utcnow
    _store: ReportStore | None = field(default=None, repr=False)
    _usage: dict[str, Prometheus] = field(default_factory=dict, repr=False)
    #: The connection pool Prometheus queries go through (None: the process's own); tests
    #: replay recorded answers through it, as KubeApi's transport replays the API server's.
    prometheus_pool: Any = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Runtime:
        env = dict(os.environ if env is None else env)
        settings = load_config(env=env)
        return cls(settings=settings, clusters=registry_for(settings, env), env=env)

    @property
    def store(self) -> ReportStore:
        if self._store is None:
            from jobwarden.sinks.storage import open_store

            self._store = open_store(self.settings.sinks.storage.url)
        return self._store

    def usage_source(self, cluster: str) -> Prometheus | None:
        """Where reports on `cluster` read usage over time (`metrics.prometheus`), or None."""
        config = self.settings.metrics.prometheus
        if config is None:
            return None
        with _lock:
            if cluster not in self._usage:
                self._usage[cluster] = Prometheus(
                    config, cluster, env=self.env, clock=self.clock, pool=self.prometheus_pool
                )
            return self._usage[cluster]


_lock = threading.Lock()
_runtime: Runtime | None = None


def default_runtime() -> Runtime:
    """The process's runtime, built from the environment on first use."""
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = Runtime.from_env()
        return _runtime


class JobLogger(logging.LoggerAdapter[logging.Logger]):
    """Prefixes every line with `[cluster namespace/job]` (kopf-style), and redacts it:
    its arguments (errors, reasons) may quote the cluster (`jobwarden.redact`)."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        text = str(msg)
        if args:
            try:
                text = text % args
            except (TypeError, ValueError):
                text = " ".join([text, *map(str, args)])
        super().log(level, redact_text(text)[:_MAX_LINE], **kwargs)

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        prefix = self.extra.get("prefix", "") if self.extra else ""
        return (f"[{prefix}] {msg}" if prefix else msg), kwargs


def job_logger(cluster: str, namespace: str, job: str) -> JobLogger:
    return JobLogger(logging.getLogger("jobwarden"), {"prefix": f"{cluster} {namespace}/{job}"})


def set_default_runtime(runtime: Runtime | None) -> None:
    """Use `runtime` as the process's runtime (tests and local runners; None forgets it)."""
    global _runtime
    with _lock:
        _runtime = runtime
