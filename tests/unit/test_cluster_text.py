"""Text from the cluster reaches a reader redacted, capped and inert, in every format.

The hostile text goes through the builders (a Job's spec, its pods' messages, a gone Job's
event), not straight into a report, so the test covers what the builders do with it.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from jobwarden.enrich import Enrichment, LogTail, PodReport, phase_times
from jobwarden.failure import analyse
from jobwarden.intake import Trigger
from jobwarden.kube.objects import Job, JobRef, Pod
from jobwarden.redact import redact_text
from jobwarden.render.common import parse_markdown
from jobwarden.render.html import render_html
from jobwarden.render.markdown import render_markdown
from jobwarden.render.slack import render_slack
from jobwarden.render.teams import render_teams
from jobwarden.report import MarkdownBlock, Report
from jobwarden.workflows.builders import MAX_EVENT_TEXT, failure_report, gone_report, info_report

NOW = dt.datetime(2026, 11, 1, 10, 30, tzinfo=dt.UTC)
T0 = "2026-11-01T10:00:00Z"
EVIL = "<!channel> <https://evil.example|click> [click](https://evil.example) **x**"
SCRIPT = "<script>alert(1)</script>"
SECRETS = ("hunter2-abc", "s3cr3t", "T000/B000/XXXX", "t0k3n-v4lue", "eyJzdWIi")
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlX2FiY2RlZmdo"


def _job() -> Job:
    container = {
        "name": "main",
        "image": "registry.example.com/etl:1",
        "command": ["/app/etl", "--db-password=hunter2-abc"],
        "args": ["postgres://app:s3cr3t@db/x", "--token", "t0k3n-v4lue"],
        "env": [
            {"name": "NOTIFY", "value": "https://hooks.slack.com/services/T000/B000/XXXX"},
            {"name": "MODE", "value": "full"},
        ],
    }
    return Job.from_json(
        {
            "metadata": {"name": "etl", "namespace": "prod", "uid": "u1"},
            "spec": {"backoffLimit": 0, "template": {"spec": {"containers": [container]}}},
            "status": {
                "startTime": T0,
                "failed": 1,
                "conditions": [
                    {
                        "type": "Failed",
                        "status": "True",
                        "reason": "BackoffLimitExceeded",
                        "lastTransitionTime": "2026-11-01T10:10:00Z",
                        "message": f"{EVIL} password=hunter2-abc",
                    }
                ],
            },
        }
    )


def _enrichment() -> Enrichment:
    status: dict[str, Any] = {
        "phase": "Failed",
        "containerStatuses": [
            {
                "name": "main",
                "state": {"terminated": {"exitCode": 2, "reason": "Error"}},
            }
        ],
    }
    pod = Pod.from_json(
        {
            "metadata": {
                "name": "etl-x",
                "namespace": "prod",
                "uid": "p1",
                "creationTimestamp": T0,
            },
            "spec": {"nodeName": "n1"},
            "status": status,
        }
    )
    text = "\n".join((SCRIPT, f"ERROR {EVIL}", f"Authorization: Bearer {JWT}"))
    lines = tuple(redact_text(text).splitlines())  # as fetch_log reads them
    log = LogTail("etl-x", "main", False, lines, error_lines=(1,))
    report = PodReport(pod, phase_times(pod), (log,))
    return Enrichment(
        ref=JobRef("local", "prod", "etl", "u1"),
        job=_job(),
        pods=(report,),
        events=(),
        timeline=(),
        usage_note="",
        api_calls=0,
    )


def _trigger(message: str) -> Trigger:
    return Trigger(
        cluster="local",
        namespace="prod",
        job="etl",
        job_uid="u1",
        transition="failed",
        reason="BackoffLimitExceeded",
        message=message,
        time=NOW,
        event_id="ev-1",
        message_id=None,
        source_kind="exporter",
        original={},
    )


def _renderings(report: Report) -> dict[str, str]:
    return {
        "json": report.to_json(),
        "md": render_markdown(report),
        "html": render_html(report),
        "slack": json.dumps(render_slack(report), ensure_ascii=False),
        "teams": json.dumps(render_teams(report), ensure_ascii=False),
    }


def _teams_markdown(card: Any) -> list[str]:
    """The texts of a Teams message that Teams reads as Markdown (TextBlocks; TextRuns are
    shown as written)."""
    if isinstance(card, list):
        return [t for item in card for t in _teams_markdown(item)]
    if not isinstance(card, dict):
        return []
    own = [card["text"]] if card.get("type") == "TextBlock" else []
    return own + [t for v in card.values() for t in _teams_markdown(v)]


def _reports() -> list[Report]:
    e = _enrichment()
    return [
        failure_report(
            e,
            analyse(e),
            report_id="r1",
            source_event_id="ev-1",
            now=NOW,
            include_logs=True,
            include_events=True,
        ),
        info_report(e, report_id="r2", source_event_id="ev-1", now=NOW, show_details=True),
        gone_report(
            "jobFailureReporter",
            _trigger(f"{EVIL} {SCRIPT} password=hunter2-abc " + "x" * 5000),
            report_id="r3",
            now=NOW,
        ),
    ]


def test_no_secret_from_the_spec_logs_or_event_reaches_any_format() -> None:
    for report in _reports():
        for fmt, text in _renderings(report).items():
            for secret in SECRETS:
                assert secret not in text, (report.workflow, fmt, secret)


def test_keys_of_redacted_values_are_kept() -> None:
    info = _renderings(_reports()[1])["json"]
    assert "--db-password=[redacted]" in info
    assert "NOTIFY=[redacted]" in info
    assert "postgres://app:[redacted]@db/x" in info
    assert "--token [redacted]" in info
    assert "MODE=full" in info


def test_cluster_text_never_becomes_markup() -> None:
    for report in _reports():
        out = _renderings(report)
        assert "<script" not in out["html"].lower()
        assert 'href="https://evil' not in out["html"]
        assert "<!channel>" not in out["slack"] and "<https://evil" not in out["slack"]
        assert not [t for t in _teams_markdown(render_teams(report)) if "](https://evil" in t]
        for block in report.blocks:
            if isinstance(block, MarkdownBlock):
                spans = [s for node in parse_markdown(block.text) for i in node.items for s in i]
                assert not [s for s in spans if s.kind == "link"], block.text


def test_a_gone_jobs_event_text_is_redacted_and_capped() -> None:
    report = _reports()[2]
    (block,) = report.blocks
    assert isinstance(block, MarkdownBlock)
    assert len(report.summary) < MAX_EVENT_TEXT + 200
    assert len(block.text) < MAX_EVENT_TEXT + 100
    assert "password=[redacted]" in block.text
