"""job_delete: Delete a Job and its pods with an explicit propagation policy.

Thin HTTP edge: the request goes to `jobwarden.edge` (contract: README, Restart and delete).
"""

import functions_framework
from flask import Request


@functions_framework.http
def job_delete(request: Request) -> tuple[str, int, dict[str, str]]:
    from jobwarden.edge import on_request

    return on_request("jobDelete", request)
