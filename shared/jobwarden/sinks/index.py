"""The cross-cluster index as create-only objects, one per report, read by listing.

Cloud Storage takes about one write per second to one object name, so nothing that spans
reports may be one object rewritten per report (ARCHITECTURE.md §3.6). Each indexed report
gets its own entry, created once and never rewritten:

    index/<yyyy>/<mm>/<dd>/<inverted epoch millis, 13 digits>-<report id>.json

The inverted time makes the names of one day list newest first; across days the entries
sort newest first by their last segment (`index_keys`). A page is a slice of that order
after a cursor (the last segment of the last entry shown), so paging needs no state.
A time window (`since`, `until`) lists only the day prefixes it covers.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

from jobwarden.report import IndexEntry

INDEX_PREFIX = "index/"
_MAX_MS = 10**13 - 1
_NAME = re.compile(r"^(\d{13})-(.+)\.json$")
#: Above this many days, a window is listed as a whole (`index/`) rather than day by day.
DAY_LISTING_LIMIT = 62


def _millis(when: dt.datetime) -> int:
    return int(when.astimezone(dt.UTC).timestamp() * 1000)


def index_key(entry: IndexEntry, segment_id: str) -> str:
    """Where the index entry of one report lives (`segment_id`: the report id as a segment)."""
    when = entry.created_at.astimezone(dt.UTC)
    return f"{INDEX_PREFIX}{when:%Y/%m/%d}/{_MAX_MS - _millis(when):013d}-{segment_id}.json"


def cursor_of(key: str) -> str:
    """The cursor naming `key`: its last segment (`<inverted millis>-<id>.json`)."""
    return key.rsplit("/", 1)[-1]


def key_time(key: str) -> dt.datetime | None:
    """The time an index key was made for, or None if `key` is not an index entry."""
    match = _NAME.match(cursor_of(key))
    if not match:
        return None
    return dt.datetime.fromtimestamp((_MAX_MS - int(match.group(1))) / 1000, dt.UTC)


def day_prefixes(since: dt.datetime, until: dt.datetime) -> Iterator[str]:
    """`index/<yyyy>/<mm>/<dd>/` for each day from `until` back to `since` (UTC)."""
    day = until.astimezone(dt.UTC).date()
    first = since.astimezone(dt.UTC).date()
    while day >= first:
        yield f"{INDEX_PREFIX}{day:%Y/%m/%d}/"
        day -= dt.timedelta(days=1)


def newest_first(keys: list[str]) -> list[str]:
    """Index keys (any days) in the order of the index: newest first."""
    return sorted((k for k in keys if _NAME.match(cursor_of(k))), key=cursor_of)


def in_window(
    key: str, *, since: dt.datetime | None, until: dt.datetime | None, after: str
) -> bool:
    """Whether `key` is past the cursor `after` and inside [since, until]."""
    if after and cursor_of(key) <= after:
        return False
    when = key_time(key)
    if when is None:
        return False
    return (since is None or when >= since) and (until is None or when <= until)
