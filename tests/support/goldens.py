"""Golden reports: what the real event path makes of each recording, in every format.

For every recording under `tests/fixtures/recorded/` (whatever scenarios exist), each
report workflow the scenario was recorded for receives the scenario's event through its
functions-framework function, against the recorded API answers, with an in-memory store;
a scenario with a recorded `sequence` (a CronJob's runs) announces each run in order to the
failure reporter. The runtime's clock and the events' publish time are the recording's
`recordedAt`, so every time and id in a report follows from the recording alone.

Each stored report is rendered to `tests/golden/<scenario>/<workflow>[.<job>].<fmt>`
(`json` the canonical document, `md`, `html`, `slack.json`, `teams.json`).
`tests/unit/test_goldens.py` compares the real output with these files.

    .venv/bin/python -m tests.support.goldens --write   # rewrite every golden
    .venv/bin/python -m tests.support.goldens           # say which differ (exit 1 if any)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from jobwarden.render.html import render_html
from jobwarden.render.markdown import render_markdown
from jobwarden.render.slack import render_slack
from jobwarden.render.teams import render_teams
from jobwarden.report import Report
from tests.support.replay import (
    RECORDED,
    REPORT_WORKFLOWS,
    ROOT,
    default_runtime,
    function_client,
    load,
    make_runtime,
    memory_store,
    post_event,
)

GOLDEN = ROOT / "tests" / "golden"
README = ROOT / "README.md"
# the one real report the README shows, between these two lines (`--write` fills it in)
README_GOLDEN = GOLDEN / "oomkilled" / "jobFailureReporter.md"
README_BEGIN = "<!-- golden: tests/golden/oomkilled/jobFailureReporter.md -->"
README_END = "<!-- /golden -->"
REPORT_URL = "https://reports.example.com/r/latest.html"

FORMATS: dict[str, Callable[[Report], str]] = {
    "json": lambda r: json.dumps(json.loads(r.to_json()), indent=2, ensure_ascii=False) + "\n",
    "md": lambda r: render_markdown(r, report_url=REPORT_URL),
    "html": lambda r: render_html(r, report_url=REPORT_URL),
    "slack.json": lambda r: (
        json.dumps(render_slack(r, report_url=REPORT_URL), indent=2, ensure_ascii=False) + "\n"
    ),
    "teams.json": lambda r: (
        json.dumps(render_teams(r, report_url=REPORT_URL), indent=2, ensure_ascii=False) + "\n"
    ),
}


def scenarios() -> list[str]:
    """Every recorded scenario, by name."""
    return sorted(p.stem for p in RECORDED.glob("*.json"))


def reports_of(scenario: str) -> list[Report]:
    """The reports the real event path stores for `scenario`'s recording."""
    recording = load(scenario)
    meta = recording.meta
    recorded_at = dt.datetime.fromisoformat(str(meta["recordedAt"]))
    replay = recording.replay()
    store = memory_store()
    runtime = make_runtime(
        replay, store=store, clock=lambda: recorded_at, prometheus=recording.replay_prometheus()
    )
    with default_runtime(runtime):
        if "sequence" in meta:  # a CronJob's runs, announced in order to the failure reporter
            client = function_client("jobFailureReporter")
            for n, step in enumerate(meta["sequence"]):
                status = post_event(
                    "jobFailureReporter",
                    dict(step["jobObject"]),
                    str(step["transition"]),
                    f"golden-{scenario}-run-{n}",
                    client=client,
                    now=recorded_at,
                )
                _check(scenario, "jobFailureReporter", status, replay.missing)
        for workflow in meta["workflows"]:
            if workflow not in REPORT_WORKFLOWS:
                continue
            if "sequence" in meta and workflow == "jobFailureReporter":
                continue  # its runs were announced above
            status = post_event(
                workflow,
                dict(meta["jobObject"]),
                str(meta["transition"]),
                f"golden-{scenario}-{workflow}",
                now=recorded_at,
            )
            _check(scenario, workflow, status, replay.missing)
    found = [store.get_report(e.path) for e in store.read_index()]
    return sorted((r for r in found if r is not None), key=lambda r: (r.workflow, r.job))


def _check(scenario: str, workflow: str, status: int, missing: list[object]) -> None:
    if status != 200 or missing:
        raise SystemExit(
            f"scenario {scenario!r}: {workflow} answered {status}"
            + (f" and made requests the recording lacks: {missing}" if missing else "")
            + "; re-record it with `.venv/bin/python -m tests.support.record_api "
            + f"{scenario}`"
        )


def goldens_of(scenario: str) -> dict[str, str]:
    """File name (under the scenario's folder) -> content, for every report and format."""
    out: dict[str, str] = {}
    reports = reports_of(scenario)
    for report in reports:
        several = sum(1 for r in reports if r.workflow == report.workflow) > 1
        stem = f"{report.workflow}.{report.job}" if several else report.workflow
        for fmt, render in FORMATS.items():
            out[f"{stem}.{fmt}"] = render(report)
    return out


def expected() -> dict[Path, str]:
    """Every golden file's path and what the real code renders into it now."""
    return {
        GOLDEN / scenario / name: text
        for scenario in scenarios()
        for name, text in goldens_of(scenario).items()
    }


def differences(want: dict[Path, str]) -> list[str]:
    """Golden files that are missing, stale or no longer produced."""
    on_disk = set(GOLDEN.rglob("*.*")) if GOLDEN.exists() else set()
    problems = [
        str(path.relative_to(ROOT))
        for path, text in sorted(want.items())
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    problems += [f"{p.relative_to(ROOT)} (no longer produced)" for p in sorted(on_disk - set(want))]
    return problems


def readme_with(readme: str, golden: str) -> str:
    """`readme` with the report between its golden markers replaced by `golden`."""
    head, begin, rest = readme.partition(README_BEGIN)
    _, end, tail = rest.partition(README_END)
    if not begin or not end:
        raise SystemExit(f"README.md lacks the lines {README_BEGIN!r} ... {README_END!r}")
    return f"{head}{begin}\n````markdown\n{golden.rstrip()}\n````\n{end}{tail}"


def write(want: dict[Path, str]) -> None:
    if GOLDEN.exists():
        shutil.rmtree(GOLDEN)
    for path, text in want.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if README_GOLDEN in want:
        readme = README.read_text(encoding="utf-8")
        README.write_text(readme_with(readme, want[README_GOLDEN]), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite every golden file")
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)  # the functions log each stored report; the paths say enough
    want = expected()
    if args.write:
        write(want)
        print(f"wrote {len(want)} golden files for {len(scenarios())} scenarios under {GOLDEN}")
        return 0
    problems = differences(want)
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
