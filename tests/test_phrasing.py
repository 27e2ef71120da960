"""People's own phrasing (issue 19): politeness around a request is read past, a range typed
with an ellipsis is answered with the range to write, and a summer time's abbreviation used
out of season is refused with the zone to write, never read at the summer offset."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.answers import Frozen, Refused
from bot.model import HelpQuery, ListQuery, Plan, Refusal, StatusQuery
from bot.say.help import help_text
from bot.understand.catalog import DEFAULT_CATALOG
from bot.understand.fields import FieldErrors, plan_from_fields
from bot.understand.grammar import parse
from bot.understand.naming import DEFAULT_NAMING
from bot.understand.when import (
    STANDARD_TIMES,
    SUMMER_TIMES,
    ZONE_ABBREVIATIONS,
    resolve,
    warm_up,
)
from tests.catalogs import TR069_CATALOG
from tests.conftest import Bot

# Wednesday 25 Nov 2026, 10:45 UTC: winter in the north, summer in the south.
NOW = datetime(2026, 11, 25, 10, 45, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def setup_module() -> None:
    warm_up()


def read(text: str, *, tz: str = "UTC", now: datetime = NOW, catalog: object = None) -> object:
    kwargs = {"catalog": catalog} if catalog is not None else {}
    return parse(text, tz=tz, now=now, naming=DEFAULT_NAMING, **kwargs)


def refused(text: str, *, tz: str = "UTC", now: datetime = NOW) -> Refusal:
    with pytest.raises(Refusal) as caught:
        read(text, tz=tz, now=now)
    assert isinstance(read(caught.value.example, tz=tz, now=now), Plan)  # the example works
    return caught.value


# --- politeness ---


@pytest.mark.parametrize(
    ("polite", "plain"),
    [
        ("please restart nginx on server-02", "restart nginx on server-02"),
        ("Please restart nginx on server-02", "restart nginx on server-02"),
        ("can you reboot server-03 at 14:00", "reboot server-03 at 14:00"),
        ("can you reboot server-03 at 14:00?", "reboot server-03 at 14:00"),
        ("Could you please reboot server-03 at 14:00 ?", "reboot server-03 at 14:00"),
        ("would you kindly reboot server-03 tomorrow at 3am?", "reboot server-03 tomorrow at 3am"),
        ("will u reboot server-03", "reboot server-03"),
        ("pls reboot server-03 pls", "reboot server-03"),
        ("kindly update server-01 with curl", "update server-01 with curl"),
        ("restart nginx on server-02, thanks", "restart nginx on server-02"),
        ("restart nginx on server-02 thanks!", "restart nginx on server-02"),
        ("restart nginx on server-02, thank you", "restart nginx on server-02"),
        ("restart nginx on server-02. Thank you.", "restart nginx on server-02."),
        ("reboot server-02 please", "reboot server-02"),
        ("reboot server-02 at 14:00, please.", "reboot server-02 at 14:00"),
        ("update server-01 with curl, openssl, cheers", "update server-01 with curl, openssl"),
        ("hey opsbot, reboot server-01 now", "reboot server-01 now"),
        ("Hi, can you please restart nginx on server-02? Thanks!", "restart nginx on server-02"),
        ("/ops please reboot server-01 thx", "reboot server-01"),
        ("PLEASE REBOOT server-01, THANK YOU!", "REBOOT server-01"),
        ("can you help?", "help"),
        # A question mark alone ends a request as a question's does: proposed, then clicked.
        ("please reboot web-01?", "reboot web-01"),
        ("reboot web-01?", "reboot web-01"),
        ("pls restart nginx on server-02 at 14:00 ?", "restart nginx on server-02 at 14:00"),
        ("kindly update server-01 with curl?? thanks", "update server-01 with curl"),
        ("list server-01?", "list server-01"),
        ("could you list page 2, please", "list page 2"),
        ("please status txn_1001", "status txn_1001"),
    ],
)
def test_politeness_around_a_request_is_read_past(polite: str, plain: str) -> None:
    try:
        expected: object = read(plain)
    except Refusal as refusal:  # "server-02." is refused however politely: so is the request
        with pytest.raises(Refusal) as caught:
            read(polite)
        assert caught.value.reason == refusal.reason
        return
    assert isinstance(expected, Plan | HelpQuery | ListQuery | StatusQuery)
    assert read(polite) == expected


@pytest.mark.parametrize("typed", ["please", "thanks", "Thank you!", "can you", "hey opsbot,"])
def test_politeness_alone_asks_what_to_do(typed: str) -> None:
    with pytest.raises(Refusal) as caught:
        read(typed)
    assert caught.value.reason.startswith("Tell me what to do")


def test_a_polite_line_with_two_requests_gives_the_two_commands_without_it() -> None:
    with pytest.raises(Refusal) as caught:
        read("please restart nginx on server-02 and reboot server-03, thanks")
    assert "`/ops restart nginx on server-02`, then `/ops reboot server-03`" in caught.value.reason


def test_a_polite_request_s_example_leaves_the_politeness_out() -> None:
    refusal = refused("can you please reboot server-01 at 1400?")
    assert refusal.example == "reboot server-01 at 14:00"


def test_a_courtesy_word_is_never_a_name() -> None:
    # Until issue 19 "…, thanks" rebooted a machine called "thanks", and "reboot server-02
    # please" offered "reboot server-02, please": a machine called "please".
    assert [op.device_name for op in read("reboot server-01, thanks").operations] == ["server-01"]
    assert refused("reboot thanks").reason.startswith("Which devices?")
    reason = refused("reboot please, server-01").reason
    assert reason.startswith('Which devices? "please" is not a device name')
    assert "A device name should follow" in refused("reboot server-01, thanks, server-02").reason
    # A name with the word in it is a name, as a word in a position of its own is not filler.
    assert [op.device_name for op in read("please reboot please-01").operations] == ["please-01"]
    assert [op.device_name for op in read("reboot thanks-02 thanks").operations] == ["thanks-02"]


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("label cpe-1 as please", "please"),  # a value is read as typed
        ("label cpe-1 as thank you", None),  # refused: one word, or words between quotes
        ('can you label cpe-1 as "rack 4"?', "rack 4"),
        ("can you label cpe-1 as rack4?", "rack4?"),  # not a guess at what the value is
        ("please label cpe-1 as rack4?", "rack4?"),
        ('label cpe-1 as "rack 4?"', "rack 4?"),
        ('please label cpe-1 as "rack 4", thanks', "rack 4"),
    ],
)
def test_a_value_is_read_as_typed_even_a_courtesy_word(typed: str, value: str | None) -> None:
    if value is None:
        with pytest.raises(Refusal):
            read(typed, catalog=TR069_CATALOG)
        return
    result = read(typed, catalog=TR069_CATALOG)
    assert isinstance(result, Plan)
    assert result.operations[0].parameters["text"] == value


def test_politeness_before_plan_and_freeze_is_read_past(policy_bot: Callable[..., Bot]) -> None:
    bot = policy_bot('[access]\nadmins = ["U123"]\n')

    def typed(text: str) -> object:
        return bot.runtime.service.handle_text(
            text, requester="U123", tz="UTC", surface="command", channel="C1"
        )

    for text in ("please plan reboot server-01", "can you plan reboot server-01?"):
        answer = typed(text)
        assert not isinstance(answer, Refused), (text, answer)
        assert answer.dry_run and [o.device_name for o in answer.request.operations] == [
            "server-01"
        ]
    frozen = typed("hey opsbot, please freeze server-01 for 2h migration")
    assert isinstance(frozen, Frozen) and frozen.freeze is not None
    assert frozen.freeze.devices == ("server-01",) and frozen.freeze.reason == "migration"
    frozen = typed("please freeze web-* for 2h patching, thanks")
    assert isinstance(frozen, Frozen) and frozen.freeze is not None
    assert frozen.freeze.devices == ("web-*",) and frozen.freeze.reason == "patching"
    lifted = typed("can you unfreeze web-*, thanks")
    assert isinstance(lifted, Frozen) and [f.devices for f in lifted.lifted] == [("web-*",)]
    # A control character in the politeness is refused as anywhere else.
    answer = typed("please\x1cfreeze server-01 for 2h migration")
    assert isinstance(answer, Refused) and "U+001C" in answer.reason


def test_the_slash_command_typed_out_reads_as_it_does_without(
    policy_bot: Callable[..., Bot],
) -> None:
    # The console and a pasted line have `/ops` in front: it was read past by the grammar
    # only, after `plan`, `freeze` and `unfreeze` had been looked for ("I don't know plan").
    bot = policy_bot('[access]\nadmins = ["U123"]\n')

    def typed(text: str) -> object:
        return bot.runtime.service.handle_text(
            text, requester="U123", tz="UTC", surface="command", channel="C1"
        )

    for text in ("/ops plan reboot server-01", "/ops please plan reboot server-01?"):
        answer = typed(text)
        assert not isinstance(answer, Refused), (text, answer)
        assert answer.dry_run and [o.device_name for o in answer.request.operations] == [
            "server-01"
        ]
    frozen = typed("/ops freeze web-* for 2h patching")
    assert isinstance(frozen, Frozen) and frozen.freeze is not None
    assert frozen.freeze.devices == ("web-*",) and frozen.freeze.reason == "patching"
    lifted = typed("/OPS unfreeze web-*")
    assert isinstance(lifted, Frozen) and [f.devices for f in lifted.lifted] == [("web-*",)]
    assert read("/ops reboot server-01") == read("reboot server-01")


# --- a range typed with an ellipsis ---


@pytest.mark.parametrize(
    ("typed", "meant", "example"),
    [
        ("reboot server-01…20", "server-01..20", "reboot server-01..20"),
        (
            "restart nginx on “web-1…web-3” tomorrow at 3am",
            "web-1..web-3",
            "restart nginx on web-1..web-3 tomorrow at 3am",
        ),
        ("reboot server-01…05 at 14:00", "server-01..05", "reboot server-01..05 at 14:00"),
    ],
)
def test_a_range_typed_with_an_ellipsis_is_answered_with_two_dots(
    typed: str, meant: str, example: str
) -> None:
    refusal = refused(typed)
    assert f"write a range with two plain dots, {meant}." in refusal.reason
    assert refusal.reason.count("U+2026") == 1  # named once, not again by the unread check
    assert refusal.example == example
    first, _, last = meant.partition("..")
    devices = [op.device_name for op in read(example).operations]  # typed back: the range
    assert devices[0] == first and devices[-1].endswith(last.rsplit("-", 1)[-1])


def test_an_ellipsis_that_makes_no_range_is_named_as_a_character() -> None:
    # Counting down, or no second end: not a range with two dots either, so no promise of one.
    for typed in ("reboot server-20…01", "reboot server-01…", "reboot server-01……20"):
        refusal = refused(typed)
        assert "two plain dots" not in refusal.reason
        assert "U+2026" in refusal.reason


def test_the_form_answers_an_ellipsis_in_its_devices_field_too() -> None:
    with pytest.raises(FieldErrors) as caught:
        plan_from_fields(
            operation_type="reboot", devices="server-01…05", values={}, when=None, tz="UTC", now=NOW
        )
    assert "two plain dots, server-01..05" in caught.value.errors["devices"]


# --- a summer time out of season ---


@pytest.mark.parametrize(
    ("tz", "now", "phrase", "meant"),
    [
        # the person's own zone's summer time
        ("Europe/London", "2026-12-01T10:45:00Z", "at 14:00 BST", "2026-12-01T14:00:00Z"),
        ("Europe/Dublin", "2026-11-25T10:45:00Z", "at 16:00 IST", "2026-11-25T16:00:00Z"),
        ("America/New_York", "2026-01-10T10:45:00Z", "at 14:00 EDT", "2026-01-10T19:00:00Z"),
        ("Europe/Berlin", "2026-12-01T10:45:00Z", "at 14:00 CEST", "2026-12-01T13:00:00Z"),
        ("America/Los_Angeles", "2026-12-01T10:45:00Z", "at 14:00 PDT", "2026-12-01T22:00:00Z"),
        ("Australia/Sydney", "2026-07-01T00:45:00Z", "at 14:00 AEDT", "2026-07-01T04:00:00Z"),
        ("Pacific/Auckland", "2026-07-01T00:45:00Z", "at 14:00 NZDT", "2026-07-01T02:00:00Z"),
        # another zone's, as the table or the person's region reads it
        ("UTC", "2026-12-10T10:45:00Z", "at 14:00 CEST", "2026-12-10T13:00:00Z"),
        ("Asia/Tokyo", "2026-01-10T10:45:00Z", "tomorrow at 9am EDT", "2026-01-11T14:00:00Z"),
        ("Europe/Madrid", "2026-12-01T10:45:00Z", "on 20 dec at 00:30 BST", "2026-12-20T00:30:00Z"),
        ("America/Chicago", "2026-12-01T10:45:00Z", "at 14:00 CDT", "2026-12-01T20:00:00Z"),
    ],
)
def test_a_summer_time_out_of_season_is_refused_with_the_zone_to_write(
    tz: str, now: str, phrase: str, meant: str
) -> None:
    with pytest.raises(Refusal) as caught:
        resolve(phrase, tz=tz, now=utc(now))
    reason, example = caught.value.reason, caught.value.example
    label = phrase.split()[-1]
    assert f'"{label}" is ' in reason and "which is not in force on" in reason
    assert "could mean two times. For " in reason
    # The example is the wall clock there, the reading the sentence offers first...
    keeper = example.split()[-1]
    assert keeper in reason and example.replace(keeper, label) == phrase
    assert resolve(example, tz=tz, now=utc(now)).at == utc(meant)
    # ...and what the offset itself would be is said too.
    assert " at UTC" in reason.rsplit(";", 1)[-1] and reason.endswith(" there.")


def test_the_refusal_says_both_readings_in_plain_words() -> None:
    with pytest.raises(Refusal) as caught:
        resolve("at 14:00 BST", tz="Europe/London", now=utc("2026-12-01T10:45:00Z"))
    assert caught.value.reason == (
        '"BST" is British Summer Time (UTC+01:00), which is not in force on Tue 1 Dec: '
        "Europe/London is on GMT (UTC+00:00) then, so 14:00 BST could mean two times. For "
        "14:00 on the clocks in Europe/London, write 14:00 Europe/London (or 14:00 GMT); "
        "14:00 at UTC+01:00 is 13:00 there."
    )
    assert caught.value.example == "at 14:00 Europe/London"
    # The other day, when the offset's hour is on the day before there.
    with pytest.raises(Refusal) as caught:
        resolve("on 20 dec at 00:30 BST", tz="Europe/Madrid", now=utc("2026-12-01T10:45:00Z"))
    assert "not in force on Sun 20 Dec" in caught.value.reason
    assert "00:30 at UTC+01:00 is 23:30 on Sat 19 Dec there." in caught.value.reason


def test_the_season_is_the_target_date_s() -> None:
    london = "Europe/London"  # British Summer Time 29 Mar - 25 Oct 2026
    march = utc("2026-03-20T10:45:00Z")
    when = resolve("on 2 april at 14:00 BST", tz=london, now=march)
    assert when.at == utc("2026-04-02T13:00:00Z")
    assert when.notes == ("The time is in BST, British Summer Time (UTC+01:00), as written.",)
    with pytest.raises(Refusal):
        resolve("on 28 march at 14:00 BST", tz=london, now=march)
    october = utc("2026-10-20T10:45:00Z")
    assert resolve("on 2026-10-24 at 14:00 BST", tz=london, now=october).at == utc(
        "2026-10-24T13:00:00Z"
    )
    with pytest.raises(Refusal):
        resolve("on 2026-10-26 at 14:00 BST", tz=london, now=october)
    # In season, the abbreviation works as before, from anywhere in its region.
    assert resolve("at 16:00 IST", tz="Europe/Dublin", now=utc("2026-06-01T10:00:00Z")).at == utc(
        "2026-06-01T15:00:00Z"
    )


JULY = utc("2026-07-01T10:00:00Z")


@pytest.mark.parametrize(
    ("tz", "phrase", "meant"),
    [
        # the person's own zone's standard time, in its summer
        ("America/New_York", "at 14:00 EST on 15 July", "2026-07-15T18:00:00Z"),
        ("America/Chicago", "at 14:00 CST", "2026-07-01T19:00:00Z"),
        ("America/Denver", "at 14:00 MST", "2026-07-01T20:00:00Z"),
        ("America/Los_Angeles", "at 14:00 PST", "2026-07-01T21:00:00Z"),
        ("Europe/Berlin", "at 16:00 CET", "2026-07-01T14:00:00Z"),
        ("Europe/Athens", "at 16:00 EET", "2026-07-01T13:00:00Z"),
        ("Europe/Lisbon", "at 16:00 WET", "2026-07-01T15:00:00Z"),
        # GMT where the zone writes it: London's clocks are on BST in July
        ("Europe/London", "at 14:00 GMT", "2026-07-01T13:00:00Z"),
        # another zone's, as the table or the person's region reads it
        ("UTC", "at 16:00 CET", "2026-07-01T14:00:00Z"),
        ("Europe/London", "at 14:00 EST", "2026-07-01T18:00:00Z"),
        ("Asia/Tokyo", "on 1 feb at 14:00 AEST", "2027-02-01T03:00:00Z"),
    ],
)
def test_a_standard_time_in_summer_is_refused_with_the_zone_to_write(
    tz: str, phrase: str, meant: str
) -> None:
    # Americans write EST all year meaning the clock on the wall: 14:00 EST in July read at
    # UTC-05:00 would be 15:00 in New York, an hour off.
    with pytest.raises(Refusal) as caught:
        resolve(phrase, tz=tz, now=JULY)
    reason, example = caught.value.reason, caught.value.example
    label = next(w for w in phrase.split() if w.isupper())
    assert f'"{label}" is ' in reason and "which is not in force on" in reason
    assert "could mean two times. For " in reason
    keeper = next(w for w in example.split() if "/" in w)
    assert keeper in reason and example.replace(keeper, label) == phrase
    assert resolve(example, tz=tz, now=JULY).at == utc(meant)
    assert " at UTC" in reason.rsplit(";", 1)[-1] and reason.endswith(" there.")


def test_the_grammar_refuses_est_in_july_with_the_whole_command() -> None:
    refusal = refused("reboot server-01 at 14:00 EST on 15 July", tz="America/New_York", now=JULY)
    assert refusal.reason == (
        '"EST" is Eastern Standard Time (UTC-05:00), which is not in force on Wed 15 Jul: '
        "America/New_York is on EDT (UTC-04:00) then, so 14:00 EST could mean two times. For "
        "14:00 on the clocks in America/New_York, write 14:00 America/New_York (or 14:00 EDT); "
        "14:00 at UTC-05:00 is 15:00 there."
    )
    assert refusal.example == "reboot server-01 at 14:00 America/New_York on 15 July"
    typed_back = read(refusal.example, tz="America/New_York", now=JULY)
    assert isinstance(typed_back, Plan)
    assert typed_back.operations[0].scheduled_at == utc("2026-07-15T18:00:00Z")


@pytest.mark.parametrize(
    ("tz", "phrase", "meant"),
    [
        # a zone that keeps the standard time all year reads it as its own: Arizona's MST
        ("America/Phoenix", "at 14:00 MST", "2026-07-01T21:00:00Z"),
        ("America/Regina", "at 14:00 CST", "2026-07-01T20:00:00Z"),
        ("America/Panama", "at 14:00 EST", "2026-07-01T19:00:00Z"),
        ("Africa/Algiers", "at 16:00 CET", "2026-07-01T15:00:00Z"),
        ("Australia/Brisbane", "on 2 jul at 14:00 AEST", "2026-07-02T04:00:00Z"),
        # ...and so does a standard time in its own season
        ("America/New_York", "on 1 dec at 14:00 EST", "2026-12-01T19:00:00Z"),
        # GMT is UTC's other name outside the zones that write it
        ("UTC", "at 14:00 GMT", "2026-07-01T14:00:00Z"),
        ("America/New_York", "at 14:00 GMT", "2026-07-01T14:00:00Z"),
        ("Europe/Berlin", "at 14:00 GMT", "2026-07-01T14:00:00Z"),
        ("Europe/London", "at 14:00 UTC", "2026-07-01T14:00:00Z"),
    ],
)
def test_a_standard_time_in_force_is_read_at_its_offset(tz: str, phrase: str, meant: str) -> None:
    assert resolve(phrase, tz=tz, now=JULY).at == utc(meant)


def test_every_time_the_help_offers_reads_on_every_day_of_the_year() -> None:
    # An example is a promise: `at 16:00 CET` was offered, and is refused in July.
    text = help_text(DEFAULT_CATALOG.kinds, max_devices=500)
    when = text[text.index("*When*") : text.index("*Other commands*")]
    # Those that name a zone (`on 20 jan at 09:30` is in the past on 20 Jan after 09:30).
    phrases = [
        p for p in re.findall(r"`([^`]+)`", when) if re.search(r"[A-Z]{3}|/", p) and "YYYY" not in p
    ]
    assert len(phrases) >= 3, phrases
    days = [datetime(2026, 1, 1, 10, 45, tzinfo=UTC) + timedelta(days=d) for d in range(365)]
    for tz in ("UTC", "Europe/London", "America/New_York"):
        for now in days:
            for phrase in phrases:
                resolve(phrase, tz=tz, now=now)  # refused: raises


def test_the_grammar_offers_the_whole_command_with_the_zone_to_write() -> None:
    december = utc("2026-12-01T10:45:00Z")
    refusal = refused("reboot server-01 at 14:00 BST", tz="Europe/London", now=december)
    assert refusal.example == "reboot server-01 at 14:00 Europe/London"
    typed_back = read(refusal.example, tz="Europe/London", now=december)
    assert isinstance(typed_back, Plan)
    assert typed_back.operations[0].scheduled_at == utc("2026-12-01T14:00:00Z")


def test_each_standard_time_is_its_zone_s_and_only_out_of_summer() -> None:
    """STANDARD_TIMES against the installed tzdata: each zone writes the abbreviation, at the
    table's offset, for part of the year only; the rest of the year its clocks are ahead."""
    moments = [datetime(2026, month, 15, 12, tzinfo=UTC) for month in range(1, 13)]
    for abbreviation, (_, zone) in STANDARD_TIMES.items():
        minutes = ZONE_ABBREVIATIONS[abbreviation]
        local = [moment.astimezone(ZoneInfo(zone)) for moment in moments]
        seen = {(t.tzname(), int(t.utcoffset().total_seconds()) // 60) for t in local}  # type: ignore[union-attr]
        assert (abbreviation.upper(), minutes) in seen, abbreviation
        assert all(offset > minutes for name, offset in seen if name != abbreviation.upper())


def test_each_summer_time_is_its_zone_s_and_only_in_summer() -> None:
    """SUMMER_TIMES against the installed tzdata: each zone writes the abbreviation, at the
    table's offset, for part of the year only; the rest of the year its clocks are behind."""
    moments = [datetime(2026, month, 15, 12, tzinfo=UTC) for month in range(1, 13)]
    for abbreviation, (_, zone) in SUMMER_TIMES.items():
        minutes = ZONE_ABBREVIATIONS[abbreviation]
        local = [moment.astimezone(ZoneInfo(zone)) for moment in moments]
        seen = {(t.tzname(), int(t.utcoffset().total_seconds()) // 60) for t in local}  # type: ignore[union-attr]
        assert (abbreviation.upper(), minutes) in seen, abbreviation
        assert all(offset < minutes for name, offset in seen if name != abbreviation.upper())
