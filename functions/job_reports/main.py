"""job_reports: the cross-cluster index of stored reports, as a page (HTML or JSON), on request.

Thin edge: `job_reports` answers `GET ?cluster=&namespace=&severity=&since=&until=&cursor=`
(`jobwarden.workflows.reportindex`). Everything else is `jobwarden.edge`.
"""

import functions_framework
from flask import Request


@functions_framework.http
def job_reports(request: Request) -> tuple[str, int, dict[str, str]]:
    from jobwarden.edge import on_request

    return on_request("jobReports", request)
