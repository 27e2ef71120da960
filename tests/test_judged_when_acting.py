"""Policy is judged at the moment the bot acts, by the file and the clock in force then, never
by a verdict remembered from when the request was typed: end to end over the real Bolt app,
the fake Slack and the API simulator, with the bot's clock moved by the test.

- a window is asked for the moment an operation runs (approved, or released by a freeze, late);
- held time (a freeze, an approval) never counts as lateness;
- a stricter file after a restart re-judges every click and every send;
- a request nobody clicks expires in the store, audited then; every refused click is audited.
"""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.console.chat import ConsoleChat, ConsoleNotifier
from bot.console.terminal import Terminal
from bot.model import OperationSpec, format_api_time
from bot.policy.config import read_config
from bot.policy.desk import PolicyDesk
from bot.policy.gate import SendGate
from bot.policy.groups import StaticGroups
from bot.policy.rules import Policy
from bot.run.runtime import Runtime
from bot.zequenze.api import Found
from bot.zequenze.simulator.endpoint import Simulator
from store import OperationRecord, Store
from tests.conftest import Bot, eventually, is_root_post
from tests.fakes import FakeSlack
from tests.test_flow import all_text, confirm_button, thread_replies

pytestmark = pytest.mark.xdist_group("ports")

REQUESTER, APPROVER, OTHER_APPROVER, BYSTANDER = "U0001", "U0002", "U0003", "U0004"
CHANNEL = "C123"  # the channel tests/fakes/signing.py sends commands from
# A Thursday, 03:50 UTC: ten minutes before a nightly window 02:00-04:00 closes.
EARLY = datetime(2026, 12, 10, 3, 50, tzinfo=UTC)


class Clock:
    """The bot's clock: set by the test, and running on from there as real time does."""

    def __init__(self, at: datetime) -> None:
        self.set(at)

    def set(self, at: datetime) -> None:
        self._at, self._since = at, time.monotonic()

    def __call__(self) -> datetime:
        return (self._at + timedelta(seconds=time.monotonic() - self._since)).replace(microsecond=0)


@pytest.fixture
def clock() -> Clock:
    return Clock(EARLY)


@pytest.fixture
def run(policy_bot: Any, clock: Clock) -> Any:
    """The bot with a policy file's text, on the test's clock; called again, a restart."""
    return lambda config: policy_bot(config, clock=clock)


def ask(bot: Bot, typed: str, *, user: str = REQUESTER) -> str:
    """The request's id, from the confirmation shown to `user`."""
    return str(confirm_button(bot.wait_response(bot.command(typed, user=user)))["value"])


def click(bot: Bot, action_id: str, value: str, *, user: str) -> str:
    response, key = bot.click(action_id, value, user=user)
    assert response.status_code == 200
    return str(bot.wait_response(key)["text"])


def confirm(bot: Bot, request_id: str) -> str:
    """Confirm as the requester; the ts of the request's public message."""
    assert "Confirmed" in click(bot, "ops_confirm", request_id, user=REQUESTER)
    (root,) = eventually(
        lambda: [c for c in bot.slack.calls_to("chat.postMessage") if is_root_post(c, request_id)],
        what="the request's public message",
    )
    return str(root.response["ts"])


def thread_has(bot: Bot, root: str, words: str) -> dict[str, Any]:
    """The thread reply (as Slack holds it) that says `words`, once it is there."""
    found = eventually(
        lambda: [
            c.args
            for c in bot.slack.calls_to("chat.postMessage")
            if c.args.get("thread_ts") == root
            and c.response.get("ok")
            and words in all_text(c.args)
        ],
        what=f"a thread reply saying {words!r}",
    )
    return found[0]


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        e["action_id"]: e
        for b in message.get("blocks") or []
        if b["type"] == "actions"
        for e in b["elements"]
    }


def audit(bot: Bot, event: str) -> list[dict[str, Any]]:
    return [r for r in bot.runtime.store.audit_rows(since=None) if r["event"] == event]


def posted(bot: Bot) -> list[dict[str, Any]]:
    return bot.simulator.operations()


def state_of(bot: Bot, request_id: str) -> list[str]:
    request = bot.runtime.store.get_request(request_id)
    assert request is not None
    return [op.state for op in request.operations]


# ------------------------------------------------- a window, asked for the moment it runs

# A nightly window for server-*, and what it says of a time outside it.
WINDOW = """
[[windows]]
devices = ["server-*"]
when = "daily 02:00-04:00"
outside = "{outside}"
"""
# U0002's approval for any operation on server-*.
RULE = """
[[rules]]
devices = ["server-*"]
approval = "peer"
approvers = ["U0002"]
expires = "7d"
"""
BLOCKED_AFTER_APPROVAL = RULE + WINDOW.format(outside="block")


def test_approved_after_its_window_closed_it_is_kept_and_moved_into_the_next(
    run: Any, clock: Clock
) -> None:
    # reboot server-01 at 03:58, inside the window, confirmed at 03:50; approved at 04:05.
    bot = run(BLOCKED_AFTER_APPROVAL)
    request_id = ask(bot, "reboot server-01 at 03:58 UTC")
    root = confirm(bot, request_id)
    clock.set(EARLY + timedelta(minutes=15))
    assert "Approved" in click(bot, "ops_approve", request_id, user=APPROVER)

    # Sent now it would run at 04:05, outside: it is not sent, and the thread says why.
    question = thread_has(bot, root, "outside the maintenance window")
    said = all_text(question)
    assert "would now run at" in said and "daily 02:00-04:00, UTC" in said
    assert "The next window starts" in said
    offered = buttons(question)
    assert set(offered) == {"ops_move_outside", "ops_drop_outside"}
    assert offered["ops_move_outside"]["text"]["text"].startswith("Move to Fri 11 Dec 02:00")
    assert state_of(bot, request_id) == ["outside"]
    assert posted(bot) == []

    # Someone it is not for: refused, and audited like any refused click.
    refused = click(bot, "ops_move_outside", request_id, user=BYSTANDER)
    assert "Only <@U0001> or <@U0002> may move or drop" in refused
    assert [r["detail"]["action"] for r in audit(bot, "click_refused")] == ["move_outside"]

    # The requester moves it: it goes for the next window's start, and runs then.
    assert "Moved into the maintenance window" in click(
        bot, "ops_move_outside", request_id, user=REQUESTER
    )
    (sent,) = eventually(lambda: posted(bot), what="the moved operation to reach the API")
    assert sent["scheduled_at"] == "2026-12-11T02:00:00Z"
    thread_has(bot, root, "moved its operation waiting outside the window")
    # Its button again, after the answer: nothing waits outside any more.
    assert "Nothing of this request waits outside" in click(
        bot, "ops_move_outside", request_id, user=REQUESTER
    )
    assert len(posted(bot)) == 1


def test_kept_outside_its_window_a_drop_sends_nothing(run: Any, clock: Clock) -> None:
    bot = run(BLOCKED_AFTER_APPROVAL)
    request_id = ask(bot, "reboot server-01 at 03:58 UTC")
    root = confirm(bot, request_id)
    clock.set(EARLY + timedelta(minutes=15))
    click(bot, "ops_approve", request_id, user=APPROVER)
    thread_has(bot, root, "outside the maintenance window")

    # The approver may answer too (they may approve it), and drops it.
    assert "Dropped" in click(bot, "ops_drop_outside", request_id, user=APPROVER)
    thread_has(bot, root, "dropped its operation waiting outside the window: never sent")
    assert state_of(bot, request_id) == ["rejected"]  # final: the sender never reads it
    assert posted(bot) == []


def test_kept_outside_and_unanswered_for_a_day_it_ends_unsent(run: Any, clock: Clock) -> None:
    bot = run(BLOCKED_AFTER_APPROVAL)
    request_id = ask(bot, "reboot server-01 at 03:58 UTC")
    root = confirm(bot, request_id)
    clock.set(EARLY + timedelta(minutes=15))
    click(bot, "ops_approve", request_id, user=APPROVER)
    thread_has(bot, root, "outside the maintenance window")

    clock.set(EARLY + timedelta(days=1, minutes=16))
    thread_has(bot, root, "Nobody moved or dropped its operation waiting outside the window")
    assert state_of(bot, request_id) == ["rejected"]
    (line,) = audit(bot, "dropped")
    assert (line["actor"], line["detail"]["unanswered"]) == ("opsbot", True)
    assert "Nothing of this request waits outside" in click(
        bot, "ops_move_outside", request_id, user=REQUESTER
    )
    assert posted(bot) == []


# A freeze holds a confirmed operation past its window's end: released at 04:02, it runs
# then. The window's word for that moment decides, not the time asked.


def held_past_the_window(bot: Bot, clock: Clock) -> tuple[str, str]:
    """`reboot server-01 at 03:58` confirmed while a freeze holds server-01 until 04:02; the
    request's id and public message. The freeze has ended by the time this returns."""
    request_id = ask(bot, "reboot server-01 at 03:58 UTC")
    freeze = bot.runtime.store.add_freeze(
        devices=("server-01",),
        reason="rack move",
        by="U0ADMIN",
        channel=CHANNEL,
        now=clock(),
        until=EARLY + timedelta(minutes=12),
    )
    assert freeze.id
    root = confirm(bot, request_id)
    eventually(
        lambda: bot.runtime.store.get_request(request_id).operations[0].held_since,  # type: ignore[union-attr]
        what="the operation held by the freeze",
    )
    assert posted(bot) == []
    clock.set(EARLY + timedelta(minutes=13))
    return request_id, root


def test_an_approve_window_closed_by_then_needs_its_approval_then(run: Any, clock: Clock) -> None:
    bot = run(WINDOW.format(outside="approve"))
    request_id, root = held_past_the_window(bot, clock)

    thread_has(bot, root, "where the policy asks for an approval")
    eventually(
        lambda: bot.runtime.store.get_request(request_id).state == "approving",  # type: ignore[union-attr]
        what="the request waiting for an approval",
    )
    assert posted(bot) == []
    public = eventually(
        lambda: (
            "ops_approve" in buttons(bot.slack.message(CHANNEL, root) or {})
            and bot.slack.message(CHANNEL, root)
        ),
        what="Approve and Reject back on the public message",
    )
    assert "ops_reject" in buttons(public)

    assert "someone else must approve" in click(bot, "ops_approve", request_id, user=REQUESTER)
    assert "Approved" in click(bot, "ops_approve", request_id, user=APPROVER)
    (sent,) = eventually(lambda: posted(bot), what="the operation sent once approved")
    # Never late for the time it waited: for the moment it was approved.
    assert sent["scheduled_at"] > "2026-12-10T04:02:00Z"


RULE_AND_APPROVE_WINDOW = RULE + WINDOW.format(outside="approve")


def test_an_approval_given_inside_the_window_does_not_cover_a_run_outside_it(
    run: Any, clock: Clock
) -> None:
    # Approved at 03:52 for 03:58, inside: the approver saw a run inside the window. Held by
    # a freeze until 04:12, it would run outside: it needs an approval then, for that time.
    bot = run(RULE_AND_APPROVE_WINDOW)
    request_id = ask(bot, "reboot server-01 at 03:58 UTC")
    root = confirm(bot, request_id)
    bot.runtime.store.add_freeze(
        devices=("server-01",),
        reason="rack move",
        by="U0ADMIN",
        channel=CHANNEL,
        now=clock(),
        until=EARLY + timedelta(minutes=22),
    )
    assert "Approved" in click(bot, "ops_approve", request_id, user=APPROVER)
    thread_has(bot, root, "is frozen (rack move)")
    clock.set(EARLY + timedelta(minutes=23))

    thread_has(bot, root, "where the policy asks for an approval")
    assert posted(bot) == []
    # The approval given for 03:58 does not count for 04:12: the approver gives it again.
    assert "Approved" in click(bot, "ops_approve", request_id, user=APPROVER)
    (sent,) = eventually(lambda: posted(bot), what="the operation sent once approved again")
    assert sent["scheduled_at"] >= "2026-12-10T04:12:00Z"


def test_a_warn_window_closed_by_then_is_said_in_the_thread(run: Any, clock: Clock) -> None:
    bot = run(WINDOW.format(outside="warn"))
    request_id, root = held_past_the_window(bot, clock)

    (sent,) = eventually(lambda: posted(bot), what="the operation sent when the freeze ended")
    # Held by the freeze from 03:58 to 04:02: it goes for the freeze's end, not late.
    assert sent["scheduled_at"] == "2026-12-10T04:02:00Z"
    warned = thread_has(bot, root, "outside its maintenance window")
    assert "sent all the same, as the policy only warns there" in all_text(warned)
    assert state_of(bot, request_id) == ["submitted"]


# -------------------------------------------------------- held time is never lateness


def test_work_held_by_a_long_freeze_goes_when_it_ends(run: Any, clock: Clock) -> None:
    # Approved during a three-hour freeze: it waits, and goes when the freeze ends, not
    # refused as "could not be sent in time" (the bot refuses that past 10 minutes late).
    bot = run(RULE)
    request_id = ask(bot, "reboot server-01 now")
    root = confirm(bot, request_id)
    freeze = bot.runtime.store.add_freeze(
        devices=None, reason="release", by="U0ADMIN", channel=CHANNEL, now=clock(), until=None
    )
    click(bot, "ops_approve", request_id, user=APPROVER)
    thread_has(bot, root, "is frozen (release)")
    clock.set(EARLY + timedelta(hours=3))
    assert posted(bot) == []
    bot.runtime.store.lift_freezes([freeze.id], by="U0ADMIN", now=clock())

    (sent,) = eventually(lambda: posted(bot), what="the held operation sent after the freeze")
    assert sent["scheduled_at"] >= "2026-12-10T06:50:00Z"
    thread_has(bot, root, "has ended: sending its operation now")
    replies = " ".join(thread_replies(bot, root))
    assert "could not be sent within" not in replies


def test_a_freeze_that_ended_while_the_bot_was_down_still_counts_as_late(
    run: Any, clock: Clock
) -> None:
    # Held by a freeze that ran out at 03:55; the bot was down from 03:51 until 06:50. Its
    # wait for the freeze is not lateness, the bot's downtime is: not sent at a surprise hour.
    bot = run("")
    request_id = ask(bot, "reboot server-01 now")
    bot.runtime.store.add_freeze(
        devices=("server-01",),
        reason="rack move",
        by="U0ADMIN",
        channel=CHANNEL,
        now=clock(),
        until=EARLY + timedelta(minutes=5),
    )
    root = confirm(bot, request_id)
    thread_has(bot, root, "is frozen (rack move)")
    clock.set(EARLY + timedelta(hours=3))
    bot = run("")  # back three hours later

    line = thread_has(bot, root, "could not be sent within 10 min of its time")
    assert "running it now would surprise you" in all_text(line)
    assert state_of(bot, request_id) == ["rejected"]
    assert posted(bot) == []


# -------------------------------------------------- a stricter file after a restart

BEFORE = """
[[rules]]
devices = ["server-*"]
approval = "peer"
approvers = ["U0002", "U0003"]
"""
# The same rule, now asking for two approvals, from one approver fewer and one more.
AFTER = """
[[rules]]
devices = ["server-*"]
approval = "peer"
approvers = ["U0003", "U0004"]
approvals = 2
"""


def test_after_a_restart_with_a_stricter_file_the_clicks_follow_it(run: Any) -> None:
    bot = run(BEFORE)
    request_id = ask(bot, "reboot server-01 now")
    root = confirm(bot, request_id)

    bot = run(AFTER)
    # U0002 was an approver: the file in force no longer names them.
    refused = click(bot, "ops_approve", request_id, user=APPROVER)
    assert "Only <@U0003> or <@U0004> may approve or reject" in refused
    # A refused click changes nothing: the new verdict is kept by a click that is allowed.
    assert audit(bot, "rejudged") == []

    # One of two is not enough any more; the second sends it, once.
    assert "counted (1 of 2)" in click(bot, "ops_approve", request_id, user=OTHER_APPROVER)
    said = all_text(thread_has(bot, root, "under the one in force it needs 2 approvals"))
    assert "and has none that count" in said
    (line,) = audit(bot, "rejudged")
    assert (line["detail"]["needed"], line["detail"]["count"]) == (2, 0)
    assert posted(bot) == []
    assert "Approved" in click(bot, "ops_approve", request_id, user=BYSTANDER)
    eventually(lambda: len(posted(bot)) == 1, what="the request sent on its second approval")


def test_a_confirmed_request_not_yet_sent_is_judged_again_before_it_goes(
    run: Any, clock: Clock
) -> None:
    # Confirmed under an open policy, held by a freeze; the bot restarts with a file that
    # asks for an approval. When the freeze ends, it is not sent on the old verdict.
    bot = run("")
    request_id = ask(bot, "reboot server-01 now")
    freeze = bot.runtime.store.add_freeze(
        devices=("server-*",),
        reason="upgrade",
        by="U0ADMIN",
        channel=CHANNEL,
        now=clock(),
        until=None,
    )
    root = confirm(bot, request_id)
    thread_has(bot, root, "is frozen (upgrade)")

    bot = run(RULE)
    bot.runtime.store.lift_freezes([freeze.id], by="U0ADMIN", now=clock())
    thread_has(bot, root, "under the one in force it needs an approval")
    assert bot.runtime.store.get_request(request_id).state == "approving"  # type: ignore[union-attr]
    assert posted(bot) == []
    assert "Approved" in click(bot, "ops_approve", request_id, user=APPROVER)
    eventually(lambda: len(posted(bot)) == 1, what="the request sent once approved")


def test_after_a_restart_with_a_file_that_asks_no_approval_only_an_approve_sends(
    run: Any,
) -> None:
    # Waiting for approval; the new file asks none. A withdraw must not send it on the way
    # (judging it again before the click is read); an Approve may, as it needs no more.
    bot = run(BEFORE)
    withdrawn = ask(bot, "reboot server-01 now")
    confirm(bot, withdrawn)
    approved = ask(bot, "reboot server-02 now")
    confirm(bot, approved)

    bot = run("")
    assert "Withdrawn" in click(bot, "ops_reject", withdrawn, user=REQUESTER)
    assert state_of(bot, withdrawn) == ["rejected"]
    answer = click(bot, "ops_approve", approved, user=BYSTANDER)
    assert "asks for no more approvals of this request, so it goes" in answer
    (sent,) = eventually(lambda: posted(bot), what="the approved request sent")
    assert sent["device_name"] == "server-02"
    assert state_of(bot, withdrawn) == ["rejected"]


NOT_FOR_YOU = """
[access]
requesters = ["U0009"]
"""


def test_a_request_the_file_in_force_refuses_sends_nothing_more(run: Any, clock: Clock) -> None:
    bot = run(BEFORE)
    request_id = ask(bot, "reboot server-01 now")
    root = confirm(bot, request_id)

    bot = run(NOT_FOR_YOU)
    answer = click(bot, "ops_approve", request_id, user=APPROVER)
    assert "no longer allows this request" in answer
    assert "You are not among those who may request operations" in answer
    thread_has(bot, root, "no longer allows this request")
    request = bot.runtime.store.get_request(request_id)
    assert request is not None and request.state == "rejected"
    assert [op.state for op in request.operations] == ["rejected"]
    assert len(audit(bot, "policy_refused")) == 1
    assert posted(bot) == []


GROUP_APPROVERS = """
[access]
requesters = ["S0OPS"]

[[rules]]
devices = ["server-*"]
approval = "peer"
approvers = ["S0DBA"]
"""


def test_a_click_the_file_in_force_cannot_judge_changes_nothing(run: Any, slack: FakeSlack) -> None:
    # The new file says who may request by a user group; Slack cannot say who is in it just
    # now: the click is refused with the reason, audited, and nothing is decided on a guess.
    bot = run(BEFORE)
    request_id = ask(bot, "reboot server-01 now")
    confirm(bot, request_id)
    slack.set_group("S0OPS", [REQUESTER])
    slack.set_group("S0DBA", [BYSTANDER])
    bot = run(GROUP_APPROVERS)
    slack.fail("usergroups.users.list", status=500, times=None)
    answer = click(bot, "ops_approve", request_id, user=APPROVER)
    assert "I could not check what the policy in force says of this request" in answer
    request = bot.runtime.store.get_request(request_id)
    assert request is not None and request.approver_sets == (("U0002", "U0003"),)
    (line,) = audit(bot, "click_refused")
    assert line["detail"] == {"action": "approve", "reason": "groups_unavailable_click"}

    slack.clear_faults()
    assert "Only <!subteam^S0DBA> may approve" in click(
        bot, "ops_approve", request_id, user=APPROVER
    )
    assert "Approved" in click(bot, "ops_approve", request_id, user=BYSTANDER)
    eventually(lambda: len(posted(bot)) == 1, what="the request sent once approved")


# ---------------------------------------------- expiry, and refused clicks, audited


def test_a_request_nobody_clicks_expires_in_the_store_with_its_audit_line(
    run: Any, clock: Clock
) -> None:
    bot = run("")
    request_id = ask(bot, "reboot server-01 now")
    assert audit(bot, "expired") == []
    clock.set(EARLY + timedelta(minutes=16))
    eventually(
        lambda: bot.runtime.store.get_request(request_id).state == "expired",  # type: ignore[union-attr]
        what="the request to expire without a click",
    )
    (line,) = audit(bot, "expired")
    assert (line["actor"], line["request_id"]) == ("opsbot", request_id)
    metrics = bot.runtime.metrics.exposition().decode()
    assert 'opsbot_requests_total{outcome="expired"} 1.0' in metrics
    # A click afterwards changes nothing and writes no second line.
    assert "expired" in click(bot, "ops_confirm", request_id, user=REQUESTER)
    assert len(audit(bot, "expired")) == 1
    assert posted(bot) == []


# ------------------------------------------------------ where the mechanisms meet: waves


def test_a_later_wave_released_after_its_window_closed_is_kept_not_sent(tmp_path: Path) -> None:
    """Wave 1 goes inside the window; it ends after the window closed, and wave 2, released
    then, would run then: kept for a Move or a Drop, the halt and the question one each."""
    store = Store(path=tmp_path / "opsbot.db")
    try:
        clock = Clock(EARLY)
        policy = Policy(
            config=read_config(WINDOW.format(outside="block"), source="opsbot.toml"),
            members=StaticGroups({}),
        )
        desk = PolicyDesk(store=store, policy=policy, look=NoLook(), clock=clock)
        gate = SendGate(store=store, policy=policy, desk=desk, clock=clock)
        at = EARLY + timedelta(minutes=8)
        request = store.create_request(
            specs=[
                OperationSpec(device_name=f"server-0{n}", operation_type="reboot", scheduled_at=at)
                for n in (1, 2)
            ],
            requester=REQUESTER,
            surface="command",
            text="reboot server-01..02 1 at a time at 03:58",
            tz="UTC",
            immediate=False,
            notes=[],
            channel=CHANNEL,
            thread_ts=None,
            response_url=None,
            now=clock(),
            expires_at=clock() + timedelta(minutes=15),
            policy={"fingerprint": policy.config.fingerprint},
            wave_size=1,
        )
        assert store.confirm(request.id, user=REQUESTER, now=clock(), run_at=None)
        first = [op for op in store.operations_in_state("new")]
        assert [op.device_name for op in gate.admit(first)] == ["server-01"]
        assert store.start_sending(first[0].id, now=clock())
        store.record_submitted(
            first[0].id,
            api_id="txn_1",
            status="scheduled",
            estimated_duration=60,
            now=clock(),
            announce=first[0].announce("submitted"),
        )
        clock.set(EARLY + timedelta(minutes=15))  # 04:05: wave 1 ends after the window
        store.record_status(
            first[0].id,
            old="scheduled",
            new="completed",
            now=clock(),
            announce=first[0].announce("status", new="completed"),
        )
        second = store.operations_in_state("new")
        assert [op.device_name for op in second] == ["server-02"]
        assert gate.admit(second) == []
        (kept,) = store.operations_in_state("outside")
        assert kept.device_name == "server-02"
        assert [e.kind for e in store.pending_outbox()].count("ask_outside") == 1
        # Not final: the request is not summed up, and nothing more is released.
        assert store.get_request(request.id).wave == 2  # type: ignore[union-attr]
        assert "finished" not in [e.kind for e in store.pending_outbox()]
    finally:
        store.close()


def sent_again_outside(store: Store, clock: Clock) -> tuple[SendGate, PolicyDesk, int]:
    """`reboot server-01 at 03:58`, its create call's outcome unknown at 03:50; sent again
    by its requester at 04:05, when it would run outside its window: kept outside."""
    policy = Policy(
        config=read_config(WINDOW.format(outside="block"), source="opsbot.toml"),
        members=StaticGroups({}),
    )
    desk = PolicyDesk(store=store, policy=policy, look=NoLook(), clock=clock)
    gate = SendGate(store=store, policy=policy, desk=desk, clock=clock)
    op = confirmed(store, policy, at=EARLY + timedelta(minutes=8), clock=clock)
    unknown(store, op, clock)
    clock.set(EARLY + timedelta(minutes=15))
    assert store.send_again(
        op.id,
        user=REQUESTER,
        now=clock(),
        run_at=None,
        watch_until=clock() + timedelta(hours=1),
        announce=op.announce("sending_again", by=REQUESTER),
    )
    assert gate.admit(store.operations_in_state("new")) == []
    return gate, desk, op.id


def confirmed(store: Store, policy: Policy, *, at: datetime, clock: Clock) -> OperationRecord:
    request = store.create_request(
        specs=[OperationSpec(device_name="server-01", operation_type="reboot", scheduled_at=at)],
        requester=REQUESTER,
        surface="command",
        text="reboot server-01",
        tz="UTC",
        immediate=False,
        notes=[],
        channel=CHANNEL,
        thread_ts=None,
        response_url=None,
        now=clock(),
        expires_at=clock() + timedelta(minutes=15),
        policy={"fingerprint": policy.config.fingerprint},
    )
    assert store.confirm(request.id, user=REQUESTER, now=clock(), run_at=None)
    (op,) = store.get_request(request.id).operations  # type: ignore[union-attr]
    return op


def unknown(store: Store, op: OperationRecord, clock: Clock) -> None:
    """Its create call went, and its outcome is unknown (a timeout)."""
    assert store.start_sending(op.id, now=clock())
    assert store.record_unsent(
        op.id,
        state="unknown",
        error="timed out",
        now=clock(),
        announce=op.announce("unsent", error="timed out", unknown=True),
        answer={"http_status": None},
    )


def test_sent_again_and_kept_outside_its_first_attempt_is_still_looked_for(
    tmp_path: Path,
) -> None:
    """Kept outside for hours after a Send again, its first attempt may still appear in the
    API's list: it is still watched for (and taken, the resend never going), and a Move to
    another time keeps the first attempt's time, by which it is recognised."""
    store = Store(path=tmp_path / "opsbot.db")
    try:
        clock = Clock(EARLY)
        _, desk, op_id = sent_again_outside(store, clock)
        (kept,) = store.operations_in_state("outside")
        assert [o.id for o in store.operations_watched(now=clock())] == [op_id]

        request = store.get_request(kept.request_id)
        assert request is not None
        times = {kept.id: desk.into_window(kept, clock())}
        assert store.move_outside(request.id, times=times, user=REQUESTER, now=clock()) == 1
        (moved,) = store.operations_in_state("new")
        assert format_api_time(moved.scheduled_at) == "2026-12-11T02:00:00Z"
        assert [format_api_time(t) for t in moved.earlier_times] == ["2026-12-10T03:58:00Z"]
    finally:
        store.close()


def test_sent_again_while_its_request_waits_for_approval_it_waits_too_and_is_not_late(
    tmp_path: Path,
) -> None:
    """Sent again while its request waits for an approval (a window asked one): a draft, not
    due, that goes with the approval, for the moment of the approval: never too late for
    the time it waited."""
    store = Store(path=tmp_path / "opsbot.db")
    try:
        clock = Clock(EARLY)
        policy = Policy(config=read_config("", source="opsbot.toml"), members=StaticGroups({}))
        op = confirmed(store, policy, at=EARLY + timedelta(minutes=8), clock=clock)
        unknown(store, op, clock)
        assert store.ask_approval_for_window(
            op.request_id,
            needed=1,
            approver_sets=(None,),
            expires_at=clock() + timedelta(hours=1),
            claimed=(),
            about={},
            now=clock(),
        )
        assert store.send_again(
            op.id,
            user=REQUESTER,
            now=clock(),
            run_at=None,
            watch_until=clock() + timedelta(hours=1),
            announce=op.announce("sending_again", by=REQUESTER),
        )
        assert [o.state for o in store.get_request(op.request_id).operations] == ["draft"]  # type: ignore[union-attr]
        clock.set(EARLY + timedelta(minutes=40))
        assert store.approve(op.request_id, user=APPROVER, now=clock(), run_at=None) == "approved"
        (due,) = store.operations_in_state("new")
        assert due.scheduled_at == clock()  # not 03:58: waiting is not lateness
        assert due.earlier_times == (EARLY + timedelta(minutes=8),)
    finally:
        store.close()


def test_a_move_where_no_window_applies_any_more_goes_now_not_late(tmp_path: Path) -> None:
    store = Store(path=tmp_path / "opsbot.db")
    try:
        clock = Clock(EARLY)
        open_policy = Policy(config=read_config("", source="opsbot.toml"), members=StaticGroups({}))
        op = confirmed(store, open_policy, at=EARLY + timedelta(minutes=8), clock=clock)
        desk = PolicyDesk(store=store, policy=open_policy, look=NoLook(), clock=clock)
        clock.set(EARLY + timedelta(hours=1))
        assert desk.into_window(op, clock()) == clock()
    finally:
        store.close()


class NoLook:
    """The pre-flight look is not part of these checks; a search finds nothing."""

    def find_newest(self, match: object, *, want: int, within: int, page_size: int) -> Found:
        return Found(items=[], searched=0, whole=True, total=0, requests=1)


# ------------------------------------------------------------------------ the demo


def test_the_demo_answers_the_threads_move_and_drop(tmp_path: Path) -> None:
    clock = Clock(EARLY)
    out = io.StringIO()
    terminal = Terminal(out=out, tz="UTC")
    with Simulator(run_seconds=0.2) as simulator:
        runtime = Runtime(
            database=str(tmp_path / "demo.db"),
            api_url=simulator.url,
            api_token=simulator.token,
            poll_interval=0.1,
            notifier=ConsoleNotifier(terminal=terminal),
            channel_gap=0.0,
            clock=clock,
            config=read_config(BLOCKED_AFTER_APPROVAL, source="policy.toml"),
        ).start()
        chat = ConsoleChat(
            service=runtime.service, terminal=terminal, tz="UTC", devices=["server-01"]
        )

        def typed(line: str) -> str:
            start = len(out.getvalue())
            assert chat.handle(line)
            return out.getvalue()[start:]

        try:
            typed("reboot server-01 at 03:58")
            typed("confirm")
            clock.set(EARLY + timedelta(minutes=15))
            typed("as U0002 approve")
            eventually(
                lambda: "(type move or drop)" in out.getvalue(),
                what="the question printed in the thread with its words",
            )
            assert "Only @you or @U0002 may move" in typed("as U0004 move")  # not theirs
            assert "Moved into the maintenance window" in typed("as U0002 move")  # an approver
            (sent,) = eventually(simulator.operations, what="the moved operation sent")
            assert sent["scheduled_at"] == "2026-12-11T02:00:00Z"
        finally:
            runtime.stop()


def test_a_channel_that_refuses_the_bot_stops_what_waits_outside_its_window(
    tmp_path: Path,
) -> None:
    """Kept outside its window before its public message could go out: when Slack says the
    bot is not in the channel, it ends with the rest, not left waiting for an answer nobody
    can give."""
    store = Store(path=tmp_path / "opsbot.db")
    try:
        request = store.create_request(
            specs=[
                OperationSpec(device_name="server-01", operation_type="reboot", scheduled_at=EARLY)
            ],
            requester=REQUESTER,
            surface="command",
            text="reboot server-01 now",
            tz="UTC",
            immediate=True,
            notes=[],
            channel=CHANNEL,
            thread_ts=None,
            response_url=None,
            now=EARLY,
            expires_at=EARLY + timedelta(minutes=15),
        )
        assert store.confirm(request.id, user=REQUESTER, now=EARLY, run_at=None)
        (op,) = store.operations_in_state("new")
        assert store.park_outside(op.id, now=EARLY, announce=op.announce("ask_outside"))
        stopped = store.stop_unposted(
            CHANNEL,
            reason="not in channel",
            error="not_in_channel",
            now=EARLY,
            notice="private_not_posted",
        )
        assert stopped == [request.id]
        assert [o.state for o in store.get_request(request.id).operations] == ["rejected"]  # type: ignore[union-attr]
    finally:
        store.close()
