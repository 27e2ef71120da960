"""Other people's approval, end to end: a real Bolt app over HTTP, the fake Slack (with its
user groups) and the API simulator. The requester confirms; the public message asks for
approval with Approve and Reject; the last approval needed sends the request, once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.service import utcnow
from bot.zequenze.simulator.endpoint import Simulator
from tests.conftest import Bot, eventually, is_root_post, start_bot, stop_bot
from tests.fakes import FakeSlack
from tests.test_flow import all_text, confirm_button, thread_replies

pytestmark = pytest.mark.xdist_group("ports")

REQUESTER, APPROVER, BYSTANDER, DBA, LEAD = "U0001", "U0002", "U0003", "U0004", "U0005"
CHANNEL = "C123"  # the channel tests/fakes/signing.py sends commands from

POLICY = """
[[rules]]
operations = ["reboot"]
devices = ["server-*"]
approval = "peer"
approvers = ["U0002", "S0DBA"]

[[rules]]
devices = ["db-*"]
approval = "peer"
approvals = 2
expires = "30m"
"""


class Clock:
    """The bot's clock, moved forward by the test (approvals expire in minutes, not seconds)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset


def ask(bot: Bot, typed: str, *, user: str = REQUESTER) -> tuple[dict, str]:
    """The confirmation shown to `user`, and its request id."""
    shown = bot.wait_response(bot.command(typed, user=user))
    return shown, confirm_button(shown)["value"]


def confirm(bot: Bot, request_id: str, *, user: str = REQUESTER) -> tuple[str, str]:
    """Confirm; returns the answer and the ts of the public message asking for approval."""
    _, key = bot.click("ops_confirm", request_id, user=user)
    answer = bot.wait_response(key)["text"]
    (root,) = eventually(
        lambda: [c for c in bot.slack.calls_to("chat.postMessage") if is_root_post(c, request_id)],
        what="the public message asking for approval",
    )
    return answer, root.response["ts"]


def click(bot: Bot, action_id: str, request_id: str, *, user: str) -> str:
    """A click on the public message's Approve or Reject: the private answer's text."""
    response, key = bot.click(action_id, request_id, user=user)
    assert response.status_code == 200
    answer = bot.wait_response(key)
    assert answer.get("response_type") == "ephemeral" and not answer.get("replace_original")
    return answer["text"]


def public(bot: Bot, ts: str) -> dict:
    message = bot.slack.message(CHANNEL, ts)
    assert message is not None
    return message


def buttons(message: dict) -> list[str]:
    return [
        e["action_id"]
        for b in message.get("blocks") or []
        if b["type"] == "actions"
        for e in b["elements"]
    ]


def test_a_peer_approval_with_requester_approver_and_bystander(
    slack: FakeSlack, policy_bot: Callable[..., Bot]
) -> None:
    slack.set_group("S0DBA", [DBA])
    bot = policy_bot(POLICY)
    shown, request_id = ask(bot, "reboot server-01 now")
    assert "needs an approval from <@U0002> or <!subteam^S0DBA> (never you)" in all_text(shown)

    answer, root = confirm(bot, request_id)
    assert "waits for an approval" in answer
    message = public(bot, root)
    assert "Waiting for approval* by <@U0002> or <!subteam^S0DBA>: 0 of 1" in all_text(message)
    assert "<@U0001> asked" in all_text(message)
    assert buttons(message) == ["ops_approve", "ops_reject"]
    assert bot.simulator.post_count == 0

    assert "someone else must approve" in click(bot, "ops_approve", request_id, user=REQUESTER)
    refused = click(bot, "ops_approve", request_id, user=BYSTANDER)
    assert "Only <@U0002> or <!subteam^S0DBA> may approve or reject" in refused
    assert "Only" in click(bot, "ops_reject", request_id, user=BYSTANDER)
    assert bot.simulator.post_count == 0

    assert "Approved" in click(bot, "ops_approve", request_id, user=APPROVER)
    eventually(lambda: bot.simulator.post_count == 1, what="the operation sent once approved")
    eventually(
        lambda: (
            "Approved by <@U0002>" in all_text(public(bot, root)) and not buttons(public(bot, root))
        ),
        what="the public message to show who approved, without its buttons",
    )
    eventually(
        lambda: any("✅ Approved by <@U0002>." in r for r in thread_replies(bot, root)),
        what="the approval told in the thread",
    )
    again = click(bot, "ops_approve", request_id, user=APPROVER)
    assert "already confirmed" in again
    assert bot.simulator.post_count == 1

    rows = list(bot.runtime.store.audit_rows(since=None))
    refused = [(r["actor"], r["detail"]["reason"]) for r in rows if r["event"] == "click_refused"]
    assert refused == [
        (REQUESTER, "approve_own"),
        (BYSTANDER, "approve_not_approver"),
        (BYSTANDER, "approve_not_approver"),
    ]
    kinds = [row["event"] for row in rows if row["event"] != "click_refused"]
    assert kinds[:3] == ["requested", "confirmed", "approved"]
    assert "api_created" in kinds


def test_a_member_of_an_approving_group_may_approve(
    slack: FakeSlack, policy_bot: Callable[..., Bot]
) -> None:
    slack.set_group("S0DBA", [DBA])
    bot = policy_bot(POLICY)
    _, request_id = ask(bot, "reboot server-02 now")
    confirm(bot, request_id)
    assert "Approved" in click(bot, "ops_approve", request_id, user=DBA)
    eventually(lambda: bot.simulator.post_count == 1, what="the operation sent")


def test_a_quorum_of_two_counts_each_person_once(
    slack: FakeSlack, policy_bot: Callable[..., Bot]
) -> None:
    bot = policy_bot(POLICY)
    shown, request_id = ask(bot, "reboot db-01 now")
    assert "needs 2 approvals from anyone allowed to request" in all_text(shown)
    _, root = confirm(bot, request_id)

    assert "counted (1 of 2)" in click(bot, "ops_approve", request_id, user=APPROVER)
    assert "already counted" in click(bot, "ops_approve", request_id, user=APPROVER)
    eventually(
        lambda: "1 of 2 · approved by <@U0002>" in all_text(public(bot, root)),
        what="the count on the public message",
    )
    assert bot.simulator.post_count == 0
    assert "Approved" in click(bot, "ops_approve", request_id, user=LEAD)
    eventually(lambda: bot.simulator.post_count == 1, what="the operation sent")
    eventually(
        lambda: "Approved by <@U0002> and <@U0005>" in all_text(public(bot, root)),
        what="both approvers on the public message",
    )


def test_racing_approvals_send_the_request_once(
    slack: FakeSlack, policy_bot: Callable[..., Bot]
) -> None:
    slack.set_group("S0DBA", [DBA, LEAD, BYSTANDER])
    bot = policy_bot(POLICY)
    _, request_id = ask(bot, "reboot server-03 now")
    confirm(bot, request_id)
    start = threading.Barrier(4)
    answers: list[str] = []

    def approve(user: str) -> None:
        start.wait()
        answers.append(click(bot, "ops_approve", request_id, user=user))

    threads = [threading.Thread(target=approve, args=(u,)) for u in (APPROVER, DBA, LEAD)]
    for t in threads:
        t.start()
    start.wait()
    for t in threads:
        t.join()
    assert sum("Approved" in a for a in answers) == 1, answers
    eventually(lambda: bot.simulator.post_count == 1, what="one operation sent")
    request = bot.runtime.store.get_request(request_id)
    assert request is not None and request.approvals == (request.approvals[0],)


def test_a_rejection_sends_nothing_and_ends_the_request(
    slack: FakeSlack, policy_bot: Callable[..., Bot]
) -> None:
    bot = policy_bot(POLICY)
    _, request_id = ask(bot, "reboot server-04 now")
    _, root = confirm(bot, request_id)
    assert "Rejected" in click(bot, "ops_reject", request_id, user=APPROVER)
    eventually(
        lambda: "Rejected* by <@U0002>: nothing was sent" in all_text(public(bot, root)),
        what="the rejection on the public message",
    )
    eventually(
        lambda: any("<@U0002> rejected this request" in r for r in thread_replies(bot, root)),
        what="the rejection in the thread",
    )
    assert "rejected" in click(bot, "ops_approve", request_id, user=APPROVER)
    assert bot.simulator.post_count == 0


def test_an_approval_that_does_not_come_in_time_expires(
    slack: FakeSlack, policy_bot: Callable[..., Bot]
) -> None:
    clock = Clock()
    bot = policy_bot(POLICY, clock=clock)
    _, request_id = ask(bot, "reboot db-02 now")
    _, root = confirm(bot, request_id)
    assert "counted (1 of 2)" in click(bot, "ops_approve", request_id, user=APPROVER)
    clock.offset = timedelta(minutes=31)
    eventually(
        lambda: any("Nobody approved this in time" in r for r in thread_replies(bot, root)),
        what="the expiry told in the thread",
    )
    eventually(
        lambda: "Not approved in time* (1 of 2)" in all_text(public(bot, root)),
        what="the expiry on the public message",
    )
    assert "not approved in time" in click(bot, "ops_approve", request_id, user=LEAD)
    assert bot.simulator.post_count == 0
    kinds = [row["event"] for row in bot.runtime.store.audit_rows(since=None)]
    assert kinds[-1] == "approval_expired"


def test_an_approver_slack_cannot_vouch_for_is_refused_not_guessed(
    slack: FakeSlack, policy_bot: Callable[..., Bot]
) -> None:
    bot = policy_bot(POLICY)  # S0DBA does not exist in this workspace
    _, request_id = ask(bot, "reboot server-05 now")
    confirm(bot, request_id)
    refused = click(bot, "ops_approve", request_id, user=DBA)
    assert "Slack does not know the user group S0DBA" in refused
    request = bot.runtime.store.get_request(request_id)
    assert request is not None and request.state == "approving" and not request.votes


def test_a_request_judged_under_another_policy_is_asked_again(
    slack: FakeSlack, simulator: Simulator, tmp_path: Path
) -> None:
    # Typed under an open file; the bot restarts with a stricter one before the Confirm.
    first = start_bot(
        slack=slack, simulator=simulator, database=tmp_path / "o.db", config="[access]\n"
    )
    try:
        _, request_id = ask(first, "reboot server-06 now")
    finally:
        stop_bot(first)
    second = start_bot(slack=slack, simulator=simulator, database=tmp_path / "o.db", config=POLICY)
    try:
        _, key = second.click("ops_confirm", request_id, user=REQUESTER)
        assert "The policy changed since you asked" in second.wait_response(key)["text"]
        request = second.runtime.store.get_request(request_id)
        assert request is not None and request.state == "expired"
        assert simulator.post_count == 0
    finally:
        stop_bot(second)


def test_a_request_for_now_is_judged_by_its_window_when_confirmed(
    slack: FakeSlack, policy_bot: Callable[..., Bot]
) -> None:
    # Typed inside the window; confirmed 12 minutes later, outside it: it runs then, so the
    # window's "approve" applies, and nothing is sent without an approval.
    clock = Clock()
    now = clock()
    start, end = now - timedelta(hours=1), now + timedelta(minutes=5)
    window = f"daily {start:%H:%M}-{end:%H:%M}"
    bot = policy_bot(
        f'[[windows]]\ndevices = ["server-*"]\nwhen = "{window}"\noutside = "approve"\n',
        clock=clock,
    )
    shown, request_id = ask(bot, "reboot server-07 now")
    assert "in its maintenance window" in all_text(shown)
    clock.offset = timedelta(minutes=12)  # a request waits 15 minutes for its click
    answer, _ = confirm(bot, request_id)
    assert "waits for an approval" in answer
    request = bot.runtime.store.get_request(request_id)
    assert request is not None and request.state == "approving"
    assert bot.simulator.post_count == 0


def test_the_requester_may_withdraw_a_request_waiting_for_approval(
    slack: FakeSlack, policy_bot: Callable[..., Bot]
) -> None:
    bot = policy_bot(POLICY)
    _, request_id = ask(bot, "reboot server-08 now")
    _, root = confirm(bot, request_id)
    assert "nothing will be sent" in click(bot, "ops_reject", request_id, user=REQUESTER)
    eventually(
        lambda: "Withdrawn* by the requester" in all_text(public(bot, root)),
        what="the withdrawal on the public message",
    )
    eventually(
        lambda: any("<@U0001> withdrew this request" in r for r in thread_replies(bot, root)),
        what="the withdrawal in the thread",
    )
    assert "rejected" in click(bot, "ops_approve", request_id, user=APPROVER)
    assert bot.simulator.post_count == 0
