"""What `functions/job_restart` and `functions/job_delete` call: Flask request in, JSON out."""

from __future__ import annotations

import json
from typing import Any

from jobwarden.operations.http import Action, handle_action
from jobwarden.runtime import default_runtime
from jobwarden.workflows.edge import _logging


def on_request(action: Action, request: Any) -> tuple[str, int, dict[str, str]]:
    _logging()
    body = request.get_json(silent=True)
    status, answer = handle_action(action, body, dict(request.headers), default_runtime())
    return json.dumps(answer), status, {"Content-Type": "application/json"}
