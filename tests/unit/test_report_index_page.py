"""The index page's request: filters checked before anything is read, and its registry entry."""

from __future__ import annotations

import datetime as dt

import pytest

from jobwarden.edge import TARGETS, handle_http
from jobwarden.errors import BadRequestError
from jobwarden.httpapi import HttpRequest
from jobwarden.workflows.reportindex import page_query
from tests.support.replay import make_runtime


def _query(**query: str) -> HttpRequest:
    return HttpRequest(method="GET", body=None, query=query)


def test_filters_parse_rfc3339_times_to_utc_and_keep_the_cursor() -> None:
    q = page_query(
        _query(
            cluster="prod-eu",
            namespace="batch",
            severity="error",
            since="2026-01-31T01:00:00+01:00",
            cursor="c",
            runs="10",
            format="json",
        )
    )
    assert q.since == dt.datetime(2026, 1, 31, tzinfo=dt.UTC)
    assert (q.cluster, q.namespace, q.severity, q.cursor, q.runs, q.fmt) == (
        "prod-eu", "batch", "error", "c", 10, "json"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"since": "yesterday"}, "not an RFC 3339 time"),
        ({"until": "2026-01-31T00:00:00"}, "no time zone"),
        ({"severity": "fatal"}, "severity 'fatal'"),
        ({"format": "md"}, "format 'md'"),
        ({"runs": "0"}, "runs must be"),
        ({"cursor": "../x"}, "cursor is not one this page made"),
        ({"namespace": "Not_A_Namespace"}, "Not_A_Namespace"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(query: dict[str, str], says: str) -> None:
    with pytest.raises(BadRequestError, match=says):
        page_query(_query(**query))


def test_the_index_page_is_a_target_that_is_no_workflow_and_answers_400_before_reading() -> None:
    assert TARGETS["jobReports"].event is None and TARGETS["jobReports"].request is not None
    runtime = make_runtime(lambda *a, **k: pytest.fail("no cluster call expected"))  # type: ignore[arg-type,return-value]
    answer = handle_http("jobReports", _query(severity="fatal"), runtime)
    assert answer.status == 400 and "severity" in answer.text
    answer = handle_http("jobReports", _query(cluster="elsewhere"), runtime)
    assert answer.status == 400 and "not configured" in answer.text
