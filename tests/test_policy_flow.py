"""The policy over loopback, end to end: who may ask and where, maintenance windows, freezes
holding work, conflicts, dry runs and the audit trail, all through the fake Slack and the API
simulator. Approvals themselves are tests/test_approvals.py's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import Bot, eventually
from tests.fakes import FakeSlack
from tests.test_flow import confirm_button

pytestmark = pytest.mark.xdist_group("ports")

StartBot = Callable[[str], Bot]
WINDOW_TZ = "Asia/Tokyo"  # no daylight saving: the window's hours are the same all year
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def window_ahead() -> tuple[str, datetime]:
    """A weekly window of one hour starting between one and two hours from now (in
    WINDOW_TZ, so the week's end and midnight are the zone's), and its start in UTC."""
    zone = ZoneInfo(WINDOW_TZ)
    start = (datetime.now(zone) + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=1)
    when = f"{DAYS[start.weekday()]} {start:%H:%M}-{DAYS[end.weekday()]} {end:%H:%M}"
    return when, start.astimezone(UTC)


def requests_count(bot: Bot) -> int:
    return bot.runtime.store.db["requests"].count


def audit(bot: Bot) -> list[dict[str, Any]]:
    return list(bot.runtime.store.audit_rows(since=None))


def public_message(bot: Bot, request_id: str) -> dict[str, Any]:
    """The latest text of a request's public message, as Slack holds it."""
    (root,) = eventually(
        lambda: [
            c
            for c in bot.slack.calls_to("chat.postMessage")
            if c.response.get("ok")
            and (c.args.get("metadata") or {}).get("event_payload") == {"request_id": request_id}
        ],
        what="the request's public message",
    )
    message = bot.slack.message(root.args["channel"], root.response["ts"])
    assert message is not None
    return message


def ask(bot: Bot, typed: str, *, user: str = "U123", channel: str = "C0001") -> dict[str, Any]:
    return bot.wait_response(bot.command(typed, user=user, channel=channel))


def click(bot: Bot, action_id: str, value: str, *, user: str = "U123") -> dict[str, Any]:
    response, key = bot.click(action_id, value, user=user)
    assert response.status_code == 200
    return bot.wait_response(key)


# --- 1. who may ask, and where ----------------------------------------------------------

ACCESS = """
[access]
channels = ["C0001"]
requesters = ["U123", "S0OPS"]
admins = ["S0LEADS"]

[[rules]]
operations = ["reboot"]
devices = ["db-*"]
requesters = ["S0DBA"]

[[rules]]
operations = ["update"]
requesters = ["S0DBA"]
"""


def test_access_refusals_name_who_can_and_store_only_an_audit_line(
    policy_bot: StartBot, slack: FakeSlack
) -> None:
    slack.set_group("S0OPS", ["U456"])
    slack.set_group("S0DBA", ["U456"])
    bot = policy_bot(ACCESS)

    # A group Slack cannot read just now: refused with the reason, never allowed by a guess.
    slack.fail("usergroups.users.list", status=500)
    unreadable = ask(bot, "reboot server-01 now", user="U789")
    assert unreadable["response_type"] == "ephemeral"
    assert "I could not check who may do this, so I did nothing" in unreadable["text"]
    assert "S0OPS" in unreadable["text"]
    assert confirm_button_absent(unreadable)

    # A channel not in [access] channels: the allowed one is named.
    elsewhere = ask(bot, "reboot server-01 now", channel="C123")
    assert elsewhere["response_type"] == "ephemeral"
    assert "not requested in this channel: ask in <#C0001>" in elsewhere["text"]

    # Not among the requesters, directly or through a group.
    stranger = ask(bot, "reboot server-01 now", user="U789")
    assert "You are not among those who may request operations" in stranger["text"]
    assert "<@U123>" in stranger["text"] and "<!subteam^S0OPS>" in stranger["text"]

    # A rule's own requesters.
    not_dba = ask(bot, "reboot db-01 now")
    assert "Only <!subteam^S0DBA> may request this on these devices" in not_dba["text"]

    # Nothing of all that was stored but audit lines, and the API was never called.
    assert requests_count(bot) == 0
    assert bot.simulator.post_count == 0
    refused = [row for row in audit(bot) if row["event"] == "refused"]
    assert [(row["actor"], row["channel"]) for row in refused] == [
        ("U789", "C0001"),
        ("U123", "C123"),
        ("U789", "C0001"),
        ("U123", "C0001"),
    ]
    assert {row["event"] for row in audit(bot)} == {"refused"}

    # Through the group S0OPS, U456 may: the confirmation comes.
    allowed = ask(bot, "reboot server-01 now", user="U456")
    assert confirm_button(allowed)["value"]
    assert requests_count(bot) == 1

    # Help lists only what this person may request; whether they are an admin is a detail
    # of it, not a reason to refuse it when the admins' group cannot be read just now.
    slack.fail("usergroups.users.list", status=500)
    mine = ask(bot, "help")["text"]
    assert "reboot &lt;devices&gt;" in mine and "restart &lt;service&gt;" in mine
    assert "update &lt;devices&gt;" not in mine
    assert "freeze" not in mine
    slack.set_group("S0LEADS", ["U456"])
    dba = ask(bot, "help", user="U456")["text"]
    assert "update &lt;devices&gt;" in dba and "freeze" in dba
    nobody = ask(bot, "help", user="U789")["text"]
    assert "The policy lets you request no operation" in nobody


def confirm_button_absent(message: dict[str, Any]) -> bool:
    return not any(block["type"] == "actions" for block in message.get("blocks") or [])
