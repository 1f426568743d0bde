"""The canonical report: one JSON document per (event, workflow) (ARCHITECTURE.md §3.6).

Every workflow builds a `Report`; renderers (`jobwarden.render`) turn it into
Markdown, HTML, Slack Block Kit and a Teams card; sinks store and deliver it.
The model is inert data: JSON uses camelCase names, Python uses snake_case
(both are accepted on input). `Report.to_json()` is canonical (sorted keys,
compact, times in UTC) so the same report always serializes to the same bytes.

`report_id(source_event_id, workflow)` is deterministic: a redelivered event
maps to the same report id, which is what storage and webhook delivery key
their idempotency on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from jobwarden.names import TITLES, WorkflowName

Severity = Literal["info", "warning", "error"]


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC)


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        allow_inf_nan=False,
    )


class FieldItem(_Model):
    """One name/value pair of a `fields` block."""

    name: str
    value: str


class FieldsBlock(_Model):
    """Facts as name/value pairs (job status, limits, exit codes...)."""

    type: Literal["fields"] = "fields"
    title: str | None = None
    fields: list[FieldItem]


class TableBlock(_Model):
    """A table of strings; every row has as many cells as there are columns."""

    type: Literal["table"] = "table"
    title: str | None = None
    columns: list[str]
    rows: list[list[str]]

    @model_validator(mode="after")
    def _rows_match_columns(self) -> TableBlock:
        for i, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise ValueError(
                    f"row {i} has {len(row)} cells but the table has {len(self.columns)} columns"
                )
        return self


class MarkdownBlock(_Model):
    """Free text in a small Markdown subset (paragraphs, lists, **bold**, `code`, links).

    Text from a cluster goes in only through `literal`, never as markup.
    """

    type: Literal["markdown"] = "markdown"
    text: str


#: Longest piece of cluster text quoted in a Markdown block (a message, a log line).
MAX_LITERAL = 500


def inline_safe(text: str, limit: int = MAX_LITERAL) -> str:
    """`text` (already redacted) fit to sit in prose or a title of a Markdown block: one line,
    cut to `limit`, with the marks that could start markup (a backtick, `**`, `](`, `<`)
    replaced by look-alikes, so it reads the same and nothing in it becomes active."""
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    for mark, inert in _INERT:
        text = text.replace(mark, inert)
    return text


_INERT = (("`", "\u02cb"), ("**", "*\u200b*"), ("](", "]\u200b("), ("<", "\u2039"))


def literal(text: str, limit: int = MAX_LITERAL) -> str:
    """`text` (already redacted) as an inline code span of the Markdown subset: one line, cut
    to `limit`, fenced longer than any backtick run in it and with no `**` that could close
    a surrounding bold, so no link, emphasis, heading or HTML in it is ever active."""
    text = " ".join(text.split()).replace("**", "*\u200b*")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


class LogBlock(_Model):
    """The tail of one container's log; `highlight` indexes the lines that look like the error."""

    type: Literal["log"] = "log"
    title: str | None = None
    pod: str
    container: str
    lines: list[str]
    truncated: bool = False
    highlight: list[int] = Field(default_factory=list)

    @model_validator(mode="after")
    def _highlight_in_range(self) -> LogBlock:
        bad = [i for i in self.highlight if not 0 <= i < len(self.lines)]
        if bad:
            raise ValueError(f"highlight {bad} outside the {len(self.lines)} log lines")
        self.highlight = sorted(set(self.highlight))
        return self


class TimelineEntry(_Model):
    """One (deduplicated) Kubernetes Event; `time` is when it was last seen."""

    time: AwareDatetime | None = None
    type: Literal["Normal", "Warning"] = "Normal"
    reason: str
    object: str
    message: str
    count: int = Field(default=1, ge=1)

    @field_validator("time")
    @classmethod
    def _time_utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        return _utc(value) if value is not None else None


class TimelineBlock(_Model):
    """Events of the Job and its pods, in time order."""

    type: Literal["timeline"] = "timeline"
    title: str | None = None
    entries: list[TimelineEntry]


class Point(_Model):
    x: str
    y: float


class Series(_Model):
    name: str
    points: list[Point]


class ChartBlock(_Model):
    """A small chart: `line`, `bar` (grouped) or `stackedBar` over categorical x values."""

    type: Literal["chart"] = "chart"
    title: str
    kind: Literal["line", "bar", "stackedBar"]
    x_label: str = ""
    y_label: str = ""
    series: list[Series]

    def categories(self) -> list[str]:
        """Every x value in order of first appearance across the series."""
        seen: dict[str, None] = {}
        for series in self.series:
            for point in series.points:
                seen.setdefault(point.x, None)
        return list(seen)


Block = Annotated[
    FieldsBlock | TableBlock | MarkdownBlock | LogBlock | TimelineBlock | ChartBlock,
    Field(discriminator="type"),
]


class Routing(_Model):
    """What webhook routing needs to know of the Job, carried by its report so that a
    redelivery answered from storage is routed the same way without reading the cluster.

    `labels`: the Job's labels over its CronJob's (when read); `notify`: the webhook names of
    the `jobwarden.dev/notify` annotation; `silence`: the `jobwarden.dev/silence` annotation
    as written ("true" or an RFC 3339 time). The Job's annotations win over the CronJob's.
    """

    labels: dict[str, str] = Field(default_factory=dict)
    notify: list[str] | None = None
    silence: str | None = None

    def silenced(self, now: dt.datetime) -> bool:
        """Whether the reports are silent at `now`: `true`, or a time still to come (an
        unreadable value silences nothing: a typo must not hide failures)."""
        if self.silence is None:
            return False
        value = self.silence.strip()
        if value.lower() == "true":
            return True
        try:
            until = dt.datetime.fromisoformat(value)
        except ValueError:
            return False
        if until.tzinfo is None:
            return False  # RFC 3339 has an offset; a bare time is not one
        return now < until


class CronJobRun(_Model):
    """Where a CronJob's run stands among its runs: carried by the failure report of a
    CronJob-owned Job and by the `recovered` report of the run that ended a failure streak.

    `failed_runs`: the current streak of failed runs, this one included (`recovered`: the
    streak that just ended). `follow_up_of`: the id of the streak's first report, posted in
    full; set when this failure is posted as a short follow-up of it (same cause), and on a
    `recovered` report, so a receiver of the JSON webhook can thread them.
    `suspended`: the CronJob's `spec.suspend` (None: the CronJob could not be read).
    """

    cronjob: str
    outcome: Literal["failed", "recovered"] = "failed"
    schedule: str = ""
    suspended: bool | None = None
    failed_runs: int = Field(default=1, ge=0)
    last_success: AwareDatetime | None = None
    first_failure_at: AwareDatetime | None = None
    cause: str = ""  # the headline cause (inline-safe), the same for a follow-up's streak
    follow_up_of: str | None = None
    follow_up_of_url: str | None = None

    @property
    def follow_up(self) -> bool:
        """Posted as a short follow-up of the streak's first report (not a full message)."""
        return self.outcome == "failed" and self.follow_up_of is not None


class Report(_Model):
    """One report of one workflow about one Job run."""

    id: str = Field(min_length=1)
    workflow: WorkflowName
    cluster: str
    namespace: str
    job: str
    job_uid: str = ""
    created_at: AwareDatetime
    severity: Severity
    title: str
    summary: str = ""
    blocks: list[Block] = Field(default_factory=list)
    source_event_id: str = ""
    routing: Routing | None = None  # absent on reports not posted by the event path
    cron_job: CronJobRun | None = None  # the run of a CronJob: its streak (absent otherwise)

    @field_validator("created_at")
    @classmethod
    def _created_utc(cls, value: dt.datetime) -> dt.datetime:
        return _utc(value)

    @property
    def workflow_title(self) -> str:
        return TITLES[self.workflow]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document as a dict (camelCase keys, ISO times); no `routing` or `cronJob`
        when None."""
        data = self.model_dump(mode="json", by_alias=True)
        for key in ("routing", "cronJob"):
            if data.get(key) is None:
                data.pop(key, None)
        return data

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, compact separators, UTF-8 text unescaped."""
        return canonical_json(self.to_dict())

    @classmethod
    def from_json(cls, text: str | bytes) -> Report:
        return cls.model_validate_json(text)


class IndexEntry(_Model):
    """One report in the storage index across clusters (`index/<yyyy>/<mm>/<dd>/...json`)."""

    id: str
    workflow: WorkflowName
    cluster: str
    namespace: str
    job: str
    job_uid: str
    created_at: AwareDatetime
    severity: Severity
    title: str
    path: str
    cronjob: str | None = None  # the CronJob whose run this is (failure and recovered reports)

    @classmethod
    def for_report(cls, report: Report, path: str) -> IndexEntry:
        return cls(
            id=report.id,
            workflow=report.workflow,
            cluster=report.cluster,
            namespace=report.namespace,
            job=report.job,
            job_uid=report.job_uid,
            created_at=report.created_at,
            severity=report.severity,
            title=report.title,
            path=path,
            cronjob=report.cron_job.cronjob if report.cron_job else None,
        )

    @field_validator("created_at")
    @classmethod
    def _created_utc(cls, value: dt.datetime) -> dt.datetime:
        return _utc(value)


SEVERITY_RANK: dict[Severity, int] = {"info": 0, "warning": 1, "error": 2}


@dataclass(frozen=True)
class JobRun:
    """One Job run (a Job uid) in the index: its reports, newest first."""

    cluster: str
    namespace: str
    job: str
    job_uid: str
    reports: tuple[IndexEntry, ...]

    @property
    def severity(self) -> Severity:
        """The highest severity among its reports."""
        return max((e.severity for e in self.reports), key=SEVERITY_RANK.__getitem__)

    @property
    def cause(self) -> str:
        """The failure report's title, else the title of its newest most severe report."""
        failure = [e for e in self.reports if e.workflow == "jobFailureReporter"]
        worst = [e for e in self.reports if e.severity == self.severity]
        return (failure or worst)[0].title

    @property
    def created_at(self) -> dt.datetime:
        """When its newest report was made."""
        return self.reports[0].created_at

    @property
    def cronjob(self) -> str | None:
        """The CronJob this run belongs to, when one of its reports says so."""
        return next((e.cronjob for e in self.reports if e.cronjob), None)


@dataclass(frozen=True)
class CronJobRuns:
    """The runs of one CronJob on an index page (newest first), shown under it."""

    cluster: str
    namespace: str
    cronjob: str
    runs: tuple[JobRun, ...]


def grouped_runs(runs: Iterable[JobRun]) -> list[JobRun | CronJobRuns]:
    """Job runs in order, each CronJob's runs gathered under it where its newest run is."""
    slots: list[JobRun | tuple[str, str, str]] = []
    members: dict[tuple[str, str, str], list[JobRun]] = {}
    for run in runs:
        if run.cronjob is None:
            slots.append(run)
            continue
        key = (run.cluster, run.namespace, run.cronjob)
        if key not in members:
            members[key] = []
            slots.append(key)
        members[key].append(run)
    return [
        slot if isinstance(slot, JobRun) else CronJobRuns(*slot, runs=tuple(members[slot]))
        for slot in slots
    ]


def job_runs(entries: Iterable[IndexEntry]) -> list[JobRun]:
    """Index entries (newest first) grouped by Job run, in the order each run first appears."""
    groups: dict[tuple[str, str, str, str], list[IndexEntry]] = {}
    for entry in entries:
        groups.setdefault((entry.cluster, entry.namespace, entry.job, entry.job_uid), []).append(
            entry
        )
    return [JobRun(*key, reports=tuple(found)) for key, found in groups.items()]


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no insignificant whitespace."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def report_id(source_event_id: str, workflow: str) -> str:
    """The deterministic id of the report `workflow` makes for event `source_event_id`."""
    if not source_event_id:
        raise ValueError("report_id needs the source event id (for idempotency)")
    digest = hashlib.sha256(f"{workflow}\n{source_event_id}".encode())
    return digest.hexdigest()[:24]
