"""A suggestion never changes the operation (issue 15, section 3).

Every "For example" the grammar offers, typed back, must do what the person evidently meant
(the operation, devices, parameters, waves and time they gave), or be a general example that
names none of their devices. The corpus below walks each refusal of bot/understand/grammar.py and
bot/understand/when.py whose example is built from the person's own words, for the built-in catalog
and for the example policy file's (which adds `set` and the groups @web and @db).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import pytest

from bot import say
from bot.model import HelpQuery, ListQuery, Plan, Refusal, StatusQuery
from bot.policy.config import load_config
from bot.policy.freezes import read_freeze, read_unfreeze
from bot.understand import grammar, suggestions
from bot.understand.catalog import DEFAULT_CATALOG, Catalog, OperationKind, ParamField
from bot.understand.grammar import parse
from bot.understand.names import SENTENCE_WORDS
from bot.understand.naming import DEFAULT_NAMING, Naming, is_group, is_range, read_range
from bot.understand.suggestions import SeveralRequests
from bot.understand.when import is_time_word, warm_up
from tests.conftest import Bot

ROOT = Path(__file__).resolve().parent.parent
POLICY = load_config(ROOT / "opsbot.example.toml")
# Wednesday 25 Nov 2026, 10:45 UTC
NOW = datetime(2026, 11, 25, 10, 45, tzinfo=UTC)


def setup_module() -> None:
    warm_up()


def setting(file: bool) -> tuple[Catalog, Naming]:
    return (POLICY.catalog, POLICY.naming) if file else (DEFAULT_CATALOG, DEFAULT_NAMING)


def refused(text: str, *, file: bool = False, tz: str = "UTC") -> Refusal:
    catalog, naming = setting(file)
    with pytest.raises(Refusal) as caught:
        parse(text, tz=tz, now=NOW, catalog=catalog, naming=naming)
    return caught.value


def read(text: str, *, file: bool = False, tz: str = "UTC") -> Plan:
    catalog, naming = setting(file)
    result = parse(text, tz=tz, now=NOW, catalog=catalog, naming=naming)
    assert isinstance(result, Plan), text
    return result


def operations(plan: Plan) -> list[tuple[str, str, dict[str, object]]]:
    return [(op.operation_type, op.device_name, op.parameters) for op in plan.operations]


# --- two requests in one line ---


@pytest.mark.parametrize(
    ("text", "commands", "file"),
    [
        (
            "restart nginx on server-01 and reboot server-02",
            ("restart nginx on server-01", "reboot server-02"),
            False,
        ),
        (
            "reboot server-01 then update server-02 with openssl",
            ("reboot server-01", "update server-02 with openssl"),
            False,
        ),
        (
            "reboot server-01; restart nginx on server-02",
            ("reboot server-01", "restart nginx on server-02"),
            False,
        ),
        (
            "restart nginx on server-01. Reboot server-02",
            ("restart nginx on server-01", "Reboot server-02"),
            False,
        ),
        (
            "update web-07 with openssl and reboot web-08",
            ("update web-07 with openssl", "reboot web-08"),
            False,
        ),
        (
            "restart nginx on web-07, and then force reboot web-08 timeout 10m",
            ("restart nginx on web-07", "force reboot web-08 timeout 10m"),
            False,
        ),
        (
            "reboot web-07 at 14:00 and restart nginx, apache on web-08 at 15:00",
            ("reboot web-07 at 14:00", "restart nginx, apache on web-08 at 15:00"),
            False,
        ),
        (  # no word between them: each part is a request of its own
            "reboot web-07 force update web-08 with curl",
            ("reboot web-07 force", "update web-08 with curl"),
            False,
        ),
        (
            "reboot web-07 and server-02 then reboot web-09",
            ("reboot web-07 and server-02", "reboot web-09"),
            False,
        ),
        (
            "reboot a; reboot b; restart nginx on c",
            ("reboot a", "reboot b", "restart nginx on c"),
            False,
        ),
        (  # a policy file's operation is a request of its own too
            "set Device.X to 300 on cpe-01 and reboot @web in waves of 5",
            ("set Device.X to 300 on cpe-01", "reboot @web in waves of 5"),
            True,
        ),
    ],
)
def test_two_requests_in_one_line_are_refused_with_the_command_for_each(
    text: str, commands: tuple[str, ...], file: bool
) -> None:
    found = refused(text, file=file)
    assert isinstance(found, SeveralRequests)
    assert found.commands == commands
    assert found.reason.startswith(f"That is {len(commands)} requests in one line")
    for command in commands:
        assert f"`/ops {command}`" in found.reason
    # each command reads, as one request of its operation alone
    catalog = setting(file)[0]
    for command in commands:
        keyword = next(w for w in command.split() if catalog.by_keyword(w))
        kind = catalog.by_keyword(keyword)
        assert kind is not None
        assert {op.operation_type for op in read(command, file=file).operations} == {
            kind.operation_type
        }


def test_the_issue_s_line_gives_the_two_commands_that_do_what_it_says() -> None:
    found = refused("restart nginx on server-01 and reboot server-02")
    assert isinstance(found, SeveralRequests)
    restart, reboot = (read(command) for command in found.commands)
    assert operations(restart) == [
        ("restart_service", "server-01", {"service_name": "nginx", "verify_status": True})
    ]
    assert operations(reboot) == [("reboot", "server-02", {"force": False, "timeout": 300})]
    assert "reboot" not in {op.device_name for op in restart.operations}
    assert found.example == ""
    assert str(found) == found.reason  # no empty "For example:"


def test_a_time_given_for_one_request_only_is_not_shared_by_a_guess() -> None:
    found = refused("restart nginx on web-07 and reboot web-08 at 14:00")
    assert found.reason == (
        "That is 2 requests in one line, and only some of them say when: type them one at a "
        "time, each with the time it should start."
    )
    assert found.example == DEFAULT_CATALOG.kinds[0].example  # a general one


@pytest.mark.parametrize(
    ("text", "part_reason", "example"),
    [
        (
            "restart nginx on web-07 and reboot",
            '"reboot": Which devices? Put their names after "reboot".',
            "reboot server-01 at 14:00",
        ),
        (
            "update web-07 with openssl then reboot it",
            '"reboot it": Which devices? "it" is not a device name',
            "reboot server-01 at 14:00",
        ),
        (
            "restart nginx on web-07 and reboot web-08 at 1400",
            '"reboot web-08 at 1400": "1400" is not a time of day I read: write its hours and '
            "minutes as 14:00.",
            "reboot web-08 at 14:00",
        ),
    ],
)
def test_a_request_of_the_line_that_does_not_read_is_told_as_such(
    text: str, part_reason: str, example: str
) -> None:
    found = refused(text)
    assert found.reason.startswith("That is 2 requests in one line: type them one at a time. ")
    assert part_reason in found.reason
    assert found.example == example


@pytest.mark.parametrize(
    ("text", "file", "expected"),
    [
        # a keyword where a name or a value goes is that name or value
        ("restart update on web-07", False, [("restart_service", "web-07")]),
        ("update web-07 with reboot-tools", False, [("update", "web-07")]),
        ("force reboot web-07", False, [("reboot", "web-07")]),
        ("reboot web-07 and web-08", False, [("reboot", "web-07"), ("reboot", "web-08")]),
        ("set Device.Reboot to 1 on cpe-01", True, [("set", "cpe-01")]),
    ],
)
def test_one_request_is_still_one(text: str, file: bool, expected: list) -> None:
    result = read(text, file=file)
    assert [(op.operation_type, op.device_name) for op in result.operations] == expected


def test_the_examples_of_a_plan_are_plans(bot: Bot) -> None:
    """`plan <command>` refused: typed back, its example shows a plan too, as was asked,
    through the real app (Bolt over HTTP, the fake Slack)."""
    shown = bot.wait_response(bot.command("plan reboot web-07 at 1400"))["text"]
    assert "For example: `/ops plan reboot web-07 at 14:00`" in shown
    shown = bot.wait_response(bot.command("plan restart nginx on web-07 and reboot web-08"))
    assert "`/ops plan restart nginx on web-07`, then `/ops plan reboot web-08`." in shown["text"]
    shown = bot.wait_response(bot.command("plan list"))["text"]
    assert "For example: `/ops plan reboot server-01 at 14:00`" in shown  # not "plan plan"
    assert bot.simulator.post_count == 0


# --- words of the sentence are never names ---


@pytest.mark.parametrize("word", ["then", "also", "after", "when", "unless", "first", "it"])
def test_a_word_of_the_sentence_is_not_a_device(word: str) -> None:
    found = refused(f"reboot {word}")
    assert found.reason == (
        f'Which devices? "{word}" is not a device name: put their names after "reboot".'
    )
    assert found.example == "reboot server-01 at 14:00"
    assert refused(f"reboot web-07 and {word}").reason == 'A device name should follow "and".'


@pytest.mark.parametrize(
    "text",
    [
        "reboot server-03 end of day",
        "reboot web-07 first",
        "reboot web-07 then",
        "reboot web-07 after update",
        "reboot web-07 when idle",
        "reboot web-07 unless busy",
        "reboot web-07 before 14:00",
        "reboot web-07 by 14:00",
        "reboot web-07 reboot",
        "update web-07 with curl then",
        "update web-07 with curl update",
    ],
)
def test_the_issue_s_words_are_never_offered_as_names(text: str) -> None:
    found = refused(text)
    assert "another device" not in found.reason and "one more" not in found.reason
    devices = {op.device_name for op in read(found.example).operations}
    assert devices <= {"server-03", "web-07", "server-01"}


def test_end_of_day_reads_as_eod_does() -> None:
    found = refused("reboot server-03 end of day")
    assert found.reason == (
        '"end of day" is a different hour for different people: write the time you mean, '
        "such as 17:00."
    )
    assert found.example == "reboot server-03 at 17:00"
    assert refused("reboot web-07 tomorrow close of business").example == (
        "reboot web-07 tomorrow at 17:00"
    )


@pytest.mark.parametrize(
    "phrase", ["after update", "when idle", "unless busy", "before 14:00", "by 14:00", "first"]
)
def test_a_condition_gets_a_sentence_and_a_general_time(phrase: str) -> None:
    found = refused(f"reboot web-07 {phrase}")
    assert found.reason == (
        f'"{phrase}" ties the operation to something else, and I start an operation only at a '
        "time you give: such as at 14:00 or in 2 hours, or leave the time out to start as soon "
        "as you confirm."
    )
    assert found.example == "reboot web-07 in 2 hours"


def test_time_phrases_with_those_words_still_read() -> None:
    assert read("reboot web-07 day after tomorrow at 10:00").operations[0].scheduled_at == (
        datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    )
    assert refused("reboot web-07 by eod").example == "reboot web-07 at 17:00"


# --- four digits: at 1400 ---


@pytest.mark.parametrize(
    ("typed", "fixed", "at"),
    [
        ("at 1400", "at 14:00", "2026-11-25T14:00:00+00:00"),
        ("at 0930", "at 09:30", "2026-11-26T09:30:00+00:00"),  # passed today: tomorrow
        ("at 2359", "at 23:59", "2026-11-25T23:59:00+00:00"),
        ("at 0000", "at 00:00", "2026-11-26T00:00:00+00:00"),
        ("tomorrow at 1400", "tomorrow at 14:00", "2026-11-26T14:00:00+00:00"),
        ("at 1400 CET", "at 14:00 CET", "2026-11-25T13:00:00+00:00"),
    ],
)
def test_four_digits_are_refused_with_the_colon_put_in(typed: str, fixed: str, at: str) -> None:
    found = refused(f"reboot web-07 {typed}")
    digits = typed.split()[typed.split().index("at") + 1]
    assert found.reason == (
        f'"{digits}" is not a time of day I read: write its hours and minutes as '
        f"{fixed.split()[fixed.split().index('at') + 1]}."
    )
    assert found.example == f"reboot web-07 {fixed}"
    assert read(found.example).operations[0].scheduled_at == datetime.fromisoformat(at)


def test_the_colon_keeps_everything_else_of_the_request() -> None:
    found = refused("update web-01..web-04 with curl in waves of 2 at 1400")
    assert found.example == "update web-01..web-04 with curl in waves of 2 at 14:00"
    result = read(found.example)
    assert (result.wave_size, len(result.operations)) == (2, 4)
    assert {op.scheduled_at for op in result.operations} == {datetime(2026, 11, 25, 14, tzinfo=UTC)}


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("at 2400", '"2400" is not a time of day: hours go from 0 to 23.'),
        ("at 1375", '"1375" is not a time of day: minutes go from 00 to 59.'),
        (
            "at 2575",
            '"2575" is not a time of day: hours go from 0 to 23 and minutes go from 00 to 59.',
        ),
        (
            "at 930",  # 09:30 or 21:30, as "at 9" could be either
            '"930" is not a time of day I read: write its hours and minutes as 09:30, or 21:30 '
            "for the evening.",
        ),
        (
            "today at 0930",
            '"0930" is not a time of day I read: write its hours and minutes as 09:30.',
        ),
    ],
)
def test_no_impossible_or_guessed_time_is_suggested(typed: str, reason: str) -> None:
    found = refused(f"reboot web-07 {typed}")
    assert found.reason == reason
    # 24:00, 13:75, or 09:30 today (gone by): a general time instead; and where the person
    # named the day, a general example, as a time without it could run on another day.
    if "today" in typed:
        assert found.example == DEFAULT_CATALOG.by_keyword("reboot").example  # type: ignore[union-attr]
    else:
        assert found.example == "reboot web-07 at 14:00"


@pytest.mark.parametrize(
    "typed",
    [
        "reboot web-07, web-09 tomorrow 1400",
        "reboot web-01 next friday 930",
        "reboot web-01 tomorrow at 24:00",
        "reboot web-07 web-09 at 1400",
        "update web-01 with curl openssl tomorrow 1400",
    ],
)
def test_an_example_never_drops_a_device_or_the_day_asked(typed: str) -> None:
    # Each was offered `… at 14:00`: typed back, it ran today, or without web-09.
    example = refused(typed).example
    if not example.startswith(("reboot server-0", "update server-0")):  # not a general one
        assert "web-09" in example or "web-09" not in typed
        assert "tomorrow" in example or "friday" in example


def test_a_zone_written_stays_in_the_example() -> None:
    assert refused("reboot web-07 at 9 CET").example == "reboot web-07 at 9am CET"
    assert refused("reboot web-07 tomorrow morning Europe/Berlin").example == (
        "reboot web-07 tomorrow at 09:00 Europe/Berlin"
    )


# --- the corpus: every example the grammar offers, typed back ---


@dataclass(frozen=True, kw_only=True)
class Meant:
    """What the person evidently asked for, as far as they said it readably."""

    operation: str  # the operation type
    devices: str  # as a request names them: "web-07, web-01..web-04 and @web"
    at: str | None = None  # the time they gave, ISO in UTC: an example keeping their devices
    waves: tuple[int | None, bool] = (None, False)  # keeps it too
    # the parameters they gave; a tuple for a name field given several ("nginx", "apache")
    params: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Case:
    text: str
    meant: tuple[Meant, ...]
    file: bool = False
    tz: str = "UTC"


def m(operation: str, devices: str, *, at: str | None = None, **params: object) -> Meant:
    waves = params.pop("waves", (None, False))
    return Meant(operation=operation, devices=devices, at=at, waves=waves, params=params)  # type: ignore[arg-type]


def case(text: str, *meant: Meant, file: bool = False, tz: str = "UTC") -> Case:
    return Case(text=text, meant=meant, file=file, tz=tz)


T14 = "2026-11-25T14:00:00+00:00"
REBOOT = "reboot"
RESTART = "restart_service"
UPDATE = "update"

CORPUS = [
    # a time put right never loses a device or the day asked for (a general example then)
    case("reboot web-07 web-09 at 1400", m(REBOOT, "web-07, web-09", at=T14)),
    case(
        "reboot web-07, web-09 tomorrow 1400",
        m(REBOOT, "web-07, web-09", at="2026-11-26T14:00:00+00:00"),
    ),
    case(
        "update web-01 with curl openssl tomorrow 1400",
        m(UPDATE, "web-01", package_list=["curl", "openssl"], at="2026-11-26T14:00:00+00:00"),
    ),
    # grammar: a range or a group that does not read, put as surely meant (or a general one)
    case("reboot web-20..web-01 at 14:00", m(REBOOT, "web-01..web-20", at=T14)),
    case("reboot web-20..8, db-02 force", m(REBOOT, "web-8..web-20, db-02", force=True)),
    case("reboot web-01..db-05", m(REBOOT, "web-01, db-05")),
    case("reboot server-1..server-010", m(REBOOT, "server-1, server-010")),
    case("reboot web at 14:00", m(REBOOT, "@web", at=T14), file=True),
    case("reboot @webs at 14:00", m(REBOOT, "@web", at=T14), file=True),
    case(
        "update db at 14:00 with curl", m(UPDATE, "@db", at=T14, package_list=["curl"]), file=True
    ),
    # no groups of devices by words: the example's devices are general ones
    case("reboot all servers at 14:00", m(REBOOT, "")),
    case("update all devices with curl", m(UPDATE, "", package_list=["curl"])),
    case("restart nginx on every server", m(RESTART, "", service_name="nginx")),
    case("reboot web-07 and all", m(REBOOT, "web-07")),
    # devices missing, too many
    case("reboot at 14:00", m(REBOOT, "")),
    case("reboot then", m(REBOOT, "")),
    case("reboot " + ", ".join(f"web-{i}" for i in range(501)), m(REBOOT, "")),
    # durations and values that do not read: the person's words with the value put right
    case("reboot web-07 timeout abc at 14:00", m(REBOOT, "web-07", at=T14)),
    case("reboot web-07 timeout 10 parsecs at 14:00", m(REBOOT, "web-07", at=T14)),
    case(
        "reboot web-01..web-04 force timeout 25h in waves of 2",
        m(REBOOT, "web-01..web-04", force=True, waves=(2, False)),
    ),
    case(
        "reboot web-01..web-04 with a canary timeout -5",
        m(REBOOT, "web-01..web-04", waves=(None, True)),
    ),
    case("reboot web-07 timeout", m(REBOOT, "web-07")),
    case("reboot web-07 timeout 1 timeout 2", m(REBOOT, "web-07")),
    case(
        "set Device.X to fast on cpe-01 at 14:00",
        m("set", "cpe-01", at=T14, parameter_name="Device.X"),
        file=True,
    ),
    case(
        "set Device.X to 1 to 2 on cpe-01", m("set", "cpe-01", parameter_name="Device.X"), file=True
    ),
    case(
        "set Device.X on cpe-01 at 14:00",
        m("set", "cpe-01", at=T14, parameter_name="Device.X"),
        file=True,
    ),
    case("set Device.X on cpe-01 to", m("set", "cpe-01", parameter_name="Device.X"), file=True),
    case("set Device.X to on cpe-01", m("set", "cpe-01", parameter_name="Device.X"), file=True),
    case("set Device.X to", m("set", "", parameter_name="Device.X"), file=True),
    case(
        "set Device.X 300 on cpe-01 at 14:00",
        m("set", "cpe-01", at=T14, parameter_name="Device.X", value=300),
        file=True,
    ),
    case(
        "set parameter Device.X 300 on @db in waves of 1",
        m("set", "@db", parameter_name="Device.X", value=300, waves=(1, False)),
        file=True,
    ),
    # lists: packages missing, or missing their word
    case("update web-07 with", m(UPDATE, "web-07")),
    case("update web-07 with at 14:00", m(UPDATE, "web-07", at=T14)),
    case("update web-07 with curl;rm", m(UPDATE, "web-07")),
    case("update web-07 with curl, at 14:00", m(UPDATE, "web-07", at=T14)),
    case("update web-07 curl at 14:00", m(UPDATE, "web-07", at=T14, package_list=["curl"])),
    case("update web-07 at 14:00", m(UPDATE, "web-07", at=T14)),
    case("update web-07 then reboot", m(UPDATE, "web-07")),
    case("update web-07 first", m(UPDATE, "web-07")),
    case("update web-07", m(UPDATE, "web-07")),
    # a name missing its comma, or a word that is no time
    case("reboot web-07 web-08 at 14:00", m(REBOOT, "web-07, web-08", at=T14)),
    case(
        "reboot web-07 force web-08 in waves of 1",
        m(REBOOT, "web-07, web-08", force=True, waves=(1, False)),
    ),
    case("reboot web-07 web-08 blah at 14:00", m(REBOOT, "web-07, web-08", at=T14)),
    case("reboot server-03 end of day", m(REBOOT, "server-03")),
    case("reboot web-07 gibberish words", m(REBOOT, "web-07")),
    case("reboot web-07 reboot", m(REBOOT, "web-07")),
    case("reboot web-07 update", m(REBOOT, "web-07")),
    case("reboot web-07 set", m(REBOOT, "web-07"), file=True),
    case("reboot web-07 also", m(REBOOT, "web-07")),
    case("reboot web-07 it", m(REBOOT, "web-07")),
    case("reboot web-07 december", m(REBOOT, "web-07")),
    case(
        "update web-07 with openssl redis at 14:00",
        m(UPDATE, "web-07", at=T14, package_list=["openssl", "redis"]),
    ),
    case("update web-07 with openssl then", m(UPDATE, "web-07", package_list=["openssl"])),
    case("update web-07 with openssl reboot", m(UPDATE, "web-07", package_list=["openssl"])),
    # a service and its devices: "on" missing, or a comma
    case("restart nginx web-07 at 14:00", m(RESTART, "web-07", at=T14, service_name="nginx")),
    case(
        "restart the nginx service web-07 in waves of 1",
        m(RESTART, "web-07", service_name="nginx", waves=(1, False)),
    ),
    case("restart nginx", m(RESTART, "", service_name="nginx")),
    case("restart nginx at 14:00", m(RESTART, "", service_name="nginx")),
    case(
        "restart nginx apache on web-07 at 14:00",
        m(RESTART, "web-07", at=T14, service_name=("nginx", "apache")),
    ),
    case("restart nginx web-07 reboot", m(RESTART, "web-07", service_name="nginx")),
    case("restart nginx then on web-07", m(RESTART, "web-07", service_name="nginx")),
    case("restart nginx reboot on web-07", m(RESTART, "web-07", service_name="nginx")),
    case("restart on web-07", m(RESTART, "web-07")),
    # options of another operation
    case("reboot web-07 with curl", m(REBOOT, "web-07")),
    case("restart nginx on web-07 force", m(RESTART, "web-07", service_name="nginx")),
    # waves that do not read
    case("reboot web-01..web-04 in waves of none", m(REBOOT, "web-01..web-04")),
    # when: each time refusal, in the request
    case("reboot web-07 at 1400", m(REBOOT, "web-07", at=T14)),
    case("reboot web-07 tomorrow at 0930", m(REBOOT, "web-07", at="2026-11-26T09:30:00+00:00")),
    case("reboot web-07 at 2400", m(REBOOT, "web-07")),
    case("reboot web-07 at 930", m(REBOOT, "web-07")),
    case("reboot web-07 at 25:99", m(REBOOT, "web-07")),
    case("reboot web-07 at 13pm", m(REBOOT, "web-07")),
    case("reboot web-07 at 9", m(REBOOT, "web-07")),
    case("reboot web-07 today at 9", m(REBOOT, "web-07")),
    case("reboot web-07 at 9 CET", m(REBOOT, "web-07")),
    case("reboot web-07 tomorrow", m(REBOOT, "web-07")),
    case("reboot web-07 force on saturday", m(REBOOT, "web-07", force=True)),
    case("reboot web-07 on 2024-01-20", m(REBOOT, "web-07")),
    case("reboot web-07 on 2024-01-20 at 09:30", m(REBOOT, "web-07")),
    case("reboot web-07 on 2024-02-30 at 10:00", m(REBOOT, "web-07")),
    case("reboot web-07 on 01/02 at 10:00", m(REBOOT, "web-07")),
    case("reboot web-07 at 16:00 CST", m(REBOOT, "web-07")),
    case("reboot web-07 at 14:00 CET UTC", m(REBOOT, "web-07")),
    case("reboot web-07 at 9:30 Europe/Berln", m(REBOOT, "web-07")),
    case("reboot web-07 in 0 minutes", m(REBOOT, "web-07")),
    case("reboot web-07 in 400 days", m(REBOOT, "web-07")),
    case("reboot web-07 in 2 parsecs", m(REBOOT, "web-07")),
    case("reboot web-07 at 14:00 at 15:00", m(REBOOT, "web-07")),
    case("reboot web-07 yesterday", m(REBOOT, "web-07")),
    case("reboot web-07 asap", m(REBOOT, "web-07")),
    case("reboot web-07 soon", m(REBOOT, "web-07")),
    case("reboot web-07 eod friday", m(REBOOT, "web-07")),
    case("reboot web-07 tonight", m(REBOOT, "web-07")),
    case("reboot web-07 tomorrow morning CET", m(REBOOT, "web-07")),
    case("update web-07 with curl every day at 3am", m(UPDATE, "web-07", package_list=["curl"])),
    case("reboot web-07 after update", m(REBOOT, "web-07")),
    case("reboot web-07 unless busy", m(REBOOT, "web-07")),
    case("reboot web-07 on 2027-03-14 at 2:30am", m(REBOOT, "web-07"), tz="America/New_York"),
    # several requests in one line
    case(
        "restart nginx on web-07 and reboot web-08",
        m(RESTART, "web-07", service_name="nginx"),
        m(REBOOT, "web-08"),
    ),
    case(
        "reboot web-07 then update web-08 with openssl",
        m(REBOOT, "web-07"),
        m(UPDATE, "web-08", package_list=["openssl"]),
    ),
    case(
        "reboot web-07; restart nginx on web-08",
        m(REBOOT, "web-07"),
        m(RESTART, "web-08", service_name="nginx"),
    ),
    case(
        "restart nginx on web-07 and reboot web-08 at 14:00",
        m(RESTART, "web-07", service_name="nginx"),
        m(REBOOT, "web-08", at=T14),
    ),
    case(
        "restart nginx on web-07 and reboot web-08 at 1400",
        m(RESTART, "web-07", service_name="nginx"),
        m(REBOOT, "web-08", at=T14),
    ),
    case(
        "restart nginx on web-07 and reboot",
        m(RESTART, "web-07", service_name="nginx"),
        m(REBOOT, ""),
    ),
    case(
        "update web-07 with openssl then reboot it",
        m(UPDATE, "web-07", package_list=["openssl"]),
        m(REBOOT, ""),
    ),
    case(
        "set Device.X to 300 on cpe-01 and reboot @web in waves of 5",
        m("set", "cpe-01", parameter_name="Device.X", value=300),
        m(REBOOT, "@web", waves=(5, False)),
        file=True,
    ),
    case(
        "set Device.X 300 on cpe-01 and reboot web-08",
        m("set", "cpe-01", parameter_name="Device.X", value=300),
        m(REBOOT, "web-08"),
        file=True,
    ),
    case(
        "reboot web-07 and force reboot web-08 timeout abc",
        m(REBOOT, "web-07"),
        m(REBOOT, "web-08", force=True),
    ),
    # the rest: not a request, or not an operation
    case("cancel txn_1001"),
    case("cancel"),
    case("reload nginx on web-07"),
    case(""),
    case("list web-07 page 2"),
    case("status bad/id"),
]


def named(devices: str, naming: Naming) -> set[str]:
    """Every device `devices` names, lower case."""
    found: set[str] = set()
    for word in re.split(r"\s*,\s*|\s+and\s+", devices.strip()):
        if not word:
            continue
        if is_group(word):
            found |= {d.lower() for d in naming.groups[word[1:].lower()]}
        elif is_range(word):
            found |= {d.lower() for d in read_range(word).names()}
        else:
            found.add(word.lower())
    return found


def static_examples() -> set[str]:
    """The examples written once, that no one's words change: general ones."""
    kinds = [*DEFAULT_CATALOG.kinds, *POLICY.catalog.kinds]
    return {k.example for k in kinds} | {
        say.grammar.EXAMPLE_HELP,
        say.grammar.EXAMPLE_LIST,
        say.grammar.EXAMPLE_LIST_PAGE,
        say.grammar.EXAMPLE_STATUS,
        say.grammar.EXAMPLE_WAVES,
    }


def placeholder_devices() -> set[str]:
    """The devices of general examples: server-01, server-02 and those of the catalogs'."""
    found = {say.grammar.EXAMPLE_DEVICE, *say.grammar.EXAMPLE_DEVICES}
    for file in (False, True):
        for kind in setting(file)[0].kinds:
            found |= {op.device_name for op in read(kind.example, file=file).operations}
    return {d.lower() for d in found}


def stand_ins(f: ParamField) -> list[object]:
    """What an example may put for a parameter the person did not give (readably): its
    default or the sample a general example shows. Never a flag they did not type."""
    sample = f.placeholder.split(",")[0].strip() or say.grammar.EXAMPLE_NAME
    if f.kind == "name":
        return [sample]
    if f.kind == "name_list":
        return [[sample]]
    if f.kind == "duration":
        return [f.default, int(say.grammar.EXAMPLE_DURATION)]
    if f.kind == "value":
        readers = {"integer": int, "number": float, "boolean": lambda v: v == "true", "string": str}
        typed = [f.placeholder.strip().strip('"'), say.grammar.EXAMPLE_VALUES[f.value_type]]
        return [f.default, *(readers[f.value_type](v) for v in typed if v)]
    return [f.default]


def agrees(
    meant: Meant, plan: Plan, kind: OperationKind, naming: Naming, general: bool
) -> Iterator[str]:
    """What in `plan` (operations of `kind`) differs from what was meant: nothing, if it agrees.
    A general example (only placeholder devices) need not keep the time or the waves."""
    devices = named(meant.devices, naming)
    kept = {
        op.device_name.lower() for op in plan.operations if op.operation_type == kind.operation_type
    }
    if not general and devices - kept:
        yield f"devices {sorted(devices - kept)} were dropped"
    for op in plan.operations:
        if op.operation_type != kind.operation_type:
            continue
        if not general and op.device_name.lower() not in devices:
            yield f"device {op.device_name} was not named"
        for f in kind.fields:
            value = op.parameters[f.name]
            if f.name in meant.params:
                wanted = meant.params[f.name]
                ok = value in wanted if isinstance(wanted, tuple) else value == wanted
            else:
                ok = value in stand_ins(f)
            if not ok:
                yield f"{f.name} is {value!r}"
        for name, value in kind.fixed.items():
            if op.parameters[name] != value:
                yield f"{name} is {op.parameters[name]!r}"
        if not general and meant.at and op.scheduled_at != datetime.fromisoformat(meant.at):
            yield f"it starts at {op.scheduled_at}, not {meant.at}"
    if not general and (plan.wave_size, plan.canary) != meant.waves:
        yield f"its waves are {(plan.wave_size, plan.canary)}, not {meant.waves}"


def offered(found: Refusal) -> list[str]:
    if isinstance(found, SeveralRequests):
        return list(found.commands)
    return [found.example] if found.example else []


def check_case(c: Case) -> list[str]:
    """What is wrong with the examples offered for `c.text`: nothing, if they keep the promise."""
    catalog, naming = setting(c.file)
    try:
        parse(c.text, tz=c.tz, now=NOW, catalog=catalog, naming=naming)
    except Refusal as error:
        found = error
    else:
        return [f"{c.text!r} is not refused"]
    problems: list[str] = []
    # a word of the sentence, an operation or a time word is never offered as a name
    for word in re.findall(r'If "([^"]+)" is (?:another device|one more)', found.reason):
        keywords = {k.keyword for k in catalog.kinds}
        if word.lower() in SENTENCE_WORDS | keywords or is_time_word(word):
            problems.append(f"{c.text!r} offers {word!r} as a name")
    static, placeholders = static_examples(), placeholder_devices()
    for example in offered(found):
        try:
            result = parse(example, tz=c.tz, now=NOW, catalog=catalog, naming=naming)
        except Refusal as error:
            problems.append(f"{c.text!r} → {example!r} is refused: {error.reason}")
            continue
        if example in static:
            continue
        if isinstance(result, StatusQuery) and result.operation_id in c.text.split():
            continue
        if not isinstance(result, Plan):
            problems.append(f"{c.text!r} → {example!r} is not a request")
            continue
        general = {op.device_name.lower() for op in result.operations} <= placeholders
        for op_type in dict.fromkeys(op.operation_type for op in result.operations):
            kind = catalog.by_type(op_type)
            assert kind is not None
            candidates = [mt for mt in c.meant if mt.operation == op_type]
            if not candidates:
                problems.append(f"{c.text!r} → {example!r} does {op_type}, not asked")
                continue
            differences = [list(agrees(mt, result, kind, naming, general)) for mt in candidates]
            if all(differences):
                problems.append(f"{c.text!r} → {example!r}: {'; '.join(differences[0])}")
    return problems


@pytest.mark.parametrize("c", CORPUS, ids=[c.text[:60] or "(empty)" for c in CORPUS])
def test_every_example_offered_does_what_was_meant(c: Case) -> None:
    assert check_case(c) == []


def test_the_corpus_reaches_every_place_a_suggestion_is_made(monkeypatch) -> None:
    """Each place in the grammar's modules (bot/understand/, wherever a refusal's mend moves)
    that mends the person's text into an example is reached, and offers its mend, by some
    input of the corpus: a new place needs its inputs here. The service question's mend
    (suggestions.py's own `renamed`) is no refusal's, and has its tests of its own."""
    original = suggestions.Reading.mended
    reached: set[tuple[str, int]] = set()

    def recording(self: suggestions.Reading, fix: suggestions.Fix | None) -> str | None:
        mended = original(self, fix)
        caller: FrameType = sys._getframe(1)
        if mended is not None:
            reached.add((caller.f_code.co_filename, caller.f_lineno))
        return mended

    monkeypatch.setattr(suggestions.Reading, "mended", recording)
    for c in CORPUS:
        check_case(c)
    modules = sorted(Path(grammar.__file__).parent.glob("*.py"))
    places = {
        (str(module), number)
        for module in modules
        if module.name != "suggestions.py"
        for number, line in enumerate(module.read_text().splitlines(), start=1)
        if ".mended(" in line and "def mended" not in line
    }
    assert len(places) >= 13  # the grammar's, where they were when this test was written
    missed = sorted(places - reached)
    assert missed == [], [f"{Path(f).name}:{n}" for f, n in missed]


def test_the_corpus_holds_a_suggestion_from_each_catalog() -> None:
    assert any(c.file for c in CORPUS) and any(not c.file for c in CORPUS)
    examples = [e for c in CORPUS if c.file for e in offered(refused(c.text, file=True))]
    assert any(e.startswith("set ") and e not in static_examples() for e in examples)


# --- static examples: understood as written ---


def understood(command: str, *, file: bool = True) -> object:
    """What the bot makes of `command` typed after /ops, with the policy file's catalog and
    groups (they hold the built-in operations too); raises Refusal."""
    catalog, naming = setting(file)
    command = command.removeprefix("/ops ").strip()
    word, _, rest = command.partition(" ")
    if word == "plan":
        return parse(rest, tz="UTC", now=NOW, catalog=catalog, naming=naming)
    if word == "freeze":
        return read_freeze(rest, tz="UTC", now=NOW)
    if word == "unfreeze":
        return read_unfreeze(rest)
    return parse(command, tz="UTC", now=NOW, catalog=catalog, naming=naming)


# Each example constant of bot/say/'s words, as it is used: a whole command, or the part of one.
CONSTANTS = {
    "EXAMPLE_HELP": "{}",
    "EXAMPLE_LIST": "{}",
    "EXAMPLE_LIST_PAGE": "{}",
    "EXAMPLE_STATUS": "{}",
    "EXAMPLE_WAVES": "{}",
    "PLAN_EXAMPLE": "{}",
    "FREEZE_EXAMPLE": "{}",
    "UNFREEZE_EXAMPLE": "{}",
    "EXAMPLE_DEVICE": "reboot {}",
    "EXAMPLE_DEVICES": "reboot {}",
    "EXAMPLE_RANGE": "reboot {}",
    "EXAMPLE_SHORT_RANGE": "reboot {}",
    "EXAMPLE_NAME": "restart {} on server-01",
    "EXAMPLE_TIME": "reboot server-01 {}",
    "EXAMPLE_CLOCK": "reboot server-01 tomorrow at {}",
    "EXAMPLE_DURATION": "reboot server-01 timeout {}",
    "EXAMPLE_VALUES": "set Device.X to {} on cpe-01",
}


# Every module of what the bot says and shows, and the example constants its words define.
SAY = ROOT / "bot" / "say"
EXAMPLES = {
    name: value
    for module in [
        importlib.import_module(f"bot.say.{info.name}") for info in pkgutil.iter_modules([str(SAY)])
    ]
    for name, value in vars(module).items()
    if "EXAMPLE" in name and name.isupper()
}


@pytest.mark.parametrize("name", sorted(CONSTANTS))
def test_each_example_constant_is_understood_as_written(name: str) -> None:
    value = EXAMPLES[name]
    if name == "EXAMPLE_VALUES":
        values = [value["integer"]]  # the others' types are checked in tests/test_grammar.py
    elif isinstance(value, tuple):
        values = [", ".join(value)]
    else:
        values = [value]
    for shown in values:
        understood(CONSTANTS[name].format(shown))  # raises Refusal if it is not


def test_every_example_constant_is_checked() -> None:
    assert set(EXAMPLES) == set(CONSTANTS)


def test_every_command_quoted_in_the_bot_s_sentences_is_understood() -> None:
    commands: set[str] = set()
    for path in sorted(SAY.glob("*.py")):
        lines = path.read_text().splitlines()
        source = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
        commands |= {
            span
            for span in re.findall(r"`(/ops [^`]+)`", source)
            if "{" not in span and "<" not in span
        }
        commands |= set(re.findall(r"e\.g\.: ([^\\\n]+)\\n", source))  # the demo's greeting
    assert len(commands) >= 4, commands
    for command in commands:
        understood(command)  # raises Refusal if it is not


HELP_SYNTAX = re.compile(r"&lt;|\[|YYYY|…")  # `<devices>`, `[force]`: how to write, no example
HELP_WORDS = {"/ops", "for", "until", "-", "."}  # words and characters named, not examples


@pytest.mark.parametrize("file", [False, True])
def test_every_example_in_help_is_understood_as_written(file: bool) -> None:
    catalog, naming = setting(file)
    kinds = catalog.kinds
    limit = naming.limits.max_devices
    spans = re.findall(r"`([^`]+)`", say.help.help_text(kinds, admin=True, max_devices=limit))
    readings = [
        "{}",  # a whole command
        "reboot server-01 {}",  # a time, or an option of reboot
        "reboot server-01..server-20 {}",  # waves
        "reboot {}",  # devices
        "restart nginx on server-01 {}",
        "set Device.X {} on cpe-01",  # a value
        "freeze {} for 1h patching",  # a freeze's devices
    ]
    not_read = []
    for span in spans:
        if HELP_SYNTAX.search(span) or span in HELP_WORDS:
            continue
        for reading in readings:
            try:
                understood(reading.format(span))
            except Refusal:
                continue
            break
        else:
            not_read.append(span)
    assert not_read == []
    assert any("e.g." in line for line in say.help.help_text(kinds, max_devices=limit).splitlines())


def test_the_examples_of_the_catalogs_do_their_own_operation() -> None:
    for file in (False, True):
        for kind in setting(file)[0].kinds:
            result = read(kind.example, file=file)
            assert {op.operation_type for op in result.operations} == {kind.operation_type}


def test_queries_typed_back_are_queries() -> None:
    assert understood(say.grammar.EXAMPLE_HELP) == HelpQuery()
    assert understood(say.grammar.EXAMPLE_LIST) == ListQuery(device_name="server-01")
    assert understood(say.grammar.EXAMPLE_STATUS) == StatusQuery(operation_id="txn_1001")
