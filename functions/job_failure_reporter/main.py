"""job_failure_reporter: One report per failed Job: cause, next steps, status, configuration,
events, logs.

Thin edge (DESIGN §3.1): decode the trigger and hand it to jobwarden.
"""

import functions_framework
from cloudevents.http.event import CloudEvent


@functions_framework.cloud_event
def job_failure_reporter(event: CloudEvent) -> None:
    from jobwarden.workflows.edge import on_cloudevent

    on_cloudevent("jobFailureReporter", event)
