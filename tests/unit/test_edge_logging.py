"""A retried event logs one line that names the failure, not a traceback per attempt."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from jobwarden.edge import RetryWithoutTraceback
from jobwarden.errors import ApiUnavailableError


def _render(exc: BaseException) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    handler.addFilter(RetryWithoutTraceback())
    logger = logging.getLogger("job_failure_reporter.test")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        try:
            raise exc
        except Exception:
            logger.exception("Exception on %s [%s]", "/", "POST")
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_a_temporary_error_is_logged_as_one_warning_line() -> None:
    err = ApiUnavailableError(
        "cannot reach the API server at https://10.0.0.1; check that it is running",
        method="GET",
        path="/apis/batch/v1/namespaces/batch/jobs/nightly",
    )
    text = _render(err)
    assert "Traceback" not in text
    assert text.count("\n") == 1
    assert text.startswith("WARNING job_failure_reporter.test Exception on / [POST]; answered 500")
    assert "ApiUnavailableError" in text
    assert "cannot reach the API server at https://10.0.0.1" in text


def test_a_bug_keeps_its_traceback() -> None:
    text = _render(KeyError("spec"))
    assert text.startswith("ERROR job_failure_reporter.test Exception on / [POST]")
    assert "Traceback (most recent call last)" in text
    assert "KeyError: 'spec'" in text


@pytest.mark.parametrize("exc_info", [None, (None, None, None)])
def test_records_without_an_exception_pass_unchanged(exc_info: object) -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "plain %s", ("line",), None)
    record.exc_info = exc_info  # type: ignore[assignment]
    assert RetryWithoutTraceback().filter(record)
    assert record.getMessage() == "plain line"
    assert record.levelname == "INFO"
    assert sys.exc_info() == (None, None, None)
