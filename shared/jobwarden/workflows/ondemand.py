"""The enrichers on request (`<name>_http`): `{"cluster","namespace","name"}` -> the report.

The same spec as the Pub/Sub path, run on a Job named by a request instead of an event.
In order: the names must be valid Kubernetes names (400) of a configured cluster (400);
the caller authenticates as for restart and delete (`jobwarden.auth`: a bearer token the
cluster accepts, or a verified IAP assertion; 401); a protected namespace is refused
(403); SubjectAccessReviews as the caller for what the report reads (`get` the Job,
`list` pods and events, `get pods/log` when it includes logs; 403 naming each missing
one). Then: read the cluster once, analyse, build (pure), store (kept out of the
cross-cluster index, so requests cannot crowd it) and answer: JSON by default, Markdown or
HTML with `?format=md|html`. Errors are raised; the edge answers `status_for(error)`.
"""

from __future__ import annotations

from jobwarden.auth import authenticate, authorize, check_namespace, read_permissions
from jobwarden.enrich import read
from jobwarden.errors import BadRequestError
from jobwarden.failure import analyse, needs_analysis
from jobwarden.httpapi import Answer, HttpRequest
from jobwarden.kube.objects import JobRef
from jobwarden.kube.paths import check_namespace_name, check_object_name
from jobwarden.render import CONTENT_TYPES, render
from jobwarden.report import report_id
from jobwarden.runtime import Runtime
from jobwarden.sinks.storage import ON_REQUEST_PREFIX
from jobwarden.workflows.specs import BuildContext, C, ReportSpec

FORMATS = CONTENT_TYPES
USAGE = 'send JSON {"cluster": ..., "namespace": ..., "name": ...}'


def output_format(request: HttpRequest) -> str:
    """The `?format=` a request asks for (json, md, html); BadRequestError otherwise."""
    fmt = request.query.get("format", "json")
    if fmt not in FORMATS:
        raise BadRequestError(f"format {fmt[:20]!r} is not one of json, md, html")
    return fmt


def job_ref(body: object) -> JobRef:
    """The Job a request body names, its names checked; BadRequestError says what is wrong."""
    if not isinstance(body, dict) or not all(
        isinstance(body.get(k), str) and body.get(k) for k in ("cluster", "namespace", "name")
    ):
        raise BadRequestError(USAGE)
    cluster = check_object_name(body["cluster"], "cluster")
    return JobRef(
        cluster, check_namespace_name(body["namespace"]), check_object_name(body["name"], "Job")
    )


def handle_request(spec: ReportSpec[C], request: HttpRequest, runtime: Runtime) -> Answer:
    """Authorize, then build, store and return `spec`'s report on the Job the request names."""
    fmt = output_format(request)
    ref = job_ref(request.body)
    cfg = spec.config(runtime.settings.workflows.job_workflows)
    needs = spec.needs(cfg)
    api = runtime.clusters.client(ref.cluster)
    security = runtime.settings.security
    caller = authenticate(api, request.headers, security=security, cluster=ref.cluster)
    what = f"read the {spec.name} report of a Job"
    check_namespace(ref.namespace, security.protected_namespaces, action=what)
    authorize(api, caller, ref.namespace, read_permissions(ref.name, logs=needs.logs), action=what)
    facts = read(api, ref, needs, runtime.usage_source(ref.cluster))
    now = runtime.clock()
    source = f"{ON_REQUEST_PREFIX}{ref.cluster}/{facts.job.uid}/{now.isoformat()}"
    analysis = analyse(facts) if needs_analysis(facts) else None
    ctx = BuildContext(report_id=report_id(source, spec.name), source_event_id=source, now=now)
    report = spec.build(facts, analysis, cfg, ctx)
    stored = runtime.store.put_report(report, index=False)
    return Answer(200, render(report, fmt, report_url=stored.url), FORMATS[fmt])
