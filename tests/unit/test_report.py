"""The canonical report: camelCase JSON, stable bytes, typed blocks, deterministic ids."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from jobwarden.report import (
    ChartBlock,
    FieldItem,
    FieldsBlock,
    LogBlock,
    MarkdownBlock,
    Report,
    TableBlock,
    TimelineBlock,
    report_id,
)
from tests.support.reports import T0, oomkilled_report, performance_report, stuck_report


def test_report_round_trips_through_its_canonical_json() -> None:
    for report in (oomkilled_report(), performance_report(), stuck_report()):
        assert Report.from_json(report.to_json()) == report


def test_canonical_json_has_sorted_camelcase_keys_compact_and_utc_times() -> None:
    cest = dt.timezone(dt.timedelta(hours=2))
    report = oomkilled_report().model_copy(
        update={"created_at": dt.datetime(2024, 5, 1, 4, 10, tzinfo=cest)}
    )
    report = Report.model_validate(report.model_dump())  # validators normalise the time
    text = report.to_json()
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert {"jobUid", "createdAt", "sourceEventId"} <= set(data)
    assert data["createdAt"] == "2024-05-01T02:10:00Z"
    assert text == json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert text == Report.from_json(text).to_json()


def test_canonical_json_keeps_unicode_readable() -> None:
    report = oomkilled_report().model_copy(update={"summary": "Größe überschritten ✗"})
    assert "Größe überschritten ✗" in report.to_json()


def test_same_event_and_workflow_give_the_same_report_id() -> None:
    first = report_id("prod-eu:uid-1:failed", "jobFailureReporter")
    assert first == report_id("prod-eu:uid-1:failed", "jobFailureReporter")
    assert len(first) == 24
    assert all(c in "0123456789abcdef" for c in first)


def test_other_workflow_or_event_gives_another_report_id() -> None:
    base = report_id("prod-eu:uid-1:failed", "jobFailureReporter")
    assert base != report_id("prod-eu:uid-1:failed", "jobPodEnricher")
    assert base != report_id("prod-eu:uid-2:failed", "jobFailureReporter")


def test_report_id_needs_an_event_id() -> None:
    with pytest.raises(ValueError, match="source event id"):
        report_id("", "jobFailureReporter")


def test_blocks_are_told_apart_by_their_type_field() -> None:
    data = json.loads(oomkilled_report().to_json())
    data["blocks"] = [
        {"type": "fields", "fields": [{"name": "a", "value": "b"}]},
        {"type": "table", "columns": ["x"], "rows": [["1"]]},
        {"type": "markdown", "text": "hi"},
        {"type": "log", "pod": "p", "container": "c", "lines": ["x"], "highlight": [0]},
        {"type": "timeline", "entries": [{"reason": "R", "object": "Pod/p", "message": "m"}]},
        {"type": "chart", "title": "t", "kind": "bar", "xLabel": "run", "series": []},
    ]
    report = Report.model_validate(data)
    kinds = [type(b) for b in report.blocks]
    assert kinds == [FieldsBlock, TableBlock, MarkdownBlock, LogBlock, TimelineBlock, ChartBlock]
    chart = report.blocks[-1]
    assert isinstance(chart, ChartBlock)
    assert chart.x_label == "run"


def test_an_unknown_block_type_is_refused_by_name() -> None:
    data = json.loads(oomkilled_report().to_json())
    data["blocks"] = [{"type": "video", "url": "x"}]
    with pytest.raises(ValidationError, match="video"):
        Report.model_validate(data)


def test_created_at_must_carry_a_timezone() -> None:
    data = json.loads(oomkilled_report().to_json())
    data["createdAt"] = "2024-05-01T02:10:00"
    with pytest.raises(ValidationError, match="createdAt"):
        Report.model_validate(data)


def test_an_unknown_workflow_or_severity_is_refused() -> None:
    data = json.loads(oomkilled_report().to_json())
    with pytest.raises(ValidationError, match="workflow"):
        Report.model_validate({**data, "workflow": "jobNotifier"})
    with pytest.raises(ValidationError, match="severity"):
        Report.model_validate({**data, "severity": "critical"})


def test_log_highlight_must_point_at_a_line_and_is_sorted() -> None:
    with pytest.raises(ValidationError, match="outside the 2 log lines"):
        LogBlock(pod="p", container="c", lines=["a", "b"], highlight=[2])
    assert LogBlock(pod="p", container="c", lines=["a", "b"], highlight=[1, 0, 1]).highlight == [
        0,
        1,
    ]


def test_table_rows_must_have_one_cell_per_column() -> None:
    with pytest.raises(ValidationError, match="row 1 has 1 cells but the table has 2 columns"):
        TableBlock(columns=["a", "b"], rows=[["1", "2"], ["3"]])


def test_chart_values_must_be_finite() -> None:
    with pytest.raises(ValidationError):
        ChartBlock.model_validate(
            {
                "title": "t",
                "kind": "line",
                "series": [{"name": "s", "points": [{"x": "a", "y": "nan"}]}],
            }
        )


def test_unknown_keys_are_refused_so_typos_surface() -> None:
    with pytest.raises(ValidationError, match="colour"):
        FieldItem.model_validate({"name": "a", "value": "b", "colour": "red"})


def test_python_and_json_names_are_both_accepted() -> None:
    common = {"id": "x", "workflow": "jobDelete", "cluster": "c", "namespace": "n", "job": "j"}
    common |= {"severity": "info", "title": "t"}
    by_alias = Report.model_validate({**common, "jobUid": "u", "createdAt": T0.isoformat()})
    by_name = Report(**common, job_uid="u", created_at=T0)  # type: ignore[arg-type]
    assert by_alias == by_name


lines = st.lists(st.text(max_size=40), max_size=8)


@given(
    title=st.text(max_size=80),
    log=lines,
    value=st.text(max_size=60),
    y=st.floats(allow_nan=False, allow_infinity=False, width=32),
)
def test_any_report_serialises_to_the_same_bytes_after_a_round_trip(
    title: str, log: list[str], value: str, y: float
) -> None:
    report = oomkilled_report().model_copy(
        update={
            "title": title,
            "blocks": [
                FieldsBlock(fields=[FieldItem(name="n", value=value)]),
                LogBlock(pod="p", container="c", lines=log, highlight=[0] if log else []),
                ChartBlock.model_validate(
                    {
                        "title": "t",
                        "kind": "line",
                        "series": [{"name": "s", "points": [{"x": "a", "y": y}]}],
                    }
                ),
            ],
        }
    )
    text = report.to_json()
    assert Report.from_json(text).to_json() == text
