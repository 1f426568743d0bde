"""job_events_enricher: The event timeline of a Job and its pods, filtered by type, most severe
first.

Thin edge: `job_events_enricher` for Pub/Sub CloudEvents, `job_events_enricher_http` on request.
Everything else is `jobwarden.edge`.
"""

import functions_framework
from cloudevents.http.event import CloudEvent
from flask import Request


@functions_framework.cloud_event
def job_events_enricher(event: CloudEvent) -> None:
    from jobwarden.edge import on_cloudevent

    on_cloudevent("jobEventsEnricher", event)


@functions_framework.http
def job_events_enricher_http(request: Request) -> tuple[str, int, dict[str, str]]:
    from jobwarden.edge import on_request

    return on_request("jobEventsEnricher", request)
