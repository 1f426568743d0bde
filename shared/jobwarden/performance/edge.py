"""What `functions/job_performance_analysis/main.py` calls: CloudEvent / Flask request in.

Kept apart so main.py stays a few lines and imports nothing heavy at import time.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from jobwarden.performance.handler import (
    Outcome,
    handle_performance_event,
    handle_performance_request,
)
from jobwarden.runtime import default_runtime


def _logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(
            stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s %(message)s"
        )


def on_cloudevent(event: Any) -> Outcome:
    """Record the run a CloudEvent announces; raising means 'retry me'."""
    _logging()
    return handle_performance_event(event.get_attributes(), event.get_data(), default_runtime())


def on_request(request: Any) -> tuple[str, int, dict[str, str]]:
    """Answer a Flask request with the performance report."""
    _logging()
    body = request.get_json(silent=True)
    status, text, content_type = handle_performance_request(
        body, dict(request.args), default_runtime()
    )
    return text, status, {"Content-Type": content_type}
