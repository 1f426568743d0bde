"""job_performance_analysis: record every finished Job run; analyse a window on request.

Thin edges (DESIGN §3.1): `job_performance_analysis` for Pub/Sub CloudEvents (records the
run of a `succeeded` / `failed` Job), `job_performance_analysis_http` on request (the
performance report of a Job's family, or of every family, over `duration`).
"""

import functions_framework
from cloudevents.http.event import CloudEvent
from flask import Request


@functions_framework.cloud_event
def job_performance_analysis(event: CloudEvent) -> None:
    from jobwarden.performance.edge import on_cloudevent

    on_cloudevent(event)


@functions_framework.http
def job_performance_analysis_http(request: Request) -> tuple[str, int, dict[str, str]]:
    from jobwarden.performance.edge import on_request

    return on_request(request)
