"""job_pod_enricher: Every pod of a Job: status, completion, logs, events, resource usage.

Thin edge: `job_pod_enricher` for Pub/Sub CloudEvents, `job_pod_enricher_http` on request.
Everything else is `jobwarden.edge`.
"""

import functions_framework
from cloudevents.http.event import CloudEvent
from flask import Request


@functions_framework.cloud_event
def job_pod_enricher(event: CloudEvent) -> None:
    from jobwarden.edge import on_cloudevent

    on_cloudevent("jobPodEnricher", event)


@functions_framework.http
def job_pod_enricher_http(request: Request) -> tuple[str, int, dict[str, str]]:
    from jobwarden.edge import on_request

    return on_request("jobPodEnricher", request)
