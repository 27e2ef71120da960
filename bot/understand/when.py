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
from typing import NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import dateparser

from bot import say
from bot.model import Refusal
from bot.understand.typed import unread

MAX_AHEAD_DAYS = 366
ZERO = timedelta(0)


@dataclass(frozen=True, kw_only=True)
class When:
    at: datetime  # aware, UTC, whole seconds
    immediate: bool  # no time given, or "now"
    notes: tuple[str, ...]


class UnreadableTime(Refusal):
    """The phrase is not a time at all (rather than a wrong time): it may be a misplaced name."""


class _NoColon(Refusal):
    """`at 1400`: hours and minutes without their colon. `resolve` offers the whole phrase
    with the colon put in."""

    def __init__(self, reason: str, *, written: str, fixed: str) -> None:
        super().__init__(reason, example=say.grammar.EXAMPLE_TIME)
        self.written = written
        self.fixed = fixed


# Abbreviations that mean one offset to everyone who uses them (minutes east of UTC). Each
# agrees with tzdata wherever a zone uses it (tests/test_when.py checks this against the
# installed tzdata). A zone's own abbreviations come first (see `_own_abbreviations`), so
# someone in Asia/Manila, whose zone writes PST for UTC+08:00, gets theirs.
ZONE_ABBREVIATIONS = {
    "utc": 0,
    "gmt": 0,
    "z": 0,
    "wet": 0,
    "cet": 60,
    "cest": 120,
    "eet": 120,
    "eest": 180,
    "est": -300,  # Australia's was EST until tzdata 2014f; it is AEST now, as people write it
    "edt": -240,
    "mdt": -360,
    "pdt": -420,
    "jst": 540,
    "aest": 600,
    "aedt": 660,
}


# Summer times in the table above: their names, and the zone whose summer each is. Out of
# season (CEST in December) one is refused, not read at its offset: see `_refuse_out_of_season`.
SUMMER_TIMES = {
    "cest": ("Central European Summer Time", "Europe/Berlin"),
    "eest": ("Eastern European Summer Time", "Europe/Athens"),
    "edt": ("Eastern Daylight Time", "America/New_York"),
    "mdt": ("Mountain Daylight Time", "America/Denver"),
    "pdt": ("Pacific Daylight Time", "America/Los_Angeles"),
    "aedt": ("Australian Eastern Daylight Time", "Australia/Sydney"),
}
# Standard times in the table above whose zone moves its clocks ahead in summer: there (EST
# in New York in July) one is refused as a summer time out of season is, since people write
# EST all year meaning the wall clock. A zone that writes one all year (America/Panama's EST,
# Africa/Algiers' CET) reads it as its own, so it is never refused there (`_named_zone`).
# GMT is not here: it is UTC+00:00 by definition and, outside the zones that write it, read
# as UTC's other name (`14:00 GMT` from New York in July means 14:00 UTC). Europe/London and
# Europe/Dublin write it themselves, and there it is refused in summer, as EST in New York
# is: people there write GMT for the clocks on the wall all year.
STANDARD_TIMES = {
    "wet": ("Western European Time", "Europe/Lisbon"),
    "cet": ("Central European Time", "Europe/Berlin"),
    "eet": ("Eastern European Time", "Europe/Athens"),
    "est": ("Eastern Standard Time", "America/New_York"),
    "aest": ("Australian Eastern Standard Time", "Australia/Sydney"),
}
_KEPT_TIMES = SUMMER_TIMES | STANDARD_TIMES


@dataclass(frozen=True, kw_only=True)
class ZoneMeaning:
    """One reading of an abbreviation that has several: "China Standard Time", UTC+08:00."""

    name: str
    minutes: int
    zone: str  # an IANA zone that keeps this offset in its standard time, for examples
    areas: tuple[str, ...]  # IANA name prefixes of the people who read it this way
    widely: bool  # read this way outside its areas too (a candidate for everyone else)


_AMERICAS = ("America/", "US/", "Canada/", "Mexico/", "Brazil/", "Chile/")
_CUBA = ("America/Havana", "Cuba")
_ISRAEL = ("Asia/Jerusalem", "Asia/Tel_Aviv", "Israel")
_SAMOA = ("Pacific/Pago_Pago", "Pacific/Midway", "Pacific/Samoa", "US/Samoa")
_SINGAPORE = ("Asia/Singapore", "Singapore")
_MALAYSIA = ("Asia/Kuala_Lumpur", "Asia/Kuching")
_BOUGAINVILLE = ("Pacific/Bougainville",)
_SOUTH_GEORGIA = ("Atlantic/South_Georgia",)
# Abbreviations with more than one meaning. Sources: the abbreviations tzdata's zones use today
# (CST, CDT, IST and PST each have several offsets there; tests/test_when.py scans the installed
# tzdata and fails if a new one appears), and Wikipedia's "List of time zone abbreviations" for
# those tzdata replaced by numbers in 2017 (Arabia's AST, Bangladesh's BST, the Gulf's GST,
# Malaysia's MST, Singapore's SST: tzdata writes +03, +06, +04, +08, +08). A person's own
# zone decides first, then the meanings whose areas hold their zone (the longest prefix wins);
# anyone else is refused when more than one meaning is widely used.
_MEANINGS = (
    # abbreviation, meaning, minutes east of UTC, a zone keeping it, areas, widely read so
    ("cst", "US Central Standard Time", -360, "America/Chicago", _AMERICAS, True),
    ("cst", "China Standard Time", 480, "Asia/Shanghai", ("Asia/", "PRC", "ROC"), True),
    ("cst", "Cuba Standard Time", -300, "America/Havana", _CUBA, False),
    ("cdt", "US Central Daylight Time", -300, "America/Chicago", _AMERICAS, True),
    ("cdt", "Cuba Daylight Time", -240, "America/Havana", _CUBA, False),
    ("ist", "India Standard Time", 330, "Asia/Kolkata", ("Asia/",), True),
    ("ist", "Irish Standard Time", 60, "Europe/Dublin", ("Europe/Dublin", "Eire"), True),
    ("ist", "Israel Standard Time", 120, "Asia/Jerusalem", _ISRAEL, True),
    ("bst", "British Summer Time", 60, "Europe/London", ("Europe/", "GB"), True),
    ("bst", "Bangladesh Standard Time", 360, "Asia/Dhaka", ("Asia/",), True),
    ("bst", "Bougainville Standard Time", 660, "Pacific/Bougainville", _BOUGAINVILLE, False),
    ("ast", "Atlantic Standard Time", -240, "America/Halifax", _AMERICAS, True),
    ("ast", "Arabia Standard Time", 180, "Asia/Riyadh", ("Asia/",), True),
    ("gst", "Gulf Standard Time", 240, "Asia/Dubai", ("Asia/",), True),
    ("gst", "South Georgia Time", -120, "Atlantic/South_Georgia", _SOUTH_GEORGIA, False),
    ("mst", "US Mountain Standard Time", -420, "America/Denver", _AMERICAS, True),
    ("mst", "Malaysia Standard Time", 480, "Asia/Kuala_Lumpur", _MALAYSIA, False),
    ("pst", "Pacific Standard Time", -480, "America/Los_Angeles", _AMERICAS, True),
    ("pst", "Philippine Standard Time", 480, "Asia/Manila", ("Asia/Manila",), False),
    ("sst", "Samoa Standard Time", -660, "Pacific/Pago_Pago", _SAMOA, False),
    ("sst", "Singapore Standard Time", 480, "Asia/Singapore", _SINGAPORE, False),
)
ZONE_MEANINGS: dict[str, tuple[ZoneMeaning, ...]] = {
    abbreviation: tuple(
        ZoneMeaning(name=name, minutes=minutes, zone=zone, areas=areas, widely=widely)
        for key, name, minutes, zone, areas, widely in _MEANINGS
        if key == abbreviation
    )
    for abbreviation in dict.fromkeys(row[0] for row in _MEANINGS)
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
# Words that say when only vaguely, or in the past. Each has its own answer (never "not a time
# I can read"), and the grammar never takes one for a device name.
_PAST_WORDS = frozenset({"yesterday", "ago", "last", "earlier"})
_NOW_WORDS = frozenset({"asap", "immediately"})
_REPEAT_WORDS = frozenset({"every", "daily", "nightly", "weekly", "monthly", "hourly"})
_VAGUE_WORDS = frozenset(
    {"soon", "later", "whenever", "sometime", "someday", "eventually", "anytime", "while"}
)
_END_OF_DAY_WORDS = frozenset({"eod", "cob", "eob"})
# "end of day", "close of business", "end of the business day": as "eod" is.
_END_OF_DAY_PHRASE = re.compile(r"\b(?:end|close) of (?:the )?(?:business )?(?:day|business)\b")
# Words that tie an operation to something else ("after the update", "when idle", "unless
# busy", "by 14:00", "first"): a request starts at one time, so each gets a sentence, and the
# grammar never offers one as a device or package name.
CONDITION_WORDS = frozenset(
    {"after", "afterwards", "before", "by", "first", "if", "once", "then", "till", "unless"}
    | {"until", "when"}
)
_END_OF_DAY = time(17)
_PARTS_OF_DAY = {
    "morning": time(9),
    "afternoon": time(15),
    "evening": time(19),
    "night": time(22),
    "tonight": time(22),
}
_FILLERS = frozenset({"this", "the", "in", "at", "by", "before"})
VAGUE_TIME_WORDS = (
    _PAST_WORDS | _NOW_WORDS | _REPEAT_WORDS | _VAGUE_WORDS | _END_OF_DAY_WORDS | set(_PARTS_OF_DAY)
)
_WEEKDAY_DATE = re.compile(rf"(?:(this|next) )?({'|'.join(_WEEKDAY_NAMES)})")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})", re.ASCII)
_DAY_MONTH = re.compile(rf"(\d{{1,2}})(?:st|nd|rd|th)? (?:of )?({_MONTH})(?: (\d{{4}}))?", re.ASCII)
_MONTH_DAY = re.compile(rf"({_MONTH}) (\d{{1,2}})(?:st|nd|rd|th)?(?: (\d{{4}}))?", re.ASCII)
_MONTH_WORD = re.compile(_MONTH)
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
    odd = unread(phrase)
    if odd:  # "– now", "at １４:００": named, never guessed at (see bot/understand/typed.py)
        raise UnreadableTime(
            say.time.time_unread_characters(shown, odd), example=say.grammar.EXAMPLE_TIME
        )

    all_words = words
    words, named = _take_zone(words, tz=tz, now=now)
    try:
        _refuse_vague(words, shown, tz=tz, now=now)
        if words and words[0].lower() == "in" and _RELATIVE.fullmatch(" ".join(words[1:]).lower()):
            # Elapsed time, so the zone (and any DST change) does not matter.
            return When(at=_relative(words[1:], shown, now), immediate=False, notes=())
        home_today = now.astimezone(zone).date()
        if named is not None:
            zone, zone_label = named.zone, named.label
        at, notes = _absolute(words, shown, zone, zone_label, now, home_today=home_today)
    except _NoColon as error:
        fixed = " ".join(error.fixed if w == error.written else w for w in shown.split())
        raise Refusal(error.reason, example=_first_working([fixed], tz=tz, now=now)) from None
    except Refusal as error:
        if named is None:
            raise
        raise _in_zone(error, named, tz=tz, now=now) from None
    if named is not None:
        _refuse_out_of_season(at, named, all_words, tz=tz, now=now)
        offset = at.astimezone(zone).utcoffset() or timedelta(0)  # at that moment, not now
        notes.insert(
            0, say.time.zone_used(zone_label, say.common.utc_offset(offset), named.meaning)
        )
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
        today = now.astimezone(zone).date()
        shown = f"{say.common.clock(local)} {say.common.day(local.date(), today=today)}"
        raise Refusal(
            say.time.picker_past(shown, say.time.now_in_zone(now.astimezone(zone), tz)),
            example=say.grammar.EXAMPLE_TIME,
        )
    if at - now > timedelta(days=MAX_AHEAD_DAYS):
        raise Refusal(
            say.time.too_far(f"{local:%Y-%m-%d %H:%M}", MAX_AHEAD_DAYS),
            example=say.grammar.EXAMPLE_TIME,
        )
    return When(at=at, immediate=False, notes=())


def local_time(moment: datetime, tz: str) -> str:
    """`Sat 28 Nov 22:00`, as the clock reads in `tz`."""
    return moment.astimezone(zone_for(tz)).strftime("%a %d %b %H:%M")


def both_times(moment: datetime, *, window_tz: str, tz: str) -> str:
    """A moment as a window's zone reads it and, if it differs, as the person's zone does."""
    there = f"{local_time(moment, window_tz)} ({window_tz})"
    if window_tz == tz:
        return there
    return f"{there}, {local_time(moment, tz)} your time ({tz})"


def humanize_delta(delta: timedelta) -> str:
    """`in 3 h 15 min`, `in 45 s`, `in 2 d 4 h`, `now` (under 30 s), `5 min ago`."""
    seconds = int(delta.total_seconds())
    if abs(seconds) < 30:
        return say.time.DELTA_NOW
    amount = say.time.span(abs(seconds))
    return say.time.delta_future(amount) if seconds > 0 else say.time.delta_past(amount)


def is_time_word(word: str) -> bool:
    """Does `word` read as part of a time ("december", "hours", "pm", "CET", "yesterday")? The
    grammar never offers one as a device or package name in a suggestion."""
    lowered = word.lower()
    return (
        lowered in VAGUE_TIME_WORDS
        or lowered in _WEEKDAY_NAMES
        or lowered in _DAY_WORDS
        or lowered in _NAMED_CLOCKS
        or lowered in _UNIT_SECONDS
        or lowered in ("am", "pm", "now", "right", "next")
        or lowered in ZONE_ABBREVIATIONS
        or lowered in ZONE_MEANINGS
        or lowered in _iana_names()
        or bool(_MONTH_WORD.fullmatch(lowered) or _CLOCK.fullmatch(lowered))
    )


def says_which_day_or_zone(word: str) -> bool:
    """Does `word` say on which day, or in which zone, a time is (`tomorrow`, `friday`,
    `next`, `december`, `2026-12-24`, `CET`)? An example that leaves one out would run on
    another day, or at another hour."""
    lowered = word.lower().strip(",")
    return (
        lowered in _WEEKDAY_NAMES
        or lowered in _DAY_WORDS
        or lowered == "next"
        or lowered in ZONE_ABBREVIATIONS
        or lowered in ZONE_MEANINGS
        or lowered in _iana_names()
        or bool(
            _MONTH_WORD.fullmatch(lowered)
            or _ISO_DATE.fullmatch(lowered)
            or _NUMERIC_DATE.fullmatch(lowered)
        )
    )


def warm_up() -> None:
    """dateparser's first parse costs ~120 ms: pay it at start-up, not on someone's command."""
    _parse_date("tomorrow", datetime(2026, 1, 1))


@dataclass(frozen=True, kw_only=True)
class _Named:
    """A zone written in the phrase: `Europe/Berlin`, or an abbreviation as this person reads it."""

    zone: tzinfo
    label: str  # as the notes show it: "Europe/Berlin", "CST"
    meaning: str = ""  # "China Standard Time", when the abbreviation has several
    word: str = ""  # as written: "cst"
    minutes: int | None = None  # an abbreviation's offset: UTC+01:00 for BST is 60
    keeper: str = ""  # the zone whose clocks it names (Europe/London for BST), if one


def _refuse_out_of_season(
    at: datetime, named: _Named, words: list[str], *, tz: str, now: datetime
) -> None:
    """Refuses an abbreviation read at an offset its zone's clocks are not on at `at`: a
    summer time out of season (`14:00 BST` in December, `IST` in Dublin in November) or a
    standard time in summer (`14:00 EST` in July): the person may mean the wall clock there
    or the offset, an hour apart, and a guess could reboot at the wrong hour. Judged at the
    moment the time refers to, by tzdata's rules for the zone that keeps it."""
    if named.minutes is None or not named.keeper:
        return
    keeper = ZoneInfo(named.keeper)
    there = at.astimezone(keeper)
    in_force = int((there.utcoffset() or ZERO).total_seconds()) // 60
    if in_force == named.minutes:
        return
    written = at.astimezone(named.zone)
    place = " ".join(named.keeper if w == named.word else w for w in words)
    example = _first_working([place], tz=tz, now=now)
    # The zone's own abbreviation then ("GMT"), offered if it reads back as the place does.
    current = there.tzname() or ""
    instead = " ".join(current if w == named.word else w for w in words)
    same = current.isalpha() and _reads_as(instead, place, tz=tz, now=now)
    name = named.meaning or _KEPT_TIMES.get(named.word.lower(), ("", ""))[0]
    today = now.astimezone(keeper).date()
    raise Refusal(
        say.time.zone_out_of_season(
            named.label,
            name,
            say.common.utc_offset(timedelta(minutes=named.minutes)),
            day_text=say.common.day(written.date(), today=today),
            keeper=named.keeper,
            current=current if current.isalpha() else "",
            current_offset=say.common.utc_offset(timedelta(minutes=in_force)),
            clock_text=say.common.clock(written),
            also=current if same else "",
            offset_clock=say.common.clock(there),
            offset_day=(
                say.common.day(there.date(), today=today) if there.date() != written.date() else ""
            ),
        ),
        example=example,
    )


def _reads_as(phrase: str, other: str, *, tz: str, now: datetime) -> bool:
    """Do both phrases read, as the same moment?"""
    try:
        return resolve(phrase, tz=tz, now=now).at == resolve(other, tz=tz, now=now).at
    except Refusal:
        return False


def _in_zone(error: Refusal, named: _Named, *, tz: str, now: datetime) -> Refusal:
    """The refusal of a phrase that named a zone, its example in that zone: "at 9 CET" offers
    "at 9am CET", never a 9am in the person's own zone."""
    example = error.example
    if example != "now" and not example.startswith("in "):
        example = _first_working([f"{example} {named.label}"], tz=tz, now=now)
    return type(error)(error.reason, example=example)


def _take_zone(words: list[str], *, tz: str, now: datetime) -> tuple[list[str], _Named | None]:
    """The phrase without its zone, and the zone."""
    found: list[tuple[str, _Named]] = []
    rest: list[str] = []
    for word in words:
        named = _named_zone(word, words, tz=tz, now=now)
        if named is None and _IANA_SHAPE.fullmatch(word):
            raise Refusal(say.time.unknown_zone(word), example=say.grammar.EXAMPLE_TIME)
        if named is None:
            rest.append(word)
        else:
            found.append((word, named))
    if len(found) > 1:
        raise Refusal(
            say.time.two_zones(found[0][0], found[1][0]), example=say.grammar.EXAMPLE_TIME
        )
    return rest, (found[0][1] if found else None)


def _named_zone(word: str, words: list[str], *, tz: str, now: datetime) -> _Named | None:
    """The zone `word` names for someone in `tz`; refuses an abbreviation they could read
    several ways. `words` is the whole phrase, for the example."""
    lowered = word.lower()
    if "/" in lowered:
        name = _iana_names().get(lowered)
        return _Named(zone=ZoneInfo(name), label=name) if name else None
    if not lowered.isascii() or not lowered.isalpha():
        return None
    label = "UTC" if lowered == "z" else word.upper()
    meanings = ZONE_MEANINGS.get(lowered, ())
    own = _own_abbreviations(tz, now.year).get(lowered)
    if own is not None:
        meaning = next((m.name for m in meanings if m.minutes == own), "")
        return _abbreviation(word, label, own, meaning=meaning, keeper=tz)
    if lowered in ZONE_ABBREVIATIONS:
        keeper = _KEPT_TIMES.get(lowered, ("", ""))[1]
        return _abbreviation(word, label, ZONE_ABBREVIATIONS[lowered], keeper=keeper)
    if not meanings:
        return None
    chosen = _meanings_for(meanings, tz)
    if len(chosen) == 1:
        only = chosen[0]
        return _abbreviation(word, label, only.minutes, meaning=only.name, keeper=only.zone)
    if not chosen:
        return None
    candidates = [
        say.time.zone_meaning(m.name, say.common.utc_offset(timedelta(minutes=m.minutes)))
        for m in chosen
    ]
    zones = [m.zone for m in chosen]
    raise Refusal(
        say.time.ambiguous_zone(label, candidates, zones),
        example=_first_working(
            [
                " ".join(zones[0] if w == word else w for w in words),
                f"{say.grammar.EXAMPLE_TIME} {zones[0]}",
            ],
            tz=tz,
            now=now,
        ),
    )


def _abbreviation(
    word: str, label: str, minutes: int, *, meaning: str = "", keeper: str = ""
) -> _Named:
    zone = _fixed(minutes, label)
    return _Named(
        zone=zone, label=label, meaning=meaning, word=word, minutes=minutes, keeper=keeper
    )


def _meanings_for(meanings: tuple[ZoneMeaning, ...], tz: str) -> list[ZoneMeaning]:
    """The meanings someone in `tz` could have in mind: those of their own area (its most
    specific match), else those read widely."""
    depth = {m: max((len(a) for a in m.areas if tz.startswith(a)), default=0) for m in meanings}
    deepest = max(depth.values())
    if deepest:
        return [m for m in meanings if depth[m] == deepest]
    return [m for m in meanings if m.widely]


def _fixed(minutes: int, label: str) -> tzinfo:
    return timezone(timedelta(minutes=minutes), label)


@cache
def _own_abbreviations(tz: str, year: int) -> dict[str, int]:
    """The abbreviations zone `tz` writes during `year`, lower case, with their offsets in
    minutes: `{"gmt": 0, "ist": 60}` for Europe/Dublin. Weekly samples see every DST period."""
    zone = zone_for(tz)
    start = datetime(year, 1, 1, 12, tzinfo=UTC)
    found: dict[str, int] = {}
    for week in range(53):
        local = (start + timedelta(weeks=week)).astimezone(zone)
        name, offset = local.tzname(), local.utcoffset()
        if name and name.isascii() and name.isalpha() and offset is not None:
            found[name.lower()] = int(offset.total_seconds()) // 60
    return found


@cache
def _iana_names() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def _refuse_vague(words: list[str], shown: str, *, tz: str, now: datetime) -> None:
    """ "yesterday", "asap", "later", "eod", "tonight" without a time…: a sentence for each."""
    lowered = [w.lower() for w in words]
    present = set(lowered)
    clock = _clock_in(words)
    if present & _PAST_WORDS:
        raise Refusal(say.time.time_word_past(shown), example="now")
    if present & _NOW_WORDS:
        raise Refusal(say.time.time_word_asap(shown), example="now")
    if present & _REPEAT_WORDS:
        at = clock or time(3)
        raise Refusal(
            say.time.time_word_repeat(shown),
            example=_first_working([f"tomorrow at {say.common.clock(at)}"], tz=tz, now=now),
        )
    joined = " ".join(lowered)
    end_of_day = _END_OF_DAY_PHRASE.search(joined)
    conditions = present & CONDITION_WORDS
    if "day after tomorrow" in joined:
        conditions -= {"after"}
    if conditions and not (end_of_day or present & _END_OF_DAY_WORDS):  # "by eod" is eod
        raise Refusal(say.time.time_word_condition(shown), example="in 2 hours")
    if clock is not None:
        return
    if present & _VAGUE_WORDS:
        raise Refusal(say.time.time_word_vague(shown), example="in 2 hours")
    dated = [w for w, low in zip(words, lowered, strict=True) if low not in _FILLERS]
    if end_of_day:
        dated = (joined[: end_of_day.start()] + joined[end_of_day.end() :]).split()
        dated = [w for w in dated if w not in _FILLERS]
    if end_of_day or present & _END_OF_DAY_WORDS:
        day = [w for w in dated if w.lower() not in _END_OF_DAY_WORDS]
        raise Refusal(
            say.time.time_word_end_of_day(shown, say.common.clock(_END_OF_DAY)),
            example=_at_time(day, _END_OF_DAY, tz=tz, now=now),
        )
    parts = [low for low in lowered if low in _PARTS_OF_DAY]
    if parts:
        at = _PARTS_OF_DAY[parts[0]]
        day = [w for w in dated if w.lower() not in _PARTS_OF_DAY or w.lower() == "tonight"]
        raise Refusal(
            say.time.time_word_part_of_day(shown, say.common.clock(at)),
            example=_at_time(day, at, tz=tz, now=now),
        )


def _clock_in(words: list[str]) -> time | None:
    try:
        return _take_clock(words)[0]
    except Refusal:
        return time(0)  # a time of day was written, if a wrong one: resolving it says so


def _at_time(day: list[str], at: time, *, tz: str, now: datetime) -> str:
    """`tomorrow at 09:00` for "tomorrow morning", or the nearest phrase that works now."""
    written = " ".join(day)
    candidates = [
        f"{written} at {say.common.clock(at)}".strip(),
        f"tomorrow at {say.common.clock(at)}",
    ]
    if written.lower() == "tonight":
        candidates.insert(1, "tonight at midnight")
    return _first_working(candidates, tz=tz, now=now)


def _first_working(phrases: list[str], *, tz: str, now: datetime) -> str:
    """The first phrase that is a time that works: examples must never be refused."""
    for phrase in phrases:
        try:
            resolve(phrase, tz=tz, now=now)
        except Refusal:
            continue
        return phrase
    return say.grammar.EXAMPLE_TIME


def _relative(words: list[str], shown: str, now: datetime) -> datetime:
    seconds = 0
    for amount, unit in _RELATIVE_PART.findall(" ".join(words).lower().replace(" and ", " ")):
        if unit not in _UNIT_SECONDS:
            raise UnreadableTime(say.time.not_a_time(shown), example="in 2 hours")
        seconds += (1 if amount in ("a", "an") else int(amount)) * _UNIT_SECONDS[unit]
    if seconds == 0:
        raise Refusal(say.time.relative_zero(shown), example="now")
    if seconds > MAX_AHEAD_DAYS * 86400:
        raise Refusal(say.time.too_far(shown, MAX_AHEAD_DAYS), example="in 2 hours")
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
            raise Refusal(
                say.time.date_without_time(asked), example=f"{asked} at {say.grammar.EXAMPLE_CLOCK}"
            )
        raise UnreadableTime(say.time.not_a_time(shown), example=say.grammar.EXAMPLE_TIME)
    day, notes = _read_date(date_text, shown, local_now) if date_words else (today, [])
    at_word = f"{date_text} at" if date_text else "at"
    clock, clock_notes = _twelve_hour_sense(clock, clock_word, date_text, at_word)
    notes += clock_notes
    # "tomorrow" and "friday" count from a today, which is the named zone's when there is one.
    named_day = date_text.lower() in _DAY_WORDS or bool(_WEEKDAY_DATE.fullmatch(date_text.lower()))
    if named_day and today != home_today:
        notes.append(say.time.day_in_zone(date_text, zone_label, say.common.day(day, today=today)))

    wall = datetime.combine(day, clock)
    midnight = clock_word.lower() == "midnight"
    if midnight and date_text.lower() in ("today", "tonight"):
        wall += timedelta(days=1)
        notes.append(say.time.midnight_tonight(say.common.day(wall.date(), today=today)))
    elif midnight and named_day:
        notes.append(say.time.midnight_starts(say.common.day(wall.date(), today=today)))
    elif not date_words and _passed(wall, zone, now, local_now):
        wall += timedelta(days=1)  # naive, so a wall-clock day even across a DST change
        notes.append(
            say.time.passed_today(say.common.clock(clock), say.common.day(wall.date(), today=today))
        )

    day_text = say.common.day(wall.date(), today=today)
    repeated = _repeated(wall, zone)
    if repeated:
        first, second = repeated
        at = second if first < now <= second else first
        which = say.time.dst_fold_second if at is second else say.time.dst_fold
        offset = say.common.utc_offset(at.utcoffset() or ZERO)
        shown_at = f"{say.common.clock(at)} {at.tzname()} ({offset})"
        notes.append(which(say.common.clock(clock), day_text, zone_label, shown_at))
    else:
        at = wall.replace(tzinfo=zone)
        landed = at.astimezone(UTC).astimezone(zone)
        if landed.replace(tzinfo=None) != wall:
            raise Refusal(
                say.time.dst_gap(say.common.clock(clock), day_text, zone_label),
                example=f"{at_word} {say.common.clock(landed)}",
            )

    at = at.astimezone(UTC)
    if at < now:
        raise Refusal(
            say.time.in_past(shown, say.time.now_in_zone(now.astimezone(zone), zone_label)),
            example=f"tomorrow at {say.common.clock(clock)}",
        )
    if at - now > timedelta(days=MAX_AHEAD_DAYS):
        raise Refusal(
            say.time.too_far(shown, MAX_AHEAD_DAYS),
            example=f"tomorrow at {say.common.clock(clock)}",
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
        return evening, [say.time.tonight_evening(word, say.common.clock(evening))]
    if _BARE_HOUR.fullmatch(word) and 1 <= clock.hour <= 12:
        suggested = "noon" if clock.hour == 12 else f"{clock.hour}am"
        raise Refusal(say.time.bare_hour(word, clock.hour), example=f"{at_word} {suggested}")
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
        raise Refusal(
            say.time.two_times(found[0][1], found[1][1]), example=say.grammar.EXAMPLE_TIME
        )
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
            problems.append(say.time.PROBLEM_AMPM_HOUR)
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    elif minute_digits is None and len(hour_digits) in (3, 4):
        _refuse_without_colon(hour_digits, shown)
    elif hour > 23 or len(hour_digits) > 2:
        problems.append(say.time.PROBLEM_HOUR)
    if minute > 59 or (minute_digits is not None and len(minute_digits) != 2):
        problems.append(say.time.PROBLEM_MINUTE)
    if second > 59 or (second_digits is not None and len(second_digits) != 2):
        problems.append(say.time.PROBLEM_SECOND)
    if problems:
        raise Refusal(say.time.bad_clock(shown, problems), example=say.grammar.EXAMPLE_TIME)
    return time(hour, minute, second)


def _refuse_without_colon(digits: str, shown: str) -> NoReturn:
    """`at 1400`, `at 0930`: a number is never taken as a time silently, but where it reads
    one way only the example is that time with its colon; never an impossible one (2400)."""
    hour, minute = int(digits[:-2]), int(digits[-2:])
    problems = [say.time.PROBLEM_HOUR] if hour > 23 else []
    problems += [say.time.PROBLEM_MINUTE] if minute > 59 else []
    if problems:
        raise Refusal(say.time.bad_clock(shown, problems), example=say.grammar.EXAMPLE_TIME)
    fixed = f"{hour:02d}:{minute:02d}"
    if len(digits) == 4 or hour == 0:
        raise _NoColon(say.time.clock_without_colon(shown, fixed), written=shown, fixed=fixed)
    # "930": 09:30 or 21:30, as "at 9" could be either
    evening = f"{hour + 12}:{minute:02d}"
    raise Refusal(
        say.time.clock_without_colon_either(shown, fixed, evening), example=say.grammar.EXAMPLE_TIME
    )


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
        raise Refusal(say.time.numeric_date(written), example=say.grammar.EXAMPLE_TIME)
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
                notes.append(say.time.date_next_year(written, say.common.day(parsed, today=today)))
        return parsed, notes
    if weekday:
        which, name = weekday.groups()
        full = _WEEKDAY_NAMES[name]
        parsed = _parse_date(f"{which} {full}" if which else full, local_now)
        if full == f"{today:%A}".lower() and parsed != today:
            notes.append(
                say.time.weekday_is_today(full.title(), say.common.day(parsed, today=today))
            )
        elif which == "next":
            later = say.common.day(parsed + timedelta(days=7), today=today)
            notes.append(
                say.time.next_weekday(full.title(), say.common.day(parsed, today=today), later)
            )
        return parsed, notes
    if words in _DAY_WORDS:
        return _parse_date(words, local_now), notes
    raise UnreadableTime(say.time.not_a_time(shown), example=say.grammar.EXAMPLE_TIME)


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
        raise UnreadableTime(say.time.not_a_time(words), example=say.grammar.EXAMPLE_TIME)
    return parsed.date()


def _month_number(word: str) -> int:
    return next(i for i in range(1, 13) if calendar.month_name[i].lower().startswith(word[:3]))


def _valid(year: int, moment: date) -> bool:
    return moment.day <= calendar.monthrange(year, moment.month)[1]


def _check_day(shown: str, year: int | None, month: int, day_number: int) -> None:
    if year is not None and year < 1:
        raise Refusal(say.time.bad_year(shown), example=say.grammar.EXAMPLE_TIME)
    if not 1 <= month <= 12:
        raise Refusal(say.time.bad_month(shown), example=say.grammar.EXAMPLE_TIME)
    # Without a year, February may have 29 days (2000 is a leap year).
    days = calendar.monthrange(year if year is not None else 2000, month)[1]
    if not 1 <= day_number <= days:
        raise Refusal(
            say.time.bad_day(shown, calendar.month_name[month], days, year),
            example=say.grammar.EXAMPLE_TIME,
        )
