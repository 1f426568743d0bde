"""Report storage behind one interface, for `file://<path>` and `gs://<bucket>/<prefix>`.

Layout under the store's root (ARCHITECTURE.md §3.6):

    <cluster>/<namespace>/<job>/<uid>/<workflow>.{json,md,html}            the latest report
        of that workflow about that Job run (an older, late redelivery never replaces it)
    <cluster>/<namespace>/<job>/<uid>/<workflow>/<report id>.{json,md,html} every report,
        never rewritten; its `.json` is written last and marks the report as stored
    index.json, index.html      every report across clusters, newest first (one entry a line)
    deliveries/..., runs/..., audit/...    other records, through `put_json`/`get_json`

Writes are idempotent by report id: storing a report whose id is already stored is a
no-op answering `already stored`. File writes are atomic (temp file + rename, exclusive
create by hard link, index updates under an fcntl lock); bucket writes use generation
preconditions (create-only with `if_generation_match=0`, index updates in a
compare-and-swap loop). A storage outage raises `StorageUnavailableError` (temporary:
the platform retries); a bad store URL raises `ConfigError`. Top-level names `index.json`,
`index.html`, `deliveries`, `runs` and `audit` are reserved (not usable as cluster names).
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

log = logging.getLogger(__name__)

INDEX_JSON = "index.json"
INDEX_HTML = "index.html"
INDEX_LIMIT = 5000
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
class StoreResult:
    """What storing one report did."""

    report_id: str
    stored: bool  # False: this report id was already stored, nothing was written
    key: str  # key stem of this report: <cluster>/<ns>/<job>/<uid>/<workflow>/<id>
    latest_key: str  # key stem of the latest report: <cluster>/<ns>/<job>/<uid>/<workflow>
    url: str  # where this report's HTML page is

    @property
    def status(self) -> Literal["stored", "already stored"]:
        return "stored" if self.stored else "already stored"


class ReportStore(Protocol):
    """Reports plus small JSON records, on a directory or a bucket."""

    @property
    def url(self) -> str: ...

    def put_report(self, report: Report) -> StoreResult: ...

    def get_report(self, key: str) -> Report | None: ...

    def find_report(self, address: ReportAddress) -> Report | None: ...

    def read_index(self) -> list[IndexEntry]: ...

    def rebuild_index(self) -> int: ...

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


def latest_key(cluster: str, namespace: str, job: str, job_uid: str, workflow: str) -> str:
    """`<cluster>/<namespace>/<job>/<uid>/<workflow>`: key stem of the latest report."""
    parts = (cluster, namespace, job, job_uid or "unknown-uid", workflow)
    return "/".join(segment(p) for p in parts)


def report_key(
    cluster: str, namespace: str, job: str, job_uid: str, workflow: str, report_id: str
) -> str:
    """`<cluster>/<namespace>/<job>/<uid>/<workflow>/<report id>`: key stem of one report
    (for `get_report` before the report is built: "was this event already reported?")."""
    return f"{latest_key(cluster, namespace, job, job_uid, workflow)}/{segment(report_id)}"


def report_stem(report: Report) -> str:
    """`<cluster>/<namespace>/<job>/<uid>/<workflow>`: where the latest report lives."""
    return latest_key(report.cluster, report.namespace, report.job, report.job_uid, report.workflow)


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
        index_limit: int = INDEX_LIMIT,
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.blobs = blobs
        self._url = url
        self._base_url = base_url.rstrip("/") + "/" if base_url else None
        self._index_limit = index_limit
        self._now = now or (lambda: dt.datetime.now(dt.UTC))

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

    def put_report(self, report: Report) -> StoreResult:
        """Store `report` (JSON, Markdown, HTML), update the index; a no-op if already stored."""
        from jobwarden.render.html import render_html
        from jobwarden.render.markdown import render_markdown

        latest = report_stem(report)
        key = f"{latest}/{segment(report.id)}"  # == report_key(...) of this report
        url = self.url_for(key + ".html")
        result = StoreResult(report.id, True, key, latest, url)
        if self.blobs.read(key + ".json") is not None:
            log.info("report %s already stored at %s", report.id, key)
            return StoreResult(report.id, False, key, latest, url)
        files = {
            ".md": (render_markdown(report, report_url=url), "text/markdown; charset=utf-8"),
            ".html": (render_html(report, report_url=url), "text/html; charset=utf-8"),
            ".json": (report.to_json() + "\n", "application/json"),
        }
        for suffix in (".md", ".html"):
            text, content_type = files[suffix]
            self.blobs.write(key + suffix, text.encode(), content_type=content_type)
        if self._is_latest(report, latest):
            for suffix in (".md", ".html", ".json"):
                text, content_type = files[suffix]
                self.blobs.write(latest + suffix, text.encode(), content_type=content_type)
        self._add_to_index(IndexEntry.for_report(report, key))
        text, content_type = files[".json"]
        created = self.blobs.write(
            key + ".json", text.encode(), content_type=content_type, only_if_absent=True
        )
        if not created:  # a concurrent delivery of the same event won the race
            return StoreResult(report.id, False, key, latest, url)
        log.info("stored report %s at %s", report.id, key)
        return result

    def _is_latest(self, report: Report, latest: str) -> bool:
        current = self.blobs.read(latest + ".json")
        if current is None:
            return True
        try:
            stored_at = dt.datetime.fromisoformat(json.loads(current)["createdAt"])
        except (ValueError, KeyError, TypeError):
            return True  # unreadable: replace it
        return report.created_at >= stored_at

    def find_report(self, address: ReportAddress) -> Report | None:
        """The report stored at `address`, or None (one read)."""
        return self.get_report(address.key)

    def get_report(self, key: str) -> Report | None:
        """The report stored at key stem `key` (with or without `.json`), or None."""
        key = check_key(key if key.endswith(".json") else key + ".json")
        data = self.blobs.read(key)
        return Report.from_json(data) if data is not None else None

    # --- index -------------------------------------------------------------------------------

    def read_index(self) -> list[IndexEntry]:
        """Every indexed report across clusters, newest first."""
        return _parse_index(self.blobs.read(INDEX_JSON), self.blobs.location)

    def _write_index_html(self, entries: list[IndexEntry], written: bytes) -> None:
        from jobwarden.render.html import render_index_html

        for _ in range(3):  # another writer may have changed index.json since: follow it
            html = render_index_html(entries)
            self.blobs.write(INDEX_HTML, html.encode(), content_type="text/html; charset=utf-8")
            current = self.blobs.read(INDEX_JSON)
            if current is None or current == written:
                return
            written, entries = current, _parse_index(current, self.blobs.location)

    def _add_to_index(self, entry: IndexEntry) -> None:
        def change(old: bytes | None) -> bytes:
            entries = [e for e in _parse_index(old, self.blobs.location) if e.id != entry.id]
            return _dump_index([entry, *entries], self._index_limit)

        written = self.blobs.update(INDEX_JSON, change, content_type="application/json")
        self._write_index_html(_parse_index(written, self.blobs.location), written)

    def rebuild_index(self) -> int:
        """Rebuild `index.json`/`index.html` from every stored report; returns the count."""
        entries = []
        for key in self.list():
            parts = key.split("/")
            if len(parts) == 6 and key.endswith(".json"):
                data = self.blobs.read(key)
                if data is None:
                    continue
                try:
                    report = Report.from_json(data)
                except ValueError:
                    log.warning("skipping %s: not a report", key)
                    continue
                entries.append(IndexEntry.for_report(report, key.removesuffix(".json")))
        written = self.blobs.update(
            INDEX_JSON,
            lambda _old: _dump_index(entries, self._index_limit),
            content_type="application/json",
        )
        self._write_index_html(_parse_index(written, self.blobs.location), written)
        return len(entries)

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


def _parse_index(data: bytes | None, location: str) -> list[IndexEntry]:
    if not data:
        return []
    try:
        raw = json.loads(data)
        return [IndexEntry.model_validate(item) for item in raw]
    except (ValueError, TypeError) as err:
        log.error(
            "%s%s is unreadable (%s); starting a new index; rebuild_index() restores it",
            location,
            INDEX_JSON,
            str(err)[:200],
        )
        return []


def _dump_index(entries: list[IndexEntry], limit: int) -> bytes:
    ordered = sorted(entries, key=lambda e: (e.created_at, e.id), reverse=True)[:limit]
    lines = [canonical_json(e.model_dump(mode="json", by_alias=True)) for e in ordered]
    return ("[\n" + ",\n".join(lines) + "\n]\n").encode() if lines else b"[]\n"


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
