"""The policy over loopback, end to end: who may ask and where, maintenance windows, freezes
holding work, conflicts, dry runs and the audit trail, all through the fake Slack and the API
simulator. Approvals themselves are tests/test_approvals.py's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.say.common_blocks import ACTION_APPROVE, ACTION_CONFIRM, ACTION_MOVE_TO_WINDOW
from tests.conftest import Bot, eventually, is_root_post
from tests.fakes import FakeSlack
from tests.test_flow import all_text, confirm_button, request_and_confirm, thread_replies
from tests.test_metadata import posted_types

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
        lambda: [c for c in bot.slack.calls_to("chat.postMessage") if is_root_post(c, request_id)],
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


# --- 2. maintenance windows -------------------------------------------------------------


def windows_policy(when: str) -> str:
    return "\n".join(
        f'[[windows]]\ndevices = ["{devices}"]\nwhen = "{when}"\ntz = "{WINDOW_TZ}"\n'
        f'outside = "{outside}"\n'
        for devices, outside in (
            ("workstation-*", "warn"),
            ("server-*", "approve"),
            ("db-*", "block"),
        )
    )


def test_windows_warn_moves_into_the_window_approve_asks_block_refuses(
    policy_bot: StartBot, slack: FakeSlack
) -> None:
    when, start = window_ahead()
    bot = policy_bot(windows_policy(when))
    la = ZoneInfo("America/Los_Angeles")
    slack.set_user("U123", tz="America/Los_Angeles")
    window_clock = start.astimezone(ZoneInfo(WINDOW_TZ)).strftime("%H:%M")
    my_clock = start.astimezone(la).strftime("%H:%M")

    # warn: the warning, and a button that moves it into the next window (both zones named).
    warned = ask(bot, "reboot workstation-01 now")
    shown = all_text(warned)
    assert "outside its maintenance window" in shown
    assert "the policy allows it, with this warning" in shown
    buttons = next(b for b in warned["blocks"] if b["type"] == "actions")["elements"]
    move = next(e for e in buttons if e["action_id"] == ACTION_MOVE_TO_WINDOW)
    label = move["text"]["text"]
    assert f"{window_clock} {WINDOW_TZ}" in label
    assert f"({my_clock} yours)" in label

    asked = len(bot.simulator.requests)
    moved = click(bot, ACTION_MOVE_TO_WINDOW, move["value"])
    assert moved["replace_original"] is True
    # The click never waits on the API: the moved time's conflicts were looked for already.
    assert len(bot.simulator.requests) == asked
    moved_text = all_text(moved)
    assert "in its maintenance window" in moved_text
    assert "outside its maintenance window" not in moved_text
    assert "Moved into the maintenance window." in moved_text
    assert not any(
        e["action_id"] == ACTION_MOVE_TO_WINDOW
        for b in moved["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    )
    confirmed = click(bot, ACTION_CONFIRM, confirm_button(moved)["value"])
    assert "Confirmed" in confirmed["text"]
    (op,) = eventually(bot.simulator.operations, what="the moved operation at the API")
    assert op["device_name"] == "workstation-01"
    assert op["scheduled_at"] == start.strftime("%Y-%m-%dT%H:%M:%SZ")

    # approve: outside its window it needs approval; confirmed, it waits for it, unsent.
    needs = ask(bot, "reboot server-01 in 10 minutes")
    assert "so it needs approval" in all_text(needs)
    assert "needs an approval from" in all_text(needs)
    request_id = confirm_button(needs)["value"]
    assert "Confirmed" in click(bot, ACTION_CONFIRM, request_id)["text"]
    public = public_message(bot, request_id)
    assert "Waiting for approval" in all_text(public)
    assert bot.runtime.store.get_request(request_id).state == "approving"

    # block: refused, naming the next window in its zone and in the requester's.
    blocked = ask(bot, "reboot db-01 in 10 minutes")
    assert "db-01 may only be worked on in its maintenance window" in blocked["text"]
    assert f"{window_clock} ({WINDOW_TZ})" in blocked["text"]
    assert f"{my_clock} your time (America/Los_Angeles)" in blocked["text"]
    assert confirm_button_absent(blocked)
    assert [o["device_name"] for o in bot.simulator.operations()] == ["workstation-01"]


# --- 3. freezes -------------------------------------------------------------------------

FREEZES = """
[access]
admins = ["S0LEADS"]

[[rules]]
operations = ["reboot"]
devices = ["server-02"]
approval = "peer"
"""


def test_a_freeze_refuses_new_work_holds_approved_work_and_releases_it_when_lifted(
    policy_bot: StartBot, slack: FakeSlack
) -> None:
    slack.set_group("S0LEADS", ["U789"])
    bot = policy_bot(FREEZES)
    # Already at the API, scheduled in 30 minutes: a freeze cannot stop it, it lists it.
    request_and_confirm(bot, "reboot server-01 in 30 minutes")
    (at_api,) = bot.simulator.operations()
    # Waiting for approval when the freeze comes: not sent yet.
    waiting = ask(bot, "reboot server-02 in 20 minutes")
    request_id = confirm_button(waiting)["value"]
    assert "Confirmed" in click(bot, ACTION_CONFIRM, request_id)["text"]
    asking = public_message(bot, request_id)["metadata"]["event_payload"]
    assert asking["state"] == "approving"
    assert {k: asking["approvals"][k] for k in ("needed", "given")} == {"needed": 1, "given": 0}

    refused = ask(bot, "freeze server-* for 1h release night", user="U123")
    assert refused["response_type"] == "ephemeral"
    assert "Only <!subteam^S0LEADS> may freeze or unfreeze" in refused["text"]
    assert "metadata" not in refused  # only its asker sees it

    frozen = ask(bot, "freeze server-* for 1h release night", user="U789")
    assert frozen["response_type"] == "in_channel"  # the channel is told, not only the admin
    assert "<@U789> froze `server-*`" in frozen["text"]
    assert "release night" in frozen["text"]
    assert at_api["id"] in frozen["text"]
    assert "The API already holds 1 unfinished operation" in frozen["text"]
    assert frozen["metadata"]["event_type"] == "opsbot_freeze_started"
    told = frozen["metadata"]["event_payload"]
    assert (told["frozen_by"], told["reason"], told["already_at_api"]) == (
        "U789",
        "release night",
        1,
    )
    assert told["devices"] == [{"device": "server-*"}] and told["every_device"] is False

    new = ask(bot, "reboot server-01 now")
    assert "`server-01` is frozen by <@U789>" in new["text"] and "release night" in new["text"]
    assert confirm_button_absent(new)

    # Approved during the freeze: held, said in its thread, not sent.
    assert "Approved" in click(bot, ACTION_APPROVE, request_id, user="U456")["text"]
    root_ts = bot.runtime.store.get_request(request_id).status_ts
    eventually(
        lambda: any("is frozen (release night)" in r for r in thread_replies(bot, root_ts)),
        what="the held line in the thread",
    )
    (op,) = bot.runtime.store.get_request(request_id).operations
    assert op.held_since is not None and op.api_id is None
    assert bot.simulator.post_count == 1

    not_admin = ask(bot, "unfreeze server-*", user="U456")
    assert "Only <!subteam^S0LEADS> may freeze or unfreeze" in not_admin["text"]
    assert bot.runtime.store.active_freezes(now=datetime.now(UTC))

    lifted = ask(bot, "unfreeze server-*", user="U789")
    assert lifted["response_type"] == "in_channel"
    assert "<@U789> lifted the freeze on `server-*`" in lifted["text"]
    ended = lifted["metadata"]
    assert ended["event_type"] == "opsbot_freeze_ended"
    assert ended["event_payload"]["freezes"][0]["freeze_id"] == told["freeze_id"]
    eventually(lambda: bot.simulator.post_count == 2, what="the held operation to go")
    assert [o["device_name"] for o in bot.simulator.operations()] == ["server-01", "server-02"]
    eventually(
        lambda: any("freeze on" in r and "has ended" in r for r in thread_replies(bot, root_ts)),
        what="the released line in the thread",
    )
    events = [row["event"] for row in audit(bot)]
    assert events.count("frozen") == 1 and events.count("unfrozen") == 1
    assert "held" in events
    # The thread's lines, as other apps read them: approved, held by the freeze, released.
    lines = [(t, p["event"], p.get("detail", {})) for t, p in posted_types(bot, root_ts)]
    assert lines[0] == (
        "opsbot_request_approved",
        "approved",
        {"by": "U456", "count": 1, "needed": 1},
    )
    assert ("opsbot_operation_updated", "held") in [(t, e) for t, e, _ in lines]
    assert ("opsbot_operation_updated", "released") in [(t, e) for t, e, _ in lines]


# --- 4 and 5. conflicts, and dry runs --------------------------------------------------


def test_conflicts_show_operations_within_an_hour_and_a_dry_run_stores_nothing(
    policy_bot: StartBot,
) -> None:
    when, _ = window_ahead()
    bot = policy_bot(
        '[[rules]]\noperations = ["reboot"]\ndevices = ["server-01"]\napproval = "peer"\n\n'
        f'[[windows]]\ndevices = ["server-*"]\nwhen = "{when}"\ntz = "{WINDOW_TZ}"\n'
    )
    request_and_confirm(bot, "restart nginx on server-03 in 30 minutes")
    request_and_confirm(bot, "restart nginx on server-01 in 30 minutes")
    first, second = (o["id"] for o in bot.simulator.operations())

    near = all_text(ask(bot, "reboot server-03 in 40 minutes"))
    assert "Conflicts" in near and first in near and second not in near
    far = all_text(ask(bot, "reboot server-03 in 3 hours"))
    assert "Conflicts" not in far and first not in far

    requests_before, posts_before = requests_count(bot), bot.simulator.post_count
    plan = ask(bot, "plan reboot server-01 in 20 minutes")
    shown = all_text(plan)
    assert "needs an approval from" in shown
    assert "outside its maintenance window" in shown
    assert "Conflicts" in shown and second in shown
    assert "Dry run: nothing was recorded or sent" in shown
    assert confirm_button_absent(plan)
    assert requests_count(bot) == requests_before
    assert bot.simulator.post_count == posts_before

    listed = ask(bot, "plan list")
    assert "`plan` shows what an operation would do" in listed["text"]
    assert confirm_button_absent(listed)


# --- 6. the audit trail of one flow ----------------------------------------------------


def test_a_confirmed_reboot_leaves_its_lines_in_the_audit_trail(policy_bot: StartBot) -> None:
    bot = policy_bot('[access]\nchannels = ["C0001"]\n')
    bot.simulator.run_seconds = 0.2
    shown = ask(bot, "reboot server-05 now")
    request_id = confirm_button(shown)["value"]
    assert "Confirmed" in click(bot, ACTION_CONFIRM, request_id)["text"]
    eventually(
        lambda: any(
            row["event"] == "api_status" and row["request_id"] == request_id for row in audit(bot)
        ),
        what="the final status in the audit trail",
    )
    mine = [row for row in audit(bot) if row["request_id"] == request_id]
    events = [row["event"] for row in mine]
    assert events == ["requested", "confirmed", "api_created", "api_status"]
    assert {row["actor"] for row in mine[:2]} == {"U123"}
    (op,) = bot.simulator.operations()
    assert mine[2]["api_id"] == op["id"]

    ask(bot, "reboot server-05 now", channel="C123")
    last = audit(bot)[-1]
    assert (last["event"], last["actor"], last["channel"]) == ("refused", "U123", "C123")
    assert "<#C0001>" in last["detail"]["reason"]
    assert last["request_id"] is None
