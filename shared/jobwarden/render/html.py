"""A report as one standalone HTML page (the index page: `render.index`).

Readable without JavaScript: inline CSS, charts as inline SVG (`render.svg`),
chart data in a `<details>` table, tooltips as SVG `<title>`s. Every piece of
text goes through `html.escape`; links are kept only for http(s) and mailto.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from jobwarden.render.common import (
    LINK_SCHEMES,
    SEVERITY_LABEL,
    Node,
    Span,
    chart_table,
    fmt_time,
    job_ref,
    log_title,
    meta_fields,
    parse_markdown,
    plain_title,
    title_spans,
)
from jobwarden.render.svg import color, render_chart_svg
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

CSS = """
:root{--fg:#111827;--muted:#4b5563;--line:#e5e7eb;--bg:#fff;--code:#f3f4f6}
*{box-sizing:border-box}
body{margin:0;background:#f9fafb;color:var(--fg);
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1040px;margin:0 auto;padding:24px}
header{background:var(--bg);border:1px solid var(--line);border-left:6px solid var(--sev);
border-radius:6px;padding:16px 20px;margin-bottom:16px}
.sev-error{--sev:#dc2626}.sev-warning{--sev:#d97706}.sev-info{--sev:#2563eb}
.badge{display:inline-block;font-size:12px;font-weight:700;letter-spacing:.05em;color:#fff;
background:var(--sev);border-radius:4px;padding:1px 8px}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:17px;margin:0 0 8px}
.sub,.muted{color:var(--muted)}
section{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:16px 20px;
margin-bottom:16px;overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f4f6}
table.kv th{width:28%;background:none;font-weight:600}
tr.warn td{background:#fef3c7}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
code{background:var(--code);padding:0 4px;border-radius:3px}
pre{background:#0f172a;color:#e2e8f0;padding:12px;border-radius:6px;overflow-x:auto;
counter-reset:ln}
pre.plain{background:var(--code);color:var(--fg)}
pre .l{display:block;white-space:pre-wrap;word-break:break-all;padding-left:4.5em;
text-indent:-4.5em}
pre .l::before{counter-increment:ln;content:counter(ln);display:inline-block;width:3.5em;
margin-right:1em;text-align:right;color:#64748b;text-indent:0}
pre .hl{background:#7f1d1d;color:#fff;font-weight:700}
svg.chart{width:100%;height:auto;max-width:720px;display:block}
ul.legend{list-style:none;padding:0;margin:8px 0;display:flex;flex-wrap:wrap;gap:12px}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;
vertical-align:-1px}
footer{color:var(--muted);font-size:13px;margin:24px 0}
"""


def _inline(spans: list[Span]) -> str:
    out = []
    for span in spans:
        text = escape(span.text)
        if span.kind == "bold":
            out.append(f"<strong>{text}</strong>")
        elif span.kind == "italic":
            out.append(f"<em>{text}</em>")
        elif span.kind == "code":
            out.append(f"<code>{text}</code>")
        elif span.kind == "link" and span.url.lower().startswith(LINK_SCHEMES):
            out.append(
                f'<a href="{escape(span.url)}" rel="noopener noreferrer nofollow">{text}</a>'
            )
        else:
            out.append(text)
    return "".join(out)


def markdown_to_html(text: str) -> str:
    """The Markdown subset of a `markdown` block as escaped HTML."""
    out = []
    for node in parse_markdown(text):
        out.append(_node(node))
    return "\n".join(out)


def _node(node: Node) -> str:
    if node.kind == "code":
        return f'<pre class="plain"><code>{escape(node.code)}</code></pre>'
    if node.kind == "heading":
        return f"<h3>{_inline(node.items[0])}</h3>"
    if node.kind in ("bullets", "numbered"):
        tag = "ul" if node.kind == "bullets" else "ol"
        items = "".join(f"<li>{_inline(item)}</li>" for item in node.items)
        return f"<{tag}>{items}</{tag}>"
    return f"<p>{_inline(node.items[0])}</p>"


def _table(columns: list[str], rows: list[list[str]], *, row_class: list[str] | None = None) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_class[i]}"' if row_class and row_class[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _kv(pairs: Iterable[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in pairs)
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def _title(title: str) -> str:
    """The report's title, its code spans as <code>."""
    return "".join(
        f"<code>{escape(span.text)}</code>" if span.kind == "code" else escape(span.text)
        for span in title_spans(title)
    )


def _h2(title: str | None) -> str:
    return f"<h2>{escape(title)}</h2>" if title else ""


def _fields(block: FieldsBlock) -> str:
    if not block.fields:
        return _h2(block.title) + '<p class="muted">No fields.</p>'
    return _h2(block.title) + _kv((f.name, f.value) for f in block.fields)


def _log(block: LogBlock) -> str:
    title = _h2(log_title(block.title, block.pod, block.container))
    about = (
        f"Pod <code>{escape(block.pod)}</code>, container <code>{escape(block.container)}</code>"
    )
    if block.truncated:
        about += f"; the last {len(block.lines)} lines (earlier lines cut)"
    if block.highlight:
        about += "; highlighted lines look like the error"
    if not block.lines:
        return f'{title}<p class="sub">{about}.</p><p class="muted">The log is empty.</p>'
    marked = set(block.highlight)
    lines = "".join(
        f'<span class="l{" hl" if i in marked else ""}">{escape(line)}\n</span>'
        for i, line in enumerate(block.lines)
    )
    return f'{title}<p class="sub">{about}.</p><pre class="log"><code>{lines}</code></pre>'


def _timeline(block: TimelineBlock) -> str:
    title = _h2(block.title or "Events")
    if not block.entries:
        return title + '<p class="muted">No events.</p>'
    rows = [
        [fmt_time(e.time), e.type, e.reason, e.object, e.message, str(e.count)]
        for e in block.entries
    ]
    classes = ["warn" if e.type == "Warning" else "" for e in block.entries]
    columns = ["Time", "Type", "Reason", "Object", "Message", "Count"]
    return title + _table(columns, rows, row_class=classes)


def _chart(block: ChartBlock) -> str:
    legend = "".join(
        f'<li><span class="swatch" style="background:{color(i)}"></span>{escape(s.name)}</li>'
        for i, s in enumerate(block.series)
    )
    columns, rows = chart_table(block)
    data = f"<details><summary>Data</summary>{_table(columns, rows)}</details>" if rows else ""
    return (
        f"<figure>{_h2(block.title)}{render_chart_svg(block)}"
        f'<ul class="legend">{legend}</ul>{data}</figure>'
    )


def _block(block: Block) -> str:
    if isinstance(block, FieldsBlock):
        return _fields(block)
    if isinstance(block, TableBlock):
        if not block.rows:
            return _h2(block.title) + '<p class="muted">No rows.</p>'
        return _h2(block.title) + _table(block.columns, block.rows)
    if isinstance(block, MarkdownBlock):
        return markdown_to_html(block.text)
    if isinstance(block, LogBlock):
        return _log(block)
    if isinstance(block, TimelineBlock):
        return _timeline(block)
    return _chart(block)


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="generator" content="jobwarden">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>\n"
        f"<body><main>\n{body}\n</main></body></html>\n"
    )


def render_html(report: Report, *, report_url: str | None = None) -> str:
    """The report as a standalone HTML page."""
    sev = report.severity
    header = (
        f'<header class="sev-{sev}"><span class="badge">{SEVERITY_LABEL[sev]}</span>'
        f"<h1>{_title(report.title)}</h1>"
        f'<p class="sub">{escape(report.workflow_title)} · cluster '
        f"<code>{escape(report.cluster)}</code> · job <code>{escape(job_ref(report))}</code>"
        f" · {escape(fmt_time(report.created_at))}</p>"
    )
    if report.summary.strip():
        paragraphs = [p for p in report.summary.strip().split("\n\n") if p.strip()]
        header += "".join(f"<p>{escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    header += "</header>"
    sections = [f"<section>{_block(b)}</section>" for b in report.blocks]
    sections.append(f"<section><h2>Report</h2>{_kv(meta_fields(report))}</section>")
    link = ""
    if report_url and report_url.lower().startswith(LINK_SCHEMES):
        link = f' · <a href="{escape(report_url)}">permalink</a>'
    footer = f"<footer>Generated by jobwarden · report {escape(report.id)}{link}</footer>"
    title = (
        f"[{SEVERITY_LABEL[sev]}] {plain_title(report.title)} — {report.cluster}/{job_ref(report)}"
    )
    return _page(title, "\n".join([header, *sections, footer]))
