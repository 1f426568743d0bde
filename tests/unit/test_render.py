"""Renderers: what a reader sees in Markdown, HTML, Slack and Teams, and that chat limits hold.

The full output of every format for real reports is checked against the goldens made by the
real event path (`tests/unit/test_goldens.py`); here, what each format must say, on real
reports where the event path makes them, and hand-made ones (`tests/support/reports.py`)
only for shapes no recording yields (a performance report with charts, hostile or huge input).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from jobwarden.render import render
from jobwarden.render.html import render_html
from jobwarden.render.index import render_index_html
from jobwarden.render.markdown import render_markdown
from jobwarden.render.slack import render_slack, ulen
from jobwarden.render.svg import nice_ticks, render_chart_svg
from jobwarden.render.teams import payload_size, render_teams
from jobwarden.report import ChartBlock, IndexEntry, LogBlock, Report
from tests.support.goldens import reports_of
from tests.support.reports import (
    hostile_report,
    huge_report,
    oomkilled_report,
    performance_report,
)

URL = "https://reports.example.com/r/latest.html"
RENDERERS: dict[str, Callable[[Report], str]] = {
    "md": lambda r: render_markdown(r, report_url=URL),
    "html": lambda r: render_html(r, report_url=URL),
    "slack.json": lambda r: (
        json.dumps(render_slack(r, report_url=URL), indent=2, ensure_ascii=False) + "\n"
    ),
    "teams.json": lambda r: (
        json.dumps(render_teams(r, report_url=URL), indent=2, ensure_ascii=False) + "\n"
    ),
}


# --- what every format says -------------------------------------------------------------------


@cache
def real_report(scenario: str, workflow: str = "jobFailureReporter") -> Report:
    """The report the real event path makes of recording `scenario` (tests.support.goldens)."""
    (report,) = [r for r in reports_of(scenario) if r.workflow == workflow]
    return report


@pytest.mark.parametrize("fmt", list(RENDERERS))
def test_oomkilled_report_names_container_and_limit_in_every_format(fmt: str) -> None:
    text = RENDERERS[fmt](real_report("oomkilled"))
    for words in ("OOMKilled", "worker", "512Mi", "rec-oomkilled/resize-images"):
        assert words in text
    assert "BackoffLimitExceeded" in text
    assert "local" in text


@pytest.mark.parametrize("fmt", list(RENDERERS))
def test_backoff_report_quotes_the_error_line_in_every_format(fmt: str) -> None:
    text = RENDERERS[fmt](real_report("backoff-log-error"))
    shown = text.replace('\\"', '"').replace("&quot;", '"')  # as JSON or HTML escape it
    assert 'ERROR: relation "orders" does not exist' in shown


@pytest.mark.parametrize("fmt", list(RENDERERS))
def test_every_block_type_shows_up_in_every_format(fmt: str) -> None:
    perf = RENDERERS[fmt](performance_report())
    assert "Duration per run" in perf and "Where the time went" in perf
    assert "Peak memory by container" in perf
    stuck = RENDERERS[fmt](real_report("stuck-image-pull"))
    assert "ImagePullBackOff" in stuck and "Back-off pulling image" in stuck
    oom = RENDERERS[fmt](real_report("oomkilled"))
    assert re.search(r"resize-images-[a-z0-9]{5}\b", oom)  # the pod's row in the table
    assert "Raise the memory limit" in oom  # markdown


def test_render_picks_the_format_by_name() -> None:
    report = oomkilled_report()
    assert render(report, "json") == report.to_json()
    assert render(report, "md").startswith("# ")
    assert render(report, "html").startswith("<!DOCTYPE html>")
    with pytest.raises(ValueError, match="json, md, html"):
        render(report, "pdf")  # type: ignore[arg-type]


# --- Markdown ---------------------------------------------------------------------------------


def test_markdown_log_fence_is_longer_than_any_backtick_run_in_the_log() -> None:
    text = render_markdown(hostile_report())
    fence = re.search(r"^(`{3,})text$", text, re.MULTILINE)
    assert fence is not None
    assert len(fence.group(1)) == 5  # the log holds a run of four backticks
    assert "\n>> <script>alert('pwned')</script>\n" in text  # verbatim inside the fence


def test_markdown_escapes_cluster_text_outside_code() -> None:
    text = render_markdown(hostile_report())
    assert "Job \\<b\\>x\\</b\\> \\& `y` failed \\<\\!here\\>" in text  # `y`: code
    assert "| \\<i\\>name\\</i\\> | \\<\\!channel\\> \\& \\|pipe\\| |" in text


# --- HTML -------------------------------------------------------------------------------------


def test_html_escapes_script_tags_from_logs_titles_and_charts() -> None:
    page = render_html(hostile_report())
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;script&gt;chart&lt;/script&gt;" in page


def test_html_keeps_only_http_links() -> None:
    page = render_html(hostile_report())
    assert "javascript:" not in page.split("<pre")[0].split("</header>")[1].replace(
        "[click](javascript:alert(1))", ""
    )
    assert 'href="javascript' not in page
    good = render_html(oomkilled_report())
    assert '<a href="https://runbooks.example.com/oom" rel="noopener noreferrer nofollow">' in good


def test_html_page_is_standalone_and_needs_no_javascript() -> None:
    page = render_html(performance_report())
    assert page.startswith("<!DOCTYPE html>")
    assert "<style>" in page
    for external in ("<script", "<link", "src=", "@import"):
        assert external not in page


def test_html_draws_each_chart_as_inline_svg_with_its_data() -> None:
    page = render_html(performance_report())
    assert page.count("<svg") == 3
    assert "<polyline" in page  # line chart
    assert page.count("<rect") >= 8 * 3 + 4  # stacked bars and grouped bars
    assert "<title>duration · 28744: 512</title>" in page
    assert "<details><summary>Data</summary>" in page


def test_html_marks_the_lines_that_look_like_the_error() -> None:
    page = render_html(oomkilled_report())
    assert '<span class="l hl">2024-05-01T02:00:03Z ERROR MemoryError' in page
    assert "64.0 MiB\n</span>" in page  # lines stay lines when copied or read without CSS
    assert '<span class="l">2024-05-01T01:59:01Z INFO' in page


def test_chart_svg_handles_negatives_single_points_and_no_data() -> None:
    negative = ChartBlock.model_validate(
        {
            "title": "delta",
            "kind": "stackedBar",
            "series": [
                {"name": "a", "points": [{"x": "1", "y": -3}, {"x": "2", "y": 4}]},
                {"name": "b", "points": [{"x": "1", "y": -1.5}]},
            ],
        }
    )
    svg = render_chart_svg(negative)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert ">-4<" in svg or ">-5<" in svg  # the axis reaches below the stacked negatives
    empty = ChartBlock(title="nothing", kind="line", series=[])
    assert "No data" in render_chart_svg(empty)
    single = ChartBlock.model_validate(
        {"title": "one", "kind": "line", "series": [{"name": "s", "points": [{"x": "a", "y": 7}]}]}
    )
    assert "<circle" in render_chart_svg(single)


def test_axis_ticks_are_round_numbers_covering_the_data() -> None:
    assert nice_ticks(0, 512) == [0, 200, 400, 600]
    assert nice_ticks(0, 90) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    ticks = nice_ticks(-4.5, 4)
    assert ticks[0] <= -4.5 and ticks[-1] >= 4


def test_index_page_links_every_report_across_clusters_newest_first() -> None:
    a, b = oomkilled_report("prod-eu"), performance_report("prod-us")
    entries = [IndexEntry.for_report(a, "prod-eu/x/a"), IndexEntry.for_report(b, "prod-us/y/b")]
    page = render_index_html(entries)
    assert '<a href="prod-eu/x/a.html">' in page and '<a href="prod-us/y/b.html">' in page
    assert page.index("prod-us/y/b.html") < page.index("prod-eu/x/a.html")  # b is newer
    assert "2 Job runs in 2 clusters" in page
    assert "<script" not in page.lower() and "<form" not in page  # static: no form


def test_index_page_has_one_row_per_job_run_with_its_worst_severity_and_escapes_titles() -> None:
    failed = oomkilled_report().model_copy(update={"title": "<script>alert(1)</script> & co"})
    info = failed.model_copy(
        update={"id": "info", "workflow": "jobInfoEnricher", "severity": "info", "title": "info"}
    )
    entries = [IndexEntry.for_report(info, "c/i"), IndexEntry.for_report(failed, "c/f")]
    page = render_index_html(entries, filters={"cluster": '"><b>'}, next_href="?cursor=a&b=1")
    assert page.count('<tr class="run') == 1
    assert 'data-severity="error"' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page
    assert "<script" not in page and "<b>" not in page
    assert 'href="?cursor=a&amp;b=1"' in page


# --- Slack ------------------------------------------------------------------------------------


def _slack_texts(message: dict[str, Any]) -> list[str]:
    texts = []
    for block in message["blocks"]:
        if "text" in block:
            texts.append(block["text"]["text"])
        texts.extend(f["text"] for f in block.get("fields", []))
        texts.extend(e["text"] for e in block.get("elements", []))
    return texts


def test_slack_message_for_a_huge_report_stays_within_slack_limits() -> None:
    message = render_slack(huge_report(), report_url=URL)
    blocks = message["blocks"]
    assert len(blocks) <= 50
    header = blocks[0]
    assert header["type"] == "header" and ulen(header["text"]["text"]) <= 150
    for block in blocks:
        if block["type"] == "section":
            assert ulen(block.get("text", {}).get("text", "")) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(ulen(f["text"]) <= 2000 for f in block.get("fields", []))
    assert ulen(message["text"]) <= 3000
    visible = "\n".join(_slack_texts(message))
    assert f"… (truncated; full report: <{URL}>)" in visible
    assert "more sections not shown" in visible


def test_slack_cut_log_keeps_the_error_lines_and_the_tail() -> None:
    message = render_slack(huge_report(), report_url=URL)
    log = next(t for t in _slack_texts(message) if t.startswith("*Log of container c"))
    assert "&gt;&gt; line 3 " in log and "&gt;&gt; line 1990 " in log
    assert "line 1999 " in log and "line 500 " not in log
    assert "⋯" in log  # gaps are marked
    assert log.count("```") == 2  # the code block is closed before the note


def test_slack_escapes_mentions_html_and_cannot_close_the_code_block_early() -> None:
    message = render_slack(hostile_report())
    header = message["blocks"][0]["text"]
    assert header["type"] == "plain_text"  # shown literally: Slack parses no mentions there
    text = json.dumps({**message, "blocks": message["blocks"][1:]}, ensure_ascii=False)
    assert "<!channel>" not in text and "<!here>" not in text and "<@U123>" not in text
    assert "&lt;!channel&gt; &amp; &lt;@U123&gt;" in text
    log = next(t for t in _slack_texts(message) if t.startswith("*Log of container"))
    inner = log.split("```\n", 1)[1].rsplit("\n```", 1)[0]
    assert "```" not in inner  # runs of backticks are broken with zero-width spaces
    assert "`\u200b`\u200b`" in inner


def test_slack_without_report_url_still_says_what_was_cut() -> None:
    message = render_slack(huge_report())
    visible = "\n".join(_slack_texts(message))
    assert "… (truncated)" in visible
    assert "full report" not in visible


def test_slack_fields_show_as_name_and_value_pairs() -> None:
    message = render_slack(oomkilled_report())
    cause = next(b for b in message["blocks"] if b.get("text", {}).get("text") == "*Cause*")
    assert {"type": "mrkdwn", "text": "*Memory limit*\n512Mi"} in cause["fields"]


# --- Teams ------------------------------------------------------------------------------------


def _card(message: dict[str, Any]) -> dict[str, Any]:
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card: dict[str, Any] = attachment["content"]
    return card


def _walk(element: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(element, dict):
        found.append(element)
        for value in element.values():
            found.extend(_walk(value))
    elif isinstance(element, list):
        for value in element:
            found.extend(_walk(value))
    return found


def test_teams_message_is_an_adaptive_card_1_4_with_facts_and_a_link() -> None:
    message = render_teams(oomkilled_report(), report_url=URL)
    assert message["type"] == "message"
    card = _card(message)
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    facts = [e for e in _walk(card) if e.get("type") == "FactSet"]
    assert {"title": "Memory limit", "value": "512Mi"} in facts[0]["facts"]
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open full report", "url": URL}]
    assert not [e for e in _walk(card) if e.get("type") == "Table"]  # Table needs 1.5


def test_teams_shows_log_lines_literally_and_the_error_lines_in_red() -> None:
    card = _card(render_teams(hostile_report()))
    runs = [e for e in _walk(card) if e.get("type") == "TextRun"]
    script = next(r for r in runs if r["text"] == "<script>alert('pwned')</script>")
    assert script["color"] == "Attention" and script["fontType"] == "Monospace"
    assert any(r["text"] == "```" for r in runs)
    text_blocks = [e["text"] for e in _walk(card) if e.get("type") == "TextBlock"]
    assert not any("<script" in t for t in text_blocks if "[click]" not in t)


def test_teams_card_for_a_huge_report_stays_under_28_kb() -> None:
    message = render_teams(huge_report(), report_url=URL)
    assert payload_size(message) <= 27_000
    runs = [e.get("text", "") for e in _walk(_card(message))]
    assert any(str(t).startswith("…") for t in runs)


def test_teams_drops_trailing_sections_when_caps_are_not_enough() -> None:
    report = huge_report()
    message = render_teams(report, report_url=URL, max_bytes=9_000)
    assert payload_size(message) <= 9_000
    runs = [e.get("text", "") for e in _walk(_card(message))]
    assert "… (truncated; open the full report for everything)" in runs


def test_teams_log_cut_keeps_the_error_lines() -> None:
    lines = [f"step {i}" for i in range(500)]
    log = LogBlock(pod="p", container="c", lines=lines, highlight=[10])
    report = oomkilled_report().model_copy(update={"blocks": [log]})
    runs = [e for e in _walk(_card(render_teams(report))) if e.get("type") == "TextRun"]
    texts = [r["text"] for r in runs]
    assert "step 10" in texts and "step 499" in texts and "step 200" not in texts
    assert next(r for r in runs if r["text"] == "step 10")["color"] == "Attention"


def test_code_in_a_title_renders_as_code_and_never_shows_backticks() -> None:
    report = oomkilled_report().model_copy(
        update={"title": "Job batch/etl failed: Container `worker` ran out of memory <b>"}
    )
    html = render_html(report)
    assert (
        "<h1>Job batch/etl failed: Container <code>worker</code> ran out of memory &lt;b&gt;</h1>"
        in html
    )
    assert "<title>[ERROR] Job batch/etl failed: Container worker ran out" in html
    assert render_markdown(report).startswith(
        "# 🔴 Job batch/etl failed: Container `worker` ran out of memory \\<b\\>\n"
    )
    header = render_slack(report)["blocks"][0]["text"]
    assert header["type"] == "plain_text" and "`" not in header["text"]  # no markup there
    assert "Container worker ran out of memory" in header["text"]
    card = json.dumps(render_teams(report))
    assert '"text": "worker", "weight": "Bolder", "size": "Large", "fontType": "Monospace"' in card
    assert "`" not in card.split('"body"')[1].split("Job failure report")[0]
