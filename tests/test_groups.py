"""Who is in a Slack user group: asked of Slack (the fake, over HTTP), remembered a few minutes,
and never guessed when Slack cannot say."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bot.policy.groups import StaticGroups
from bot.ports import GroupsUnavailable
from bot.slack.groups import GroupMembers
from bot.slack.notifier import web_client
from tests.fakes import BOT_TOKEN, FakeSlack


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def groups(slack: FakeSlack, clock: Clock) -> Iterator[GroupMembers]:
    slack.set_group("S0DBA", ["U1", "W2"])
    slack.set_group("S0NET", ["U3"])
    client = web_client(token=BOT_TOKEN, base_url=slack.api_url, timeout=1)
    yield GroupMembers(client=client, ttl=300, clock=clock)


def asked(slack: FakeSlack) -> list[str]:
    return [call.args["usergroup"] for call in slack.calls_to("usergroups.users.list")]


def test_members_are_asked_once_within_the_ttl_and_again_after(
    slack: FakeSlack, groups: GroupMembers, clock: Clock
) -> None:
    assert groups.members("S0DBA") == {"U1", "W2"}
    slack.set_group("S0DBA", ["U1"])
    clock.now += 299
    assert groups.members("S0DBA") == {"U1", "W2"}  # as Slack said a moment ago
    assert asked(slack) == ["S0DBA"]
    assert slack.calls_to("usergroups.users.list")[0].args["include_disabled"] == "0"

    clock.now += 1
    assert groups.members("S0DBA") == {"U1"}
    assert asked(slack) == ["S0DBA", "S0DBA"]


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        pytest.param({"status": 429, "retry_after": 30}, "Slack asked me to slow down", id="429"),
        pytest.param({"status": 503}, "could not ask Slack", id="5xx"),
        pytest.param({"delay": 2.0}, "could not ask Slack", id="timeout"),
        pytest.param({"error": "missing_scope"}, "needs the usergroups:read scope", id="scope"),
        pytest.param({"error": "invalid_auth"}, "does not accept my token", id="token"),
        pytest.param({"error": "something_new"}, "(it said something_new)", id="other"),
    ],
)
def test_a_failure_raises_a_sentence_and_is_not_remembered(
    slack: FakeSlack, groups: GroupMembers, fault: dict[str, Any], said: str
) -> None:
    slack.fail("usergroups.users.list", **fault)
    with pytest.raises(GroupsUnavailable) as failed:
        groups.members("S0DBA")
    assert failed.value.group_id == "S0DBA"
    assert said in failed.value.reason and "S0DBA" in failed.value.reason
    assert str(failed.value) == failed.value.reason
    # Nothing remembered: the next ask goes to Slack, which answers now.
    assert groups.members("S0DBA") == {"U1", "W2"}


def test_an_unknown_or_disabled_group_is_refused_in_words_and_remembered(
    slack: FakeSlack, groups: GroupMembers, clock: Clock
) -> None:
    slack.set_group("S0OLD", ["U1"], disabled=True)
    for group in ("S0NOPE", "S0OLD"):
        with pytest.raises(GroupsUnavailable, match=f"Slack does not know the user group {group}"):
            groups.members(group)
        with pytest.raises(GroupsUnavailable):
            groups.members(group)  # Slack's definite answer, remembered: not asked again
    assert asked(slack) == ["S0NOPE", "S0OLD"]

    slack.set_group("S0NOPE", ["U9"])  # an admin creates it: seen once the ttl is over
    clock.now += 300
    assert groups.members("S0NOPE") == {"U9"}


def test_users_named_directly_need_no_call(slack: FakeSlack, groups: GroupMembers) -> None:
    assert groups.is_member("U1", ["U1", "S0DBA"])
    assert groups.is_member("W7", ["S0DBA", "W7"])
    assert not groups.is_member("U5", ["U6", "W7"])
    assert asked(slack) == []

    assert groups.is_member("U3", ["U9", "S0NET"])
    assert not groups.is_member("U4", ["S0DBA", "S0NET"])
    assert groups.is_member("W2", ["S0DBA", "S0NET"])
    assert asked(slack) == ["S0NET", "S0DBA"]  # each once


def test_a_group_that_cannot_be_read_refuses_unless_another_says_yes(
    slack: FakeSlack, groups: GroupMembers
) -> None:
    slack.fail("usergroups.users.list", status=503, times=None)
    with pytest.raises(GroupsUnavailable, match="S0DBA"):
        groups.is_member("U3", ["S0DBA", "U8"])
    slack.clear_faults()
    assert groups.is_member("U3", ["S0NET"])  # now remembered
    slack.fail("usergroups.users.list", status=503, times=None)
    assert groups.is_member("U3", ["S0DBA", "S0NET"])  # S0NET says yes: no guess needed
    with pytest.raises(GroupsUnavailable, match="S0DBA"):
        groups.is_member("U4", ["S0DBA", "S0NET"])  # S0NET says no; S0DBA might say yes


def test_threads_asking_at_once_share_one_call(slack: FakeSlack, groups: GroupMembers) -> None:
    slack.fail("usergroups.users.list", delay=0.3, status=200)  # slow, then the real answer
    start = threading.Barrier(8)

    def ask(_: int) -> frozenset[str]:
        start.wait()
        return groups.members("S0DBA")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(8)))
    assert answers == [frozenset({"U1", "W2"})] * 8
    assert asked(slack) == ["S0DBA"]


def test_static_groups_answer_like_slack_without_it() -> None:
    groups = StaticGroups({"S0DBA": ["U1", "W2"], "S0EMPTY": []})
    assert groups.members("S0DBA") == {"U1", "W2"}
    assert groups.is_member("W2", ["S0EMPTY", "S0DBA"])
    assert groups.is_member("U5", ["U5", "S0GONE"])  # named directly: the group is not asked
    assert not groups.is_member("U5", ["S0EMPTY"])
    with pytest.raises(GroupsUnavailable, match="Slack does not know the user group S0GONE"):
        groups.is_member("U5", ["S0GONE"])
