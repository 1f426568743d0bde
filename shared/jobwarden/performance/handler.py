"""The two entry points of `job_performance_analysis`: record a run, analyse a window.

`record_run` (CloudEvent target, after the edge decoded the event and checked `enabled`):
on a `succeeded` or `failed` transition, read the Job once (no logs, no events) and append
its run record; a redelivery finds the record there and writes nothing. A Job already
deleted is recorded from the JobEvent's status snapshot when it carries a start time, else
acknowledged; a Job that is not finished yet (the announcement raced the Job's condition)
and storage or API outages raise TemporaryError, so the platform retries. Permanent
problems (unknown cluster, RBAC) are raised for the edge to log and acknowledge. Every
recorded run (and every redelivery) is then compared with its family's history
(`performance.regression`): a regression is a report, stored and posted like the others.

`analyse_request` (HTTP target): JSON `{"cluster", "namespace", "name",
"duration"?}` (or the same names as query parameters; the body wins) answers the analysis
of the named Job's family over the window (`duration`, default `defaultDuration`).
Without `name`, every family in scope: `cluster` and `namespace` narrow it when given,
neither means every cluster. The Job may be gone: its family is then taken from its run
records, else from its name. The report is stored, and returned as JSON, or Markdown /
HTML with `?format=md|html`. Errors are raised and answered by the edge: 400 bad request,
unknown cluster or duration; 403 disabled; 503 cluster API unavailable (retry).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Literal

from jobwarden.auth import Permission, authenticate, authorize, check_namespace
from jobwarden.enrich import enrich, get_job
from jobwarden.errors import BadRequestError, ConfigError, JobGoneError, TemporaryError
from jobwarden.failure import analyse
from jobwarden.httpapi import Answer, HttpRequest
from jobwarden.intake import Trigger
from jobwarden.kube.labels import COMPLETE, SUCCESS_CRITERIA_MET
from jobwarden.kube.objects import JobRef
from jobwarden.kube.paths import check_namespace_name, check_object_name
from jobwarden.performance.analysis import analyse_runs, window
from jobwarden.performance.evidence import run_events
from jobwarden.performance.history import family_runs
from jobwarden.performance.regression import find_regressions, regression_report
from jobwarden.performance.report import WORKFLOW, build_report
from jobwarden.performance.runs import (
    DEFAULT_FAMILY_LABEL,
    RunRecord,
    append_run,
    family_name,
    job_family,
    load_runs,
    record_from_enrichment,
    record_from_trigger,
    run_key,
)
from jobwarden.publish import publish, routing_of
from jobwarden.redact import redact_mapping
from jobwarden.render import CONTENT_TYPES, render
from jobwarden.report import Report, Routing, report_id
from jobwarden.runtime import JobLogger, Runtime, job_logger
from jobwarden.sinks.storage import ON_REQUEST_PREFIX
from jobwarden.workflowconfig import JobPerformanceAnalysis

log = logging.getLogger("jobwarden")

Outcome = Literal["recorded", "already recorded", "ignored", "job gone"]
FORMATS = CONTENT_TYPES
FINISHED = ("succeeded", "failed")


def _cfg(runtime: Runtime) -> JobPerformanceAnalysis:
    return runtime.settings.workflows.job_workflows.job_performance_analysis


def check_run(
    runtime: Runtime, record: RunRecord, routing: Routing | None, jlog: JobLogger
) -> Report | None:
    """Compare `record` with its family's history; publish a regression report if it is one."""
    cfg = _cfg(runtime).regressions
    if not cfg.enabled:
        return None
    history = family_runs(
        runtime,
        cluster=record.cluster,
        namespace=record.namespace,
        family=record.family,
        exclude_uid=record.job_uid,
    )
    found = find_regressions(record, history, cfg)
    if not found:
        return None
    report = regression_report(
        record, history, found, window=cfg.history, now=runtime.clock(), routing=routing
    )
    publish(report, runtime, jlog)
    return report


def _append(
    runtime: Runtime, record: RunRecord, jlog: JobLogger, routing: Routing | None = None
) -> Outcome:
    created = append_run(runtime.store, record)
    jlog.info(
        "run %s (%s, %s) %s at %s",
        record.job_uid,
        record.outcome,
        f"{record.duration_seconds:.0f}s" if record.duration_seconds is not None else "?",
        "recorded" if created else "already recorded",
        run_key(record),
    )
    # also on a redelivery: a report stored but not posted yet is posted then (once)
    check_run(runtime, record, routing, jlog)
    return "recorded" if created else "already recorded"


def record_run(
    trigger: Trigger, runtime: Runtime, *, family_label: str = DEFAULT_FAMILY_LABEL
) -> Outcome:
    """Record the run a `succeeded`/`failed` event announces; see the module docstring."""
    jlog = job_logger(trigger.cluster, trigger.namespace, trigger.job)
    if trigger.transition not in FINISHED:
        jlog.info(
            "%s records finished runs only; ignores event %s (%s)",
            WORKFLOW,
            trigger.event_id,
            trigger.transition,
        )
        return "ignored"
    ref = JobRef(trigger.cluster, trigger.namespace, trigger.job, trigger.job_uid)
    try:
        api = runtime.clusters.client(trigger.cluster)
        enrichment = enrich(
            api,
            ref,
            include_logs=False,
            include_events=False,
            usage_source=runtime.usage_source(trigger.cluster),
        )
    except JobGoneError as err:
        record = record_from_trigger(trigger, family_label)
        if record is None:
            jlog.warning(
                "%s; event %s carried no start time: run not recorded", err, trigger.event_id
            )
            return "job gone"
        jlog.info("%s; recording the run from event %s", err, trigger.event_id)
        labels = redact_mapping(trigger.labels)
        routing = Routing(labels={k: str(v) for k, v in labels.items()})
        return _append(runtime, record, jlog, routing)
    job = enrichment.job
    if not (job.failed_condition or job.condition(COMPLETE) or job.condition(SUCCESS_CRITERIA_MET)):
        raise TemporaryError(
            f"{ref}: event {trigger.event_id} says {trigger.transition} but the Job is "
            f"{job.state}; retrying until its condition is set"
        )
    if job.failed_condition and not enrichment.pods:  # deleted at the deadline: ask events
        enrichment = replace(enrichment, events=run_events(api, job))
    analysis = analyse(enrichment) if job.failed_condition else None
    record = record_from_enrichment(enrichment, analysis, family_label)
    return _append(runtime, record, jlog, routing_of(enrichment))


def _params(body: Any, query: Mapping[str, str]) -> dict[str, str]:
    """The request's cluster/namespace/name/duration; BadRequestError says what is wrong."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise BadRequestError('send a JSON object {"cluster", "namespace", "name", "duration"?}')
    out = {}
    for key in ("cluster", "namespace", "name", "duration"):
        value = body.get(key, query.get(key))
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise BadRequestError(f"{key} must be a string")
        if key == "namespace":
            check_namespace_name(value)
        elif key in ("cluster", "name"):
            check_object_name(value, "Job" if key == "name" else key)
        out[key] = value
    if "name" in out and not ("cluster" in out and "namespace" in out):
        raise BadRequestError("a request naming a Job needs its cluster and namespace too")
    return out


def _authorize(runtime: Runtime, request: HttpRequest, cluster: str, p: dict[str, str]) -> None:
    """The caller may list Jobs where the request looks (and get the Job it names)."""
    api = runtime.clusters.client(cluster)
    security = runtime.settings.security
    caller = authenticate(api, request.headers, security=security, cluster=cluster)
    namespace = p.get("namespace", "")
    what = "read the performance of Jobs"
    if namespace:
        check_namespace(namespace, security.protected_namespaces, action=what)
    needs = [Permission("list", "jobs", "batch")]
    if "name" in p:
        needs.append(Permission("get", "jobs", "batch", p["name"]))
    authorize(api, caller, namespace, needs, action=what)


def _family_of_request(
    runtime: Runtime, p: Mapping[str, str], runs: list[RunRecord], family_label: str
) -> tuple[str, str]:
    """(family, how the named Job was found) of the Job a request names."""
    cluster, namespace, name = p["cluster"], p["namespace"], p["name"]
    api = runtime.clusters.client(cluster)
    try:
        job = get_job(api, JobRef(cluster, namespace, name))
    except JobGoneError:
        match = next(
            (r for r in reversed(runs) if r.namespace == namespace and r.job == name), None
        )
        if match:
            return match.family, f"job {namespace}/{name} (deleted; family from its run record)"
        return family_name(name), f"{namespace}/{name} (no such Job; taken as a family name)"
    return job_family(job, family_label), f"job {namespace}/{name} (uid {job.uid})"


def _scope(p: Mapping[str, str], family: str | None) -> str:
    where = f"cluster {p['cluster']}" if "cluster" in p else "every cluster"
    if family:
        return f"{p['namespace']}/{family} in {where}"
    if "namespace" in p:
        return f"all families in namespace {p['namespace']} of {where}"
    return f"all families in {where}"


def analyse_request(
    request: HttpRequest, runtime: Runtime, *, family_label: str = DEFAULT_FAMILY_LABEL
) -> Answer:
    """Analyse a window for a Job's family (or all families); see the module docstring.

    Only clusters the caller is authorized in are analysed: the one named, or every
    configured cluster (each must accept the caller), never records of other clusters.
    """
    fmt = request.query.get("format", "json")
    if fmt not in FORMATS:
        raise BadRequestError(f"format {fmt[:20]!r} is not one of json, md, html")
    p = _params(request.body, request.query)
    clusters = [p["cluster"]] if "cluster" in p else runtime.clusters.names
    for cluster in clusters:
        _authorize(runtime, request, cluster, p)
    report = window_report(runtime, p, clusters, family_label=family_label)
    stored = runtime.store.put_report(report, index=False)
    return Answer(200, render(report, fmt, report_url=stored.url), FORMATS[fmt])


def window_report(
    runtime: Runtime,
    p: Mapping[str, str],
    clusters: list[str],
    *,
    family_label: str = DEFAULT_FAMILY_LABEL,
) -> Report:
    """The performance report of the runs recorded in `clusters` that `p` selects."""
    duration = p.get("duration", _cfg(runtime).default_duration)
    try:
        since, until = window(duration, runtime.clock())
    except ConfigError as err:
        raise BadRequestError(f"duration: {err}") from err
    runs = load_runs(runtime.store, since, until, clusters)
    family, requested = None, None
    if "name" in p:
        family, requested = _family_of_request(runtime, p, runs, family_label)
    runs = [
        r
        for r in runs
        if ("namespace" not in p or r.namespace == p["namespace"])
        and (family is None or r.family == family)
    ]
    analysis = analyse_runs(runs, since, until, duration)
    now = runtime.clock()
    place = (p.get("cluster", "all-clusters"), p.get("namespace", "all-namespaces"))
    source = (
        f"{ON_REQUEST_PREFIX}{place[0]}/{place[1]}/{family or '*'}/{duration}/{now.isoformat()}"
    )
    return build_report(
        analysis,
        report_id=report_id(source, WORKFLOW),
        source_event_id=source,
        now=now,
        cluster=place[0],
        namespace=place[1],
        job=family or "all-families",
        scope=_scope(p, family),
        requested=requested,
    )
