"""Time phrases ("at 14:00", "tomorrow at 3am", "in 2 hours") to moments in UTC.

The time of day is read here, not by dateparser: it reads "at 9" as September 29 and
accepts "13pm". dateparser reads only the date words ("tomorrow", "saturday",
"20 jan"), as a naive wall-clock date in the zone; the wall time is then attached to
the zone with zoneinfo, so a DST change between now and then cannot shift it.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import dateparser

from bot import text
from bot.model import Refusal

MAX_AHEAD_DAYS = 366
ZERO = timedelta(0)


@dataclass(frozen=True, kw_only=True)
class When:
    at: datetime  # aware, UTC, whole seconds
    immediate: bool  # no time given, or "now"
    notes: tuple[str, ...]


class UnreadableTime(Refusal):
    """The phrase is not a time at all (rather than a wrong time): it may be a misplaced name."""


# Fixed offsets in minutes. CST is US Central and IST is India, as people here use them.
ZONE_ABBREVIATIONS = {
    "utc": 0,
    "gmt": 0,
    "z": 0,
    "wet": 0,
    "bst": 60,
    "cet": 60,
    "cest": 120,
    "eet": 120,
    "eest": 180,
    "ist": 330,
    "est": -300,
    "edt": -240,
    "cst": -360,
    "cdt": -300,
    "mst": -420,
    "mdt": -360,
    "pst": -480,
    "pdt": -420,
    "jst": 540,
    "aest": 600,
    "aedt": 660,
}

_UNIT_SECONDS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
    **dict.fromkeys(("w", "week", "weeks"), 7 * 86400),
}
# Each unit is a whole run of letters and "a"/"an" needs a space after it, so a phrase can be
# split into parts only one way: no backtracking blow-up on "in 1aaaa…a!".
_RELATIVE_AMOUNT_UNIT = r"(?:[0-9]+\s*|an?\s+)[a-z]+(?![a-z])"
_RELATIVE = re.compile(
    rf"{_RELATIVE_AMOUNT_UNIT}(?:\s*(?:and\s+)?{_RELATIVE_AMOUNT_UNIT})*", re.ASCII
)
_RELATIVE_PART = re.compile(r"([0-9]+|an?)\s*([a-z]+)", re.ASCII)

_CLOCK = re.compile(r"(\d+)(?::(\d+))?(?::(\d+))?(am|pm)?", re.ASCII)
_NAMED_CLOCKS = {"noon": time(12), "midday": time(12), "midnight": time(0)}

_WEEKDAYS = {
    "monday": ("mon",),
    "tuesday": ("tue", "tues"),
    "wednesday": ("wed",),
    "thursday": ("thu", "thur", "thurs"),
    "friday": ("fri",),
    "saturday": ("sat",),
    "sunday": ("sun",),
}
_WEEKDAY_NAMES = {short: full for full, shorts in _WEEKDAYS.items() for short in (full, *shorts)}
_MONTH = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_DAY_WORDS = frozenset({"today", "tonight", "tomorrow", "day after tomorrow"})
_WEEKDAY_DATE = re.compile(rf"(?:(this|next) )?({'|'.join(_WEEKDAY_NAMES)})")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})", re.ASCII)
_DAY_MONTH = re.compile(rf"(\d{{1,2}})(?:st|nd|rd|th)? (?:of )?({_MONTH})(?: (\d{{4}}))?", re.ASCII)
_MONTH_DAY = re.compile(rf"({_MONTH}) (\d{{1,2}})(?:st|nd|rd|th)?(?: (\d{{4}}))?", re.ASCII)
_BARE_HOUR = re.compile(r"[0-9]{1,2}")
_IANA_SHAPE = re.compile(r"[A-Za-z_]+(?:/[A-Za-z0-9_+-]+)+")
_NUMERIC_DATE = re.compile(r"\d{1,4}/\d{1,2}(?:/\d{1,4})?", re.ASCII)


def zone_for(tz: str) -> ZoneInfo:
    """The IANA zone; ValueError for a name zoneinfo does not know (never a silent UTC)."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
        raise ValueError(f"unknown time zone {tz!r}") from error


def utc_now(moment: datetime) -> datetime:
    """The moment in UTC, whole seconds; ValueError if it is naive."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("times must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=0)


def resolve(phrase: str, *, tz: str, now: datetime) -> When:
    """The moment a time phrase means for someone in `tz`; "" and "now" mean now.

    Raises Refusal (UnreadableTime when it is not a time at all); its `example` is a
    corrected time phrase, which the grammar turns into a whole command.
    """
    zone: tzinfo = zone_for(tz)
    zone_label = tz
    now = utc_now(now)
    shown = " ".join(phrase.split())
    words = phrase.replace(",", " ").split()
    if not words or [w.lower() for w in words] in (["now"], ["right", "now"]):
        return When(at=now, immediate=True, notes=())

    words, named = _take_zone(words)
    if words and words[0].lower() == "in" and _RELATIVE.fullmatch(" ".join(words[1:]).lower()):
        # Elapsed time, so the zone (and any DST change) does not matter.
        return When(at=_relative(words[1:], shown, now), immediate=False, notes=())
    home_today = now.astimezone(zone).date()
    if named is not None:
        zone, zone_label = named
    at, notes = _absolute(words, shown, zone, zone_label, now, home_today=home_today)
    if named is not None:
        offset = at.astimezone(zone).utcoffset() or timedelta(0)  # at that moment, not now
        notes.insert(0, text.zone_used(zone_label, text.utc_offset(offset)))
    return When(at=at, immediate=False, notes=tuple(notes))


def resolve_picker(moment: datetime | None, *, tz: str, now: datetime) -> When:
    """The modal's date-and-time picker: None is now; the past is refused."""
    zone = zone_for(tz)
    now = utc_now(now)
    if moment is None:
        return When(at=now, immediate=True, notes=())
    at = utc_now(moment)
    local = at.astimezone(zone)
    if at < now:
        shown = f"{text.clock(local)} {text.day(local.date(), today=now.astimezone(zone).date())}"
        raise Refusal(
            text.picker_past(shown, text.now_in_zone(now.astimezone(zone), tz)),
            example=text.EXAMPLE_TIME,
        )
    if at - now > timedelta(days=MAX_AHEAD_DAYS):
        raise Refusal(
            text.too_far(f"{local:%Y-%m-%d %H:%M}", MAX_AHEAD_DAYS), example=text.EXAMPLE_TIME
        )
    return When(at=at, immediate=False, notes=())


def humanize_delta(delta: timedelta) -> str:
    """`in 3 h 15 min`, `in 45 s`, `in 2 d 4 h`, `now` (under 30 s), `5 min ago`."""
    seconds = int(delta.total_seconds())
    if abs(seconds) < 30:
        return text.DELTA_NOW
    amount = text.span(abs(seconds))
    return text.delta_future(amount) if seconds > 0 else text.delta_past(amount)


def warm_up() -> None:
    """dateparser's first parse costs ~120 ms: pay it at start-up, not on someone's command."""
    _parse_date("tomorrow", datetime(2026, 1, 1))


def _take_zone(words: list[str]) -> tuple[list[str], tuple[tzinfo, str] | None]:
    found: list[tuple[str, tuple[tzinfo, str]]] = []
    rest: list[str] = []
    for word in words:
        named = _named_zone(word.lower())
        if named is None and _IANA_SHAPE.fullmatch(word):
            raise Refusal(text.unknown_zone(word), example=text.EXAMPLE_TIME)
        if named is None:
            rest.append(word)
        else:
            found.append((word, named))
    if len(found) > 1:
        raise Refusal(text.two_zones(found[0][0], found[1][0]), example=text.EXAMPLE_TIME)
    return rest, (found[0][1] if found else None)


def _named_zone(word: str) -> tuple[tzinfo, str] | None:
    if word in ZONE_ABBREVIATIONS:
        label = "UTC" if word == "z" else word.upper()
        return timezone(timedelta(minutes=ZONE_ABBREVIATIONS[word]), label), label
    if "/" in word and word in _iana_names():
        name = _iana_names()[word]
        return ZoneInfo(name), name
    return None


@cache
def _iana_names() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def _relative(words: list[str], shown: str, now: datetime) -> datetime:
    seconds = 0
    for amount, unit in _RELATIVE_PART.findall(" ".join(words).lower().replace(" and ", " ")):
        if unit not in _UNIT_SECONDS:
            raise UnreadableTime(text.not_a_time(shown), example="in 2 hours")
        seconds += (1 if amount in ("a", "an") else int(amount)) * _UNIT_SECONDS[unit]
    if seconds == 0:
        raise Refusal(text.relative_zero(shown), example="now")
    if seconds > MAX_AHEAD_DAYS * 86400:
        raise Refusal(text.too_far(shown, MAX_AHEAD_DAYS), example="in 2 hours")
    return now + timedelta(seconds=seconds)


def _absolute(
    words: list[str],
    shown: str,
    zone: tzinfo,
    zone_label: str,
    now: datetime,
    *,
    home_today: date,
) -> tuple[datetime, list[str]]:
    """A time of day, with an optional date, in `zone`; `home_today` is the requester's date,
    which differs from the zone's when the text names another zone."""
    clock, clock_word, rest = _take_clock(words)
    date_words = [w for w in rest if w.lower() not in ("at", "on")]
    date_text = " ".join(date_words)
    local_now = now.astimezone(zone).replace(tzinfo=None)
    today = local_now.date()
    if clock is None:
        if date_words:
            _read_date(date_text, shown, local_now)  # an unreadable date is refused as such
            asked = " ".join(w for w in rest if w.lower() != "at")
            raise Refusal(text.date_without_time(asked), example=f"{asked} at {text.EXAMPLE_CLOCK}")
        raise UnreadableTime(text.not_a_time(shown), example=text.EXAMPLE_TIME)
    day, notes = _read_date(date_text, shown, local_now) if date_words else (today, [])
    at_word = f"{date_text} at" if date_text else "at"
    clock, clock_notes = _twelve_hour_sense(clock, clock_word, date_text, at_word)
    notes += clock_notes
    # "tomorrow" and "friday" count from a today, which is the named zone's when there is one.
    named_day = date_text.lower() in _DAY_WORDS or bool(_WEEKDAY_DATE.fullmatch(date_text.lower()))
    if named_day and today != home_today:
        notes.append(text.day_in_zone(date_text, zone_label, text.day(day, today=today)))

    wall = datetime.combine(day, clock)
    midnight = clock_word.lower() == "midnight"
    if midnight and date_text.lower() in ("today", "tonight"):
        wall += timedelta(days=1)
        notes.append(text.midnight_tonight(text.day(wall.date(), today=today)))
    elif midnight and named_day:
        notes.append(text.midnight_starts(text.day(wall.date(), today=today)))
    elif not date_words and _passed(wall, zone, now, local_now):
        wall += timedelta(days=1)  # naive, so a wall-clock day even across a DST change
        notes.append(text.passed_today(text.clock(clock), text.day(wall.date(), today=today)))

    day_text = text.day(wall.date(), today=today)
    repeated = _repeated(wall, zone)
    if repeated:
        first, second = repeated
        at = second if first < now <= second else first
        which = text.dst_fold_second if at is second else text.dst_fold
        shown_at = f"{text.clock(at)} {at.tzname()} ({text.utc_offset(at.utcoffset() or ZERO)})"
        notes.append(which(text.clock(clock), day_text, zone_label, shown_at))
    else:
        at = wall.replace(tzinfo=zone)
        landed = at.astimezone(UTC).astimezone(zone)
        if landed.replace(tzinfo=None) != wall:
            raise Refusal(
                text.dst_gap(text.clock(clock), day_text, zone_label),
                example=f"{at_word} {text.clock(landed)}",
            )

    at = at.astimezone(UTC)
    if at < now:
        raise Refusal(
            text.in_past(shown, text.now_in_zone(now.astimezone(zone), zone_label)),
            example=f"tomorrow at {text.clock(clock)}",
        )
    if at - now > timedelta(days=MAX_AHEAD_DAYS):
        raise Refusal(
            text.too_far(shown, MAX_AHEAD_DAYS), example=f"tomorrow at {text.clock(clock)}"
        )
    return at, notes


def _twelve_hour_sense(
    clock: time, word: str, date_text: str, at_word: str
) -> tuple[time, list[str]]:
    """ "tonight at 8" is 20:00; a bare "at 9" could be morning or evening, so it is refused."""
    lowered = word.lower()
    if lowered in _NAMED_CLOCKS or lowered.endswith(("am", "pm")):
        return clock, []
    if date_text.lower() == "tonight" and 1 <= clock.hour <= 11:
        evening = clock.replace(hour=clock.hour + 12)
        return evening, [text.tonight_evening(word, text.clock(evening))]
    if _BARE_HOUR.fullmatch(word) and 1 <= clock.hour <= 12:
        suggested = "noon" if clock.hour == 12 else f"{clock.hour}am"
        raise Refusal(text.bare_hour(word, clock.hour), example=f"{at_word} {suggested}")
    return clock, []


def _passed(wall: datetime, zone: tzinfo, now: datetime, local_now: datetime) -> bool:
    """Has today's `wall` time gone by? In a repeated hour, only once both have."""
    repeated = _repeated(wall, zone)
    if repeated:
        return repeated[1] < now
    return wall < local_now or wall.replace(tzinfo=zone) < now


def _repeated(wall: datetime, zone: tzinfo) -> tuple[datetime, datetime] | None:
    """The two moments a wall time names in the hour the clocks go back over, else None."""
    first, second = wall.replace(tzinfo=zone), wall.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return None
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
        return None  # a gap (the clocks go forward): this wall time does not exist at all
    return first, second


def _take_clock(words: list[str]) -> tuple[time | None, str, list[str]]:
    """The time of day in the words (at most one), its word, and the other words."""
    found: list[tuple[time, str]] = []
    rest: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        lowered = word.lower()
        following = words[i + 1].lower() if i + 1 < len(words) else ""
        after_at = bool(rest) and rest[-1].lower() == "at"
        match = _CLOCK.fullmatch(lowered)
        if lowered in _NAMED_CLOCKS:
            found.append((_NAMED_CLOCKS[lowered], word))
        elif match and (match[2] or match[4] or following in ("am", "pm") or after_at):
            ampm = match[4]
            if not ampm and following in ("am", "pm"):
                ampm = following
                word = f"{word} {words[i + 1]}"
                i += 1
            found.append((_clock(match, ampm, word), word))
        else:
            rest.append(word)
        i += 1
    if len(found) > 1:
        raise Refusal(text.two_times(found[0][1], found[1][1]), example=text.EXAMPLE_TIME)
    if not found:
        return None, "", rest
    return found[0][0], found[0][1], rest


def _clock(match: re.Match[str], ampm: str | None, shown: str) -> time:
    hour_digits, minute_digits, second_digits = match[1], match[2], match[3]
    hour = int(hour_digits)
    minute = int(minute_digits or 0)
    second = int(second_digits or 0)
    problems = []
    if ampm:
        if not 1 <= hour <= 12 or len(hour_digits) > 2:
            problems.append(text.PROBLEM_AMPM_HOUR)
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    elif hour > 23 or len(hour_digits) > 2:
        problems.append(text.PROBLEM_HOUR)
    if minute > 59 or (minute_digits is not None and len(minute_digits) != 2):
        problems.append(text.PROBLEM_MINUTE)
    if second > 59 or (second_digits is not None and len(second_digits) != 2):
        problems.append(text.PROBLEM_SECOND)
    if problems:
        raise Refusal(text.bad_clock(shown, problems), example=text.EXAMPLE_TIME)
    return time(hour, minute, second)


def _read_date(written: str, shown: str, local_now: datetime) -> tuple[date, list[str]]:
    """A date in one of the forms we accept; dateparser is given nothing else.

    dateparser reads stray words and numbers as dates ("the 5th" → 25 May, "13/13" →
    2113), so anything outside these forms is refused instead.
    """
    words = written.lower()
    today = local_now.date()
    notes: list[str] = []
    iso = _ISO_DATE.fullmatch(words)
    day_month = _DAY_MONTH.fullmatch(words)
    month_day = _MONTH_DAY.fullmatch(words)
    weekday = _WEEKDAY_DATE.fullmatch(words)
    if iso:
        year, month, day_number = (int(g) for g in iso.groups())
        _check_day(written, year, month, day_number)
        return date(year, month, day_number), notes
    if _NUMERIC_DATE.fullmatch(words):
        raise Refusal(text.numeric_date(written), example=text.EXAMPLE_TIME)
    if day_month or month_day:
        if day_month:
            day_digits, month_word, year_digits = day_month.groups()
        else:
            month_word, day_digits, year_digits = month_day.groups()  # type: ignore[union-attr]
        month = _month_number(month_word)
        year = int(year_digits) if year_digits else None
        _check_day(written, year, month, int(day_digits))
        parsed = _parse_date(words, local_now)
        if year is None and parsed.year > today.year:
            # dateparser moves today's date to next year: today is still ahead of us.
            this_year = parsed.replace(year=today.year) if _valid(today.year, parsed) else None
            if this_year is not None and this_year >= today:
                parsed = this_year
            else:  # never a silent next year: it may be a typo for a later day
                notes.append(text.date_next_year(written, text.day(parsed, today=today)))
        return parsed, notes
    if weekday:
        which, name = weekday.groups()
        full = _WEEKDAY_NAMES[name]
        parsed = _parse_date(f"{which} {full}" if which else full, local_now)
        if full == f"{today:%A}".lower() and parsed != today:
            notes.append(text.weekday_is_today(full.title(), text.day(parsed, today=today)))
        elif which == "next":
            later = text.day(parsed + timedelta(days=7), today=today)
            notes.append(text.next_weekday(full.title(), text.day(parsed, today=today), later))
        return parsed, notes
    if words in _DAY_WORDS:
        return _parse_date(words, local_now), notes
    raise UnreadableTime(text.not_a_time(shown), example=text.EXAMPLE_TIME)


def _parse_date(words: str, local_now: datetime) -> date:
    parsed = dateparser.parse(
        words,
        languages=["en"],
        settings={
            "RELATIVE_BASE": local_now,
            "RETURN_AS_TIMEZONE_AWARE": False,
            "PREFER_DATES_FROM": "future",
        },
    )
    if parsed is None:
        raise UnreadableTime(text.not_a_time(words), example=text.EXAMPLE_TIME)
    return parsed.date()


def _month_number(word: str) -> int:
    return next(i for i in range(1, 13) if calendar.month_name[i].lower().startswith(word[:3]))


def _valid(year: int, moment: date) -> bool:
    return moment.day <= calendar.monthrange(year, moment.month)[1]


def _check_day(shown: str, year: int | None, month: int, day_number: int) -> None:
    if year is not None and year < 1:
        raise Refusal(text.bad_year(shown), example=text.EXAMPLE_TIME)
    if not 1 <= month <= 12:
        raise Refusal(text.bad_month(shown), example=text.EXAMPLE_TIME)
    # Without a year, February may have 29 days (2000 is a leap year).
    days = calendar.monthrange(year if year is not None else 2000, month)[1]
    if not 1 <= day_number <= days:
        raise Refusal(
            text.bad_day(shown, calendar.month_name[month], days, year),
            example=text.EXAMPLE_TIME,
        )
