"""Renderers: one canonical `Report` as Markdown, HTML, Slack Block Kit or a Teams card.

Each renderer lives in its own module and is imported on first use, so importing
this package costs nothing. `render(report, fmt)` picks one by name for the http
targets' `?format=` parameter.
"""

from __future__ import annotations

from typing import Literal

from jobwarden.report import Report

Format = Literal["json", "md", "html"]
CONTENT_TYPES: dict[str, str] = {
    "json": "application/json; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
}


def render(report: Report, fmt: str, *, report_url: str | None = None) -> str:
    """The report as canonical JSON, Markdown or a standalone HTML page."""
    if fmt == "json":
        return report.to_json()
    if fmt == "md":
        from jobwarden.render.markdown import render_markdown

        return render_markdown(report, report_url=report_url)
    if fmt == "html":
        from jobwarden.render.html import render_html

        return render_html(report, report_url=report_url)
    raise ValueError(f"unknown report format {fmt!r}; use one of json, md, html")
