"""The cross-cluster index as a page: one row per Job run, newest first, no JavaScript.

A CronJob's runs are shown under a heading row for their CronJob, where its newest run
would be (`report.grouped_runs`).

Used twice: by the `job_reports` HTTP target (filters as a GET form, a "next page" link)
and for the static `reports/index.html` that `make run` leaves (neither). Every piece of
text, report titles included (they come from the cluster), goes through `html.escape`;
links are built by the caller (`link(path)`), since where a report page is served
depends on the store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from html import escape

from jobwarden.render.common import SEVERITY_LABEL, fmt_time
from jobwarden.render.html import _page
from jobwarden.report import CronJobRuns, IndexEntry, JobRun, grouped_runs, job_runs

SEVERITIES = ("error", "warning", "info")
FILTERS = ("cluster", "namespace", "severity", "since", "until")


def _form(filters: Mapping[str, str]) -> str:
    fields = []
    for name in FILTERS:
        value = escape(filters.get(name, ""))
        if name == "severity":
            options = "".join(
                f'<option value="{s}"{" selected" if filters.get(name) == s else ""}>{s}</option>'
                for s in ("", *SEVERITIES)
            )
            fields.append(f'<label>{name} <select name="{name}">{options}</select></label>')
        else:
            hint = ' placeholder="2026-01-31T00:00:00Z"' if name in ("since", "until") else ""
            fields.append(f'<label>{name} <input name="{name}" value="{value}"{hint}></label>')
    return (
        '<form method="get" class="filters">'
        + " ".join(fields)
        + ' <button type="submit">Filter</button></form>'
    )


def _row(run: JobRun, link: Callable[[str], str], *, under: str = "") -> str:
    reports = " ".join(
        f'<a href="{escape(link(e.path + ".html"))}">{escape(e.workflow)}</a>' for e in run.reports
    )
    job = f"↳ {escape(run.job)}" if under else escape(run.job)
    return (
        f'<tr class="run{" warn" if run.severity != "info" else ""}" '
        f'data-cluster="{escape(run.cluster)}" data-namespace="{escape(run.namespace)}" '
        f'data-severity="{run.severity}" data-uid="{escape(run.job_uid)}"'
        + (f' data-cronjob="{escape(under)}"' if under else "")
        + f"><td>{escape(fmt_time(run.created_at))}</td><td>{SEVERITY_LABEL[run.severity]}</td>"
        f"<td>{escape(run.cluster)}</td><td>{escape(run.namespace)}</td>"
        f"<td>{job}</td><td>{escape(run.cause)}</td><td>{reports}</td></tr>"
    )


def _group(group: CronJobRuns, link: Callable[[str], str]) -> str:
    """A CronJob's heading row, then its runs (newest first) under it."""
    failed = sum(1 for r in group.runs if r.severity == "error")
    head = (
        f'<tr class="cronjob" data-cluster="{escape(group.cluster)}" '
        f'data-namespace="{escape(group.namespace)}" data-cronjob="{escape(group.cronjob)}">'
        f'<td colspan="7"><strong>CronJob {escape(group.namespace)}/{escape(group.cronjob)}'
        f"</strong> · {len(group.runs)} run(s) reported, {failed} failed · "
        f"latest: {escape(group.runs[0].cause)}</td></tr>"
    )
    return head + "".join(_row(run, link, under=group.cronjob) for run in group.runs)


def render_index_html(
    entries: Iterable[IndexEntry],
    *,
    link: Callable[[str], str] = lambda path: path,
    filters: Mapping[str, str] | None = None,
    next_href: str | None = None,
    note: str = "",
    title: str = "jobwarden reports",
) -> str:
    """The index as a page: a row per Job run (newest first) with links to its reports.

    `filters`: show the filter form with these values (None: no form, as in a static
    file). `next_href`: a link to the next page. `note`: a line under the heading (for
    example which clusters were left out).
    """
    runs = job_runs(sorted(entries, key=lambda e: (e.created_at, e.id), reverse=True))
    head = "".join(
        f"<th>{c}</th>"
        for c in ("Time", "Severity", "Cluster", "Namespace", "Job", "Cause", "Reports")
    )
    rows = "".join(
        _group(item, link) if isinstance(item, CronJobRuns) else _row(item, link)
        for item in grouped_runs(runs)
    )
    table = (
        f'<table id="runs"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
        if runs
        else '<p class="muted" id="empty">No reports match.</p>'
    )
    clusters = sorted({r.cluster for r in runs})
    sub = f"{len(runs)} Job runs in {len(clusters)} clusters"
    if note:
        sub += f" · {escape(note)}"
    more = f'<p><a rel="next" href="{escape(next_href)}">Older runs →</a></p>' if next_href else ""
    form = _form(filters) if filters is not None else ""
    body = (
        f'<header class="sev-info"><h1>{escape(title)}</h1><p class="sub">{sub}</p>{form}'
        f"</header><section>{table}{more}</section>"
    )
    return _page(title, body)
