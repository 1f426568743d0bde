"""job_restart: Restart a failed Job: recreate it from its own spec under a new name.

Thin HTTP edge: the request goes to `jobwarden.edge` (contract: README, Restart and delete).
"""

import functions_framework
from flask import Request


@functions_framework.http
def job_restart(request: Request) -> tuple[str, int, dict[str, str]]:
    from jobwarden.edge import on_request

    return on_request("jobRestart", request)
