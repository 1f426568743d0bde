"""The enrichers on request (`<name>_http`): `{"cluster","namespace","name"}` -> the report.

The same spec as the Pub/Sub path, run on a Job named by a request instead of an event:
read the cluster once, analyse, build (pure), store, answer. JSON by default, Markdown or
HTML with `?format=md|html`. Errors are raised; the edge answers `status_for(error)`
(400 bad request or unknown cluster, 404 no such Job, 503 cluster unavailable).
"""

from __future__ import annotations

from jobwarden.enrich import read
from jobwarden.errors import BadRequestError
from jobwarden.failure import analyse
from jobwarden.httpapi import Answer, HttpRequest
from jobwarden.kube.objects import JobRef
from jobwarden.render import CONTENT_TYPES, render
from jobwarden.report import report_id
from jobwarden.runtime import Runtime
from jobwarden.workflows.specs import BuildContext, C, ReportSpec

FORMATS = CONTENT_TYPES
USAGE = 'send JSON {"cluster": ..., "namespace": ..., "name": ...}'


def output_format(request: HttpRequest) -> str:
    """The `?format=` a request asks for (json, md, html); BadRequestError otherwise."""
    fmt = request.query.get("format", "json")
    if fmt not in FORMATS:
        raise BadRequestError(f"format {fmt[:20]!r} is not one of json, md, html")
    return fmt


def handle_request(spec: ReportSpec[C], request: HttpRequest, runtime: Runtime) -> Answer:
    """Build, store and return `spec`'s report on the Job the request names."""
    fmt = output_format(request)
    body = request.body
    if not isinstance(body, dict) or not all(
        isinstance(body.get(k), str) and body.get(k) for k in ("cluster", "namespace", "name")
    ):
        raise BadRequestError(USAGE)
    cfg = spec.config(runtime.settings.workflows.job_workflows)
    ref = JobRef(body["cluster"], body["namespace"], body["name"])
    facts = read(runtime.clusters.client(ref.cluster), ref, spec.needs(cfg))
    now = runtime.clock()
    source = f"request/{ref.cluster}/{facts.job.uid}/{now.isoformat()}"
    analysis = analyse(facts) if facts.job.failed_condition else None
    ctx = BuildContext(report_id=report_id(source, spec.name), source_event_id=source, now=now)
    report = spec.build(facts, analysis, cfg, ctx)
    stored = runtime.store.put_report(report)
    return Answer(200, render(report, fmt, report_url=stored.url), FORMATS[fmt])
