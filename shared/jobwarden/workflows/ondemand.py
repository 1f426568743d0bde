"""The enrichers on request (`<name>_http`): `{"cluster","namespace","name"}` -> the report.

Answers JSON by default, Markdown or HTML with `?format=md|html`. The report is also
stored (so on-demand reports show in the index like the others).
"""

from __future__ import annotations

import json
from typing import Any

from jobwarden.cluster import UnknownClusterError
from jobwarden.enrich import JobGoneError
from jobwarden.errors import ForbiddenError, PermanentError
from jobwarden.kube.objects import JobRef
from jobwarden.render import CONTENT_TYPES, render
from jobwarden.report import report_id
from jobwarden.runtime import Runtime
from jobwarden.workflows.handler import ReportWorkflow, _config, build, enrich_for

Response = tuple[int, str, str]
FORMATS = CONTENT_TYPES


def error_response(status: int, message: str) -> Response:
    """An http target's error answer: status, `{"error": message}`, JSON content type."""
    return status, json.dumps({"error": message}), "application/json"


def handle_request(
    workflow: ReportWorkflow, body: Any, args: dict[str, str], runtime: Runtime
) -> Response:
    fmt = args.get("format", "json")
    if fmt not in FORMATS:
        return error_response(400, f"format {fmt!r} is not one of json, md, html")
    if not _config(runtime, workflow).enabled:
        return error_response(403, f"{workflow} is disabled in the configuration")
    if not isinstance(body, dict) or not all(
        isinstance(body.get(k), str) and body.get(k) for k in ("cluster", "namespace", "name")
    ):
        return error_response(400, 'send JSON {"cluster": ..., "namespace": ..., "name": ...}')
    ref = JobRef(body["cluster"], body["namespace"], body["name"])
    cfg = _config(runtime, workflow)
    try:
        enrichment = enrich_for(workflow, runtime, ref, cfg)
    except UnknownClusterError as err:
        return error_response(400, str(err))
    except JobGoneError as err:
        return error_response(404, str(err))
    except ForbiddenError as err:
        return error_response(403, str(err))
    except PermanentError as err:
        return error_response(400, str(err))
    now = runtime.clock()
    source = f"request/{ref.cluster}/{enrichment.job.uid}/{now.isoformat()}"
    from jobwarden.intake import Trigger

    trigger = Trigger(
        cluster=ref.cluster,
        namespace=ref.namespace,
        job=ref.name,
        job_uid=enrichment.job.uid,
        transition="failed" if enrichment.job.failed_condition else "event",
        reason="requested",
        message="",
        time=now,
        event_id=source,
        message_id=None,
        source_kind="jobwarden",
        original={},
    )
    report = build(workflow, enrichment, cfg, report_id(source, workflow), trigger, runtime)
    stored = runtime.store.put_report(report)
    return 200, render(report, fmt, report_url=stored.url), FORMATS[fmt]
