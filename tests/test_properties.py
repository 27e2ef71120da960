"""Properties for what example tests cannot cover (issue 15, section 4): the grammar on any
text, the modal on any fields, the freeze and wave readers, ranges and their compression,
and maintenance windows for random zones and instants, DST days included.

Hypothesis runs them under the profile in tests/conftest.py: the same examples every run, so
that a failure repeats; `HYPOTHESIS_PROFILE=explore` tries many more, at random. Each failure
they found is fixed with an example test of its own (tests/test_odd_input.py).
"""

from __future__ import annotations

import contextlib
import string
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from hypothesis import assume, example, given
from hypothesis import strategies as st

from bot.model import HelpQuery, ListQuery, Plan, Refusal, StatusQuery
from bot.policy.freezes import MAX_FREEZE, read_freeze, read_unfreeze
from bot.policy.windows import UnreadableSchedule, parse_schedule
from bot.understand.fields import FieldErrors, plan_from_fields
from bot.understand.grammar import parse
from bot.understand.naming import BadRange, Limits, Naming, Range, compress, compressed, read_range
from bot.understand.waves import split
from tests.catalogs import TR069_CATALOG

NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
ZONES = (
    "UTC",
    "Europe/Madrid",
    "America/New_York",
    "America/Santiago",  # springs forward at midnight: the day starts at 01:00
    "Australia/Lord_Howe",  # a 30-minute DST change
    "Pacific/Chatham",  # UTC+12:45 / +13:45
    "Asia/Kolkata",  # a half-hour offset, no DST
    "Africa/Casablanca",  # DST off during Ramadan: four changes a year
)
NAMING = Naming(
    groups={"web": ("web-01", "web-02", "web-03"), "db": ("db-01",)},
    limits=Limits(max_devices=50, max_operations=100),
)
COMMANDS = (HelpQuery, ListQuery, StatusQuery, Plan)

# ---------------------------------------------------------------------------- what is typed

# Words of the grammar and values that reach its deeper paths: operations, names, ranges,
# groups, times, options, waves, values, the words of list and status.
WORDS = (
    *("reboot", "restart", "update", "set", "label", "enable", "/ops", "help", "list"),
    *("status", "page", "cancel", "plan", "freeze", "force", "timeout", "with", "on", "and"),
    *("the", "service", "to", "as", "weight", "all", "every", "devices", "in", "waves", "of"),
    *("a", "an", "time", "at", "canary", "now", "right", "today", "tomorrow", "tonight"),
    *("next", "friday", "fri", "noon", "midnight", "eod", "asap", "later", "every", "daily"),
    *("hours", "minutes", "days", "2", "5", "10", "0", "-1", "600", "10m", "1h", "25h"),
    *("14:00", "3pm", "9", "25:99", "13pm", "12:30am", "2026-12-24", "2024-02-30", "20"),
    *("dec", "december", "01/02", "CET", "CST", "IST", "UTC", "Europe/Berlin", "Mars/Base"),
    *("server-01", "server-02", "Server-01", "web-1", "nginx", "curl", "openssl", "cpe-1"),
    *("server-01..server-05", "server-08..10", "server-05..server-01", "s-1..s-99999999999"),
    *("@web", "@db", "@nope", "web", "txn_1001", "Device.WiFi.SSID", "true", "no", "1.5"),
    *(",", ".", "-", ":", ";", "!", "?", "'", '"', "<!channel>", "&amp;", "*"),
    *("“server-01”", "‘nginx’", '"two words"', "“lab”", "'curl'", "„db-01“", "«web-1»"),
    *("–", "—", "…", "🚀", "✓", "１４:００", "５", "сервер", "é", "ß", "İ", "ﬁ", "\u212a"),
    *("\u00a0", "\u202f", "\u3000", "\u200b", "\u202e", "\u0301", "\ud800", "\x00", "\x85"),
    *("9" * 25, "9" * 4000, "x" * 70, "a" * 200),
)
ODD = st.characters(min_codepoint=0x80, exclude_categories=("Zs", "Zl", "Zp"))
ANY_CHARACTER = st.characters(exclude_categories=())  # surrogates and controls too
WORD = st.one_of(
    st.sampled_from(WORDS),
    st.text(string.ascii_letters + string.digits + "-._:@", min_size=1, max_size=8),
    st.text(ANY_CHARACTER, min_size=1, max_size=4),
)
SEPARATOR = st.sampled_from([" ", " ", " ", ", ", "\u00a0", "\t", "", "\n"])


@st.composite
def typed_text(draw: st.DrawFn, words: st.SearchStrategy[str] = WORD) -> str:
    parts = draw(st.lists(st.tuples(words, SEPARATOR), max_size=14))
    return "".join(word + gap for word, gap in parts)


CATALOGS = st.sampled_from([None, TR069_CATALOG])


def read(text: str, *, tz: str = "UTC", catalog: object = None) -> object:
    kwargs = {"catalog": catalog} if catalog is not None else {}
    return parse(text, tz=tz, now=NOW, naming=NAMING, **kwargs)


# ---------------------------------------------------------------------------- the grammar


@given(typed_text(), st.sampled_from(ZONES), CATALOGS)
@example("reboot server-01 🚀", "UTC", None)  # RecursionError until issue 15
@example("reboot “server-01” – now …", "UTC", None)
def test_the_grammar_reads_any_text_or_refuses_it_in_a_sentence(
    text: str, tz: str, catalog: object
) -> None:
    try:
        result = read(text, tz=tz, catalog=catalog)
    except Refusal as refused:
        assert type(refused) is Refusal  # never another exception, nor a subclass leaking out
        assert refused.reason.endswith((".", "?", ")")), refused.reason
        assert refused.reason and refused.example
    else:
        assert isinstance(result, COMMANDS)


@given(st.sampled_from(WORDS), st.sampled_from(WORDS), st.sampled_from(WORDS))
def test_any_three_words_read_or_are_refused(first: str, second: str, third: str) -> None:
    for text in (f"reboot {first} {second} {third}", f"restart {first} on {second} {third}"):
        with contextlib.suppress(Refusal):
            assert isinstance(read(text), COMMANDS)


# Commands that read, each with the names written in it (devices, ranges, services, packages).
VALID = (
    ("reboot server-01", ["server-01"]),
    ("reboot server-01, server-02 at 14:00", ["server-01", "server-02"]),
    ("restart nginx on web-01 and web-02 tomorrow at 3pm", ["nginx", "web-01", "web-02"]),
    ("update db-01 with curl, openssl in 2 hours", ["db-01", "curl", "openssl"]),
    ("reboot server-01..03 in waves of 2 with a canary", ["server-01..03"]),
    ("reboot force server-07 timeout 10m on friday at 09:00", ["server-07"]),
    ("list server-01", ["server-01"]),
)


@given(st.sampled_from(VALID), st.data())
def test_a_character_outside_plain_text_is_named_wherever_it_is_typed(
    command: tuple[str, list[str]], data: st.DataObject
) -> None:
    text = command[0]
    # Not a quotation mark, which may quote a name (tests below).
    char = data.draw(ODD.filter(lambda c: c not in "“”„‟‘’‚‛«»‹›"), label="char")
    at = data.draw(st.integers(0, len(text)), label="at")
    alone = data.draw(st.booleans(), label="as a word of its own")
    inserted = f"{text[:at]} {char} {text[at:]}" if alone else text[:at] + char + text[at:]
    try:
        result = read(inserted)
    except Refusal as refused:
        assert f"U+{ord(char):04X}" in refused.reason, (inserted, refused.reason)
    else:
        raise AssertionError(f"{inserted!r} read as {result!r}: {char!r} was not named")


@given(st.sampled_from(VALID), st.data())
def test_quotes_around_names_and_non_breaking_spaces_change_nothing(
    command: tuple[str, list[str]], data: st.DataObject
) -> None:
    text, names = command
    original = read(text)
    pairs = [('"', '"'), ("'", "'"), ("“", "”"), ("‘", "’"), ("„", "“"), ("«", "»")]
    quoted = text
    for name in names:
        if data.draw(st.booleans(), label=f"quote {name}"):
            left, right = data.draw(st.sampled_from(pairs), label="quotes")
            quoted = quoted.replace(name, f"{left}{name}{right}", 1)
    spaced = "".join(
        data.draw(st.sampled_from([" ", "\u00a0", "\u202f"])) if c == " " else c for c in quoted
    )
    assert read(spaced) == original, spaced


# Politeness as people type it before and after a request (issue 19), in any case.
OPENINGS = ("please", "pls", "kindly", "hey opsbot,", "hi,", "hello opsbot")
ASKINGS = ("can you", "could you", "would you please", "will u", "hey, can you kindly")
CLOSINGS = (", thanks", " thanks!", ", thank you", " thank you.", " please", ", pls", " thx")
CLOSINGS += (", cheers", ", please.")
# Requests that read, of every catalog's kinds, values last and quoted ones included.
POLITE_REQUESTS = (
    *(text for text, _ in VALID),
    "status txn_1001",
    "help",
    "list page 2",
    "set Device.WiFi.SSID to 300 on cpe-1 at 14:00",
    'label cpe-1, cpe-2 as "rack 4"',
    "label cpe-1 as rack4 weight 2.5 tomorrow at 3pm",
    "enable Device.WiFi.Radio.1.Enable to false on cpe-1..cpe-3",
)


def cased(data: st.DataObject, text: str) -> str:
    return data.draw(st.sampled_from([text, text.upper(), text.title()]), label="case")


@given(st.sampled_from(POLITE_REQUESTS), st.data())
def test_politeness_around_any_accepted_request_changes_nothing(
    text: str, data: st.DataObject
) -> None:
    original = read(text, catalog=TR069_CATALOG)
    asked = data.draw(st.booleans(), label="asked")
    before = data.draw(st.sampled_from(ASKINGS if asked else ("", *OPENINGS)), label="before")
    after = data.draw(st.sampled_from(("", *CLOSINGS)), label="after")
    question = asked and data.draw(st.sampled_from(["", "?", " ?"]), label="question")
    polite = f"{cased(data, before)} {text}{cased(data, after)}{question or ''}".strip()
    assert read(polite, catalog=TR069_CATALOG) == original, polite


# ---------------------------------------------------------------------------- the modal

FIELD_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    typed_text(),
    st.lists(typed_text(), max_size=3),
)


@given(
    st.sampled_from(["reboot", "restart_service", "update", "set_parameter_values", "set_label"]),
    typed_text(),
    st.dictionaries(
        st.sampled_from(["timeout", "force", "service_name", "package_list", "value", "text"]),
        FIELD_VALUE,
    ),
    st.sampled_from(ZONES),
)
@example("reboot", "server-01", {"timeout": "9" * 5000}, "UTC")  # ValueError until issue 15
@example("set_label", "cpe-1", {"text": "rack\u202e4"}, "UTC")
def test_the_modal_reads_any_fields_or_names_each_wrong_one(
    operation_type: str, devices: str, values: dict[str, object], tz: str
) -> None:
    try:
        result = plan_from_fields(
            operation_type=operation_type,
            devices=devices,
            values=values,
            when=None,
            tz=tz,
            now=NOW,
            catalog=TR069_CATALOG,
            naming=NAMING,
        )
    except FieldErrors as errors:
        assert errors.errors and all(e.endswith((".", "?", ")")) for e in errors.errors.values())
    else:
        assert isinstance(result, Plan) and result.operations


# ---------------------------------------------------------------------------- freezes and waves

FREEZE_WORDS = st.one_of(
    WORD,
    st.sampled_from(
        ("for", "until", "2h", "30m", "1d", "45d", "9999999999", "days", "2 hours", "db-*")
    ),
)


@given(typed_text(FREEZE_WORDS), st.sampled_from(ZONES))
@example("server-01 for 9999999999 days migration", "UTC")  # OverflowError until issue 15
@example("“server-01” 🚀 release", "UTC")
def test_the_freeze_reader_reads_any_text_or_refuses_it(text: str, tz: str) -> None:
    try:
        order = read_freeze(text, tz=tz, now=NOW)
    except Refusal as refused:
        assert type(refused) is Refusal and refused.reason.endswith((".", ")"))
    else:
        assert order.reason.strip()
        assert order.until is None or NOW < order.until <= NOW + MAX_FREEZE
    try:
        read_unfreeze(text)
    except Refusal as refused:
        assert type(refused) is Refusal


WAVE_WORDS = st.one_of(
    st.sampled_from(("in", "waves", "of", "at", "a", "time", "with", "canary", "devices")),
    st.sampled_from(("0", "1", "3", "-2", "00", "999999", "1000000", "9" * 30, "５", "x")),
    st.sampled_from(("server-01", "server-01..server-09", ",", "now", "14:00")),
)


@given(typed_text(WAVE_WORDS))
def test_the_wave_reader_reads_any_text_or_refuses_it(tail: str) -> None:
    try:
        result = read(f"reboot server-01..server-05 {tail}")
    except Refusal as refused:
        assert type(refused) is Refusal
        return
    assert isinstance(result, Plan)
    names = [op.device_name for op in result.operations]
    waves = result.waves
    if waves is not None:  # each device once, in order, a canary alone, no wave over the size
        assert [name for wave in waves for name in wave] == list(dict.fromkeys(names))
        assert not result.canary or len(waves[0]) == 1
        body = waves[1:] if result.canary else waves
        assert all(0 < len(wave) <= (result.wave_size or len(names)) for wave in body)


@given(
    st.lists(st.sampled_from([f"d-{n}" for n in range(12)]), max_size=30),
    st.one_of(st.none(), st.integers(1, 40)),
    st.booleans(),
)
def test_waves_take_each_device_once_in_order(
    devices: list[str], size: int | None, canary: bool
) -> None:
    waves = split(devices, size=size, canary=canary)
    assert [d for wave in waves for d in wave] == list(dict.fromkeys(devices))
    assert all(wave for wave in waves)


# ---------------------------------------------------------------------------- ranges


@st.composite
def device_names(draw: st.DrawFn) -> list[str]:
    """Names as fleets have them: runs that count up, padded or not, among other names."""
    names: list[str] = []
    for _ in range(draw(st.integers(0, 6))):
        prefix = draw(st.sampled_from(["server-", "web", "db-0", "Rack2-node", "x", ""]))
        width = draw(st.sampled_from([1, 2, 3]))
        first = draw(st.integers(0, 1200))
        count = draw(st.integers(1, 6))
        names += [f"{prefix}{n:0{width}d}" for n in range(first, first + count)]
        names += draw(st.lists(st.sampled_from(["lb-01", "gw", "server-1", "web07"]), max_size=2))
    return names


def expand(pieces: list[str | Range]) -> list[str]:
    return [n for p in pieces for n in (p.names() if isinstance(p, Range) else [p])]


@given(device_names())
def test_compressing_names_and_expanding_them_gives_them_back(names: list[str]) -> None:
    pieces = compress(names)
    assert expand(pieces) == names
    # Each range, written out, reads back as the very same range...
    for piece in pieces:
        if isinstance(piece, Range):
            assert read_range(piece.text) == piece
    # ...so the text shown (`server-01..server-05, lb-01`) names exactly these devices.
    assert expand([read_range(p) if ".." in p else p for p in compressed(names)]) == names


@given(
    st.text(string.ascii_letters + string.digits + "-._", max_size=12),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.integers(1, 7),
    st.booleans(),
)
def test_a_range_reads_as_the_names_it_spells(
    prefix: str, first: int, last: int, width: int, short: bool
) -> None:
    assume(not prefix[-1:].isdigit())
    low, high = sorted((first, last))
    left = f"{prefix}{low:0{width}d}"
    right = f"{high:0{width}d}" if short else f"{prefix}{high:0{width}d}"
    try:
        found = read_range(f"{left}..{right}")
    except BadRange:
        # A range needs a name before its number, and ".." only between its ends.
        assert not prefix or ".." in prefix or prefix.startswith("."), (left, right)
        return
    assert found.count == high - low + 1
    assert found.name(found.first) == left
    assert found.name(found.last) == f"{prefix}{high:0{width}d}"


@given(st.text(ANY_CHARACTER, max_size=40))
def test_reading_any_range_is_a_range_or_a_sentence(word: str) -> None:
    try:
        found = read_range(word + ".." + word[::-1])
    except BadRange as error:
        assert error.reason.endswith(".")
    else:
        assert found.count >= 1


# ---------------------------------------------------------------------------- windows


@cache
def transitions(tz: str) -> tuple[datetime, ...]:
    """The instants the zone's offset changes in 2025-2027, found hour by hour."""
    zone = ZoneInfo(tz)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    found = []
    before = start.astimezone(zone).utcoffset()
    for hour in range(1, 3 * 366 * 24):
        moment = start + timedelta(hours=hour)
        offset = moment.astimezone(zone).utcoffset()
        if offset != before:
            found.append(moment)
            before = offset
    return tuple(found)


@st.composite
def moments(draw: st.DrawFn, tz: str) -> datetime:
    """An instant in 2025-2027, near a DST change of `tz` more often than not."""
    changes = transitions(tz)
    if changes and draw(st.booleans()):
        near = draw(st.sampled_from(changes))
        return near + timedelta(minutes=draw(st.integers(-8 * 1440, 8 * 1440)))
    return datetime(2025, 1, 1, tzinfo=UTC) + timedelta(
        minutes=draw(st.integers(0, 3 * 365 * 1440))
    )


DAY = st.sampled_from(("mon", "tue", "wed", "thu", "fri", "sat", "sun", "saturday", "monday"))
# Hours around the night's DST changes are the ones that matter; every hour is possible.
HOUR = st.one_of(st.sampled_from((0, 1, 2, 3, 4, 23, 24)), st.integers(0, 23))
MINUTE = st.sampled_from((0, 0, 15, 30, 45, 59))


@st.composite
def clocks(draw: st.DrawFn) -> str:
    hour = draw(HOUR)
    return "24:00" if hour == 24 else f"{hour:02d}:{draw(MINUTE):02d}"


@st.composite
def schedules(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        shape = draw(st.integers(0, 3))
        a, b = draw(clocks()), draw(clocks())
        if shape == 0:
            parts.append(f"daily {a}-{b}")
        elif shape == 1:
            parts.append(f"{draw(DAY)} {a}-{draw(DAY)} {b}")
        elif shape == 2:
            parts.append(f"{draw(DAY)}-{draw(DAY)} {a}-{b}")
        else:
            parts.append(f"{draw(DAY)} {a}-{b}")
    return ", ".join(parts)


def _wall_minute(moment: datetime, tz: str) -> int:
    local = moment.astimezone(ZoneInfo(tz))
    return local.weekday() * 1440 + local.hour * 60 + local.minute


@given(st.sampled_from(ZONES), st.data())
def test_a_windows_next_start_lies_in_the_window_at_the_wall_time_asked(
    tz: str, data: st.DataObject
) -> None:
    text = data.draw(schedules(), label="when")
    try:
        schedule = parse_schedule(text)
    except UnreadableSchedule:
        assume(False)
        return
    after = data.draw(moments(tz), label="after")
    start = schedule.next_start(after, tz=tz)
    assert start >= after and start.tzinfo is not None and start.utcoffset() == timedelta(0)
    assert start < after + timedelta(weeks=2)
    # It lies inside its window, at that window's very start.
    window = schedule.window_at(start, tz=tz)
    assert window is not None and window[0] == start
    assert not schedule.contains(start - timedelta(seconds=1), tz=tz)
    # Its conversion is right: in the window's zone it is a range's start on the wall clock,
    # or, when the clocks skip that wall time, the first instant after the gap.
    starts = {r.start % (7 * 1440) for r in schedule.ranges}
    minute = _wall_minute(start, tz)
    if minute not in starts:
        before = _wall_minute(start - timedelta(seconds=1), tz)
        skipped = {(before + 1 + i) % (7 * 1440) for i in range((minute - before - 1) % (7 * 1440))}
        assert starts & skipped, (text, tz, after, start)
    # No window starts between `after` and it: where `after` is in a window, that window
    # runs on and the time after it up to the start is outside every window.
    current = schedule.window_at(after, tz=tz)
    gap = int((start - after).total_seconds())
    for seconds in data.draw(st.lists(st.integers(0, max(gap - 1, 0)), max_size=4)):
        between = after + timedelta(seconds=seconds)
        assume(between < start)
        inside = current is not None and between < current[1]
        assert schedule.contains(between, tz=tz) == inside, (text, tz, after, between)


@given(st.sampled_from(ZONES), st.data())
def test_a_moment_is_in_a_window_exactly_when_its_wall_time_is_in_a_range(
    tz: str, data: st.DataObject
) -> None:
    """Away from DST changes the wall clock alone decides (the changes are the other test's)."""
    text = data.draw(schedules(), label="when")
    try:
        schedule = parse_schedule(text)
    except UnreadableSchedule:
        assume(False)
        return
    moment = data.draw(moments(tz), label="moment")
    assume(all(abs(moment - c) > timedelta(days=8) for c in transitions(tz)))
    minute = _wall_minute(moment, tz)
    week = 7 * 1440
    inside = any((minute - r.start) % week < r.length for r in schedule.ranges)
    assert schedule.contains(moment, tz=tz) == inside


@given(st.text(ANY_CHARACTER, max_size=60))
def test_reading_any_schedule_is_a_schedule_or_a_sentence(text: str) -> None:
    try:
        parse_schedule(text)
    except UnreadableSchedule as error:
        assert str(error).endswith(".")
