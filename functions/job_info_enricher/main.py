"""job_info_enricher: Job status, conditions, deadlines, spec details, parallelism and backoff
analysis.

Thin edge: `job_info_enricher` for Pub/Sub CloudEvents, `job_info_enricher_http` on request.
Everything else is `jobwarden.edge`.
"""

import functions_framework
from cloudevents.http.event import CloudEvent
from flask import Request


@functions_framework.cloud_event
def job_info_enricher(event: CloudEvent) -> None:
    from jobwarden.edge import on_cloudevent

    on_cloudevent("jobInfoEnricher", event)


@functions_framework.http
def job_info_enricher_http(request: Request) -> tuple[str, int, dict[str, str]]:
    from jobwarden.edge import on_request

    return on_request("jobInfoEnricher", request)
