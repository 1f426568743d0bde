"""The scheduled per-cluster digest (`job_performance_digest`): slowest and least reliable.

Cloud Scheduler calls it once per cluster (Terraform creates one job per cluster:
`infra/terraform/scheduler.tf`) with `POST {"cluster": "<name>"}` (or `?cluster=`); the
answer is the digest (JSON, or `?format=md|html`). It analyses the run records of that
cluster over `digest.duration` (default 7d) and lists the `digest.top` (default 5) families
with the highest p95 and those with the lowest success rate (families with failures only).
The report (`jobPerformanceAnalysis`, posted by default) is stored under
`<cluster>/all-namespaces/digest/`, indexed, and keyed by cluster, window and hour, so a
retried call in the same hour answers the same report and posts nothing twice.

Who may call it: with `security.pushAuth` the request must carry the OIDC token Google
signs for that service account (Cloud Scheduler's `oidc_token`, as Terraform sets it);
without it, only the platform (Cloud Run IAM: `roles/run.invoker` for the scheduler's
account) decides. The performance workflow's `enabled: false` answers 403.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from jobwarden.errors import BadRequestError, DisabledError, UnknownClusterError
from jobwarden.history import fmt_seconds
from jobwarden.httpapi import Answer, HttpRequest
from jobwarden.kube.paths import check_object_name
from jobwarden.names import WorkflowName
from jobwarden.performance.analysis import WindowAnalysis, analyse_runs, window
from jobwarden.performance.runs import load_runs
from jobwarden.performance.stats import FamilyStats
from jobwarden.publish import publish
from jobwarden.render import CONTENT_TYPES, render
from jobwarden.report import Block, FieldItem, FieldsBlock, MarkdownBlock, Report, TableBlock
from jobwarden.report import report_id as make_report_id
from jobwarden.runtime import Runtime, job_logger
from jobwarden.sinks.storage import ReportAddress

WORKFLOW: WorkflowName = "jobPerformanceAnalysis"
DIGEST_JOB = "digest"
PLACE = "all-namespaces"


def _pct(value: float) -> str:
    return f"{value:.0%}"


def slowest(a: WindowAnalysis, top: int) -> list[FamilyStats]:
    timed = [f for f in a.families if f.p95 is not None]
    return sorted(timed, key=lambda f: (-(f.p95 or 0.0), f.label))[:top]


def least_reliable(a: WindowAnalysis, top: int) -> list[FamilyStats]:
    failing = [f for f in a.families if f.failed]
    return sorted(failing, key=lambda f: (f.success_rate, -f.failed, f.label))[:top]


def _cause(f: FamilyStats) -> str:
    causes: dict[str, int] = {}
    for r in f.runs:
        if r.outcome == "failed":
            what = r.cause or r.reason or "unknown"
            causes[what] = causes.get(what, 0) + 1
    return max(causes.items(), key=lambda kv: kv[1])[0] if causes else "-"


def digest_report(
    a: WindowAnalysis,
    *,
    cluster: str,
    top: int,
    now: dt.datetime,
    source: str,
    reliability_threshold: float,
) -> Report:
    """The digest of `a` (one cluster's families over the window): pure."""
    slow = slowest(a, top)
    shaky = least_reliable(a, top)
    rate = _pct(a.succeeded / a.runs) if a.runs else "-"
    if not a.runs:
        title = (
            f"Performance digest of cluster {cluster}: no finished runs in the last {a.duration}"
        )
    else:
        head = f"slowest {slow[0].label} (p95 {fmt_seconds(slow[0].p95)})" if slow else ""
        worst = f"least reliable {shaky[0].label} ({_pct(shaky[0].success_rate)})" if shaky else ""
        title = (
            f"Performance digest of cluster {cluster}, last {a.duration}: {a.runs} runs of "
            f"{len(a.families)} families, {rate} succeeded"
            + "".join(f"; {x}" for x in (head, worst) if x)
        )
    blocks: list[Block] = [
        FieldsBlock(
            title="Window",
            fields=[
                FieldItem(name="Cluster", value=cluster),
                FieldItem(name="Window", value=a.duration),
                FieldItem(name="Runs", value=str(a.runs)),
                FieldItem(name="Families", value=str(len(a.families))),
                FieldItem(name="Success rate", value=rate),
            ],
        )
    ]
    if slow:
        blocks.append(
            TableBlock(
                title=f"Slowest families (by p95, top {top})",
                columns=["Family", "Runs", "p50", "p95", "Max", "Trend"],
                rows=[
                    [
                        f.label,
                        str(f.count),
                        fmt_seconds(f.p50),
                        fmt_seconds(f.p95),
                        fmt_seconds(f.max),
                        f.trend.describe(),
                    ]
                    for f in slow
                ],
            )
        )
    if shaky:
        blocks.append(
            TableBlock(
                title=f"Least reliable families (by success rate, top {top})",
                columns=["Family", "Runs", "Success", "Failed", "Most common cause"],
                rows=[
                    [f.label, str(f.count), _pct(f.success_rate), str(f.failed), _cause(f)]
                    for f in shaky
                ],
            )
        )
    elif a.runs:
        blocks.append(MarkdownBlock(text="Every run in this window succeeded."))
    below = [f for f in shaky if f.success_rate < reliability_threshold]
    summary = (
        f"{len(below)} famil{'y' if len(below) == 1 else 'ies'} below "
        f"{_pct(reliability_threshold)} success. "
        if below
        else ""
    ) + (f"Slowest: {slow[0].label}, p95 {fmt_seconds(slow[0].p95)}." if slow else "")
    return Report(
        id=make_report_id(source, WORKFLOW),
        workflow=WORKFLOW,
        cluster=cluster,
        namespace=PLACE,
        job=DIGEST_JOB,
        job_uid="",
        created_at=now,
        severity="warning" if below else "info",
        title=title,
        summary=summary.strip() or "Nothing to report.",
        blocks=blocks,
        source_event_id=source,
    )


def _cluster(request: HttpRequest) -> str:
    body: Any = request.body if request.body is not None else {}
    if not isinstance(body, dict):
        raise BadRequestError('send a JSON object {"cluster"} (or ?cluster=)')
    value = body.get("cluster", request.query.get("cluster"))
    if not isinstance(value, str) or not value:
        raise BadRequestError('name the cluster: POST {"cluster": "<name>"} (or ?cluster=)')
    check_object_name(value, "cluster")
    return value


def serve_digest(request: HttpRequest, runtime: Runtime) -> Answer:
    """Answer (and store and post) the digest of the cluster the request names."""
    cfg = runtime.settings.workflows.job_workflows.job_performance_analysis
    if not cfg.enabled:
        raise DisabledError(
            "jobPerformanceAnalysis is disabled in the configuration "
            "(workflows.jobWorkflows.jobPerformanceAnalysis.enabled)"
        )
    push = runtime.settings.security.push_auth
    if push is not None:
        from jobwarden.pushauth import verify_push

        verify_push(request.headers, push)
    fmt = request.query.get("format", "json")
    if fmt not in CONTENT_TYPES:
        raise BadRequestError(f"format {fmt[:20]!r} is not one of json, md, html")
    cluster = _cluster(request)
    if cluster not in runtime.clusters.names:
        raise UnknownClusterError(
            f"cluster {cluster!r} is not configured (known: "
            f"{', '.join(runtime.clusters.names) or 'none'}); a scheduler job per configured "
            "cluster calls the digest"
        )
    now = runtime.clock()
    since, until = window(cfg.digest.duration, now)
    analysis = analyse_runs(
        load_runs(runtime.store, since, until, [cluster]), since, until, cfg.digest.duration
    )
    source = f"digest/{cluster}/{cfg.digest.duration}/{now.astimezone(dt.UTC):%Y-%m-%dT%H}"
    report = digest_report(
        analysis,
        cluster=cluster,
        top=cfg.digest.top,
        now=now,
        source=source,
        reliability_threshold=cfg.regressions.success_rate_below,
    )
    publish(report, runtime, job_logger(cluster, PLACE, DIGEST_JOB))
    stored = runtime.store.find_report(_address(report))
    shown = stored or report
    return Answer(200, render(shown, fmt), CONTENT_TYPES[fmt])


def _address(report: Report) -> ReportAddress:
    return ReportAddress(
        workflow=report.workflow,
        cluster=report.cluster,
        namespace=report.namespace,
        job=report.job,
        job_uid=report.job_uid,
        report_id=report.id,
    )
