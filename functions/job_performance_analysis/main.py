"""job_performance_analysis: record every finished Job run (`succeeded` / `failed`) and report
regressions; on request, the performance report of a Job's family, or of every family, over
`duration`; on schedule, a cluster's digest (slowest and least reliable families).

Thin edge: `job_performance_analysis` for Pub/Sub CloudEvents,
`job_performance_analysis_http` on request, `job_performance_digest` for Cloud Scheduler.
Everything else is `jobwarden.edge`.
"""

import functions_framework
from cloudevents.http.event import CloudEvent
from flask import Request


@functions_framework.cloud_event
def job_performance_analysis(event: CloudEvent) -> None:
    from jobwarden.edge import on_cloudevent

    on_cloudevent("jobPerformanceAnalysis", event)


@functions_framework.http
def job_performance_analysis_http(request: Request) -> tuple[str, int, dict[str, str]]:
    from jobwarden.edge import on_request

    return on_request("jobPerformanceAnalysis", request)


@functions_framework.http
def job_performance_digest(request: Request) -> tuple[str, int, dict[str, str]]:
    from jobwarden.edge import on_request

    return on_request("jobPerformanceDigest", request)
