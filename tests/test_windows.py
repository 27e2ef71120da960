"""Maintenance windows: wall-clock weekly ranges in a zone, across daylight-saving changes.

2026's changes: Europe/Madrid springs forward on Sunday March 29 (02:00 CET → 03:00 CEST,
01:00 UTC) and falls back on Sunday October 25 (03:00 CEST → 02:00 CET, 01:00 UTC);
America/New_York on Sunday March 8 (02:00 EST → 03:00 EDT) and Sunday November 1
(02:00 EDT → 01:00 EST).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.policy.windows import UnreadableSchedule, parse_schedule


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("when", "tz", "moment", "inside"),
    [
        # A weekend window, an ordinary week (Madrid in winter, UTC+1).
        ("sat 22:00-sun 06:00", "Europe/Madrid", "2026-01-17T20:59", False),
        ("sat 22:00-sun 06:00", "Europe/Madrid", "2026-01-17T21:00", True),
        ("sat 22:00-sun 06:00", "Europe/Madrid", "2026-01-18T04:59", True),
        ("sat 22:00-sun 06:00", "Europe/Madrid", "2026-01-18T05:00", False),
        # Spring forward: 06:00 CEST is 04:00 UTC.
        ("sat 22:00-sun 06:00", "Europe/Madrid", "2026-03-29T01:30", True),
        ("sat 22:00-sun 06:00", "Europe/Madrid", "2026-03-29T03:59", True),
        ("sat 22:00-sun 06:00", "Europe/Madrid", "2026-03-29T04:00", False),
        # Fall back: 06:00 CET is 05:00 UTC.
        ("sat 22:00-sun 06:00", "Europe/Madrid", "2026-10-24T19:59", False),
        ("sat 22:00-sun 06:00", "Europe/Madrid", "2026-10-24T20:00", True),
        ("sat 22:00-sun 06:00", "Europe/Madrid", "2026-10-25T04:59", True),
        ("sat 22:00-sun 06:00", "Europe/Madrid", "2026-10-25T05:00", False),
        # Ending in the repeated hour: the first 02:30 ends it; the second pass is outside.
        ("sat 22:00-sun 02:30", "Europe/Madrid", "2026-10-25T00:29", True),
        ("sat 22:00-sun 02:30", "Europe/Madrid", "2026-10-25T01:15", False),
        # Crossing the week's end (Sunday 2026-01-18 to Monday 2026-01-19).
        ("sun 22:00-mon 02:00", "UTC", "2026-01-18T21:59", False),
        ("sun 22:00-mon 02:00", "UTC", "2026-01-18T23:00", True),
        ("sun 22:00-mon 02:00", "UTC", "2026-01-19T01:59", True),
        ("sun 22:00-mon 02:00", "UTC", "2026-01-19T02:00", False),
        # A daily range crossing midnight, every day including into Monday.
        ("daily 22:00-02:00", "UTC", "2026-01-19T00:30", True),
        ("daily 22:00-02:00", "UTC", "2026-01-21T23:00", True),
        ("daily 22:00-02:00", "UTC", "2026-01-21T12:00", False),
        # A range of days: Friday in, Saturday out; fri-mon wraps over the weekend.
        ("mon-fri 01:00-03:00", "UTC", "2026-01-23T02:00", True),
        ("mon-fri 01:00-03:00", "UTC", "2026-01-24T02:00", False),
        ("fri-mon 01:00-03:00", "UTC", "2026-01-25T02:00", True),
        ("fri-mon 01:00-03:00", "UTC", "2026-01-21T02:00", False),
        # A single day; full names and capitals; several ranges.
        ("sat 10:00-14:00", "UTC", "2026-01-24T13:59", True),
        ("Saturday 22:00-SUNDAY 06:00", "UTC", "2026-01-25T05:00", True),
        ("mon-fri 01:00-03:00, sat 22:00-sun 06:00", "UTC", "2026-01-24T23:00", True),
        ("mon-fri 01:00-03:00, sat 22:00-sun 06:00", "UTC", "2026-01-20T02:30", True),
        ("mon-fri 01:00-03:00, sat 22:00-sun 06:00", "UTC", "2026-01-20T04:00", False),
        ("daily 20:00-24:00", "UTC", "2026-01-20T23:59", True),
        # New York: 01:00 EST is 06:00 UTC in March, 01:00 EDT is 05:00 UTC in November.
        ("daily 01:00-03:00", "America/New_York", "2026-03-08T06:30", True),
        ("daily 01:00-03:00", "America/New_York", "2026-03-08T07:00", False),
        ("daily 01:00-03:00", "America/New_York", "2026-11-01T07:59", True),
        ("daily 01:00-03:00", "America/New_York", "2026-11-01T08:00", False),
    ],
)
def test_contains(when: str, tz: str, moment: str, inside: bool) -> None:
    assert parse_schedule(when).contains(utc(moment), tz=tz) is inside


@pytest.mark.parametrize(
    ("when", "tz", "moment", "start", "end", "hours"),
    [
        # The same weekend window lasts 8, 7 and 9 real hours.
        ("sat 22:00-sun 06:00", "Europe/Madrid", "2026-01-17T23:00", "2026-01-17T21:00",
         "2026-01-18T05:00", 8),
        ("sat 22:00-sun 06:00", "Europe/Madrid", "2026-03-29T00:00", "2026-03-28T21:00",
         "2026-03-29T04:00", 7),
        ("sat 22:00-sun 06:00", "Europe/Madrid", "2026-10-25T00:00", "2026-10-24T20:00",
         "2026-10-25T05:00", 9),
        # A start in the skipped hour begins when the clocks jump: 03:00 CEST, 01:00 UTC.
        ("sun 02:30-04:00", "Europe/Madrid", "2026-03-29T01:30", "2026-03-29T01:00",
         "2026-03-29T02:00", 1),
        # A start in the repeated hour is its first pass: 02:30 CEST; 04:00 CET ends it.
        ("sun 02:30-04:00", "Europe/Madrid", "2026-10-25T01:00", "2026-10-25T00:30",
         "2026-10-25T03:00", 2.5),
        ("daily 01:00-03:00", "America/New_York", "2026-03-08T06:30", "2026-03-08T06:00",
         "2026-03-08T07:00", 1),
        ("daily 01:00-03:00", "America/New_York", "2026-11-01T06:00", "2026-11-01T05:00",
         "2026-11-01T08:00", 3),
        # Ranges that touch are one window.
        ("sat 20:00-22:00, sat 22:00-23:00", "UTC", "2026-01-24T21:00", "2026-01-24T20:00",
         "2026-01-24T23:00", 3),
    ],
)  # fmt: skip
def test_window_at_gives_start_and_end_in_real_time(
    when: str, tz: str, moment: str, start: str, end: str, hours: float
) -> None:
    window = parse_schedule(when).window_at(utc(moment), tz=tz)
    assert window == (utc(start), utc(end))
    assert window[1] - window[0] == timedelta(hours=hours)


def test_window_at_is_none_outside() -> None:
    assert parse_schedule("sat 10:00-14:00").window_at(utc("2026-01-24T15:00"), tz="UTC") is None


@pytest.mark.parametrize(
    ("when", "tz", "after", "start"),
    [
        # Outside: the next start, in the zone's offset of that day.
        ("sat 22:00-sun 06:00", "Europe/Madrid", "2026-03-25T12:00", "2026-03-28T21:00"),
        ("sat 22:00-sun 06:00", "Europe/Madrid", "2026-10-21T12:00", "2026-10-24T20:00"),
        # Exactly at a start: that start.
        ("sat 22:00-sun 06:00", "UTC", "2026-01-24T22:00", "2026-01-24T22:00"),
        # Inside: the start after this window, a week on.
        ("sat 22:00-sun 06:00", "UTC", "2026-01-24T23:00", "2026-01-31T22:00"),
        # Crossing the week's end, asked on the Monday inside it.
        ("sun 22:00-mon 02:00", "UTC", "2026-01-19T01:00", "2026-01-25T22:00"),
        ("mon-fri 01:00-03:00", "UTC", "2026-01-23T04:00", "2026-01-26T01:00"),
        ("daily 22:00-02:00", "UTC", "2026-01-20T01:00", "2026-01-20T22:00"),
        ("mon-fri 01:00-03:00, sat 22:00-sun 06:00", "UTC", "2026-01-23T04:00",
         "2026-01-24T22:00"),
        # In the gap: the window begins when the clocks jump.
        ("sun 02:30-04:00", "Europe/Madrid", "2026-03-28T12:00", "2026-03-29T01:00"),
        ("daily 02:00-04:00", "America/New_York", "2026-03-08T00:00", "2026-03-08T07:00"),
        # A naive-looking answer would be an hour off in the repeated hour: 01:30 EDT first.
        ("sun 01:30-02:00", "America/New_York", "2026-10-31T12:00", "2026-11-01T05:30"),
    ],
)  # fmt: skip
def test_next_start(when: str, tz: str, after: str, start: str) -> None:
    found = parse_schedule(when).next_start(utc(after), tz=tz)
    assert found == utc(start)
    assert found.tzinfo is UTC


@pytest.mark.parametrize(
    ("when", "tz", "now", "at", "until"),
    [
        # Saturday 23:00 in Madrid, the window open until Sunday 06:00 (05:00 UTC): a time
        # after it and before the next Saturday takes it.
        ("sat 22:00-sun 06:00", "Europe/Madrid", "2026-01-17T22:00", "2026-01-18T13:00",
         "2026-01-18T05:00"),
        ("sat 22:00-sun 06:00", "Europe/Madrid", "2026-01-17T22:00", "2026-01-18T05:00",
         "2026-01-18T05:00"),  # the end itself is outside
        ("sat 22:00-sun 06:00", "Europe/Madrid", "2026-01-17T22:00", "2026-01-18T04:59", None),
        # No window open now.
        ("sat 22:00-sun 06:00", "Europe/Madrid", "2026-01-16T22:00", "2026-01-18T13:00", None),
        # Another window opens before the time: that one, or the one after it, is nearer.
        ("daily 02:00-04:00", "UTC", "2026-01-20T02:10", "2026-01-20T05:00", "2026-01-20T04:00"),
        ("daily 02:00-04:00", "UTC", "2026-01-20T02:10", "2026-01-21T05:00", None),
        # Across a night the clocks fall back: 06:00 CET is 05:00 UTC.
        ("sat 22:00-sun 06:00", "Europe/Madrid", "2026-10-25T01:30", "2026-10-25T12:00",
         "2026-10-25T05:00"),
    ],
)  # fmt: skip
def test_the_window_open_now_is_the_one_a_later_time_moves_into(
    when: str, tz: str, now: str, at: str, until: str | None
) -> None:
    found = parse_schedule(when).open_until(utc(at), now=utc(now), tz=tz)
    assert found == (utc(until) if until else None)


def test_times_must_be_aware() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse_schedule("daily 02:00-04:00").contains(datetime(2026, 1, 1), tz="UTC")


@pytest.mark.parametrize(
    ("when", "fragment"),
    [
        ("", "It is empty"),
        ("   ", "It is empty"),
        ("weekends", 'can\'t read "weekends"'),
        ("sat 22:00", 'can\'t read "sat 22:00"'),
        ("sat 10pm-sun 6am", "24-hour"),
        ("thurs 01:00-03:00", '"thurs" is not a day'),
        ("mon-fry 01:00-03:00", '"fry" is not a day'),
        ("daily 25:00-26:00", '"25:00" is not a time of day'),
        ("daily 02:60-03:00", '"02:60" is not a time of day'),
        ("daily 02:00-02:00", "starts and ends at the same time"),
        ("sat 22:00-sat 22:00", "starts and ends at the same time"),
        ("daily 02:00-04:00,", "empty range between commas"),
        ("daily 00:00-24:00", "covers the whole week"),
        ("sat 00:00-sat 00:00, daily 01:00-02:00", "starts and ends"),
        # Another script's digits look like hours but are not read as such.
        ("daily \u0660\u0662:\u0660\u0660-\u0660\u0664:\u0660\u0660", "can't read"),
    ],
)
def test_unreadable_schedules_say_why_and_show_one(when: str, fragment: str) -> None:
    with pytest.raises(UnreadableSchedule) as caught:
        parse_schedule(when)
    message = str(caught.value)
    assert fragment in message
    assert '"' in message and ("sat 22:00-sun 06:00" in message or "01:00-03:00" in message)


def test_the_text_is_kept_as_written() -> None:
    assert parse_schedule("Sat 22:00 - Sun 06:00").text == "Sat 22:00 - Sun 06:00"
