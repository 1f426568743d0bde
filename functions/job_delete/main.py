"""job_delete: Delete a Job and its pods with an explicit propagation policy (DESIGN §3.5).

Thin HTTP edge: the caller's bearer token and JSON body go to jobwarden.actions.
"""

import functions_framework
from flask import Request


@functions_framework.http
def job_delete(request: Request) -> tuple[str, int, dict[str, str]]:
    from jobwarden.actions.edge import respond

    return respond("delete", request)
