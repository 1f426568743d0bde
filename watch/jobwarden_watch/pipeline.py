"""The whole pipeline in one process: one exporter per cluster -> `LocalTopic` -> the workflows.

`Watch.start()` builds one `jobwarden.runtime.Runtime` (the configuration with the watched
clusters and the reports location put in), starts the delivery workers, then one exporter
per cluster, each through `jobwarden_exporter.service.Exporter` (so its preflight names any
missing verb, and an unreachable API server stops the start). Every delivery runs
`jobwarden.edge.handle_cloudevent`, the function edge itself; every report the workflows
store for the first time is announced (`on_report`), once: a report already stored (a
redelivery, a restart re-announcing finished Jobs) is not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobwarden.config import ClusterConfig, Settings
from jobwarden.errors import ConfigError
from jobwarden.names import WorkflowName
from jobwarden.report import IndexEntry, Report
from jobwarden.runtime import Runtime, registry_for
from jobwarden.sinks.storage import (
    IndexPage,
    IndexQuery,
    ReportAddress,
    ReportStore,
    StoreResult,
    open_store,
)
from jobwarden.subscriptions import FILTERS
from jobwarden_exporter.main import watch_options
from jobwarden_exporter.metrics import Metrics
from jobwarden_exporter.publisher import BufferedPublisher
from jobwarden_exporter.service import Exporter, ExporterStartupError, Permission
from jobwarden_watch.queue import TOPIC, LocalTopic

log = logging.getLogger("jobwarden.watch")


@dataclass(frozen=True)
class Target:
    """One cluster to watch: its name on reports, and how to reach it."""

    name: str
    kubeconfig: str | None = None  # None with in_cluster
    context: str | None = None
    in_cluster: bool = False

    def config(self) -> ClusterConfig:
        try:
            if self.in_cluster:
                return ClusterConfig(name=self.name, in_cluster=True)
            return ClusterConfig(name=self.name, kubeconfig=self.kubeconfig, context=self.context)
        except ValueError as err:
            raise ConfigError(
                f"cluster name {self.name!r} (from context {self.context or 'in-cluster'}): "
                f"{_first_line(err)}; name it with --cluster-name (a DNS label, like prod-eu)"
            ) from err


def _first_line(err: Exception) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return lines[-1] if lines else type(err).__name__


def report_permissions(namespaces: Sequence[str]) -> list[Permission]:
    """What the report workflows read besides the exporter's verbs (README: The functions'
    permissions): get Jobs and CronJobs, list Pods, in each watched namespace (or
    cluster-wide). Checked at start, so a missing verb stops `watch` with its name instead
    of failing every delivery. (`get pods/log` is not checked: a report says when logs are
    forbidden.)"""
    scopes: tuple[str | None, ...] = tuple(namespaces) or (None,)
    return [
        permission
        for ns in scopes
        for permission in (
            Permission("get", "batch", "jobs", ns),
            Permission("get", "batch", "cronjobs", ns),
            Permission("list", "", "pods", ns),
        )
    ]


class AnnouncingStore:
    """A `ReportStore` that calls `on_report` once per report it stores for the first time."""

    def __init__(self, inner: ReportStore, on_report: Callable[[Report, StoreResult], None]):
        self.inner = inner
        self.on_report = on_report

    @property
    def url(self) -> str:
        return self.inner.url

    def put_report(self, report: Report, *, index: bool = True) -> StoreResult:
        result = self.inner.put_report(report, index=index)
        if result.stored:
            try:
                self.on_report(report, result)
            except Exception:
                log.exception("could not announce report %s", report.id)
        return result

    def get_report(self, key: str) -> Report | None:
        return self.inner.get_report(key)

    def find_report(self, address: ReportAddress) -> Report | None:
        return self.inner.find_report(address)

    def read_index(self) -> list[IndexEntry]:
        return self.inner.read_index()

    def index_page(self, query: IndexQuery) -> IndexPage:
        return self.inner.index_page(query)

    def find_indexed(self, report_id: str) -> IndexEntry | None:
        return self.inner.find_indexed(report_id)

    def migrate_index(self) -> int:
        return self.inner.migrate_index()

    def put_json(self, key: str, obj: Any, *, only_if_absent: bool = False) -> bool:
        return self.inner.put_json(key, obj, only_if_absent=only_if_absent)

    def get_json(self, key: str) -> Any | None:
        return self.inner.get_json(key)

    def list(self, prefix: str = "") -> list[str]:
        return self.inner.list(prefix)

    def url_for(self, key: str) -> str:
        return self.inner.url_for(key)


def storage_url(reports: str) -> str:
    """`--reports`: a directory (made absolute: the pages and the terminal name real paths),
    a `file://` URL or a `gs://` URL."""
    if reports.startswith(("gs://", "file://")):
        return reports
    return f"file://{Path(reports).expanduser().resolve()}"


def watch_settings(settings: Settings, targets: Sequence[Target], reports: str) -> Settings:
    """The configuration with the watched clusters and the reports location put in."""
    sinks = settings.sinks.model_copy(
        update={"storage": settings.sinks.storage.model_copy(update={"url": storage_url(reports)})}
    )
    return settings.model_copy(update={"clusters": [t.config() for t in targets], "sinks": sinks})


class Watch:
    """Exporters + in-process queue + workflows (start / stop; non-blocking)."""

    def __init__(
        self,
        settings: Settings,
        targets: Sequence[Target],
        *,
        reports: str = "./reports",
        namespaces: Sequence[str] | None = None,
        on_report: Callable[[Report, StoreResult], None] = lambda _r, _s: None,
        base_url: str | None = None,
        env: Mapping[str, str] | None = None,
        workers: int = 2,
        watch_timeout: int = 300,
    ) -> None:
        if not targets:
            raise ConfigError("nothing to watch: name a cluster (--context or --in-cluster)")
        self.settings = watch_settings(settings, targets, reports)
        self.targets = list(targets)
        self.namespaces = list(namespaces or [])
        env = dict(env or {})
        self.runtime = Runtime(
            settings=self.settings, clusters=registry_for(self.settings, env), env=env
        )
        store = open_store(self.settings.sinks.storage.url, base_url=base_url)
        self.runtime._store = AnnouncingStore(store, on_report)
        self.topic = LocalTopic(FILTERS, self._handle, workers=workers)
        self.exporters: list[Exporter] = []
        self.watch_timeout = watch_timeout

    def _handle(
        self, workflow: WorkflowName, attributes: dict[str, Any], data: dict[str, Any]
    ) -> str:
        from jobwarden.edge import handle_cloudevent

        return handle_cloudevent(workflow, attributes, data, self.runtime)

    def start(self) -> Watch:
        """Check every cluster (reachable, permissions), then start; raises ExporterStartupError."""
        self.topic.start()
        try:
            for target in self.targets:
                api = self.runtime.clusters.client(target.name)
                options = watch_options(
                    self.settings,
                    target.name,
                    namespaces=self.namespaces,
                    watch_timeout=self.watch_timeout,
                )
                publisher = BufferedPublisher(
                    self.topic, TOPIC, metrics=Metrics(cluster=target.name)
                )
                exporter = Exporter(
                    api,
                    publisher,
                    options,
                    extra_permissions=report_permissions(options.namespaces),
                )
                exporter.start()
                self.exporters.append(exporter)
        except BaseException:
            self.stop()
            raise
        return self

    def health(self) -> tuple[bool, str]:
        """Every cluster's exporter health: ok only while all of them watch."""
        states = [(t.name, *e.health()) for t, e in zip(self.targets, self.exporters, strict=False)]
        if not states:
            return False, "not started"
        ok = all(good for _, good, _ in states)
        return ok, "; ".join(f"{name}: {reason}" for name, _, reason in states)

    def wait_synced(self, timeout: float) -> bool:
        return all(e.wait_synced(timeout) for e in self.exporters)

    def stop(self, timeout: float = 1.0) -> None:
        """Stop watching and delivering within about `timeout` seconds."""
        for exporter in self.exporters:
            exporter.stop(timeout=timeout / 2)
        self.topic.stop(timeout=timeout / 2)


__all__ = ["ExporterStartupError", "Target", "Watch"]
