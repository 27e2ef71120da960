"""Groups in the policy's device patterns, and patterns that can never match a device.

A rule, window or freeze naming a group (`@db`) covers exactly the group's devices, as the
policy file in force defines them; `check-config` refuses a group the file does not define, and
any pattern no device name can match (it would silently leave out the approval or the window
it was written for). End to end through the fake Slack and the API simulator where it counts:
the approval a group's rule asks for is really asked for, and a freeze of a group holds it."""

from __future__ import annotations

import fnmatch
import itertools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.policy.config import ConfigError, read_config
from bot.policy.rules import matches
from bot.policy.tables.devices import match_example
from bot.run.cli import main
from bot.say.common_blocks import ACTION_APPROVE, ACTION_CONFIRM
from bot.understand.names import check_device_name
from tests.conftest import Bot, eventually
from tests.test_flow import all_text, confirm_button
from tests.test_policy_flow import WINDOW_TZ, window_ahead

pytestmark = pytest.mark.xdist_group("ports")

StartBot = Callable[[str], Bot]
GROUPS = '[groups]\ndb = ["db-01..db-03"]\nweb = ["server-10", "server-11"]\n'


def problems(toml: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        read_config(toml, source="opsbot.toml")
    return caught.value.problems


# ---------------------------------------------------------------- groups in patterns


def test_a_group_in_a_rule_or_window_matches_exactly_its_devices() -> None:
    policy = read_config(
        GROUPS + '\n[[rules]]\ndevices = ["@DB", "lb-*"]\napproval = "peer"\n\n'
        '[[windows]]\ndevices = ["@web"]\nwhen = "daily 01:00-02:00"\n',
        source="opsbot.toml",
    )
    (rule,) = policy.rules
    assert rule.devices == ("db-01", "db-02", "db-03", "lb-*")
    assert rule.written == ("@DB", "lb-*")  # for people: the Home tab shows what the file says
    for name, covered in [("db-01", True), ("DB-03", True), ("db-04", False), ("lb-1", True)]:
        assert matches(name, rule.devices) is covered, name
    (window,) = policy.windows
    assert window.devices == ("server-10", "server-11") and window.written == ("@web",)
    assert not matches("server-1", window.devices)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            GROUPS + '[[rules]]\ndevices = ["@dbs"]\n',
            '[[rules]] #1 (line 5): devices: there is no group "@dbs" in [groups] (did you '
            'mean "@db"?); the groups are "@db" and "@web"',
        ),
        (
            '[[windows]]\nwhen = "daily 01:00-02:00"\ndevices = ["@db"]\n',
            '[[windows]] #1 (line 3): devices: "@db" names a group, but there is no [groups] '
            'section to define it: add one, like [groups] db = ["db-01..db-03"]',
        ),
        (
            GROUPS + '[[rules]]\ndevices = ["@"]\n',
            '[[rules]] #1 (line 5): devices: "@" names no group: write a group\'s name after '
            'the @, like "@db"',
        ),
        (
            GROUPS + '[[rules]]\ndevices = ["@db*"]\n',
            'devices: "@db*" names no group: a group is named whole, like "@db", never by a '
            "pattern",
        ),
    ],
)
def test_a_group_the_file_does_not_define_is_refused_with_the_groups_it_has(
    toml: str, expected: str
) -> None:
    assert any(expected in problem for problem in problems(toml)), problems(toml)


def test_a_group_with_its_own_mistake_is_named_once() -> None:
    found = problems('[groups]\ndb = []\n[[rules]]\ndevices = ["@db"]\n')
    assert found == ['opsbot.toml: [groups] (line 2): group "db" is empty: list its devices']


# ---------------------------------------------------------------- patterns that never match

NEVER = """[[rules]]
devices = ["server-*"]
approval = "peer"

[[rules]]
operations = ["reboot"]
devices = ["{pattern}"]
approval = "peer"
"""


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (
            "server-01 ",
            'a device name holds only letters, digits, ".", "_" and "-", not a space; did you '
            'mean "server-01"?',
        ),
        (
            "db-01 db-02",
            'a device name holds only letters, digits, ".", "_" and "-", not a space; give '
            'each pattern its own quotes: "db-01", "db-02"',
        ),
        (
            "-foo",
            'device names start with a letter or a digit; start it with one, or with "*" ("*-foo")',
        ),
        (
            "server-",
            'device names end with a letter or a digit; end it with one, or with "*" ("server-*")',
        ),
        (
            ".",
            "device names start and end with a letter or a digit; start and end it with one, "
            'or with "*" ("*.*")',
        ),
        ("db@*", 'not "@"; remove it'),
        ("sérver-*", 'not "é"; remove it'),
        ("tab\there", "not U+0009; give each pattern its own quotes"),
        ("db-[@#]", 'the set "[@#]" holds no character a device name may hold'),
        ("x" * 64, "it needs at least 64 characters, and a device name has at most 63"),
        ("now", "it is a word the bot reads as part of a command"),
    ],
)
def test_a_pattern_that_can_never_match_is_refused_naming_its_key_and_the_fix(
    pattern: str, why: str
) -> None:
    toml = NEVER.replace("{pattern}", pattern.replace("\t", "\\t"))
    (problem,) = problems(toml)
    shown = pattern.replace("\t", "\t")
    assert problem.startswith(
        f'opsbot.toml: [[rules]] #2 (line 7): devices: "{shown}" can never match a device name: '
    ), problem
    assert problem.endswith(why) or why in problem, problem


def test_check_config_refuses_a_pattern_that_never_matches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "opsbot.toml"
    path.write_text(NEVER.replace("{pattern}", "server-"))
    assert main(["check-config", str(path)]) == 1
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            f'{path}: [[rules]] #2 (line 7): devices: "server-" can never match a device name: '
            'device names end with a letter or a digit; end it with one, or with "*" ("server-*")'
        )
    )


@pytest.mark.parametrize(
    "pattern",
    ["*", "server-*", "*-01", "db-0?", "db-0[1-3]", "[!-]*", "a", "SERVER-*", "*.*", "?", "x" * 63],
)
def test_patterns_that_match_some_device_are_accepted(pattern: str) -> None:
    example, why = match_example(pattern)
    assert why == "" and check_device_name(example) is None
    assert matches(example, [pattern])


# Small enough to try every name: a pattern of up to 3 pieces from these, against every name of
# up to 5 characters from NAMES (a piece stands for one character, and a `*` at either end
# adds at most one).
PIECES = ("a", "-", ".", " ", "@", "*", "?", "[!a]", "[.-]", "[a-]")
NAMES = "a0-."


def test_a_pattern_is_refused_exactly_when_no_device_name_matches_it() -> None:
    names = [
        "".join(chars)
        for length in range(1, 6)
        for chars in itertools.product(NAMES, repeat=length)
        if check_device_name("".join(chars)) is None
    ]
    checked = 0
    for size in range(1, 4):
        for pieces in itertools.product(PIECES, repeat=size):
            pattern = "".join(pieces)
            compiled = re.compile(fnmatch.translate(pattern.lower()))
            some = next((n for n in names if compiled.match(n)), None)
            example, why = match_example(pattern)
            if some is None:
                assert why and not example, (pattern, example)
            else:
                assert example and not why, (pattern, some, why)
                assert check_device_name(example) is None and compiled.match(example)
            checked += 1
    assert checked == len(PIECES) + len(PIECES) ** 2 + len(PIECES) ** 3


# ---------------------------------------------------------------- end to end

APPROVALS = (
    GROUPS
    + """
[access]
admins = ["U0LEAD"]

[[rules]]
operations = ["reboot"]
devices = ["@db"]
approval = "peer"
approvers = ["U0002"]
"""
)


def ask(bot: Bot, typed: str, *, user: str = "U123") -> dict:
    return bot.wait_response(bot.command(typed, user=user))


def click(bot: Bot, action_id: str, value: str, *, user: str = "U123") -> dict:
    response, key = bot.click(action_id, value, user=user)
    assert response.status_code == 200
    return bot.wait_response(key)


def test_a_rule_naming_a_group_asks_its_approval_for_the_groups_devices(
    policy_bot: StartBot,
) -> None:
    bot = policy_bot(APPROVALS)
    shown = ask(bot, "reboot db-02 now")
    assert "needs an approval from <@U0002>" in all_text(shown)
    request_id = confirm_button(shown)["value"]
    assert "waits for an approval" in click(bot, ACTION_CONFIRM, request_id)["text"]
    eventually(
        lambda: bot.runtime.store.get_request(request_id).state == "approving",
        what="the request waiting for its approval",
    )
    assert bot.simulator.post_count == 0  # nothing goes before the approval

    assert "Approved" in click(bot, ACTION_APPROVE, request_id, user="U0002")["text"]
    (sent,) = eventually(bot.simulator.operations, what="the approved operation at the API")
    assert sent["device_name"] == "db-02"

    # A device outside the group: the rule does not apply, the requester's confirm suffices.
    other = ask(bot, "reboot db-04 now")
    assert "needs an approval" not in all_text(other)


def test_a_window_naming_a_group_blocks_the_groups_devices(policy_bot: StartBot) -> None:
    when, _ = window_ahead()  # opens in an hour or two: now is outside it
    bot = policy_bot(
        GROUPS + f'[[windows]]\ndevices = ["@db"]\nwhen = "{when}"\ntz = "{WINDOW_TZ}"\n'
        'outside = "block"\n'
    )
    blocked = ask(bot, "reboot db-03 now")
    assert "db-03 may only be worked on in its maintenance window" in blocked["text"]
    assert confirm_button(ask(bot, "reboot server-01 now"))["value"]


def test_a_freeze_of_a_group_holds_the_groups_devices_and_unfreeze_lifts_it(
    policy_bot: StartBot,
) -> None:
    bot = policy_bot(APPROVALS)
    store = bot.runtime.store
    # Waiting for its approval when the freeze comes.
    waiting = ask(bot, "reboot db-02 in 20 minutes")
    request_id = confirm_button(waiting)["value"]
    assert "waits for an approval" in click(bot, ACTION_CONFIRM, request_id)["text"]

    unknown = ask(bot, "freeze @dbs for 2h migration", user="U0LEAD")
    assert 'There is no group "@dbs" (did you mean "@db"?)' in unknown["text"]
    assert not store.active_freezes(now=datetime.now(UTC))

    # Without `for` or `until` too: a group is a device word, never the start of the reason.
    frozen = ask(bot, "freeze @db migration", user="U0LEAD")
    assert frozen["response_type"] == "in_channel"
    assert "<@U0LEAD> froze `db-01..db-03` (3) until lifted" in frozen["text"]
    (freeze,) = store.active_freezes(now=datetime.now(UTC))
    assert freeze.devices == ("db-01", "db-02", "db-03") and freeze.reason == "migration"

    refused = ask(bot, "restart nginx on db-01 now")
    assert "`db-01` is frozen by <@U0LEAD>" in refused["text"]
    assert confirm_button(ask(bot, "restart nginx on db-04 now"))["value"]  # not in the group

    # Approved during the freeze: held by the store's claim, not sent.
    assert "Approved" in click(bot, ACTION_APPROVE, request_id, user="U0002")["text"]
    eventually(
        lambda: store.get_request(request_id).operations[0].held_since is not None,
        what="the approved operation held by the group's freeze",
    )
    assert bot.simulator.post_count == 0

    lifted = ask(bot, "unfreeze @db", user="U0LEAD")
    assert "<@U0LEAD> lifted the freeze on `db-01..db-03` (3)" in lifted["text"]
    assert not store.active_freezes(now=datetime.now(UTC))
    (sent,) = eventually(bot.simulator.operations, what="the held operation, once unfrozen")
    assert sent["device_name"] == "db-02"
    again = ask(bot, "unfreeze @db", user="U0LEAD")
    assert "No freeze names `@db`" in again["text"]  # as typed
