"""job_failure_reporter: One report per failed Job: cause, next steps, status, configuration,
events, logs.

Thin edge: `job_failure_reporter` for Pub/Sub CloudEvents. Everything else is `jobwarden.edge`.
"""

import functions_framework
from cloudevents.http.event import CloudEvent


@functions_framework.cloud_event
def job_failure_reporter(event: CloudEvent) -> None:
    from jobwarden.edge import on_cloudevent

    on_cloudevent("jobFailureReporter", event)
