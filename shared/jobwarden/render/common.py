"""Pieces every renderer shares: time and number formats, labels, a Markdown-subset parser.

The `markdown` block holds a small Markdown subset (headings, paragraphs, bullet
and numbered lists, fenced code, **bold**, *italic*, `code`, [links](https://...)).
`parse_markdown` turns it into a few plain nodes so HTML, Slack and Teams can
each write it in their own syntax, escaping text their own way.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Literal

from jobwarden.report import ChartBlock, Report

SEVERITY_LABEL = {"info": "INFO", "warning": "WARNING", "error": "ERROR"}
SEVERITY_EMOJI = {"info": "ℹ️", "warning": "⚠️", "error": "🔴"}  # noqa: RUF001
LINK_SCHEMES = ("https://", "http://", "mailto:")
_SPARKS = "▁▂▃▄▅▆▇█"


def fmt_time(value: dt.datetime | None) -> str:
    """`2024-05-01 10:02:03 UTC`, or `-` when unknown."""
    if value is None:
        return "-"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_number(value: float) -> str:
    """Short and exact enough to read: 3, 2.5, 0.125, 12,345."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def job_ref(report: Report) -> str:
    return f"{report.namespace}/{report.job}"


def subtitle(report: Report) -> str:
    """One line naming what the report is about: severity, workflow, where and when."""
    return (
        f"{SEVERITY_LABEL[report.severity]} · {report.workflow_title} · cluster {report.cluster}"
        f" · job {job_ref(report)} · {fmt_time(report.created_at)}"
    )


def meta_fields(report: Report) -> list[tuple[str, str]]:
    """The identity of the report as (name, value) pairs, shown in every format."""
    pairs = [
        ("Cluster", report.cluster),
        ("Namespace", report.namespace),
        ("Job", report.job),
        ("Job UID", report.job_uid or "-"),
        ("Workflow", report.workflow_title),
        ("Severity", SEVERITY_LABEL[report.severity]),
        ("Created", fmt_time(report.created_at)),
        ("Report ID", report.id),
    ]
    if report.source_event_id:
        pairs.append(("Source event", report.source_event_id))
    return pairs


def log_title(title: str | None, pod: str, container: str) -> str:
    return title or f"Log of container {container} in pod {pod}"


def sparkline(values: list[float]) -> str:
    """`▁▃▅█` style one-line chart of `values`."""
    if not values:
        return ""
    low, high = min(values), max(values)
    span = high - low
    if span == 0:
        return _SPARKS[3] * len(values)
    top = len(_SPARKS) - 1
    return "".join(_SPARKS[round((v - low) / span * top)] for v in values)


def series_summary(chart: ChartBlock) -> list[tuple[str, str]]:
    """Per series: a sparkline with min, max and last value, for formats without images."""
    out = []
    for series in chart.series:
        ys = [p.y for p in series.points]
        if not ys:
            out.append((series.name, "no data"))
            continue
        text = (
            f"{sparkline(ys)}  min {fmt_number(min(ys))} · max {fmt_number(max(ys))}"
            f" · last {fmt_number(ys[-1])} ({series.points[-1].x})"
        )
        out.append((series.name, text))
    return out


def chart_table(chart: ChartBlock) -> tuple[list[str], list[list[str]]]:
    """The chart's data as a table: one row per x value, one column per series."""
    columns = [chart.x_label or "x", *(s.name for s in chart.series)]
    values = [{p.x: p.y for p in s.points} for s in chart.series]
    rows = [[x, *(fmt_number(v[x]) if x in v else "" for v in values)] for x in chart.categories()]
    return columns, rows


def pick(costs: list[int], priority: list[int], budget: int) -> list[int]:
    """Indexes (in order) of items chosen by `priority` until `budget` is used up."""
    chosen: set[int] = set()
    used = 0
    for i in priority:
        if i in chosen:
            continue
        if used + costs[i] > budget:
            break
        chosen.add(i)
        used += costs[i]
    return sorted(chosen)


def with_gaps(items: list[str], chosen: list[int], gap: str) -> list[str]:
    out: list[str] = []
    previous = -1
    for i in chosen:
        if i != previous + 1:
            out.append(gap)
        out.append(items[i])
        previous = i
    if previous != len(items) - 1 and items:
        out.append(gap)
    return out


# --- Markdown subset -------------------------------------------------------------------------

SpanKind = Literal["text", "bold", "italic", "code", "link"]
NodeKind = Literal["paragraph", "heading", "bullets", "numbered", "code"]


@dataclass(frozen=True)
class Span:
    kind: SpanKind
    text: str
    url: str = ""


@dataclass(frozen=True)
class Node:
    """A block of the Markdown subset: `items` has one span list per line/list item."""

    kind: NodeKind
    items: list[list[Span]] = field(default_factory=list)
    code: str = ""


_INLINE = re.compile(
    r"(?P<tick>`+)(?P<code>.+?)(?P=tick)"
    r"|\*\*(?P<bold>.+?)\*\*"
    r"|\[(?P<label>[^\]]+)\]\((?P<url>[^)\s]+)\)"
    r"|(?<![\w*])\*(?P<em>[^*\s](?:[^*]*[^*\s])?)\*(?![\w*])"
)
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^\s{0,3}[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^\s{0,3}\d{1,9}[.)]\s+(.*)$")


def parse_inline(text: str) -> list[Span]:
    spans: list[Span] = []
    pos = 0
    for match in _INLINE.finditer(text):
        if match.start() > pos:
            spans.append(Span("text", text[pos : match.start()]))
        if match.group("code") is not None:
            spans.append(Span("code", match.group("code").strip() or match.group("code")))
        elif match.group("bold") is not None:
            spans.append(Span("bold", match.group("bold")))
        elif match.group("label") is not None:
            url = match.group("url")
            if url.lower().startswith(LINK_SCHEMES):
                spans.append(Span("link", match.group("label"), url))
            else:
                spans.append(Span("text", match.group(0)))
        else:
            spans.append(Span("italic", match.group("em")))
        pos = match.end()
    if pos < len(text):
        spans.append(Span("text", text[pos:]))
    return spans


_TITLE_CODE = re.compile(r"(?P<tick>`+)(?P<code>.+?)(?P=tick)")


def title_spans(title: str) -> list[Span]:
    """A report title as text and code spans: titles name containers and images as
    `literal`s; no other markup is active in a title (its text may come from an event)."""
    spans: list[Span] = []
    pos = 0
    for match in _TITLE_CODE.finditer(title):
        if match.start() > pos:
            spans.append(Span("text", title[pos : match.start()]))
        spans.append(Span("code", match.group("code").strip() or match.group("code")))
        pos = match.end()
    if pos < len(title):
        spans.append(Span("text", title[pos:]))
    return spans


def plain_title(title: str) -> str:
    """A title where no markup renders (a Slack header, a notification): code spans' words."""
    return "".join(span.text for span in title_spans(title))


def parse_markdown(text: str) -> list[Node]:
    """Split `text` into headings, paragraphs, lists and code blocks."""
    nodes: list[Node] = []
    para: list[str] = []
    items: list[str] = []
    list_kind: NodeKind | None = None

    def flush() -> None:
        nonlocal list_kind
        if para:
            nodes.append(Node("paragraph", [parse_inline(" ".join(para))]))
            para.clear()
        if items and list_kind:
            nodes.append(Node(list_kind, [parse_inline(i) for i in items]))
            items.clear()
        list_kind = None

    lines = text.replace("\r\n", "\n").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        fence = _FENCE.match(line)
        if fence:
            flush()
            marker, code = fence.group(1), []
            while i < len(lines) and not lines[i].strip().startswith(marker):
                code.append(lines[i])
                i += 1
            i += 1  # the closing fence (or the end)
            nodes.append(Node("code", code="\n".join(code)))
            continue
        if not line.strip():
            flush()
            continue
        heading = _HEADING.match(line)
        bullet = _BULLET.match(line)
        numbered = _NUMBERED.match(line)
        if heading:
            flush()
            nodes.append(Node("heading", [parse_inline(heading.group(1))]))
        elif bullet or numbered:
            kind: NodeKind = "bullets" if bullet else "numbered"
            if para or list_kind != kind:
                flush()
            list_kind = kind
            items.append((bullet or numbered).group(1))  # type: ignore[union-attr]
        elif items and line.startswith((" ", "\t")):
            items[-1] += " " + line.strip()
        else:
            if items:
                flush()
            para.append(line.strip())
    flush()
    return nodes


def plain(spans: list[Span]) -> str:
    """The text of `spans` without any formatting."""
    return "".join(s.text for s in spans)
