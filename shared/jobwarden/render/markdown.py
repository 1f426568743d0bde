"""A report as Markdown (CommonMark + GitHub tables), stored beside the JSON as `<workflow>.md`.

Text from the cluster (names, messages, log lines) is escaped so it shows as
written: punctuation is backslash-escaped in prose and tables, and logs sit in a
code fence longer than any run of backticks inside them.
"""

from __future__ import annotations

import re

from jobwarden.render.common import (
    SEVERITY_EMOJI,
    SEVERITY_LABEL,
    chart_table,
    fmt_time,
    job_ref,
    log_title,
    meta_fields,
    series_summary,
    title_spans,
)
from jobwarden.report import (
    Block,
    ChartBlock,
    FieldsBlock,
    LogBlock,
    MarkdownBlock,
    Report,
    TableBlock,
    TimelineBlock,
)

_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~&!])")
_LINE_START = re.compile(r"^(\s*)([-+=]|\d+[.)])(?=\s|$)", re.MULTILINE)
HIGHLIGHT = ">> "
PLAIN = "   "


def escape(text: str) -> str:
    """`text` as literal Markdown prose (no accidental emphasis, links, HTML or lists)."""
    return _LINE_START.sub(r"\1\\\2", _SPECIAL.sub(r"\\\1", text))


def cell(text: str) -> str:
    """`text` escaped for a table cell (one line, pipes escaped)."""
    return _SPECIAL.sub(r"\\\1", " ".join(text.split())) or " "


def code(text: str) -> str:
    """An inline code span that survives backticks inside `text`."""
    text = " ".join(text.split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def fenced(lines: list[str], info: str = "text") -> str:
    """A fenced code block longer than any backtick run in `lines`."""
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return "\n".join([fence + info, *lines, fence])


def table(columns: list[str], rows: list[list[str]]) -> str:
    out = [
        "| " + " | ".join(cell(c) for c in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    out.extend("| " + " | ".join(cell(c) for c in row) + " |" for row in rows)
    return "\n".join(out)


def _fields(block: FieldsBlock) -> list[str]:
    out = [f"## {escape(block.title)}"] if block.title else []
    if block.fields:
        out.append(table(["Field", "Value"], [[f.name, f.value] for f in block.fields]))
    else:
        out.append("_No fields._")
    return out


def _table(block: TableBlock) -> list[str]:
    out = [f"## {escape(block.title)}"] if block.title else []
    out.append(table(block.columns, block.rows) if block.rows else "_No rows._")
    return out


def _log(block: LogBlock) -> list[str]:
    out = [f"## {escape(log_title(block.title, block.pod, block.container))}"]
    about = f"Pod {code(block.pod)}, container {code(block.container)}"
    if block.truncated:
        about += f"; showing the last {len(block.lines)} lines (earlier lines cut)"
    if block.highlight:
        numbers = ", ".join(str(i + 1) for i in block.highlight)
        which = "line" if len(block.highlight) == 1 else "lines"
        about += f". Lines marked `{HIGHLIGHT.strip()}` look like the error ({which} {numbers})"
    out.append(about + ".")
    if not block.lines:
        out.append("_The log is empty._")
        return out
    marked = set(block.highlight)
    gutter = bool(marked)
    lines = [
        (HIGHLIGHT if i in marked else PLAIN) + line if gutter else line
        for i, line in enumerate(block.lines)
    ]
    out.append(fenced(lines))
    return out


def _timeline(block: TimelineBlock) -> list[str]:
    out = [f"## {escape(block.title or 'Events')}"]
    if not block.entries:
        out.append("_No events._")
        return out
    rows = [
        [
            fmt_time(e.time),
            ("⚠️ " if e.type == "Warning" else "") + e.type,
            e.reason,
            e.object,
            e.message,
            str(e.count),
        ]
        for e in block.entries
    ]
    out.append(table(["Time", "Type", "Reason", "Object", "Message", "Count"], rows))
    return out


def _chart(block: ChartBlock) -> list[str]:
    kind = {"line": "line chart", "bar": "bar chart", "stackedBar": "stacked bar chart"}
    out = [f"## {escape(block.title)}"]
    axes = f"{escape(block.y_label or 'value')} by {escape(block.x_label or 'x')}"
    out.append(f"_{kind[block.kind].capitalize()} of {axes}._")
    if not any(s.points for s in block.series):
        out.append("_No data._")
        return out
    out.append(
        "\n".join(f"- {escape(name)}: {escape(text)}" for name, text in series_summary(block))
    )
    out.append(table(*chart_table(block)))
    return out


def _block(block: Block) -> list[str]:
    if isinstance(block, FieldsBlock):
        return _fields(block)
    if isinstance(block, TableBlock):
        return _table(block)
    if isinstance(block, MarkdownBlock):
        return [block.text.strip()]
    if isinstance(block, LogBlock):
        return _log(block)
    if isinstance(block, TimelineBlock):
        return _timeline(block)
    return _chart(block)


def render_markdown(report: Report, *, report_url: str | None = None) -> str:
    """The report as a Markdown document."""
    title = "".join(
        code(span.text) if span.kind == "code" else escape(span.text)
        for span in title_spans(report.title)
    )
    parts = [f"# {SEVERITY_EMOJI[report.severity]} {title}"]
    parts.append(
        f"**{SEVERITY_LABEL[report.severity]}** · {escape(report.workflow_title)}"
        f" · cluster {code(report.cluster)} · job {code(job_ref(report))}"
        f" · {fmt_time(report.created_at)}"
    )
    if report.summary.strip():
        parts.append(escape(report.summary.strip()).replace("\n", "  \n"))
    for block in report.blocks:
        parts.extend(block_part for block_part in _block(block) if block_part)
    parts.append("---")
    parts.append(table(["Report", ""], [list(pair) for pair in meta_fields(report)]))
    if report_url:
        parts.append(f"Full report: <{report_url.replace('>', '%3E').replace(' ', '%20')}>")
    return "\n\n".join(parts) + "\n"
