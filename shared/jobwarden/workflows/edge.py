"""What `functions/<name>/main.py` call: CloudEvent / Flask request in, handler out.

Kept apart so each main.py stays a few lines and imports nothing heavy at import time.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from jobwarden.runtime import default_runtime
from jobwarden.workflows.handler import Outcome, ReportWorkflow, handle_event


def _logging() -> None:
    ours = logging.getLogger("jobwarden")
    if ours.level == logging.NOTSET:
        ours.setLevel(logging.INFO)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s %(message)s"
        )


def on_cloudevent(workflow: ReportWorkflow, event: Any) -> Outcome:
    """Handle a functions-framework CloudEvent; raising means 'retry me'."""
    _logging()
    return handle_event(workflow, event.get_attributes(), event.get_data(), default_runtime())


def on_request(workflow: ReportWorkflow, request: Any) -> tuple[str, int, dict[str, str]]:
    """Handle a Flask request for `<name>_http`."""
    from jobwarden.workflows.ondemand import handle_request

    _logging()
    body = request.get_json(silent=True)
    status, text, content_type = handle_request(
        workflow, body, dict(request.args), default_runtime()
    )
    return text, status, {"Content-Type": content_type}
