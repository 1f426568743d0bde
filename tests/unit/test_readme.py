"""The README's configuration table is the one the models generate (docs cannot drift)."""

from __future__ import annotations

from pathlib import Path

from jobwarden.config import config_table_markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_config_table_matches_the_models() -> None:
    text = README.read_text()
    start = text.index("-->\n", text.index("<!-- config-table:start")) + len("-->\n")
    end = text.index("<!-- config-table:end -->")
    assert text[start:end] == config_table_markdown(), (
        "README config table is stale: regenerate it with `python -m jobwarden.config table`"
    )


def test_readme_example_report_is_the_oomkilled_golden() -> None:
    from tests.support.goldens import README_GOLDEN, readme_with

    text = README.read_text()
    golden = README_GOLDEN.read_text(encoding="utf-8")
    assert text == readme_with(text, golden), (
        "README's example report differs from tests/golden/oomkilled/jobFailureReporter.md: "
        "rewrite it with `.venv/bin/python -m tests.support.goldens --write`"
    )
