"""A report as a Microsoft Teams message carrying an Adaptive Card 1.4.

Teams pitfalls this renderer avoids: cards above version 1.4 do not render in
every Teams client (so no `Table` element, tables are ColumnSets); a message
over about 28 KB is refused (so the card is rendered with smaller caps on logs,
events and rows until it fits, then trailing sections are dropped with a note);
`TextBlock` interprets Markdown, so text from the cluster (log lines, messages,
names) goes into `RichTextBlock`/`TextRun`, which shows text literally; where a markdown
block's text and code spans must go into a `TextBlock`, their link and bold marks are
broken with a zero-width space (`_inert`) so they stay text.
The same message shape works for Workflows (Power Automate) webhooks and the
older connector webhooks.
"""

from __future__ import annotations

import json
from typing import Any

from jobwarden.render.common import (
    SEVERITY_LABEL,
    Span,
    fmt_time,
    job_ref,
    log_title,
    meta_fields,
    parse_markdown,
    pick,
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

JSON = dict[str, Any]
MAX_BYTES = 27_000
MAX_TEXT = 1000
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
STYLE = {"error": "attention", "warning": "warning", "info": "accent"}
# (log lines, timeline entries, table rows) per attempt, largest first
CAPS = ((60, 30, 25), (30, 15, 12), (12, 8, 6), (5, 4, 3))


def payload_size(message: JSON) -> int:
    """Bytes of the message as posted (compact UTF-8 JSON)."""
    return len(json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode())


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text or " "


def run(text: str, **style: Any) -> JSON:
    """A TextRun: shown literally (no Markdown), styled by `style`."""
    return {"type": "TextRun", "text": _clip(text), **style}


def rich(*runs: JSON, **props: Any) -> JSON:
    return {"type": "RichTextBlock", "inlines": list(runs), **props}


def heading(text: str) -> JSON:
    return rich(run(text, weight="Bolder", size="Medium"), separator=True, spacing="Medium")


def facts(pairs: list[tuple[str, str]]) -> JSON:
    return {
        "type": "FactSet",
        "facts": [{"title": _clip(k, 200), "value": _clip(v, 500)} for k, v in pairs],
    }


def _fields(block: FieldsBlock, caps: tuple[int, int, int]) -> list[JSON]:
    out = [heading(block.title)] if block.title else []
    if not block.fields:
        return [*out, rich(run("No fields.", isSubtle=True))]
    return [*out, facts([(f.name, f.value) for f in block.fields])]


def _row(cells: list[str], *, bold: bool = False) -> JSON:
    style: JSON = {"weight": "Bolder"} if bold else {}
    return {
        "type": "ColumnSet",
        "spacing": "Small",
        "columns": [
            {"type": "Column", "width": "stretch", "items": [rich(run(_clip(c, 200), **style))]}
            for c in cells
        ],
    }


def _table(block: TableBlock, caps: tuple[int, int, int]) -> list[JSON]:
    out = [heading(block.title)] if block.title else []
    if not block.rows:
        return [*out, rich(run("No rows.", isSubtle=True))]
    out.append(_row(block.columns, bold=True))
    out.extend(_row(r) for r in block.rows[: caps[2]])
    if len(block.rows) > caps[2]:
        more = len(block.rows) - caps[2]
        out.append(rich(run(f"… {more} more rows in the full report", isSubtle=True)))
    return out


def _inert(text: str) -> str:
    """`text` that Teams' Markdown shows as written: no link, bold or italic can start in it."""
    for mark, inert in (("](", "]\u200b("), ("**", "*\u200b*"), ("__", "_\u200b_")):
        text = text.replace(mark, inert)
    return text


def _spans_md(spans: list[Span]) -> str:
    """Spans as the Markdown subset Teams renders (bold, italic, links)."""
    out = []
    for s in spans:
        if s.kind == "bold":
            out.append(f"**{_inert(s.text)}**")
        elif s.kind == "italic":
            out.append(f"_{_inert(s.text)}_")
        elif s.kind == "link":
            out.append(f"[{_inert(s.text)}]({s.url})")
        elif s.kind == "code":
            out.append(f"'{_inert(s.text)}'")
        else:
            out.append(_inert(s.text))
    return "".join(out)


def _markdown(block: MarkdownBlock, caps: tuple[int, int, int]) -> list[JSON]:
    out: list[JSON] = []
    for node in parse_markdown(block.text):
        if node.kind == "code":
            lines = node.code.split("\n")[: caps[0]]
            out.append(_code(lines, set()))
        elif node.kind == "heading":
            out.append(heading(_spans_md(node.items[0])))
        elif node.kind == "bullets":
            text = "\n".join(f"- {_spans_md(i)}" for i in node.items)
            out.append({"type": "TextBlock", "text": _clip(text, 4000), "wrap": True})
        elif node.kind == "numbered":
            text = "\n".join(f"{n}. {_spans_md(i)}" for n, i in enumerate(node.items, 1))
            out.append({"type": "TextBlock", "text": _clip(text, 4000), "wrap": True})
        else:
            text = _spans_md(node.items[0])
            out.append({"type": "TextBlock", "text": _clip(text, 4000), "wrap": True})
    return out


def _code(lines: list[str], marked: set[int]) -> JSON:
    items = []
    for i, line in enumerate(lines):
        style: JSON = {"fontType": "Monospace", "size": "Small"}
        if i in marked:
            style |= {"color": "Attention", "weight": "Bolder"}
        items.append(rich(run(_clip(line, 400), **style), spacing="None"))
    return {"type": "Container", "style": "emphasis", "items": items or [rich(run(" "))]}


def _log(block: LogBlock, caps: tuple[int, int, int]) -> list[JSON]:
    about = f"Pod {block.pod}, container {block.container}"
    if block.truncated:
        about += f" · last {len(block.lines)} lines (earlier lines cut)"
    if block.highlight:
        about += " · red lines look like the error"
    out = [heading(log_title(block.title, block.pod, block.container))]
    out.append(rich(run(about, isSubtle=True), spacing="None"))
    if not block.lines:
        return [*out, rich(run("The log is empty.", isSubtle=True))]
    priority = [*block.highlight, *reversed(range(len(block.lines)))]
    chosen = pick([1] * len(block.lines), priority, caps[0])
    marked_ids = set(block.highlight)
    shown: list[str] = []
    marked: set[int] = set()
    previous = -1
    for i in chosen:
        if i != previous + 1:
            shown.append("⋯")
        if i in marked_ids:
            marked.add(len(shown))
        shown.append(block.lines[i])
        previous = i
    if previous != len(block.lines) - 1:
        shown.append("⋯")
    return [*out, _code(shown, marked)]


def _timeline(block: TimelineBlock, caps: tuple[int, int, int]) -> list[JSON]:
    out = [heading(block.title or "Events")]
    if not block.entries:
        return [*out, rich(run("No events.", isSubtle=True))]
    warnings = [i for i, e in enumerate(block.entries) if e.type == "Warning"]
    chosen = pick([1] * len(block.entries), [*warnings, *range(len(block.entries))], caps[1])
    for i in chosen:
        e = block.entries[i]
        count = f" (×{e.count})" if e.count > 1 else ""  # noqa: RUF001
        warn: JSON = {"color": "Attention"} if e.type == "Warning" else {}
        out.append(
            rich(
                run(fmt_time(e.time), isSubtle=True, fontType="Monospace", size="Small"),
                run(f"  {e.reason}", weight="Bolder", **warn),
                run(f"  {e.object}  {e.message}{count}"),
                spacing="Small",
            )
        )
    if len(chosen) < len(block.entries):
        more = len(block.entries) - len(chosen)
        out.append(rich(run(f"… {more} more events in the full report", isSubtle=True)))
    return out


def _chart(block: ChartBlock, caps: tuple[int, int, int]) -> list[JSON]:
    out = [heading(block.title)]
    if block.x_label or block.y_label:
        axes = f"{block.y_label or 'value'} by {block.x_label or 'x'}"
        out.append(rich(run(axes, isSubtle=True), spacing="None"))
    summary = series_summary(block)
    out.append(facts(summary) if summary else rich(run("No data.", isSubtle=True)))
    return out


def _block(block: Block, caps: tuple[int, int, int]) -> list[JSON]:
    if isinstance(block, FieldsBlock):
        return _fields(block, caps)
    if isinstance(block, TableBlock):
        return _table(block, caps)
    if isinstance(block, MarkdownBlock):
        return _markdown(block, caps)
    if isinstance(block, LogBlock):
        return _log(block, caps)
    if isinstance(block, TimelineBlock):
        return _timeline(block, caps)
    return _chart(block, caps)


def _message(body: list[JSON], report_url: str | None) -> JSON:
    card: JSON = {
        "$schema": SCHEMA,
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "msteams": {"width": "Full"},
    }
    if report_url:
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": "Open full report", "url": report_url}
        ]
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def render_teams(
    report: Report, *, report_url: str | None = None, max_bytes: int = MAX_BYTES
) -> JSON:
    """The report as a Teams message (an Adaptive Card 1.4 attachment) under `max_bytes`."""
    label = SEVERITY_LABEL[report.severity]
    top: list[JSON] = [
        {
            "type": "Container",
            "style": STYLE[report.severity],
            "bleed": True,
            "items": [
                rich(run(label, weight="Bolder", size="Small")),
                rich(
                    *(
                        run(span.text, weight="Bolder", size="Large", fontType="Monospace")
                        if span.kind == "code"
                        else run(span.text, weight="Bolder", size="Large")
                        for span in title_spans(report.title)
                    ),
                    spacing="None",
                ),
                rich(
                    run(
                        f"{report.workflow_title} · cluster {report.cluster} · job "
                        f"{job_ref(report)} · {fmt_time(report.created_at)}",
                        isSubtle=True,
                    ),
                    spacing="None",
                ),
            ],
        }
    ]
    if report.summary.strip():
        top.append(rich(run(_clip(report.summary.strip(), 3000))))
    bottom = [heading("Report"), facts(meta_fields(report))]
    note = "… (truncated; open the full report for everything)" if report_url else "… (truncated)"
    message: JSON = {}
    for caps in CAPS:
        sections = [_block(b, caps) for b in report.blocks]
        body = top + [el for section in sections for el in section] + bottom
        message = _message(body, report_url)
        if payload_size(message) <= max_bytes:
            return message
    while sections:  # still too big: drop trailing sections, say so
        sections.pop()
        cut = rich(run(note, italic=True, color="Warning"), separator=True)
        body = [*top, *(el for s in sections for el in s), cut, *bottom]
        message = _message(body, report_url)
        if payload_size(message) <= max_bytes:
            return message
    return _message([*top[:1], rich(run(note, italic=True))], report_url)
