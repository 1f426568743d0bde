"""A report as a Slack Block Kit message, always within Slack's limits.

Slack rejects a whole message (`invalid_blocks`, HTTP 400) when any limit is
broken, so this renderer never relies on the caller: at most 50 blocks, header
text ≤150 characters, section text ≤3000, ≤10 fields per section of ≤2000 each.
Lengths are counted in UTF-16 units (conservative for emoji). What does not fit
is cut visibly: `… (truncated; full report: <url>)` when a report URL is given.

Text from the cluster is escaped for mrkdwn (`&`, `<`, `>`), so a log line saying
`<!channel>` cannot ping anyone; in code blocks runs of backticks are broken with
zero-width spaces so they cannot close the block early. Logs keep the lines that
look like the error plus the tail that fits.
"""

from __future__ import annotations

import re
from typing import Any

from jobwarden.render.common import (
    SEVERITY_EMOJI,
    SEVERITY_LABEL,
    Span,
    fmt_time,
    job_ref,
    log_title,
    parse_markdown,
    pick,
    plain_title,
    series_summary,
    with_gaps,
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

MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_SECTION = 3000
MAX_FIELDS = 10
MAX_FIELD = 2000
MAX_CELL = 30
HIGHLIGHT = ">> "
PLAIN = "   "
JSON = dict[str, Any]


def ulen(text: str) -> int:
    """Length in UTF-16 code units (what Slack's limits count, conservatively)."""
    return len(text.encode("utf-16-le")) // 2


def escape(text: str) -> str:
    """`text` safe for mrkdwn: no entities, links or mentions can be smuggled in."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code_safe(text: str) -> str:
    """`text` escaped for use inside a ``` block (backtick runs broken with U+200B)."""
    return re.sub(r"`(?=`)", "`\u200b", escape(text))


def inline_code(text: str) -> str:
    return "`" + escape(text).replace("`", "ˋ") + "`"  # noqa: RUF001 - look-alike keeps the span whole


def link(url: str, label: str | None = None) -> str:
    target = escape(url).replace("|", "%7C")
    return f"<{target}|{escape(label)}>" if label else f"<{target}>"


def cut(text: str, limit: int) -> str:
    """At most `limit` units of `text`, never ending inside an entity or a `<link>`."""
    if ulen(text) <= limit:
        return text
    out = text[:limit]
    while ulen(out) > limit:
        out = out[:-1]
    amp, lt = out.rfind("&"), out.rfind("<")
    if amp != -1 and ";" not in out[amp:]:
        out = out[:amp]
    if lt != -1 and ">" not in out[lt:]:
        out = out[:lt]
    return out


class _Builder:
    def __init__(self, report_url: str | None) -> None:
        self.blocks: list[JSON] = []
        self.note = (
            f"… (truncated; full report: {link(report_url)})" if report_url else "… (truncated)"
        )

    def fit(self, text: str, limit: int = MAX_SECTION) -> str:
        if ulen(text) <= limit:
            return text
        kept = cut(text, limit - ulen(self.note) - 6)
        if kept.count("```") % 2:
            kept += "\n```"
        return kept + "\n" + self.note

    def section(self, text: str, fields: list[str] | None = None) -> JSON:
        block: JSON = {"type": "section"}
        if text:
            block["text"] = {"type": "mrkdwn", "text": self.fit(text)}
        if fields:
            block["fields"] = [
                {"type": "mrkdwn", "text": self.fit(f, MAX_FIELD)} for f in fields[:MAX_FIELDS]
            ]
        return block


def _fields(b: _Builder, block: FieldsBlock) -> list[JSON]:
    texts = [f"*{escape(f.name)}*\n{escape(f.value)}" for f in block.fields]
    title = f"*{escape(block.title)}*" if block.title else ""
    if not texts:
        return [b.section(title + "\n_No fields._")]
    chunks = [texts[i : i + MAX_FIELDS] for i in range(0, len(texts), MAX_FIELDS)]
    return [b.section(title if n == 0 else "", chunk) for n, chunk in enumerate(chunks)]


def _table(b: _Builder, block: TableBlock) -> list[JSON]:
    title = f"*{escape(block.title)}*\n" if block.title else ""
    if not block.rows:
        return [b.section(title + "_No rows._")]

    def clip(text: str) -> str:
        text = " ".join(text.split())
        return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"

    grid = [[clip(c) for c in block.columns], *([clip(c) for c in r] for r in block.rows)]
    widths = [max(len(row[i]) for row in grid) for i in range(len(block.columns))]
    lines = [
        code_safe("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        for row in grid
    ]
    budget = MAX_SECTION - ulen(title) - 8 - ulen(b.note) - 40
    chosen = pick([ulen(s) + 1 for s in lines], list(range(len(lines))), budget)
    shown = [lines[i] for i in chosen]
    more = len(lines) - len(chosen)
    tail = f"\n_{more} more rows not shown_ {b.note}" if more else ""
    return [b.section(title + "```\n" + "\n".join(shown) + "\n```" + tail)]


def _spans(spans: list[Span]) -> str:
    out = []
    for s in spans:
        if s.kind == "bold":
            out.append(f"*{escape(s.text)}*")
        elif s.kind == "italic":
            out.append(f"_{escape(s.text)}_")
        elif s.kind == "code":
            out.append(inline_code(s.text))
        elif s.kind == "link":
            out.append(link(s.url, s.text))
        else:
            out.append(escape(s.text))
    return "".join(out)


def markdown_to_mrkdwn(text: str) -> list[str]:
    """The Markdown subset as mrkdwn paragraphs (one per node)."""
    out = []
    for node in parse_markdown(text):
        if node.kind == "code":
            out.append("```\n" + code_safe(node.code) + "\n```")
        elif node.kind == "heading":
            out.append(f"*{_spans(node.items[0])}*")
        elif node.kind == "bullets":
            out.append("\n".join(f"• {_spans(item)}" for item in node.items))
        elif node.kind == "numbered":
            out.append("\n".join(f"{n}. {_spans(item)}" for n, item in enumerate(node.items, 1)))
        else:
            out.append(_spans(node.items[0]))
    return out


def _markdown(b: _Builder, block: MarkdownBlock) -> list[JSON]:
    sections: list[str] = []
    for part in markdown_to_mrkdwn(block.text):
        if sections and ulen(sections[-1]) + ulen(part) + 2 <= MAX_SECTION:
            sections[-1] += "\n\n" + part
        else:
            sections.append(part)
    return [b.section(s) for s in sections if s]


def _log(b: _Builder, block: LogBlock) -> list[JSON]:
    head = f"*{escape(log_title(block.title, block.pod, block.container))}*\n"
    head += f"Pod {inline_code(block.pod)}, container {inline_code(block.container)}"
    if block.truncated:
        head += f" · last {len(block.lines)} lines (earlier lines cut)"
    if block.highlight:
        head += f" · lines marked `{HIGHLIGHT.strip()}` look like the error"
    if not block.lines:
        return [b.section(head + "\n_The log is empty._")]
    marked = set(block.highlight)
    gutter = bool(marked)
    lines = [
        code_safe(((HIGHLIGHT if i in marked else PLAIN) if gutter else "") + line)
        for i, line in enumerate(block.lines)
    ]
    gap = PLAIN + "⋯" if gutter else "⋯"
    budget = MAX_SECTION - ulen(head) - 9 - ulen(b.note) - 2
    costs = [ulen(s) + 1 + ulen(gap) + 1 for s in lines]
    priority = [*block.highlight, *reversed(range(len(lines)))]
    chosen = pick(costs, priority, budget)
    body = "\n".join(with_gaps(lines, chosen, gap))
    note = f"\n{b.note}" if len(chosen) < len(lines) else ""
    return [b.section(f"{head}\n```\n{body}\n```{note}")]


def _timeline(b: _Builder, block: TimelineBlock) -> list[JSON]:
    head = f"*{escape(block.title or 'Events')}*"
    if not block.entries:
        return [b.section(head + "\n_No events._")]
    lines = []
    for e in block.entries:
        count = f" (×{e.count})" if e.count > 1 else ""  # noqa: RUF001
        icon = ":warning: " if e.type == "Warning" else ""
        lines.append(
            f"• `{fmt_time(e.time)}` {icon}*{escape(e.reason)}* {inline_code(e.object)}"
            f" {escape(e.message)}{count}"
        )
    warnings = [i for i, e in enumerate(block.entries) if e.type == "Warning"]
    budget = MAX_SECTION - ulen(head) - ulen(b.note) - 40
    chosen = pick([ulen(s) + 1 for s in lines], [*warnings, *range(len(lines))], budget)
    text = head + "\n" + "\n".join(lines[i] for i in chosen)
    if len(chosen) < len(lines):
        text += f"\n_{len(lines) - len(chosen)} more events not shown_ {b.note}"
    return [b.section(text)]


def _chart(b: _Builder, block: ChartBlock, report_url: str | None) -> list[JSON]:
    text = f"*{escape(block.title)}*"
    if block.y_label or block.x_label:
        text += f" _({escape(block.y_label or 'value')} by {escape(block.x_label or 'x')})_"
    for name, summary in series_summary(block):
        text += f"\n• *{escape(name)}*: {escape(summary)}"
    if not block.series:
        text += "\n_No data._"
    if report_url:
        text += f"\n{link(report_url, 'See the chart in the full report')}"
    return [b.section(text)]


def _render_block(b: _Builder, block: Block, report_url: str | None) -> list[JSON]:
    if isinstance(block, FieldsBlock):
        return _fields(b, block)
    if isinstance(block, TableBlock):
        return _table(b, block)
    if isinstance(block, MarkdownBlock):
        return _markdown(b, block)
    if isinstance(block, LogBlock):
        return _log(b, block)
    if isinstance(block, TimelineBlock):
        return _timeline(b, block)
    return _chart(b, block, report_url)


def render_slack(report: Report, *, report_url: str | None = None) -> JSON:
    """The report as a Slack message payload (`text` fallback + `blocks`)."""
    b = _Builder(report_url)
    emoji, label = SEVERITY_EMOJI[report.severity], SEVERITY_LABEL[report.severity]
    title = f"{emoji} {plain_title(report.title)}"  # a header is plain text: no backticks
    if ulen(title) > MAX_HEADER:
        title = cut(title, MAX_HEADER - 1) + "…"
    blocks: list[JSON] = [{"type": "header", "text": {"type": "plain_text", "text": title}}]
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"*{label}* · {escape(report.workflow_title)} · cluster "
                    f"{inline_code(report.cluster)} · job {inline_code(job_ref(report))}"
                    f" · {fmt_time(report.created_at)}",
                }
            ],
        }
    )
    if report.summary.strip():
        blocks.append(b.section(escape(report.summary.strip())))
    footer: list[JSON] = [
        {"type": "divider"},
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"report `{escape(report.id)}`"
                    + (f" · {link(report_url, 'Full report')}" if report_url else ""),
                }
            ],
        },
    ]
    room = MAX_BLOCKS - len(footer) - 1  # one for the "more sections" note
    rendered = [_render_block(b, block, report_url) for block in report.blocks]
    omitted = 0
    for parts in rendered:
        if omitted or len(blocks) + len(parts) > room:
            omitted += len(parts)
            continue
        blocks.extend(parts)
    if omitted:
        blocks.append(b.section(f"_{omitted} more sections not shown_ {b.note}"))
    blocks.extend(footer)
    fallback = f"{emoji} [{label}] {plain_title(report.title)} — {report.cluster}/{job_ref(report)}"
    return {
        "text": cut(escape(fallback), MAX_SECTION),
        "blocks": blocks,
        "unfurl_links": False,
        "unfurl_media": False,
    }
