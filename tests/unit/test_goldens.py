"""The golden reports under tests/golden/ are what the real event path makes of each recording.

Each recorded scenario (`tests/fixtures/recorded/`) is replayed through every report
workflow's function with the recording's time as the clock, and each stored report is
rendered to JSON, Markdown, HTML, Slack and Teams (`tests.support.goldens`). A difference
fails with a diff; if the change is intended, rewrite them with
`.venv/bin/python -m tests.support.goldens --write` (also run by `make record`) and review
the diff.
"""

from __future__ import annotations

import difflib
from functools import cache
from pathlib import Path

import pytest

from tests.support import goldens

REWRITE = "rewrite with `.venv/bin/python -m tests.support.goldens --write` and review the diff"


@cache
def expected() -> dict[Path, str]:
    return goldens.expected()


@pytest.mark.parametrize("scenario", goldens.scenarios())
def test_the_real_reports_of_a_recording_match_its_goldens(scenario: str) -> None:
    want = {p: t for p, t in expected().items() if p.parent.name == scenario}
    for path, text in sorted(want.items()):
        name = str(path.relative_to(goldens.ROOT))
        assert path.exists(), f"{name} is missing; {REWRITE}"
        golden = path.read_text(encoding="utf-8")
        if golden != text:
            diff = "".join(
                difflib.unified_diff(
                    golden.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    fromfile=f"{name} (golden)",
                    tofile=f"{name} (real code now)",
                )
            )
            pytest.fail(f"{name} differs from the real output; {REWRITE}\n{diff[:20000]}")


def test_no_golden_is_left_over_from_a_recording_or_report_that_is_gone() -> None:
    leftover = set(goldens.GOLDEN.rglob("*.*")) - set(expected())
    assert not leftover, f"{sorted(map(str, leftover))} are no longer produced; {REWRITE}"


def test_the_goldens_cover_every_report_workflow_and_format() -> None:
    names = {p.name for p in expected()}
    for workflow in goldens.REPORT_WORKFLOWS:
        for fmt in goldens.FORMATS:
            assert any(n.startswith(workflow) and n.endswith(f".{fmt}") for n in names), (
                workflow,
                fmt,
            )


def test_the_oomkilled_golden_says_what_a_user_needs() -> None:
    text = (goldens.GOLDEN / "oomkilled" / "jobFailureReporter.md").read_text(encoding="utf-8")
    assert "Container `worker` ran out of memory (OOMKilled, limit 512Mi)" in text
    assert "Raise the memory limit of container `worker` above 512Mi" in text
