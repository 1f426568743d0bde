"""job_restart: Restart a failed Job: recreate it from its own spec under a new name (DESIGN §3.5).

Thin HTTP edge: the caller's bearer token and JSON body go to jobwarden.actions.
"""

import functions_framework
from flask import Request


@functions_framework.http
def job_restart(request: Request) -> tuple[str, int, dict[str, str]]:
    from jobwarden.actions.edge import respond

    return respond("restart", request)
