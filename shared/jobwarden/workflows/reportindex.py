"""The cross-cluster index as a page people use (`job_reports`): rows of Job runs, on request.

`GET` with optional query parameters:

| parameter | meaning |
|---|---|
| `cluster`, `namespace` | only reports of this cluster, namespace |
| `severity` | only reports of this severity (`error`, `warning`, `info`) |
| `since`, `until` | RFC 3339 times (`2026-01-31T00:00:00Z`): reports made in this window |
| `cursor` | the next page, from the page's "Older runs" link (`nextCursor` in JSON) |
| `runs` | Job runs per page (1-200, default 50) |
| `format` | `html` (default) or `json` |

The page is read from storage (`ReportStore.index_page`: a listing of `index/`), never
kept: nothing is written. Authorized like the on-demand reports (`jobwarden.auth`): the
caller authenticates against each cluster whose rows could be shown (`cluster`, or every
configured cluster); clusters that do not accept the caller are left out and named; with
none, 401. Per cluster, one SubjectAccessReview `list jobs.batch` cluster-wide, and when
that is refused one per namespace met: rows in namespaces the caller may not list Jobs in,
or in protected namespaces, are left out. Errors are raised; the edge answers
`status_for(error)`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from jobwarden.auth import Caller, Permission, allowed, authenticate
from jobwarden.errors import BadRequestError, UnauthenticatedError
from jobwarden.httpapi import Answer, HttpRequest
from jobwarden.kube.paths import check_namespace_name, check_object_name
from jobwarden.render.index import FILTERS, SEVERITIES, render_index_html
from jobwarden.report import IndexEntry, job_runs
from jobwarden.runtime import Runtime
from jobwarden.sinks.storage import IndexQuery

LIST_JOBS = Permission("list", "jobs", "batch")
MAX_RUNS = 200


@dataclass(frozen=True)
class PageQuery:
    """The request's filters, checked."""

    cluster: str = ""
    namespace: str = ""
    severity: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    cursor: str = ""
    runs: int = 50
    fmt: str = "html"

    def filters(self) -> dict[str, str]:
        return {
            "cluster": self.cluster,
            "namespace": self.namespace,
            "severity": self.severity,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }


def _time(query: Mapping[str, str], name: str) -> dt.datetime | None:
    raw = query.get(name, "").strip()
    if not raw:
        return None
    try:
        when = dt.datetime.fromisoformat(raw)
    except ValueError as err:
        raise BadRequestError(
            f"{name}={raw[:40]!r} is not an RFC 3339 time (like 2026-01-31T00:00:00Z)"
        ) from err
    if when.tzinfo is None:
        raise BadRequestError(f"{name}={raw[:40]!r} has no time zone (add Z or +01:00)")
    return when.astimezone(dt.UTC)


def page_query(request: HttpRequest) -> PageQuery:
    """The filters a request asks for; BadRequestError names the one that is wrong."""
    q = request.query
    fmt = q.get("format", "html")
    if fmt not in ("html", "json"):
        raise BadRequestError(f"format {fmt[:20]!r} is not one of html, json")
    severity = q.get("severity", "")
    if severity and severity not in SEVERITIES:
        raise BadRequestError(f"severity {severity[:20]!r} is not one of {', '.join(SEVERITIES)}")
    try:
        runs = int(q.get("runs", "50"))
    except ValueError as err:
        raise BadRequestError("runs must be a whole number from 1 to 200") from err
    if not 1 <= runs <= MAX_RUNS:
        raise BadRequestError("runs must be a whole number from 1 to 200")
    cursor = q.get("cursor", "")
    if cursor and (len(cursor) > 300 or "/" in cursor):
        raise BadRequestError("cursor is not one this page made; follow its 'Older runs' link")
    cluster = q.get("cluster", "")
    namespace = q.get("namespace", "")
    return PageQuery(
        cluster=check_object_name(cluster, "cluster") if cluster else "",
        namespace=check_namespace_name(namespace) if namespace else "",
        severity=severity,
        since=_time(q, "since"),
        until=_time(q, "until"),
        cursor=cursor,
        runs=runs,
        fmt=fmt,
    )


@dataclass
class Visibility:
    """What the caller may see, asked of each cluster once per namespace, per request."""

    runtime: Runtime
    headers: Mapping[str, str]
    callers: dict[str, Caller] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)
    _answers: dict[tuple[str, str], bool] = field(default_factory=dict)

    def authenticate(self, clusters: list[str]) -> None:
        """Authenticate against each of `clusters`; 401 when none accepts the caller."""
        security = self.runtime.settings.security
        refused: UnauthenticatedError | None = None
        for name in clusters:
            api = self.runtime.clusters.client(name)
            try:
                self.callers[name] = authenticate(
                    api, self.headers, security=security, cluster=name
                )
            except UnauthenticatedError as err:
                refused = err
                self.left_out.append(name)
        if not self.callers:
            raise refused or UnauthenticatedError("no configured cluster to authenticate with")

    def may_see(self, cluster: str, namespace: str) -> bool:
        caller = self.callers.get(cluster)
        if caller is None:
            return False
        if namespace in self.runtime.settings.security.protected_namespaces:
            return False
        api = self.runtime.clusters.client(cluster)
        for where in ("", namespace):  # cluster-wide first: one review answers every row
            key = (cluster, where)
            if key not in self._answers:
                self._answers[key] = allowed(api, caller, where, LIST_JOBS)
            if self._answers[key]:
                return True
        return False


def _accept(query: PageQuery, seen: Visibility) -> Any:
    def accept(entry: IndexEntry) -> bool:
        return (
            (not query.cluster or entry.cluster == query.cluster)
            and (not query.namespace or entry.namespace == query.namespace)
            and (not query.severity or entry.severity == query.severity)
            and seen.may_see(entry.cluster, entry.namespace)
        )

    return accept


def serve_index(request: HttpRequest, runtime: Runtime) -> Answer:
    """Answer one request for the index page (HTML or JSON)."""
    query = page_query(request)
    configured = runtime.clusters.names
    if query.cluster and query.cluster not in configured:
        raise BadRequestError(
            f"cluster {query.cluster} is not configured (clusters: {', '.join(configured)})"
        )
    seen = Visibility(runtime, request.headers)
    seen.authenticate([query.cluster] if query.cluster else configured)
    store = runtime.store
    page = store.index_page(
        IndexQuery(
            since=query.since,
            until=query.until,
            after=query.cursor,
            runs=query.runs,
            accept=_accept(query, seen),
        )
    )
    filters = {k: v for k, v in query.filters().items() if v}
    next_href = None
    if page.next_cursor:
        params = {**filters, "runs": str(query.runs), "cursor": page.next_cursor}
        if query.fmt != "html":
            params["format"] = query.fmt
        next_href = "?" + urlencode(params)
    if query.fmt == "json":
        runs = [
            {
                "cluster": r.cluster,
                "namespace": r.namespace,
                "job": r.job,
                "jobUid": r.job_uid,
                "severity": r.severity,
                "cause": r.cause,
                "createdAt": r.created_at.isoformat(),
                "reports": [
                    {
                        "id": e.id,
                        "workflow": e.workflow,
                        "severity": e.severity,
                        "title": e.title,
                        "createdAt": e.created_at.isoformat(),
                        "url": store.url_for(e.path + ".html"),
                    }
                    for e in r.reports
                ],
            }
            for r in job_runs(page.entries)
        ]
        body = {"runs": runs, "nextCursor": page.next_cursor, "leftOut": seen.left_out}
        return Answer(200, json.dumps(body), "application/json")
    note = ""
    if seen.left_out:
        note = "left out (they did not accept your credentials): " + ", ".join(seen.left_out)
    html = render_index_html(
        page.entries,
        link=store.url_for,
        filters={k: v for k, v in query.filters().items() if k in FILTERS},
        next_href=next_href,
        note=note,
    )
    return Answer(200, html, "text/html; charset=utf-8")
