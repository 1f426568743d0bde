"""When a CronJob is due: cron expressions in time zones, across DST, with the @-macros."""

from __future__ import annotations

import datetime as dt

import pytest

from jobwarden_exporter.schedule import Schedule, ScheduleError


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def test_every_minute_in_utc_lists_the_whole_minutes_after_the_start() -> None:
    every = Schedule.parse("* * * * *")
    assert every.between(utc(2026, 5, 1, 12, 0, 30), utc(2026, 5, 1, 12, 3)) == [
        utc(2026, 5, 1, 12, 1),
        utc(2026, 5, 1, 12, 2),
        utc(2026, 5, 1, 12, 3),
    ]
    assert every.latest(utc(2026, 5, 1, 12, 3)) == utc(2026, 5, 1, 12, 3)
    assert every.previous(utc(2026, 5, 1, 12, 3)) == utc(2026, 5, 1, 12, 2)


def test_spec_time_zone_moves_the_instant_with_summer_and_winter_time() -> None:
    berlin = Schedule.parse("0 2 * * *", "Europe/Berlin")
    summer = berlin.between(utc(2026, 6, 30, 12), utc(2026, 7, 1, 12))
    winter = berlin.between(utc(2025, 12, 31, 12), utc(2026, 1, 1, 12))
    assert summer == [utc(2026, 7, 1, 0, 0)]  # 02:00 CEST
    assert winter == [utc(2026, 1, 1, 1, 0)]  # 02:00 CET
    new_york = Schedule.parse("30 9 * * 1-5", "America/New_York")
    assert new_york.between(utc(2026, 1, 5), utc(2026, 1, 6)) == [utc(2026, 1, 5, 14, 30)]


def test_a_time_in_the_spring_forward_gap_runs_once_right_after_the_gap() -> None:
    # Europe/Berlin skips 02:00-03:00 on 2026-03-29: the 02:30 run happens at 03:00 CEST
    berlin = Schedule.parse("30 2 * * *", "Europe/Berlin")
    assert berlin.between(utc(2026, 3, 28), utc(2026, 3, 31)) == [
        utc(2026, 3, 28, 1, 30),  # 02:30 CET
        utc(2026, 3, 29, 1, 0),  # 03:00 CEST, the first minute after the gap
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST
    ]


def test_a_time_in_the_fall_back_overlap_runs_once_at_its_first_occurrence() -> None:
    # Europe/Berlin repeats 02:00-03:00 on 2026-10-25: 02:30 happens twice, runs once
    berlin = Schedule.parse("30 2 * * *", "Europe/Berlin")
    assert berlin.between(utc(2026, 10, 24), utc(2026, 10, 27)) == [
        utc(2026, 10, 24, 0, 30),  # 02:30 CEST
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST, not again at 02:30 CET
        utc(2026, 10, 26, 1, 30),  # 02:30 CET
    ]


@pytest.mark.parametrize(
    ("macro", "start", "expected"),
    [
        ("@hourly", utc(2026, 5, 1, 12, 5), utc(2026, 5, 1, 13, 0)),
        ("@daily", utc(2026, 5, 1, 12, 5), utc(2026, 5, 2, 0, 0)),
        ("@midnight", utc(2026, 5, 1, 12, 5), utc(2026, 5, 2, 0, 0)),
        ("@weekly", utc(2026, 5, 1, 12, 5), utc(2026, 5, 3, 0, 0)),  # Sunday
        ("@monthly", utc(2026, 5, 1, 12, 5), utc(2026, 6, 1, 0, 0)),
        ("@yearly", utc(2026, 5, 1, 12, 5), utc(2027, 1, 1, 0, 0)),
        ("@annually", utc(2026, 5, 1, 12, 5), utc(2027, 1, 1, 0, 0)),
        ("@HOURLY", utc(2026, 5, 1, 12, 5), utc(2026, 5, 1, 13, 0)),
    ],
)
def test_the_controllers_macros_are_their_five_field_schedules(
    macro: str, start: dt.datetime, expected: dt.datetime
) -> None:
    assert next(Schedule.parse(macro).after(start)) == expected


def test_a_macro_follows_the_time_zone_too() -> None:
    daily = Schedule.parse("@daily", "Asia/Tokyo")
    assert next(daily.after(utc(2026, 5, 1, 12))) == utc(2026, 5, 1, 15, 0)  # 00:00 JST


def test_cron_tz_and_tz_prefixes_set_the_zone_and_spec_time_zone_wins_over_them() -> None:
    for text in ("CRON_TZ=Asia/Tokyo 0 9 * * *", "TZ=Asia/Tokyo 0 9 * * *"):
        prefixed = Schedule.parse(text)
        assert prefixed.zone_name == "Asia/Tokyo"
        assert next(prefixed.after(utc(2026, 4, 30, 12))) == utc(2026, 5, 1, 0, 0)  # 09:00 JST
    both = Schedule.parse("CRON_TZ=Asia/Tokyo 0 9 * * *", "UTC")
    assert next(both.after(utc(2026, 5, 1))) == utc(2026, 5, 1, 9, 0)
    assert Schedule.parse("TZ=Europe/Berlin @hourly").expression == "0 * * * *"


@pytest.mark.parametrize(
    ("schedule", "zone", "words"),
    [
        ("@every 5m", None, "@every is not a schedule jobwarden can check"),
        ("0 0 * * * *", None, "expected five fields"),
        ("61 * * * *", None, "Bad minute"),
        ("0 9 * * *", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("CRON_TZ=Nowhere/City 0 9 * * *", None, "unknown time zone 'Nowhere/City'"),
    ],
)
def test_what_cannot_be_evaluated_is_refused_naming_the_schedule_and_the_defect(
    schedule: str, zone: str | None, words: str
) -> None:
    with pytest.raises(ScheduleError) as caught:
        Schedule.parse(schedule, zone)
    assert f"schedule {schedule!r}" in str(caught.value)
    assert words in str(caught.value)


def test_counting_stops_at_the_cap() -> None:
    every = Schedule.parse("* * * * *")
    assert every.count_between(utc(2026, 5, 1), utc(2026, 5, 2), cap=101) == 101
    assert every.count_between(utc(2026, 5, 1), utc(2026, 5, 1, 0, 10), cap=101) == 10
