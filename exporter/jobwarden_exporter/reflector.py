"""List, then watch from the list's resourceVersion; relist whenever the watch cannot resume.

One `Reflector` keeps one collection (Jobs, or Events, of one namespace or all) in view:

- list (paged) -> `on_list(items, initial)`; remember the list's resourceVersion;
- watch from it (`allowWatchBookmarks`, so a quiet watch still advances the version)
  -> `on_event(type, object)` per ADDED / MODIFIED / DELETED;
- the server ends the watch after `timeoutSeconds` (expiry): watch again from the last
  version (no relist, nothing missed: the version is exactly where we were);
- 410 Gone (the version was compacted away), a broken stream or an unreachable API
  server (restart): relist, and the tracker diffs the list against what it knew;
- 403: logged with the missing permission, reported unhealthy, retried slowly.

`health()` says whether the collection is in view: listed once, and heard from within
`stale_after` seconds, with no error since.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from jobwarden.errors import ApiError, ApiUnavailableError, ForbiddenError
from jobwarden.kubeapi import KubeApi
from jobwarden_exporter.metrics import Metrics

log = logging.getLogger("jobwarden.exporter")
JSON = dict[str, Any]
PAGE = 500


class Reflector:
    def __init__(
        self,
        api: KubeApi,
        path: str,
        *,
        resource: str,
        on_list: Callable[[list[JSON], bool], None],
        on_event: Callable[[str, JSON], None],
        stop: threading.Event,
        metrics: Metrics,
        params: dict[str, str] | None = None,
        watch_timeout: int = 300,
        backoff: tuple[float, float] = (0.5, 10.0),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.path = path
        self.resource = resource
        self.on_list = on_list
        self.on_event = on_event
        self.stop = stop
        self.metrics = metrics
        self.params = dict(params or {})
        self.watch_timeout = watch_timeout
        self.backoff = backoff
        self._clock = clock
        self.resource_version: str | None = None
        self.synced = threading.Event()
        self.lists = 0
        self.watches = 0
        self.last_contact = 0.0
        self.error: str | None = None
        self.error_since = 0.0
        self._failures = 0

    # -- health ----------------------------------------------------------------
    @property
    def stale_after(self) -> float:
        return self.watch_timeout + 60.0

    def health(self) -> tuple[bool, str]:
        now = self._clock()
        if self.error is not None:
            return (
                False,
                f"{self.resource}: failing for {now - self.error_since:.0f}s: {self.error}",
            )
        if not self.synced.is_set():
            return False, f"{self.resource}: initial list not done yet"
        quiet = now - self.last_contact
        if quiet > self.stale_after:
            return False, f"{self.resource}: no word from the API server for {quiet:.0f}s"
        return True, f"{self.resource}: in sync (heard from {quiet:.0f}s ago)"

    def _contact(self) -> None:
        self.last_contact = self._clock()
        self.error = None
        self._failures = 0

    def _failed(self, reason: str, message: str) -> None:
        if self.error is None:
            self.error_since = self._clock()
        self.error = message
        self._failures += 1
        self.metrics.inc("watch_restarts_total", resource=self.resource, reason=reason)

    def _pause(self, slow: bool = False) -> None:
        low, high = self.backoff
        delay = high if slow else min(high, low * 2 ** max(0, self._failures - 1))
        self.stop.wait(delay)

    # -- the loop ---------------------------------------------------------------
    def run(self) -> None:
        while not self.stop.is_set():
            try:
                if self.resource_version is None:
                    self._list()
                self._watch()
            except ForbiddenError as err:
                log.error("%s: %s", self.resource, err)
                self.resource_version = None
                self._failed("forbidden", str(err))
                self._pause(slow=True)
            except (ApiUnavailableError, ApiError) as err:
                gone = getattr(err, "http_status", None) == 410
                if not gone:
                    log.warning("%s: %s; relisting", self.resource, err)
                self.resource_version = None
                self._failed("gone" if gone else "error", str(err))
                if not gone:
                    self._pause()
            except Exception as err:  # a thread's edge: log, relist, carry on
                log.exception("%s: unexpected error; relisting", self.resource)
                self.resource_version = None
                self._failed("bug", f"{type(err).__name__}: {err}")
                self._pause()

    def _list(self) -> None:
        items: list[JSON] = []
        token = ""
        while True:
            params: dict[str, str | int | bool] = {**self.params, "limit": PAGE}
            if token:
                params["continue"] = token
            page = self.api.get(self.path, **params)
            items += page.get("items") or []
            meta = page.get("metadata") or {}
            token = str(meta.get("continue") or "")
            if not token:
                break
        self.on_list(items, not self.synced.is_set())
        self.resource_version = str(meta.get("resourceVersion") or "")
        self.lists += 1
        self._contact()
        self.synced.set()

    def _watch(self) -> None:
        self.watches += 1
        stream = self.api.watch(
            self.path,
            timeout_seconds=self.watch_timeout,
            resourceVersion=self.resource_version or "",
            allowWatchBookmarks=True,
            **self.params,
        )
        for event in stream:
            if self.stop.is_set():
                return
            kind = str(event.get("type", ""))
            obj = event.get("object") or {}
            if kind == "ERROR":
                code = obj.get("code")
                message = str(obj.get("message", ""))[:300]
                raise ApiError(
                    f"WATCH {self.path}: {code} {obj.get('reason', '')} {message}",
                    status=int(code) if isinstance(code, int) else 500,
                    method="WATCH",
                    path=self.path,
                    reason=str(obj.get("reason", "")),
                )
            version = (obj.get("metadata") or {}).get("resourceVersion")
            if kind != "BOOKMARK":
                self.on_event(kind, obj)
            if version:
                self.resource_version = str(version)
            self._contact()
        self._contact()  # the server closed the watch after timeoutSeconds: resume from here
        self.metrics.inc("watch_restarts_total", resource=self.resource, reason="expired")
