"""What `functions/job_restart` and `functions/job_delete` call: a Flask request in, JSON out.

Kept apart from `http.py` so the contract stays a plain function of plain data.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from jobwarden.actions.common import Action
from jobwarden.actions.http import handle_action
from jobwarden.runtime import default_runtime


def _logging() -> None:
    ours = logging.getLogger("jobwarden")
    if ours.level == logging.NOTSET:
        ours.setLevel(logging.INFO)
    if not logging.getLogger().handlers:
        logging.basicConfig(
            stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s %(message)s"
        )


def respond(action: Action, request: Any) -> tuple[str, int, dict[str, str]]:
    """The functions-framework edge: a Flask request in, (JSON text, status, headers) out."""
    _logging()
    headers = {"Content-Type": "application/json"}
    if request.method != "POST":
        body = {
            "error": f"use POST with a JSON body to {action} a Job",
            "code": "method_not_allowed",
        }
        return json.dumps(body), 405, {**headers, "Allow": "POST"}
    payload = request.get_json(silent=True)
    status, body = handle_action(action, payload, dict(request.headers.items()), default_runtime())
    return json.dumps(body), status, headers
