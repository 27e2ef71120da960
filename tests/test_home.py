"""The Home tab: built from the store on app_home_opened, published with views.publish, within
Block Kit's limits however much is scheduled, and its buttons work there (a click in a Home
view has no response_url: the answer is the Home published again, the answer on top)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from slack_sdk.models.views import View

from bot.model import OperationSpec
from bot.policy.config import read_config
from bot.policy.rules import Policy
from bot.slack import home_tab
from bot.slack.home import HOME_GAP
from store import Store
from tests.conftest import Bot, eventually
from tests.fakes import app_home_opened_body, block_actions_body
from tests.test_flow import confirm_button

pytestmark = pytest.mark.xdist_group("ports")

ALICE, BOB = "U123", "U456"  # America/Los_Angeles, Europe/Madrid in the fake Slack
POLICY = '[[rules]]\noperations = ["reboot"]\napproval = "peer"\n'


def home_text(view: dict[str, Any]) -> str:
    """What a person reads in the view, block by block, buttons included."""
    lines = []
    for block in view["blocks"]:
        if block["type"] == "divider":
            lines.append("───")
        elif block["type"] in ("header", "section"):
            lines.append(block["text"]["text"])
        elif block["type"] == "context":
            lines.extend(e["text"] for e in block["elements"])
        elif block["type"] == "actions":
            lines.append(" ".join(f"[{e['text']['text']}]" for e in block["elements"]))
    return "\n".join(lines)


def ask_and_confirm(bot: Bot, typed: str, *, user: str) -> str:
    shown = bot.wait_response(bot.command(typed, user=user))
    request_id = confirm_button(shown)["value"]
    response, key = bot.click("ops_confirm", request_id, user=user)
    assert response.status_code == 200
    bot.wait_response(key)
    return request_id


def open_home(bot: Bot, user: str) -> dict[str, Any]:
    before = len(bot.slack.calls_to("views.publish"))
    body = app_home_opened_body(user_id=user, event_id=f"Ev{time.monotonic_ns()}")
    assert bot.send(body).status_code == 200
    eventually(lambda: len(bot.slack.calls_to("views.publish")) > before, what="views.publish")
    view = bot.slack.home(user)
    assert view is not None
    return view


def test_home_shows_an_approval_and_operations_in_flight_and_approve_works_there(
    policy_bot, capsys: pytest.CaptureFixture[str]
) -> None:
    bot = policy_bot(POLICY)
    store = bot.runtime.store
    mine = ask_and_confirm(bot, "restart nginx on server-01..03 in 2 hours", user=ALICE)
    eventually(
        lambda: all(op.state == "submitted" for op in store.get_request(mine).operations),
        what="Alice's three operations submitted",
    )
    theirs = ask_and_confirm(bot, "reboot server-09 in 3 hours", user=BOB)
    assert store.get_request(theirs).state == "approving"

    view = open_home(bot, ALICE)
    View(**view).validate_json()
    shown = home_text(view)
    with capsys.disabled():
        print(f"\n--- Alice's Home tab ---\n{shown}\n---")
    assert "Times in *America/Los_Angeles*" in shown
    to_approve = shown.split("Waiting for your approval")[1].split("Your operations")[0]
    assert f"<@{BOB}> asks: *reboot server-09 in 3 hours*" in to_approve
    assert "[Approve] [Reject]" in to_approve
    in_flight = shown.split("Your operations in flight")[1].split("Scheduled across")[0]
    assert [f"`server-0{n}`" in in_flight for n in (1, 2, 3)] == [True] * 3
    assert in_flight.count("*scheduled*") == 3  # the API's status, as the store has it
    fleet = shown.split("Scheduled across the fleet")[1].split("Freezes")[0]
    assert fleet.count("restart") == 3  # Bob's reboot waits for approval: not scheduled yet
    assert "No freeze" in shown and "No window configured" in shown
    # Bob sees his own request waiting, not an approval of his own.
    bob = home_text(open_home(bot, BOB))
    assert "[Approve]" not in bob and "waiting for approval" in bob

    (approve,) = (
        e
        for b in view["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "ops_approve"
    )
    published = len(bot.slack.calls_to("views.publish"))
    click = block_actions_body(
        action_id="ops_approve",
        value=approve["value"],
        user_id=ALICE,
        view={"id": view["id"], "type": "home", "hash": view["hash"]},
    )
    assert bot.send(click).status_code == 200
    eventually(lambda: store.get_request(theirs).state == "confirmed", what="Bob's reboot approved")
    eventually(lambda: len(bot.slack.calls_to("views.publish")) > published, what="Home again")
    again = home_text(bot.slack.home(ALICE))
    first = again.split("───")[0]
    assert "approved" in first.lower(), first  # the answer to the click, on top
    assert "[Approve]" not in again
    # No response_url to answer on, and none was tried.
    assert not [c for c in bot.slack.calls_to("response_url") if not c.args.get("_key")]


GROUP_POLICY = POLICY + 'approvers = ["S0DBA"]\n'
CAROL = "U789"


@pytest.mark.parametrize(
    ("fault", "why"),
    [
        pytest.param(None, "Slack does not know the user group S0DBA", id="unknown"),
        pytest.param({"status": 429}, "Slack asked me to slow down", id="rate-limited"),
        pytest.param({"status": 500}, "could not ask Slack who is in", id="error"),
    ],
)
def test_a_request_whose_approvers_slack_cannot_read_is_shown_without_buttons(
    policy_bot, slack, fault: dict[str, Any] | None, why: str
) -> None:
    """Bob's reboot needs an approver from a user group Slack will not list just now: every
    other person's Home is still published, with Bob's request shown without buttons and a
    note saying why; the rest of the tab is there as usual."""
    bot = policy_bot(GROUP_POLICY)
    if fault is not None:
        slack.set_group("S0DBA", [ALICE])
        slack.fail("usergroups.users.list", times=None, **fault)
    request_id = ask_and_confirm(bot, "reboot server-09 in 3 hours", user=BOB)
    assert bot.runtime.store.get_request(request_id).state == "approving"
    mine = ask_and_confirm(bot, "restart nginx on server-01 in 2 hours", user=CAROL)

    for user in (ALICE, CAROL):
        view = open_home(bot, user)
        View(**view).validate_json()
        shown = home_text(view)
        to_approve = shown.split("Waiting for your approval")[1].split("Your operations")[0]
        assert f"<@{BOB}> asks: *reboot server-09 in 3 hours*" in to_approve
        assert "I cannot tell whether you may approve this" in to_approve
        assert why in to_approve
        assert "[Approve]" not in shown and "[Reject]" not in shown
        assert "Scheduled across the fleet" in shown and "Windows" in shown
    # Carol's own request is on her Home as usual.
    assert "`server-01`" in home_text(bot.slack.home(CAROL)).split("Your operations in flight")[1]
    assert bot.runtime.store.get_request(mine).state == "confirmed"
    # Bob's own Home shows it as his, waiting; nobody's Home carries its buttons.
    assert "[Approve]" not in home_text(open_home(bot, BOB))


def test_home_confirm_and_cancel_work_from_the_home_tab(policy_bot) -> None:
    bot = policy_bot(POLICY)
    store = bot.runtime.store
    first = confirm_button(bot.wait_response(bot.command("restart nginx on web-1 in 1 hour")))
    second = confirm_button(bot.wait_response(bot.command("restart nginx on web-2 in 1 hour")))
    view = open_home(bot, ALICE)
    shown = home_text(view)
    assert shown.count("[Confirm] [Cancel]") == 2

    for action, value in (("ops_confirm", first["value"]), ("ops_cancel", second["value"])):
        before = len(bot.slack.calls_to("views.publish"))
        body = block_actions_body(
            action_id=action, value=value, user_id=ALICE, view={"id": view["id"], "type": "home"}
        )
        assert bot.send(body).status_code == 200
        eventually(lambda b=before: len(bot.slack.calls_to("views.publish")) > b, what="Home")
    assert store.get_request(first["value"]).state == "confirmed"
    assert store.get_request(second["value"]).state == "cancelled"
    after = home_text(bot.slack.home(ALICE))
    assert "[Confirm]" not in after
    assert "Cancelled" in after.split("───")[0] or "cancel" in after.split("───")[0].lower()


# --- within Block Kit's limits, built from store rows ------------------------------------


def _service(store: Store, now: datetime, config: str = "") -> Any:
    """What `home_tab.gather` may use: the store, the policy and the clock; no API client, so a
    call to the API would fail the test."""
    policy = Policy(config=read_config(config, source="test.toml")) if config else Policy()
    return SimpleNamespace(store=store, policy=policy, clock=lambda: now)


def _schedule(store: Store, count: int, *, now: datetime, requester: str = BOB) -> None:
    if not count:
        return
    specs = [
        OperationSpec(
            device_name=f"server-{n:04d}",
            operation_type="restart_service",
            scheduled_at=now + timedelta(minutes=10 + n),
            parameters={"service": "nginx"},
        )
        for n in range(count)
    ]
    request = store.create_request(
        specs=specs,
        requester=requester,
        surface="command",
        text=f"restart nginx on {count} servers",
        tz="UTC",
        immediate=False,
        notes=(),
        channel="C1",
        thread_ts=None,
        response_url=None,
        now=now,
        expires_at=now + timedelta(minutes=5),
    )
    assert store.confirm(request.id, user=requester, now=now, run_at=None)


@pytest.mark.parametrize("count", [0, 1, 500])
def test_home_view_validates_with_0_1_and_500_scheduled(tmp_path: Path, count: int) -> None:
    store = Store(path=tmp_path / "home.db")
    now = datetime.now(UTC)
    try:
        _schedule(store, count, now=now)
        _schedule(store, count, now=now, requester=ALICE)  # in flight for Alice too
        config = (
            '[[windows]]\ndevices = ["server-*"]\nwhen = "sat 02:00-06:00"\ntz = "Asia/Tokyo"\n'
        )
        data = home_tab.gather(_service(store, now, config), user=ALICE, tz="Europe/Madrid")
        view = home_tab.home_view(data, notice="Approved.")
        View(**view).validate_json()
        assert len(view["blocks"]) <= home_tab.MAX_HOME_BLOCKS
        assert all(len(b["text"]["text"]) <= 3000 for b in view["blocks"] if "text" in b)
        shown = home_text(view)
        assert data.scheduled_total == 2 * count and data.in_flight_total == count
        fleet = shown.split("Scheduled across the fleet")[1].split("Freezes")[0]
        if count < 500:
            assert fleet.count("`server-") == 2 * count
            assert "more:" not in shown
        else:
            assert "more: `/ops list`" in fleet
            more = int(fleet.split("…and ")[1].split(" more")[0].replace(",", ""))
            assert fleet.count("`server-") + more == 1000
        assert "`server-*` · sat 02:00-06:00 (Asia/Tokyo)" in shown
        assert "next opens" in shown
    finally:
        store.close()


def test_home_follows_the_persons_own_request_at_most_every_few_seconds(policy_bot) -> None:
    """Opened once, the Home tab is published again as Alice's request goes out and ends
    (from the outbox), never twice within the gap, and Bob's Home (never opened) not at all."""
    bot = policy_bot(POLICY)
    store = bot.runtime.store
    opened = open_home(bot, ALICE)
    assert "Nothing." in home_text(opened).split("Your operations in flight")[1]
    mine = ask_and_confirm(bot, "restart nginx on server-01..03 now", user=ALICE)
    eventually(
        lambda: all(op.final for op in store.get_request(mine).operations),
        what="Alice's operations ended",
    )

    def alices() -> list[Any]:
        return [c for c in bot.slack.calls_to("views.publish") if c.args["user_id"] == ALICE]

    def shows_them_ended() -> bool:
        view = bot.slack.home(ALICE) or {"blocks": []}
        in_flight = home_text(view).split("Your operations in flight")[1].split("───")[0]
        return len(alices()) >= 2 and "Nothing." in in_flight and view["id"] == opened["id"]

    eventually(shows_them_ended, what="Alice's Home refreshed with her operations ended")
    publishes = alices()
    gaps = [b.at - a.at for a, b in zip(publishes, publishes[1:], strict=False)]
    assert min(gaps) >= HOME_GAP - 0.1, gaps
    assert not [c for c in bot.slack.calls_to("views.publish") if c.args["user_id"] == BOB]


def test_a_request_waiting_for_your_approval_comes_to_your_open_home(policy_bot) -> None:
    # Alice has her Home open; Bob's reboot needs a peer's approval: it appears on Alice's
    # Home without her opening it again, with the buttons that approve it.
    bot = policy_bot(POLICY)
    assert "Waiting for your approval\nNothing." in home_text(open_home(bot, ALICE))
    ask_and_confirm(bot, "reboot server-09 in 3 hours", user=BOB)
    eventually(
        lambda: (
            "asks: *reboot server-09 in 3 hours*"
            in home_text(bot.slack.home(ALICE) or {"blocks": []})
        ),
        what="Bob's request on Alice's open Home",
    )
