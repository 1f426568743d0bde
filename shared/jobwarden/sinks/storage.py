"""Report storage behind one interface, for `file://<path>` and `gs://<bucket>/<prefix>`.

Layout under the store's root (ARCHITECTURE.md §3.6):

    <cluster>/<namespace>/<job>/<uid>/<workflow>/<report id>.{json,md,html} every report,
        created once, never rewritten; its `.json` is written last and marks it as stored.
        A Job run's reports are found by listing `<cluster>/<namespace>/<job>/<uid>/`.
    index/<yyyy>/<mm>/<dd>/<inverted millis>-<report id>.json   one entry per indexed
        report, created once (`jobwarden.sinks.index`); the cross-cluster index is a listing
    deliveries/..., runs/..., audit/..., cronjobs/...  other records, through `put_json`/
        `get_json` (`cronjobs/`: the failure reporter's run records, `workflows.streaks`)

No object is rewritten per report (Cloud Storage takes about one write per second to one
name): every write of a report creates a new name, with a create-only precondition. Writes
are idempotent by report id: storing a report whose id is already stored is a no-op
answering `already stored`. File writes are atomic (temp file + rename, exclusive create by
hard link); bucket writes are create-only with `if_generation_match=0`. Stores written
before the index was a listing (one `index.json`) get their entries with `migrate_index()`
(`jobwarden reports --migrate-index`). A storage outage raises `StorageUnavailableError`
(temporary: the platform retries); a bad store URL raises `ConfigError`. Top-level names
`index`, `index.json`, `index.html`, `deliveries`, `runs`, `audit` and `cronjobs` are
reserved (not usable as cluster names).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from jobwarden.errors import ConfigError, PermanentError
from jobwarden.report import IndexEntry, Report, canonical_json
from jobwarden.sinks.index import (
    DAY_LISTING_LIMIT,
    INDEX_PREFIX,
    cursor_of,
    day_prefixes,
    in_window,
    index_key,
    newest_first,
)

log = logging.getLogger(__name__)

RESERVED = ("index", "index.json", "index.html", "deliveries", "runs", "audit", "cronjobs")
#: The source of a report made on request (`<name>_http`) starts with this; not indexed.
ON_REQUEST_PREFIX = "request/"
_SEGMENT_BAD = re.compile(r"[^A-Za-z0-9._-]")
_KEY_SEGMENT = re.compile(r"^[^\x00-\x1f\\]+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
SUPPORTED = (
    "file://<path> (absolute, or relative to the working directory) or gs://<bucket>/<prefix>"
)


class Blobs(Protocol):
    """Byte storage under string keys: what a directory and a bucket both offer."""

    location: str

    def read(self, key: str) -> bytes | None: ...

    def write(
        self, key: str, data: bytes, *, content_type: str, only_if_absent: bool = False
    ) -> bool: ...

    def update(
        self, key: str, change: Callable[[bytes | None], bytes], *, content_type: str
    ) -> bytes: ...

    def list(self, prefix: str) -> list[str]: ...

    def url(self, key: str) -> str: ...


@dataclass(frozen=True)
class ReportAddress:
    """Where a report with a known id lives, before it is built: "was this already reported?"."""

    workflow: str
    cluster: str
    namespace: str
    job: str
    job_uid: str
    report_id: str

    @property
    def key(self) -> str:
        return report_key(
            self.cluster, self.namespace, self.job, self.job_uid, self.workflow, self.report_id
        )


@dataclass(frozen=True)
class IndexQuery:
    """Which index entries a page shows: a time window, a cursor, a filter, a size.

    `runs`: the page ends once it holds this many Job runs (uids) and the next entry is
    of another run. `accept`: entries it refuses are left out (filters, authorization).
    """

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    after: str = ""  # a cursor: `IndexPage.next_cursor` of the page before
    runs: int = 50
    accept: Callable[[IndexEntry], bool] = lambda _entry: True


@dataclass(frozen=True)
class IndexPage:
    """Index entries newest first, and the cursor of the next page (None: no more)."""

    entries: list[IndexEntry]
    next_cursor: str | None


@dataclass(frozen=True)
class StoreResult:
    """What storing one report did."""

    report_id: str
    stored: bool  # False: this report id was already stored, nothing was written
    key: str  # key stem of this report: <cluster>/<ns>/<job>/<uid>/<workflow>/<id>
    url: str  # where this report's HTML page is

    @property
    def status(self) -> Literal["stored", "already stored"]:
        return "stored" if self.stored else "already stored"


class ReportStore(Protocol):
    """Reports plus small JSON records, on a directory or a bucket."""

    @property
    def url(self) -> str: ...

    def put_report(self, report: Report, *, index: bool = True) -> StoreResult: ...

    def get_report(self, key: str) -> Report | None: ...

    def find_report(self, address: ReportAddress) -> Report | None: ...

    def read_index(self) -> list[IndexEntry]: ...

    def index_page(self, query: IndexQuery) -> IndexPage: ...

    def find_indexed(self, report_id: str) -> IndexEntry | None: ...

    def migrate_index(self) -> int: ...

    def put_json(self, key: str, obj: Any, *, only_if_absent: bool = False) -> bool: ...

    def get_json(self, key: str) -> Any | None: ...

    def list(self, prefix: str = "") -> list[str]: ...

    def url_for(self, key: str) -> str: ...


def segment(name: str) -> str:
    """One path segment from a cluster, namespace, job, uid or workflow name."""
    cleaned = _SEGMENT_BAD.sub("_", name.strip())[:200]
    if cleaned.startswith("."):  # no hidden names, no `.` or `..`
        cleaned = "_" + cleaned[1:]
    return cleaned or "_"


def run_prefix(cluster: str, namespace: str, job: str, job_uid: str) -> str:
    """`<cluster>/<namespace>/<job>/<uid>/`: list it to find every report of one Job run."""
    parts = (cluster, namespace, job, job_uid or "unknown-uid")
    return "/".join(segment(p) for p in parts) + "/"


def workflow_key(cluster: str, namespace: str, job: str, job_uid: str, workflow: str) -> str:
    """`<cluster>/<namespace>/<job>/<uid>/<workflow>`: the folder of one workflow's reports."""
    return run_prefix(cluster, namespace, job, job_uid) + segment(workflow)


def report_key(
    cluster: str, namespace: str, job: str, job_uid: str, workflow: str, report_id: str
) -> str:
    """`<cluster>/<namespace>/<job>/<uid>/<workflow>/<report id>`: key stem of one report
    (for `get_report` before the report is built: "was this event already reported?")."""
    return f"{workflow_key(cluster, namespace, job, job_uid, workflow)}/{segment(report_id)}"


def report_stem(report: Report) -> str:
    """`<cluster>/<namespace>/<job>/<uid>/<workflow>/<report id>`: where `report` lives."""
    return report_key(
        report.cluster, report.namespace, report.job, report.job_uid, report.workflow, report.id
    )


def check_key(key: str) -> str:
    """`key` if it is a safe relative key (no empty, `.`, `..` or hidden-temp segments)."""
    parts = key.split("/")
    if not key or any(
        p in ("", ".", "..") or p.startswith(".jobwarden") or not _KEY_SEGMENT.match(p)
        for p in parts
    ):
        raise PermanentError(
            f"storage key {key[:200]!r} is not a safe relative key "
            "(use non-empty segments without '.', '..', backslashes or control characters)"
        )
    return key


class BlobReportStore:
    """The layout, idempotency and index of reports over any `Blobs`."""

    def __init__(
        self,
        blobs: Blobs,
        *,
        url: str,
        base_url: str | None = None,
    ) -> None:
        self.blobs = blobs
        self._url = url
        self._base_url = base_url.rstrip("/") + "/" if base_url else None

    def __repr__(self) -> str:
        return f"BlobReportStore({self._url!r})"

    @property
    def url(self) -> str:
        return self._url

    def url_for(self, key: str) -> str:
        """A link to `key`: under `base_url` when one was given, else the store's own URL."""
        if self._base_url:
            return self._base_url + key
        return self.blobs.url(key)

    # --- reports -----------------------------------------------------------------------------

    def put_report(self, report: Report, *, index: bool = True) -> StoreResult:
        """Store `report` (JSON, Markdown, HTML) and its index entry; a no-op if already stored.

        Every object is created once (create-only): a redelivery after a crash finds what
        the first attempt wrote and leaves it. `index=False` (reports made on request) keeps
        it out of the cross-cluster index, so that nobody can crowd the index by asking.
        """
        from jobwarden.render.html import render_html
        from jobwarden.render.markdown import render_markdown

        key = report_stem(report)
        url = self.url_for(key + ".html")
        if self.blobs.read(key + ".json") is not None:
            log.info("report %s already stored at %s", report.id, key)
            return StoreResult(report.id, False, key, url)
        pages = (
            (".md", render_markdown(report, report_url=url), "text/markdown; charset=utf-8"),
            (".html", render_html(report, report_url=url), "text/html; charset=utf-8"),
        )
        for suffix, text, content_type in pages:
            self.blobs.write(
                key + suffix, text.encode(), content_type=content_type, only_if_absent=True
            )
        if index:  # before the marker: a crash here is redelivered and finds no `.json`
            entry = IndexEntry.for_report(report, key)
            self._write_entry(entry)
        created = self.blobs.write(
            key + ".json",
            (report.to_json() + "\n").encode(),
            content_type="application/json",
            only_if_absent=True,
        )
        if not created:  # a concurrent delivery of the same event won the race
            return StoreResult(report.id, False, key, url)
        log.info("stored report %s at %s", report.id, key)
        return StoreResult(report.id, True, key, url)

    def find_report(self, address: ReportAddress) -> Report | None:
        """The report stored at `address`, or None (one read)."""
        return self.get_report(address.key)

    def get_report(self, key: str) -> Report | None:
        """The report stored at key stem `key` (with or without `.json`), or None."""
        key = check_key(key if key.endswith(".json") else key + ".json")
        data = self.blobs.read(key)
        return Report.from_json(data) if data is not None else None

    # --- index: one create-only entry per report, read by listing (jobwarden.sinks.index) ----

    def _write_entry(self, entry: IndexEntry) -> bool:
        data = canonical_json(entry.model_dump(mode="json", by_alias=True, exclude_none=True))
        data += "\n"
        return self.blobs.write(
            index_key(entry, segment(entry.id)),
            data.encode(),
            content_type="application/json",
            only_if_absent=True,
        )

    def _read_entry(self, key: str) -> IndexEntry | None:
        data = self.blobs.read(key)
        if data is None:
            return None
        try:
            return IndexEntry.model_validate_json(data)
        except ValueError as err:
            log.warning("skipping index entry %s%s: %s", self.blobs.location, key, str(err)[:200])
            return None

    def _index_keys(self, since: dt.datetime | None, until: dt.datetime | None) -> list[str]:
        if since is not None:
            end = until or dt.datetime.now(dt.UTC)
            if (end - since).days <= DAY_LISTING_LIMIT:
                keys: list[str] = []
                for prefix in day_prefixes(since, end):
                    keys.extend(self.blobs.list(prefix))
                return newest_first(keys)
        return newest_first(self.blobs.list(INDEX_PREFIX))

    def index_page(self, query: IndexQuery) -> IndexPage:
        """One page of the index, newest first: entries of at most `query.runs` Job runs."""
        keys = [
            k
            for k in self._index_keys(query.since, query.until)
            if in_window(k, since=query.since, until=query.until, after=query.after)
        ]
        entries: list[IndexEntry] = []
        runs: set[str] = set()
        seen: set[str] = set()
        for position, key in enumerate(keys):
            entry = self._read_entry(key)
            if entry is None or entry.id in seen or not query.accept(entry):
                continue
            run = entry.path.rsplit("/", 2)[0]
            if run not in runs and len(runs) >= query.runs:
                return IndexPage(entries, cursor_of(keys[position - 1]))
            runs.add(run)
            seen.add(entry.id)
            entries.append(entry)
        return IndexPage(entries, None)

    def read_index(self) -> list[IndexEntry]:
        """Every indexed report across clusters, newest first (reads every entry)."""
        entries: list[IndexEntry] = []
        seen: set[str] = set()
        for key in newest_first(self.blobs.list(INDEX_PREFIX)):
            entry = self._read_entry(key)
            if entry is not None and entry.id not in seen:
                seen.add(entry.id)
                entries.append(entry)
        return entries

    def find_indexed(self, report_id: str) -> IndexEntry | None:
        """The index entry of report `report_id`, or None (lists the index, reads one)."""
        suffix = f"-{segment(report_id)}.json"
        for key in newest_first(self.blobs.list(INDEX_PREFIX)):
            if key.endswith(suffix):
                return self._read_entry(key)
        return None

    def migrate_index(self) -> int:
        """Write the index entries that stored reports lack; returns how many were written.

        For stores written before the index was a listing (one `index.json`), and to repair
        one. Reports made on request stay out. Old `<workflow>.{json,md,html}` "latest" copies
        and `index.json`/`index.html` are left where they are and no longer read or written.
        """
        indexed = {
            cursor_of(k).split("-", 1)[1] for k in newest_first(self.blobs.list(INDEX_PREFIX))
        }
        written = 0
        for key in self.list():
            parts = key.split("/")
            if len(parts) != 6 or not key.endswith(".json") or parts[0] in RESERVED:
                continue
            if f"{parts[5]}" in indexed:
                continue
            data = self.blobs.read(key)
            try:
                report = Report.from_json(data) if data is not None else None
            except ValueError:
                log.warning("skipping %s: not a report", key)
                continue
            if report is None or report.source_event_id.startswith(ON_REQUEST_PREFIX):
                continue  # made on request: stored, never indexed
            if self._write_entry(IndexEntry.for_report(report, key.removesuffix(".json"))):
                written += 1
        return written

    # --- records -----------------------------------------------------------------------------

    def put_json(self, key: str, obj: Any, *, only_if_absent: bool = False) -> bool:
        """Write a JSON record; with `only_if_absent`, False (and no write) if it exists."""
        data = (canonical_json(obj) + "\n").encode()
        return self.blobs.write(
            check_key(key), data, content_type="application/json", only_if_absent=only_if_absent
        )

    def get_json(self, key: str) -> Any | None:
        data = self.blobs.read(check_key(key))
        if data is None:
            return None
        try:
            return json.loads(data)
        except ValueError as err:
            raise PermanentError(
                f"{self.blobs.location}{key} is not valid JSON ({err}); delete or repair it"
            ) from err

    def list(self, prefix: str = "") -> list[str]:
        """Keys starting with `prefix` (a plain string prefix, like a bucket listing), sorted."""
        return sorted(self.blobs.list(prefix))


def open_store(url: str, *, base_url: str | None = None, client: Any = None) -> ReportStore:
    """The store at `url`: `file://<path>` or `gs://<bucket>/<prefix>`.

    `base_url`: where the stored files are served over HTTP(S), for links in reports and
    webhooks (default: file:// URLs, or https://storage.cloud.google.com/... for buckets).
    `client`: a `google.cloud.storage.Client` to use instead of a lazily made one.
    """
    if url.startswith("file://"):
        raw = url.removeprefix("file://")
        if raw.startswith("localhost/"):
            raw = raw.removeprefix("localhost")
        if not raw:
            raise ConfigError(f"sinks.storage.url {url!r}: no path; use {SUPPORTED}")
        from jobwarden.sinks.filestore import FileBlobs

        root = Path(os.path.expanduser(raw))
        root = root if root.is_absolute() else Path.cwd() / root
        return BlobReportStore(FileBlobs(root), url=url, base_url=base_url)
    if url.startswith("gs://"):
        bucket, _, prefix = url.removeprefix("gs://").partition("/")
        if not _BUCKET.match(bucket):
            raise ConfigError(
                f"sinks.storage.url {url!r}: {bucket!r} is not a valid bucket name; use {SUPPORTED}"
            )
        prefix = "/".join(p for p in prefix.split("/") if p)
        if prefix:
            check_key(prefix)
        from jobwarden.sinks.gcsstore import GcsBlobs

        return BlobReportStore(GcsBlobs(bucket, prefix, client=client), url=url, base_url=base_url)
    raise ConfigError(f"sinks.storage.url {url!r}: unsupported storage URL; use {SUPPORTED}")
