"""What a new user read and tripped on: counts said in proper English (one helper for plurals,
never `device(s)`), a label never said twice, help that states the policy's own limit, device
names as the API spells them, patterns shown as typed (`server-*`, never bold), and a freeze
too long told as too long."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import say
from bot.console.terminal import plain_text
from bot.model import Refusal
from bot.policy.freezes import read_freeze
from tests.conftest import Bot
from tests.test_flow import request_and_confirm

pytestmark = pytest.mark.xdist_group("ports")

StartBot = Callable[[str], Bot]
# Every module of what the bot says and shows, words and Block Kit alike.
SAY = Path(__file__).resolve().parent.parent / "bot" / "say"
NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)


def ask(bot: Bot, typed: str, *, user: str = "U123") -> dict:
    return bot.wait_response(bot.command(typed, user=user))


# ---------------------------------------------------------------- counts


@pytest.mark.parametrize(
    ("count", "said"),
    [(0, "0 devices"), (1, "1 device"), (2, "2 devices"), (1500, "1,500 devices")],
)
def test_plural(count: int, said: str) -> None:
    assert say.common.plural(count, "device") == said


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        (
            say.lists.list_past_the_end(3, 1, 20),
            "There is no page 3: 1 operation makes 1 page of 20.",
        ),
        (
            say.lists.list_past_the_end(3, 5, 20),
            "There is no page 3: the 5 operations make 1 page of 20.",
        ),
        (say.lists.list_past_the_end(9, 45, 20), "the 45 operations make 3 pages of 20."),
        (say.track.shared_parameters("force=true", 2, per_device=True), "(both devices):"),
        (say.track.shared_parameters("force=true", 3, per_device=False), "(all 3 operations):"),
        (
            say.recovery.finished(total=2, succeeded=2, failed=[], did_not=0),
            "🏁 Both finished: 2 completed.",
        ),
        (
            say.recovery.finished(total=1, succeeded=1, failed=[], did_not=0),
            "🏁 Finished: 1 completed.",
        ),
        (say.recovery.finished(total=7, succeeded=7, failed=[], did_not=0), "🏁 All 7 finished:"),
        (say.waves.wave_status(wave=1, waves=3, state="halted", waiting=1), ":* 1 device held."),
        (say.waves.wave_status(wave=1, waves=3, state=None, waiting=1), "· 1 device waiting for"),
        (say.waves.wave_status(wave=1, waves=3, state=None, waiting=4), "· 4 devices waiting for"),
        (say.waves.one_wave(1), "1 device makes a single wave"),
        (say.preflight.conflicts_heading(1), "the API holds an operation on these devices"),
        (say.preflight.conflicts_heading(3), "the API holds 3 operations on these devices"),
        (say.track.operation_on("reboot", 1), "*reboot* on 1 device"),
        (say.policy.freeze_held(1), "The API already holds 1 unfinished operation for them"),
        (
            say.home.home_approval(
                requester="<@U1>",
                typed="reboot db-01",
                count=1,
                first="14:00",
                approvals=0,
                needed=1,
                until="15:00",
            ),
            "1 operation, first at 14:00 · 0 of 1 approval · until 15:00",
        ),
        (
            say.home.home_approval(
                requester="<@U1>",
                typed="reboot db-01",
                count=2,
                first="14:00",
                approvals=1,
                needed=2,
                until="15:00",
            ),
            "2 operations, first at 14:00 · 1 of 2 approvals · until 15:00",
        ),
    ],
)
def test_counts_are_said_in_words(said: str, expected: str) -> None:
    assert expected in said, said


def test_no_sentence_counts_in_parentheses() -> None:
    """`1 device(s)`, `approval(s)`: the plural goes through `say.common.plural`. (A form's label,
    Device(s), counts nothing; "http(s)" is a URL's scheme.)"""
    source = "".join(path.read_text() for path in sorted(SAY.glob("*.py")))
    assert set(re.findall(r"\w+\(s\)", source)) == {"Device(s)", "http(s)"}, "use say.common.plural"


# ---------------------------------------------------------------- a label said once


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        (
            say.grammar.value_not_whole("Value", "300"),
            "The value must be a whole number, like 300.",
        ),
        (
            say.grammar.value_not_whole("Interval", "300"),
            "The value for Interval must be a whole number, like 300.",
        ),
        (say.grammar.value_not_whole("New value", "300"), "The new value must be a whole number"),
        (say.grammar.value_too_long("Value", 10), "The value is longer than 10 characters."),
        (
            say.grammar.value_word_missing("300", "to", "Value"),
            'If "300" is the value, put "to" before it.',
        ),
        (
            say.grammar.value_required("Value", "to", "integer", "300"),
            'The value is missing: put a whole number after "to", like 300.',
        ),
    ],
)
def test_the_value_is_never_the_value_for_value(said: str, expected: str) -> None:
    assert said.startswith(expected) or expected in said, said
    assert "for Value" not in said


# ---------------------------------------------------------------- help and list


def test_help_says_the_policy_s_own_device_limit(policy_bot: StartBot) -> None:
    bot = policy_bot("[limits]\nmax_devices = 10\n")
    shown = ask(bot, "help")["text"]
    assert "One request names at most 10 devices." in shown
    assert "500" not in shown


def test_list_names_the_device_as_the_api_spells_it(bot: Bot) -> None:
    request_and_confirm(bot, "reboot server-01 now")
    shown = ask(bot, "list SERVER-01")["text"]
    assert "for `server-01`" in shown and "SERVER-01" not in shown
    # A name the API never showed stays as typed: there is nothing better to say.
    assert "`SERVER-99`" in ask(bot, "list SERVER-99")["text"]


# ---------------------------------------------------------------- freezes


def test_unfreeze_shows_patterns_as_typed(policy_bot: StartBot) -> None:
    bot = policy_bot('[access]\nadmins = ["U0LEAD"]\n')
    none = ask(bot, "unfreeze server-*, db-*", user="U0LEAD")["text"]
    assert "No freeze names `server-*` or `db-*`" in none
    # As Slack renders it: a pair of stars is emphasis outside code, and would eat both.
    assert "No freeze names server-* or db-*;" in plain_text(none, zone=UTC)

    ask(bot, "freeze server-* for 1h patching", user="U0LEAD")
    ask(bot, "freeze db-* for 1h patching", user="U0LEAD")
    lifted = ask(bot, "unfreeze", user="U0LEAD")["text"]
    assert "<@U0LEAD> lifted 2 freezes on `server-*` and `db-*`:" in lifted
    assert "lifted 2 freezes on server-* and db-*:" in plain_text(lifted, zone=UTC)

    escaped = ask(bot, "unfreeze <!here>-01", user="U0LEAD")["text"]
    assert "<!here>" not in escaped


@pytest.mark.parametrize(
    ("args", "length"),
    [
        ("server-01 for 45d x", "45d"),
        ("for 31 days quarter close", "31 days"),
        ("for 9999999999 days forever", "9999999999 days"),
        ("until in 6 weeks audit", "in 6 weeks"),
    ],
)
def test_a_freeze_over_the_limit_is_told_so(args: str, length: str) -> None:
    with pytest.raises(Refusal) as refused:
        read_freeze(args, tz="UTC", now=NOW)
    assert refused.value.reason == (
        f'A freeze lasts at most 30 days, and "{length}" is longer: say a shorter time, like '
        "`for 30d`, or leave the end out to freeze until `/ops unfreeze`."
    )
    assert "could not read" not in refused.value.reason
