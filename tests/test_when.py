"""bot.understand.when: time phrases to UTC moments, the modal's picker, and humanize_delta."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, available_timezones

import pytest

from bot.model import Refusal
from bot.understand.when import (
    ZONE_ABBREVIATIONS,
    ZONE_MEANINGS,
    UnreadableTime,
    When,
    humanize_delta,
    resolve,
    resolve_picker,
    warm_up,
)

# Wednesday 25 Nov 2026: 10:45 in UTC, 02:45 in Los Angeles (PST), 11:45 in Madrid (CET).
NOW = datetime(2026, 11, 25, 10, 45, tzinfo=UTC)
LA = "America/Los_Angeles"
MADRID = "Europe/Madrid"
NEW_YORK = "America/New_York"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def setup_module() -> None:
    warm_up()


@pytest.mark.parametrize(
    ("tz", "phrase", "expected"),
    [
        ("UTC", "at 14:00", "2026-11-25T14:00:00Z"),
        ("UTC", "at 3pm", "2026-11-25T15:00:00Z"),
        ("UTC", "at noon", "2026-11-25T12:00:00Z"),
        ("UTC", "at 9:30pm", "2026-11-25T21:30:00Z"),
        ("UTC", "at 3 pm", "2026-11-25T15:00:00Z"),
        ("UTC", "tomorrow at 3am", "2026-11-26T03:00:00Z"),
        ("UTC", "14:00 tomorrow", "2026-11-26T14:00:00Z"),
        ("UTC", "today at 17:30", "2026-11-25T17:30:00Z"),
        ("UTC", "on saturday at 23:00", "2026-11-28T23:00:00Z"),
        ("UTC", "ON SATURDAY AT 23:00", "2026-11-28T23:00:00Z"),
        ("UTC", "this sat at 10:00", "2026-11-28T10:00:00Z"),
        ("UTC", "day after tomorrow at noon", "2026-11-27T12:00:00Z"),
        ("UTC", "on jan 20, 2027 at 9:30", "2027-01-20T09:30:00Z"),
        ("UTC", "on nov 25 at 23:00", "2026-11-25T23:00:00Z"),  # dateparser says 2027
        ("UTC", "14:00:30", "2026-11-25T14:00:30Z"),
        ("UTC", "at 12pm", "2026-11-25T12:00:00Z"),
        ("UTC", "in 2 hours", "2026-11-25T12:45:00Z"),
        ("UTC", "in 30 minutes", "2026-11-25T11:15:00Z"),
        ("UTC", "in 90 min", "2026-11-25T12:15:00Z"),
        ("UTC", "in 1h", "2026-11-25T11:45:00Z"),
        ("UTC", "in 2 days", "2026-11-27T10:45:00Z"),
        ("UTC", "in 1h30m", "2026-11-25T12:15:00Z"),
        ("UTC", "in an hour", "2026-11-25T11:45:00Z"),
        ("UTC", "in 45 s", "2026-11-25T10:45:45Z"),
        (LA, "at 14:00", "2026-11-25T22:00:00Z"),
        (LA, "at 9:00", "2026-11-25T17:00:00Z"),
        ("UTC", "at 21", "2026-11-25T21:00:00Z"),  # a bare hour from 13 to 23 is 24-hour
        ("UTC", "tomorrow at 0", "2026-11-26T00:00:00Z"),
        (LA, "tonight at 20:30", "2026-11-26T04:30:00Z"),
        (LA, "tomorrow at 3am", "2026-11-26T11:00:00Z"),
        (LA, "in 2 hours", "2026-11-25T12:45:00Z"),
        (LA, "on saturday at 23:00", "2026-11-29T07:00:00Z"),
        (MADRID, "at 14:00", "2026-11-25T13:00:00Z"),
        (MADRID, "tomorrow at 3am", "2026-11-26T02:00:00Z"),
    ],
)
def test_times(tz: str, phrase: str, expected: str) -> None:
    when = resolve(phrase, tz=tz, now=NOW)
    assert when == When(at=utc(expected), immediate=False, notes=())


def test_on_a_date_with_time() -> None:
    now = datetime(2024, 1, 15, 8, 0, tzinfo=UTC)
    assert resolve("on 2024-01-20 at 09:30", tz="UTC", now=now).at == utc("2024-01-20T09:30:00Z")
    assert resolve("on 2024-01-20 at 09:30", tz=LA, now=now).at == utc("2024-01-20T17:30:00Z")


@pytest.mark.parametrize("phrase", ["", "now", "  Now ", "right now"])
def test_now_is_immediate(phrase: str) -> None:
    now = datetime(2026, 11, 25, 2, 45, 12, 999_999, tzinfo=timezone(timedelta(hours=-8)))
    when = resolve(phrase, tz=LA, now=now)
    assert when == When(at=utc("2026-11-25T10:45:12Z"), immediate=True, notes=())
    assert when.at.tzinfo is UTC


@pytest.mark.parametrize(
    ("tz", "phrase", "expected", "note"),
    [
        ("UTC", "at 9:00", "2026-11-26T09:00:00Z", "09:00 has passed today"),
        ("UTC", "at midnight", "2026-11-26T00:00:00Z", "00:00 has passed today"),
        ("UTC", "at 12am", "2026-11-26T00:00:00Z", "00:00 has passed today"),
        (MADRID, "at 11:00", "2026-11-26T10:00:00Z", "11:00 has passed today"),
        (LA, "at 1am", "2026-11-26T09:00:00Z", "01:00 has passed today"),
    ],
)
def test_time_of_day_passed_means_tomorrow(tz: str, phrase: str, expected: str, note: str) -> None:
    when = resolve(phrase, tz=tz, now=NOW)
    assert when.at == utc(expected)
    assert when.notes == (f"{note}, so this is tomorrow, Thu 26 Nov.",)


def test_midnight_tonight_is_the_coming_midnight() -> None:
    when = resolve("tonight at midnight", tz="UTC", now=NOW)
    assert when.at == utc("2026-11-26T00:00:00Z")
    assert when.notes == ("Midnight tonight is taken as 00:00 on Thu 26 Nov.",)


def test_weekday_named_today_means_next_week_with_note() -> None:
    when = resolve("on wednesday at 23:00", tz="UTC", now=NOW)
    assert when.at == utc("2026-12-02T23:00:00Z")
    assert when.notes == (
        'Today is Wednesday, so this is next Wednesday, Wed 2 Dec; say "today" for today.',
    )
    assert resolve("this wednesday at 23:00", tz="UTC", now=NOW).at == utc("2026-11-25T23:00:00Z")


@pytest.mark.parametrize(
    ("tz", "phrase", "expected", "note"),
    [
        (LA, "at 16:00 CET", "2026-11-25T15:00:00Z", "The time is in CET (UTC+01:00), as written."),
        (LA, "2pm UTC", "2026-11-25T14:00:00Z", "The time is in UTC, as written."),
        (LA, "at 14:00 z", "2026-11-25T14:00:00Z", "The time is in UTC, as written."),
        (
            "UTC",
            "at 18:00 europe/berlin",
            "2026-11-25T17:00:00Z",
            "The time is in Europe/Berlin (UTC+01:00), as written.",
        ),
        (
            "Asia/Kolkata",
            "at 20:00 IST",
            "2026-11-25T14:30:00Z",
            "The time is in IST, India Standard Time (UTC+05:30), as written.",
        ),
        (
            "UTC",
            "at 14:00 pst",
            "2026-11-25T22:00:00Z",
            "The time is in PST, Pacific Standard Time (UTC-08:00), as written.",
        ),
        (
            MADRID,
            "tomorrow at 9am AEDT",
            "2026-11-25T22:00:00Z",
            "The time is in AEDT (UTC+11:00), as written.",
        ),
    ],
)
def test_named_zone(tz: str, phrase: str, expected: str, note: str) -> None:
    when = resolve(phrase, tz=tz, now=NOW)
    assert when.at == utc(expected)
    assert when.notes == (note,)


def test_named_zone_uses_its_own_today() -> None:
    # 05:00 UTC on the 26th is still the 25th in Los Angeles: "today" is the 26th in UTC.
    now = utc("2026-11-26T05:00:00Z")
    when = resolve("at 03:00 UTC", tz=LA, now=now)
    assert when.at == utc("2026-11-27T03:00:00Z")
    assert when.notes[-1] == "03:00 has passed today, so this is tomorrow, Fri 27 Nov."


# --- readings that could go two ways: refused, or taken one way and said so ---


@pytest.mark.parametrize(
    ("phrase", "reason", "example"),
    [
        (
            "at 9",
            'Is "at 9" in the morning or the evening? '
            "Write 9am, 9pm, or a 24-hour time such as 21:00.",
            "at 9am",
        ),
        (
            "tomorrow at 7",
            'Is "at 7" in the morning or the evening? '
            "Write 7am, 7pm, or a 24-hour time such as 19:00.",
            "tomorrow at 7am",
        ),
        ("at 12", 'Is "at 12" noon or midnight? Write "at noon" or "at midnight".', "at noon"),
        ("tonight at 12", 'Is "at 12" noon or midnight? Write "at noon" or "at midnight".', None),
    ],
)
def test_a_bare_hour_from_1_to_12_is_refused(phrase: str, reason: str, example: str | None) -> None:
    with pytest.raises(Refusal) as caught:
        resolve(phrase, tz=LA, now=NOW)
    assert caught.value.reason == reason
    if example is not None:
        assert caught.value.example == example


@pytest.mark.parametrize(
    ("phrase", "expected", "shown"),
    [
        ("tonight at 8", "2026-11-26T04:00:00Z", '"Tonight at 8" is taken as 20:00.'),
        ("tonight at 9:30", "2026-11-26T05:30:00Z", '"Tonight at 9:30" is taken as 21:30.'),
    ],
)
def test_tonight_with_a_morning_hour_is_the_evening(phrase: str, expected: str, shown: str) -> None:
    when = resolve(phrase, tz=LA, now=NOW)  # 02:45 in Los Angeles
    assert when.at == utc(expected)
    assert when.notes == (shown,)


def test_next_weekday_is_the_coming_one_and_says_so() -> None:
    when = resolve("next monday at 3pm", tz="UTC", now=NOW)
    assert when.at == utc("2026-11-30T15:00:00Z")
    assert when.notes == (
        '"Next Monday" is taken as the coming one, Mon 30 Nov; for the one after, write Mon 7 Dec.',
    )


@pytest.mark.parametrize(
    ("phrase", "expected", "written", "shown"),
    [
        ("on 24 nov at 10:00", "2027-11-24T10:00:00Z", "24 nov", "Wed 24 Nov 2027"),
        ("on 20 jan at 9:30", "2027-01-20T09:30:00Z", "20 jan", "Wed 20 Jan 2027"),
    ],
)
def test_a_date_gone_this_year_is_next_years_and_says_so(
    phrase: str, expected: str, written: str, shown: str
) -> None:
    when = resolve(phrase, tz="UTC", now=NOW)
    assert when.at == utc(expected)
    assert when.notes == (f'"{written}" has passed this year, so this is {shown}.',)


def test_midnight_on_a_named_day_is_the_start_of_it() -> None:
    when = resolve("tomorrow at midnight", tz="UTC", now=NOW)
    assert when.at == utc("2026-11-26T00:00:00Z")
    assert when.notes == ("Midnight is taken as 00:00 at the start of Thu 26 Nov.",)


def test_a_day_word_with_another_zone_says_whose_day() -> None:
    # 02:30 on Thu 26 Nov at Lord Howe, 15:30 on Wed 25 Nov in UTC.
    now = utc("2026-11-25T15:30:00Z")
    when = resolve("tomorrow at 3am UTC", tz="Australia/Lord_Howe", now=now)
    assert when.at == utc("2026-11-26T03:00:00Z")
    assert when.notes == (
        "The time is in UTC, as written.",
        '"tomorrow" is counted in UTC: Thu 26 Nov.',
    )


# --- DST, America/New_York: 2026-03-08 02:00 → 03:00, 2026-11-01 02:00 → 01:00 ---


def test_dst_gap_refused() -> None:
    now = utc("2026-03-07T15:00:00Z")  # Sat 10:00 EST
    for phrase in ("tomorrow at 2:30am", "on 2026-03-08 at 02:30"):
        with pytest.raises(Refusal) as caught:
            resolve(phrase, tz=NEW_YORK, now=now)
        assert caught.value.reason == (
            "02:30 does not exist on Sun 8 Mar in America/New_York: "
            "the clocks jump forward that night."
        )
        assert caught.value.example.endswith("at 03:30")


def test_dst_gap_today_after_it_means_tomorrow() -> None:
    now = utc("2026-03-08T08:00:00Z")  # Sun 04:00 EDT, after the gap
    when = resolve("at 2:30", tz=NEW_YORK, now=now)
    assert when.at == utc("2026-03-09T06:30:00Z")


def test_tomorrow_across_spring_forward_keeps_wall_time() -> None:
    now = utc("2026-03-07T15:00:00Z")  # EST (UTC-5) today, EDT (UTC-4) tomorrow
    assert resolve("tomorrow at 3am", tz=NEW_YORK, now=now).at == utc("2026-03-08T07:00:00Z")


def test_tomorrow_across_fall_back_keeps_wall_time() -> None:
    now = utc("2026-10-31T16:00:00Z")  # EDT today, EST tomorrow
    assert resolve("tomorrow at 3am", tz=NEW_YORK, now=now).at == utc("2026-11-01T08:00:00Z")


def test_dst_fold_uses_first_with_note() -> None:
    now = utc("2026-10-31T16:00:00Z")
    when = resolve("tomorrow at 1:30am", tz=NEW_YORK, now=now)
    assert when.at == utc("2026-11-01T05:30:00Z")  # 01:30 EDT, not 01:30 EST
    assert when.notes == (
        "01:30 happens twice on Sun 1 Nov in America/New_York (the clocks go back); "
        "using the first one, 01:30 EDT (UTC-04:00).",
    )


@pytest.mark.parametrize(
    ("now", "phrase"),
    [
        ("2026-11-01T06:45:00Z", "at 1:50"),  # 01:45 EST, the second pass
        ("2026-11-01T06:45:00Z", "today at 1:50"),
        ("2026-11-01T05:55:00Z", "at 1:50"),  # 01:55 EDT: the first 01:50 has just gone
    ],
)
def test_dst_fold_second_one_when_only_the_first_has_passed(now: str, phrase: str) -> None:
    when = resolve(phrase, tz=NEW_YORK, now=utc(now))
    assert when.at == utc("2026-11-01T06:50:00Z")  # 01:50 EST, minutes away, not tomorrow
    assert when.notes == (
        "01:50 happens twice on Sun 1 Nov in America/New_York (the clocks go back); "
        "the first has passed, so this is the second one, 01:50 EST (UTC-05:00).",
    )


def test_dst_fold_both_passed_means_tomorrow() -> None:
    now = utc("2026-11-01T07:10:00Z")  # 02:10 EST, after both 01:50s
    assert resolve("at 1:50", tz=NEW_YORK, now=now).at == utc("2026-11-02T06:50:00Z")


def test_in_hours_is_elapsed_time_across_dst() -> None:
    now = utc("2026-03-08T06:30:00Z")  # 01:30 EST; two hours later is 04:30 EDT
    assert resolve("in 2 hours", tz=NEW_YORK, now=now).at == utc("2026-03-08T08:30:00Z")


# --- refusals ---


@pytest.mark.parametrize(
    ("phrase", "reason", "example"),
    [
        (
            "on 2024-02-30 at 10:00",
            '"2024-02-30" is not a date: February 2024 has 29 days.',
            "at 14:00",
        ),
        (
            "on 2026-13-01 at 10:00",
            '"2026-13-01" is not a date: months go from 1 to 12.',
            "at 14:00",
        ),
        ("on feb 30 at 10:00", '"feb 30" is not a date: February has at most 29 days.', "at 14:00"),
        (
            "at 25:99",
            '"25:99" is not a time of day: hours go from 0 to 23 and minutes go from 00 to 59.',
            "at 14:00",
        ),
        (
            "at 13pm",
            '"13pm" is not a time of day: with am or pm the hour goes from 1 to 12.',
            "at 14:00",
        ),
        ("at 14:5", '"14:5" is not a time of day: minutes go from 00 to 59.', "at 14:00"),
        (
            "tomorrow",
            "Tomorrow at what time? Add a time of day such as 09:00, 3pm or noon.",
            "tomorrow at 09:00",
        ),
        (
            "on saturday",
            "On saturday at what time? Add a time of day such as 09:00, 3pm or noon.",
            "on saturday at 09:00",
        ),
        (
            "on 2024-01-20 at 09:30",
            '"on 2024-01-20 at 09:30" is in the past: it is now 10:45 Wed 25 Nov 2026 (UTC).',
            "tomorrow at 09:30",
        ),
        (
            "today at 9:00",
            '"today at 9:00" is in the past: it is now 10:45 Wed 25 Nov 2026 (UTC).',
            "tomorrow at 09:00",
        ),
        (
            "in 0 minutes",
            '"in 0 minutes" is no time from now: write "now" to start right away.',
            "now",
        ),
        (
            "in 400 days",
            '"in 400 days" is more than 366 days ahead; I only schedule within a year.',
            "in 2 hours",
        ),
        ("at 14:00 15:00", 'I found two times, "14:00" and "15:00": give one.', "at 14:00"),
        ("at 14:00 CET UTC", 'I found two time zones, "CET" and "UTC": give one.', "at 14:00"),
        (
            "at 9:30 Europe/Berln",
            'I don\'t know the time zone "Europe/Berln". Use a name like Europe/Berlin, or UTC.',
            "at 14:00",
        ),
        (
            "on 01/02 at 10:00",
            '"01/02" could be read more than one way (day/month or month/day). '
            "Write the date as 2026-01-20 or 20 jan.",
            "at 14:00",
        ),
        ("on 0000-01-01 at 10:00", '"0000-01-01" is not a date: there is no year 0.', "at 14:00"),
    ],
)
def test_refusals(phrase: str, reason: str, example: str) -> None:
    with pytest.raises(Refusal) as caught:
        resolve(phrase, tz="UTC", now=NOW)
    assert caught.value.reason == reason
    assert caught.value.example == example
    assert not isinstance(caught.value, UnreadableTime)
    resolve(example, tz="UTC", now=NOW)  # the example itself is fine


@pytest.mark.parametrize(
    "phrase",
    [
        "gibberish",
        "server-02",
        "at",
        "the 5th at 10:00",
        "tomorrow 9",
        "in 5 fortnights",
        "at 9.30",
        "in 2 hours <https://evil|x>",  # a "/" alone does not make a time zone
        "at １４:００",  # digits of other scripts are not read as times
        "at ١٦:٠٠",
        "in ５ minutes",
    ],
)
def test_unreadable_quotes_the_phrase(phrase: str) -> None:
    with pytest.raises(UnreadableTime) as caught:
        resolve(phrase, tz="UTC", now=NOW)
    assert caught.value.reason.startswith(f'"{phrase}" is not a time I can read.')
    resolve(caught.value.example, tz="UTC", now=NOW)


def test_past_is_shown_in_the_zone_used() -> None:
    with pytest.raises(Refusal) as caught:
        resolve("on 2026-11-24 at 10:00", tz=LA, now=NOW)
    assert caught.value.reason.endswith("it is now 02:45 Wed 25 Nov 2026 (America/Los_Angeles).")


def test_unknown_zone_and_naive_now_are_errors_not_refusals() -> None:
    with pytest.raises(ValueError):
        resolve("at 14:00", tz="Mars/Olympus", now=NOW)
    with pytest.raises(ValueError):
        resolve("at 14:00", tz="UTC", now=datetime(2026, 11, 25, 10, 45))


# --- the modal's picker ---


def test_picker_none_is_now() -> None:
    assert resolve_picker(None, tz=LA, now=NOW) == When(at=NOW, immediate=True, notes=())


def test_picker_future_in_utc_whole_seconds() -> None:
    moment = datetime(2026, 11, 25, 14, 0, 30, 500, tzinfo=timezone(timedelta(hours=-8)))
    when = resolve_picker(moment, tz=LA, now=NOW)
    assert when == When(at=utc("2026-11-25T22:00:30Z"), immediate=False, notes=())


def test_picker_past_refused() -> None:
    with pytest.raises(Refusal) as caught:
        resolve_picker(utc("2026-11-25T10:00:00Z"), tz=LA, now=NOW)
    assert caught.value.reason == (
        "02:00 Wed 25 Nov is in the past: it is now 02:45 Wed 25 Nov 2026 "
        "(America/Los_Angeles). Pick a later time."
    )


def test_picker_naive_is_an_error() -> None:
    with pytest.raises(ValueError):
        resolve_picker(datetime(2026, 11, 26, 9, 0), tz="UTC", now=NOW)


# --- humanize_delta ---


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(hours=3, minutes=15, seconds=20), "in 3 h 15 min"),
        (timedelta(seconds=45), "in 45 s"),
        (timedelta(days=2, hours=4, minutes=59), "in 2 d 4 h"),
        (timedelta(days=1, minutes=5), "in 1 d"),
        (timedelta(minutes=3, seconds=20), "in 3 min 20 s"),
        (timedelta(seconds=29), "now"),
        (timedelta(seconds=-29), "now"),
        (timedelta(0), "now"),
        (timedelta(minutes=-5), "5 min ago"),
        (timedelta(hours=-2, minutes=-1), "2 h 1 min ago"),
    ],
)
def test_humanize_delta(delta: timedelta, expected: str) -> None:
    assert humanize_delta(delta) == expected


def test_a_long_run_of_letters_is_refused_at_once() -> None:
    """A time pattern that could split letters many ways once took hours on "in 1aaaa…a!"
    and held the interpreter lock meanwhile, freezing every acknowledgement. In a subprocess
    so that a regression fails on the timeout instead of hanging the suite."""
    phrase = "in 1" + "a" * 200 + "!"
    done = subprocess.run(
        [sys.executable, "-m", "bot", "parse", f"reboot server-01 {phrase}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "is not a time I can read" in done.stderr


# --- zone abbreviations, read in the person's own region ---


@pytest.mark.parametrize(
    ("tz", "phrase", "expected", "meaning"),
    [
        # their own zone writes it
        (
            "Asia/Shanghai",
            "at 20:00 CST",
            "2026-11-25T12:00:00Z",
            "China Standard Time (UTC+08:00)",
        ),
        (
            "America/Chicago",
            "at 16:00 CST",
            "2026-11-25T22:00:00Z",
            "US Central Standard Time (UTC-06:00)",
        ),
        (
            "America/Havana",
            "at 16:00 CST",
            "2026-11-25T21:00:00Z",
            "Cuba Standard Time (UTC-05:00)",
        ),
        (
            # in season: in November it is refused (test_phrasing.py)
            "Europe/Dublin",
            "on 2027-06-01 at 16:00 IST",
            "2027-06-01T15:00:00Z",
            "Irish Standard Time (UTC+01:00)",
        ),
        ("Asia/Kolkata", "at 20:00 IST", "2026-11-25T14:30:00Z", "India Standard Time (UTC+05:30)"),
        (
            "Asia/Jerusalem",
            "at 16:00 IST",
            "2026-11-25T14:00:00Z",
            "Israel Standard Time (UTC+02:00)",
        ),
        (
            "Europe/London",
            "on 2027-06-01 at 16:00 BST",
            "2027-06-01T15:00:00Z",
            "British Summer Time (UTC+01:00)",
        ),
        (
            "Asia/Manila",
            "at 20:00 PST",
            "2026-11-25T12:00:00Z",
            "Philippine Standard Time (UTC+08:00)",
        ),
        # their area reads it one way
        ("Asia/Tokyo", "at 16:00 CST", "2026-11-26T08:00:00Z", "China Standard Time (UTC+08:00)"),
        (
            "America/New_York",
            "at 16:00 CST",
            "2026-11-25T22:00:00Z",
            "US Central Standard Time (UTC-06:00)",
        ),
        (
            "Europe/Madrid",
            "on 2027-06-01 at 16:00 BST",
            "2027-06-01T15:00:00Z",
            "British Summer Time (UTC+01:00)",
        ),
        (
            "Asia/Dhaka",
            "at 20:00 BST",
            "2026-11-25T14:00:00Z",
            "Bangladesh Standard Time (UTC+06:00)",
        ),
        (
            "America/Halifax",
            "at 16:00 AST",
            "2026-11-25T20:00:00Z",
            "Atlantic Standard Time (UTC-04:00)",
        ),
        ("Asia/Riyadh", "at 16:00 AST", "2026-11-25T13:00:00Z", "Arabia Standard Time (UTC+03:00)"),
        (
            "Asia/Kuala_Lumpur",
            "at 20:00 MST",
            "2026-11-25T12:00:00Z",
            "Malaysia Standard Time (UTC+08:00)",
        ),
        # only one of its meanings is widely read
        ("UTC", "at 16:00 GST", "2026-11-25T12:00:00Z", "Gulf Standard Time (UTC+04:00)"),
        (MADRID, "at 16:00 MST", "2026-11-25T23:00:00Z", "US Mountain Standard Time (UTC-07:00)"),
    ],
)
def test_an_abbreviation_is_read_in_the_person_s_region(
    tz: str, phrase: str, expected: str, meaning: str
) -> None:
    when = resolve(phrase, tz=tz, now=NOW)
    assert when.at == utc(expected)
    word = phrase.split()[-1]
    name, offset = meaning.rsplit(" (", 1)
    assert when.notes[0] == f"The time is in {word}, {name} ({offset}, as written."


@pytest.mark.parametrize(
    ("tz", "phrase", "reason", "example"),
    [
        *(
            (
                tz,
                "at 16:00 CST",
                '"CST" could be US Central Standard Time (UTC-06:00) or China Standard Time '
                "(UTC+08:00). Write the zone by its place instead: America/Chicago or "
                "Asia/Shanghai.",
                "at 16:00 America/Chicago",
            )
            for tz in (MADRID, "UTC", "Australia/Sydney", "Africa/Lagos")
        ),
        *(
            (
                tz,
                "at 16:00 IST",
                '"IST" could be India Standard Time (UTC+05:30), Irish Standard Time (UTC+01:00) '
                "or Israel Standard Time (UTC+02:00). Write the zone by its place instead: "
                "Asia/Kolkata, Europe/Dublin or Asia/Jerusalem.",
                "at 16:00 Asia/Kolkata",
            )
            for tz in (MADRID, "UTC", "Europe/London", LA)
        ),
        (
            "UTC",
            "tomorrow at 9am BST",
            '"BST" could be British Summer Time (UTC+01:00) or Bangladesh Standard Time '
            "(UTC+06:00). Write the zone by its place instead: Europe/London or Asia/Dhaka.",
            "tomorrow at 9am Europe/London",
        ),
        (
            MADRID,
            "at 16:00 AST",
            '"AST" could be Atlantic Standard Time (UTC-04:00) or Arabia Standard Time '
            "(UTC+03:00). Write the zone by its place instead: America/Halifax or Asia/Riyadh.",
            "at 16:00 America/Halifax",
        ),
        (
            # the phrase itself is in the past: the example is one that works
            "UTC",
            "on 2024-01-20 at 16:00 cst",
            '"CST" could be US Central Standard Time (UTC-06:00) or China Standard Time',
            "at 14:00 America/Chicago",
        ),
    ],
)
def test_an_abbreviation_with_several_meanings_for_the_person_is_refused(
    tz: str, phrase: str, reason: str, example: str
) -> None:
    with pytest.raises(Refusal) as caught:
        resolve(phrase, tz=tz, now=NOW)
    assert caught.value.reason.startswith(reason)
    assert caught.value.example == example
    resolve(example, tz=tz, now=NOW)


@pytest.mark.parametrize(
    "tz", ["UTC", MADRID, LA, "Asia/Shanghai", "Asia/Kolkata", "Australia/Sydney", "Europe/Dublin"]
)
@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("at 16:00 UTC", "2026-11-25T16:00:00Z"),
        ("at 16:00 GMT", "2026-11-25T16:00:00Z"),
        ("at 16:00 CET", "2026-11-25T15:00:00Z"),
        ("at 16:00 PST", "2026-11-26T00:00:00Z"),
        ("at 16:00 EST", "2026-11-25T21:00:00Z"),
        ("tomorrow at 16:00 JST", "2026-11-26T07:00:00Z"),
    ],
)
def test_unambiguous_abbreviations_work_for_everyone(tz: str, phrase: str, expected: str) -> None:
    assert resolve(phrase, tz=tz, now=NOW).at == utc(expected)


def test_a_zone_s_own_abbreviations_work_there() -> None:
    # NZDT is in no table: Pacific/Auckland writes it itself.
    when = resolve("at 16:00 NZDT", tz="Pacific/Auckland", now=NOW)
    assert when.at == utc("2026-11-26T03:00:00Z")
    with pytest.raises(UnreadableTime):
        resolve("at 16:00 NZDT", tz=MADRID, now=NOW)


def test_the_abbreviation_tables_agree_with_tzdata() -> None:
    """Every zone of the installed tzdata, twice a month through a year: an abbreviation used
    with several offsets must be in ZONE_MEANINGS with each of them, and no table gives an
    offset tzdata does not use for that abbreviation."""
    used: dict[str, set[int]] = defaultdict(set)
    offsets_of_zone: dict[str, set[int]] = defaultdict(set)
    moments = [
        datetime(2026, month, day, 12, tzinfo=UTC) for month in range(1, 13) for day in (1, 15)
    ]
    for name in available_timezones():
        zone = ZoneInfo(name)
        for moment in moments:
            local = moment.astimezone(zone)
            minutes = int(local.utcoffset().total_seconds()) // 60  # type: ignore[union-attr]
            offsets_of_zone[name].add(minutes)
            abbreviation = local.tzname() or ""
            if abbreviation.isalpha():
                used[abbreviation.lower()].add(minutes)
    several = {a for a, offsets in used.items() if len(offsets) > 1}
    assert several >= {"cst", "ist", "pst"}  # the scan sees what it should
    for abbreviation in several:
        assert abbreviation in ZONE_MEANINGS, abbreviation
    for abbreviation, meanings in ZONE_MEANINGS.items():
        listed = {m.minutes for m in meanings}
        assert used.get(abbreviation, set()) <= listed, abbreviation
        for meaning in meanings:
            assert meaning.minutes in offsets_of_zone[meaning.zone], meaning
    for abbreviation, minutes in ZONE_ABBREVIATIONS.items():
        assert used.get(abbreviation, {minutes}) == {minutes}, abbreviation
