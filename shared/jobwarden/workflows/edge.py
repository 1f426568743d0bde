"""What `functions/<name>/main.py` call: CloudEvent / Flask request in, handler out.

Kept apart so each main.py stays a few lines and imports nothing heavy at import time.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from jobwarden.errors import TemporaryError
from jobwarden.runtime import default_runtime
from jobwarden.workflows.handler import Outcome, ReportWorkflow, handle_event


class RetryWithoutTraceback(logging.Filter):
    """Shorten the framework's "Exception on / [POST]" record for a TemporaryError to one line.

    Raising is how a CloudEvent function asks for redelivery; the handler has already logged
    which Job and event will be retried and why, so a 100-line traceback per attempt only
    buries that line. Other exceptions (bugs) keep their traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, TemporaryError):
            original = record.getMessage()
            record.msg = "%s; answered 500 so that the event is redelivered (%s: %s)"
            record.args = (original, type(exc).__name__, exc)
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _logging() -> None:
    ours = logging.getLogger("jobwarden")
    if ours.level == logging.NOTSET:
        ours.setLevel(logging.INFO)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s %(message)s"
        )
    for handler in root.handlers:
        if not any(isinstance(f, RetryWithoutTraceback) for f in handler.filters):
            handler.addFilter(RetryWithoutTraceback())


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
