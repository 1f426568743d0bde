"""The performance report (workflow `jobPerformanceAnalysis`) of an analysed window.

Blocks, in order: the window in numbers; the recommendations; a table of families;
a stacked bar of where pod time went per family (mean pending / pulling / running
pod-seconds per run); one line chart of duration over time per family (the most active
`MAX_DURATION_CHARTS`); requests versus peak usage; the most recent runs. Up to
`MAX_POINTS` runs a chart plots every run; beyond that it plots the median and the
maximum of `BUCKETS` equal time buckets, so 10,000 runs still draw a small SVG.
"""

from __future__ import annotations

import datetime as dt

from jobwarden.names import WorkflowName
from jobwarden.performance.analysis import WindowAnalysis
from jobwarden.performance.runs import RunRecord
from jobwarden.performance.stats import FamilyStats, fmt_seconds, percentile
from jobwarden.report import (
    Block,
    ChartBlock,
    FieldItem,
    FieldsBlock,
    MarkdownBlock,
    Point,
    Report,
    Series,
    TableBlock,
)

WORKFLOW: WorkflowName = "jobPerformanceAnalysis"
MAX_DURATION_CHARTS = 6
MAX_POINTS = 60
BUCKETS = 24
RECENT_RUNS = 20
MAX_FAMILY_ROWS = 50
TIME_LABEL = "%m-%d %H:%M"
SIZING_COLUMNS = [
    "Family",
    "Container",
    "CPU req / limit",
    "Peak CPU",
    "Memory req / limit",
    "Peak memory",
]


def _pct(value: float) -> str:
    return f"{value:.0%}" if value * 100 == int(value * 100) else f"{value:.1%}"


def _time(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def _label(f: FamilyStats, many_clusters: bool) -> str:
    return f"{f.cluster}:{f.label}" if many_clusters else f.label


def _share(f: FamilyStats, phase: float) -> str:
    return f"{fmt_seconds(phase)} ({f.share(phase):.0%})" if f.pod_seconds else "-"


def families_table(a: WindowAnalysis, many_clusters: bool) -> TableBlock:
    rows = [
        [
            _label(f, many_clusters),
            str(f.count),
            _pct(f.success_rate),
            fmt_seconds(f.p50),
            fmt_seconds(f.p95),
            fmt_seconds(f.max),
            f.trend.describe(),
            str(f.retries),
            _share(f, f.pending_seconds),
            _share(f, f.pulling_seconds),
            _share(f, f.running_seconds),
        ]
        for f in a.families[:MAX_FAMILY_ROWS]
    ]
    columns = ["Family", "Runs", "Success", "p50", "p95", "Max", "Trend", "Retries"]
    columns += ["Pending", "Pulling", "Running"]
    return TableBlock(title="Families", columns=columns, rows=rows)


def recommendations_block(a: WindowAnalysis, many_clusters: bool) -> MarkdownBlock:
    if not a.runs:
        return MarkdownBlock(
            text="### Recommendations\nNo finished runs were recorded in this window. Runs are "
            "recorded when `job_performance_analysis` receives a Job's `succeeded` or "
            "`failed` event."
        )
    lines = [
        f"- **{x.severity.upper()}** `{_label(f, many_clusters)}`: {x.text}" for f, x in a.findings
    ]
    body = "\n".join(lines) if lines else "No bottlenecks found in this window."
    return MarkdownBlock(text=f"### Recommendations\n{body}")


def phases_chart(a: WindowAnalysis, many_clusters: bool) -> ChartBlock | None:
    families = [f for f in a.families[:MAX_FAMILY_ROWS] if f.pod_seconds]
    if not families:
        return None
    series = [
        Series(
            name=name,
            points=[
                Point(x=_label(f, many_clusters), y=round(getattr(f, attr) / f.count, 1))
                for f in families
            ],
        )
        for name, attr in (
            ("pending", "pending_seconds"),
            ("pulling", "pulling_seconds"),
            ("running", "running_seconds"),
        )
    ]
    return ChartBlock(
        title="Where pod time went (mean pod-seconds per run)",
        kind="stackedBar",
        x_label="family",
        y_label="seconds",
        series=series,
    )


def _run_label(run: RunRecord, fmt: str) -> str:
    return (run.start or run.end).astimezone(dt.UTC).strftime(fmt)


def duration_chart(f: FamilyStats, a: WindowAnalysis, many_clusters: bool) -> ChartBlock:
    """Each run's duration over time, or bucket median and max beyond `MAX_POINTS` runs."""
    fmt = TIME_LABEL
    timed = [r for r in f.runs if r.duration_seconds is not None]
    title = f"Duration of {_label(f, many_clusters)} over time"
    if len(timed) <= MAX_POINTS:
        points, seen = [], set()
        for run in sorted(timed, key=lambda r: r.start or r.end):
            x = _run_label(run, fmt)
            n = 2
            while x in seen:
                x, n = f"{_run_label(run, fmt)} ({n})", n + 1
            seen.add(x)
            points.append(Point(x=x, y=round(run.duration_seconds or 0.0, 1)))
        series = [Series(name="duration", points=points)]
        return ChartBlock(
            title=title, kind="line", x_label="run start (UTC)", y_label="seconds", series=series
        )
    width = (a.until - a.since) / BUCKETS
    buckets: dict[int, list[float]] = {}
    for run in timed:
        index = min(BUCKETS - 1, max(0, int(((run.start or run.end) - a.since) / width)))
        buckets.setdefault(index, []).append(run.duration_seconds or 0.0)
    ordered = sorted(buckets.items())
    labels = [(a.since + width * i).astimezone(dt.UTC).strftime(fmt) for i, _ in ordered]
    medians = [round(percentile(v, 50) or 0.0, 1) for _, v in ordered]
    peaks = [round(max(v), 1) for _, v in ordered]
    series = [
        Series(name="p50", points=[Point(x=x, y=y) for x, y in zip(labels, medians, strict=True)]),
        Series(name="max", points=[Point(x=x, y=y) for x, y in zip(labels, peaks, strict=True)]),
    ]
    return ChartBlock(
        title=title, kind="line", x_label="bucket start (UTC)", y_label="seconds", series=series
    )


def sizing_table(a: WindowAnalysis, many_clusters: bool) -> TableBlock | None:
    rows = []
    for f in a.families[:MAX_FAMILY_ROWS]:
        for c in f.sizing:
            cpu_peak = c.peak_cpu_millicores
            mem_peak = c.peak_memory_bytes
            rows.append(
                [
                    _label(f, many_clusters),
                    c.container,
                    f"{c.cpu_request or '-'} / {c.cpu_limit or '-'}",
                    f"{cpu_peak:.0f}m" if cpu_peak is not None else "unknown",
                    f"{c.memory_request or '-'} / {c.memory_limit or '-'}",
                    f"{mem_peak / 2**20:.0f}Mi" if mem_peak is not None else "unknown",
                ]
            )
    if not rows:
        return None
    return TableBlock(
        title="Requests and limits versus peak usage",
        columns=list(SIZING_COLUMNS),
        rows=rows,
    )


def recent_runs_table(a: WindowAnalysis, many_clusters: bool) -> TableBlock:
    runs = sorted(
        ((f, r) for f in a.families for r in f.runs), key=lambda p: p[1].end, reverse=True
    )[:RECENT_RUNS]
    rows = [
        [
            _label(f, many_clusters),
            r.job,
            _time(r.end),
            fmt_seconds(r.duration_seconds),
            r.outcome,
            " / ".join(x for x in (r.reason, r.cause) if x) or "-",
            str(r.pod_count),
            str(r.retries),
            " / ".join(
                fmt_seconds(v) for v in (r.pending_seconds, r.pulling_seconds, r.running_seconds)
            ),
            "yes" if r.oom_killed else "",
        ]
        for f, r in runs
    ]
    columns = ["Family", "Job", "Ended", "Duration", "Outcome", "Reason", "Pods", "Retries"]
    columns += ["Pending / pulling / running", "OOM"]
    return TableBlock(title="Most recent runs", columns=columns, rows=rows)


def window_fields(a: WindowAnalysis, requested: str | None) -> FieldsBlock:
    fields = [
        FieldItem(name="Window", value=f"{a.duration} ({_time(a.since)} to {_time(a.until)})"),
        FieldItem(name="Runs", value=str(a.runs)),
        FieldItem(name="Succeeded", value=str(a.succeeded)),
        FieldItem(name="Success rate", value=_pct(a.succeeded / a.runs) if a.runs else "-"),
        FieldItem(name="Families", value=str(len(a.families))),
    ]
    if len(a.families) == 1:
        f = a.families[0]
        fields += [
            FieldItem(name="Median duration", value=fmt_seconds(f.p50)),
            FieldItem(name="p95 duration", value=fmt_seconds(f.p95)),
            FieldItem(name="Longest run", value=fmt_seconds(f.max)),
            FieldItem(name="Trend", value=f.trend.describe()),
        ]
    if requested:
        fields.append(FieldItem(name="Requested for", value=requested))
    return FieldsBlock(title="Window", fields=fields)


def _runs(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"


def _title(a: WindowAnalysis, scope: str) -> str:
    if not a.runs:
        return f"No finished runs of {scope} in the last {a.duration}"
    rate = _pct(a.succeeded / a.runs)
    if len(a.families) == 1:
        f = a.families[0]
        return (
            f"Performance of {f.label} over the last {a.duration}: {_runs(f.count)}, "
            f"{rate} succeeded, p95 {fmt_seconds(f.p95)}"
        )
    return (
        f"Performance of {len(a.families)} Job families ({scope}) over the last "
        f"{a.duration}: {_runs(a.runs)}, {rate} succeeded"
    )


def _summary(a: WindowAnalysis) -> str:
    if not a.runs:
        return "Nothing to analyse yet."
    parts = []
    if len(a.families) == 1:
        parts.append(f"Duration is {a.families[0].trend.describe()}.")
    findings = a.findings
    if findings:
        parts.append(findings[0][1].text)
        if len(findings) > 1:
            parts.append(f"{len(findings) - 1} more recommendation(s) below.")
    else:
        parts.append("No bottlenecks found.")
    return " ".join(parts)


def build_report(
    a: WindowAnalysis,
    *,
    report_id: str,
    source_event_id: str,
    now: dt.datetime,
    cluster: str,
    namespace: str,
    job: str,
    scope: str,
    requested: str | None = None,
) -> Report:
    """The report of `a`; `cluster`/`namespace`/`job` place it in storage, `scope` names it."""
    many = len({f.cluster for f in a.families}) > 1
    blocks: list[Block] = [window_fields(a, requested), recommendations_block(a, many)]
    if a.families:
        blocks.append(families_table(a, many))
    chart = phases_chart(a, many)
    if chart:
        blocks.append(chart)
    blocks += [duration_chart(f, a, many) for f in a.families[:MAX_DURATION_CHARTS]]
    sizing = sizing_table(a, many)
    if sizing:
        blocks.append(sizing)
    if a.runs:
        blocks.append(recent_runs_table(a, many))
    return Report(
        id=report_id,
        workflow=WORKFLOW,
        cluster=cluster,
        namespace=namespace,
        job=job,
        job_uid="",
        created_at=now,
        severity=a.severity,
        title=_title(a, scope),
        summary=_summary(a),
        blocks=blocks,
        source_event_id=source_event_id,
    )
