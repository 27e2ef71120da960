"""Move takes the window open now (issue 19): a time just after the window a person is in
moves to now, not to the next window after it (next Saturday, with hours left in this one).
"Now" is a request for now: it runs when confirmed, and the windows are asked again then and
before each POST; a window that closed meanwhile refuses it, as the late checks always did.
End to end over the real Bolt app, the fake Slack and the API simulator, on the test's clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.model import OperationSpec, format_api_time, parse_api_time
from bot.policy.config import read_config
from bot.policy.desk import PolicyDesk
from bot.policy.groups import StaticGroups
from bot.policy.rules import Policy
from bot.say.common_blocks import ACTION_MOVE_TO_WINDOW
from store import Store
from tests.conftest import eventually
from tests.test_flow import all_text, confirm_button
from tests.test_judged_when_acting import (
    APPROVER,
    CHANNEL,
    REQUESTER,
    RULE,
    WINDOW,
    Clock,
    NoLook,
    buttons,
    confirm,
    posted,
    state_of,
    thread_has,
)

pytestmark = pytest.mark.xdist_group("ports")

# Thursday 10 December 2026, 02:10 UTC: the nightly window 02:00-04:00 has 1 h 50 left.
OPEN = datetime(2026, 12, 10, 2, 10, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(OPEN)


@pytest.fixture
def run(policy_bot: Any, clock: Clock) -> Any:
    return lambda config: policy_bot(config, clock=clock)


def shown(bot: Any, typed: str) -> dict[str, Any]:
    return bot.wait_response(bot.command(typed, user=REQUESTER))


def click(bot: Any, action_id: str, value: str) -> dict[str, Any]:
    response, key = bot.click(action_id, value, user=REQUESTER)
    assert response.status_code == 200
    return bot.wait_response(key)


def test_move_takes_the_window_open_now_and_runs_when_confirmed(run: Any, clock: Clock) -> None:
    bot = run(WINDOW.format(outside="warn"))
    asked = shown(bot, "reboot server-01 at 05:00 UTC")
    said = all_text(asked)
    assert "outside its maintenance window (daily 02:00-04:00, UTC)" in said
    assert "It is open now, until Thu 10 Dec 04:00 (UTC)." in said
    move = buttons(asked)[ACTION_MOVE_TO_WINDOW]
    assert move["text"]["text"] == "Move to now (open until Thu 04:00 UTC)"

    moved = click(bot, ACTION_MOVE_TO_WINDOW, move["value"])
    text = all_text(moved)
    assert "*When:* now, as soon as you confirm." in text
    assert "in its maintenance window" in text and "outside" not in text
    assert "Moved into the maintenance window open now" in text
    assert ACTION_MOVE_TO_WINDOW not in buttons(moved)

    # Read for ten minutes: "now" is when it is confirmed, not when Move was clicked.
    clock.set(OPEN + timedelta(minutes=10))
    request_id = confirm_button(moved)["value"]
    # The test's clock runs on real time: the confirm happens between these two readings,
    # however slowly a loaded machine gets there.
    before = clock()
    confirm(bot, request_id)
    after = clock()
    (sent,) = eventually(lambda: posted(bot), what="the moved reboot at the API")
    assert format_api_time(before) <= sent["scheduled_at"] <= format_api_time(after)
    assert bot.runtime.store.get_request(request_id).confirmed_at == parse_api_time(  # type: ignore[union-attr]
        sent["scheduled_at"]
    )


def test_moved_to_now_the_conflicts_are_looked_for_at_the_click(run: Any, clock: Clock) -> None:
    """ "Now" at the Move click is not "now" when the request was typed (up to 15 minutes
    before): what else runs on the device then is looked for at the click."""
    bot = run(WINDOW.format(outside="warn"))
    asked = shown(bot, "reboot server-01 at 05:00 UTC")
    assert "Conflicts" not in all_text(asked)
    # Another reboot of server-01, scheduled meanwhile for ten minutes after the click.
    clock.set(OPEN + timedelta(minutes=10))
    other = bot.runtime.service.api.create_operation(
        OperationSpec(
            device_name="server-01",
            operation_type="reboot",
            scheduled_at=OPEN + timedelta(minutes=20),
        )
    )
    moved = click(bot, ACTION_MOVE_TO_WINDOW, buttons(asked)[ACTION_MOVE_TO_WINDOW]["value"])
    text = all_text(moved)
    assert "Conflicts" in text and other["id"] in text


def test_a_window_closed_before_the_confirm_refuses_it(run: Any, clock: Clock) -> None:
    clock.set(OPEN + timedelta(minutes=100))  # 03:50: ten minutes left
    bot = run(WINDOW.format(outside="warn"))
    asked = shown(bot, "reboot server-01 at 05:00 UTC")
    moved = click(bot, ACTION_MOVE_TO_WINDOW, buttons(asked)[ACTION_MOVE_TO_WINDOW]["value"])
    request_id = confirm_button(moved)["value"]
    clock.set(OPEN + timedelta(minutes=111))  # 04:01: closed
    answer = click(bot, "ops_confirm", request_id)
    assert "The maintenance window this was moved into has closed" in answer["text"]
    assert bot.runtime.store.get_request(request_id).state == "expired"  # type: ignore[union-attr]
    assert posted(bot) == []


def test_moved_now_then_held_past_the_window_the_send_is_judged_again(
    run: Any, clock: Clock
) -> None:
    """Confirmed inside the window it was moved into, a freeze holds it until the window has
    closed: at the send, an `approve` window asks for its approval then (nothing is sent on
    the verdict of the click)."""
    bot = run(WINDOW.format(outside="approve"))
    request_id = confirm_button(shown(bot, "reboot server-01 at 05:00 UTC"))["value"]
    # The demo's `move` (a window that asks approval has no Move button in Slack).
    assert bot.runtime.service.move_to_window(request_id, user=REQUESTER).ok
    bot.runtime.store.add_freeze(
        devices=("server-01",),
        reason="rack move",
        by="U0ADMIN",
        channel=CHANNEL,
        now=clock(),
        until=datetime(2026, 12, 10, 4, 5, tzinfo=UTC),
    )
    root = confirm(bot, request_id)
    eventually(
        lambda: bot.runtime.store.get_request(request_id).operations[0].held_since,  # type: ignore[union-attr]
        what="the operation held by the freeze",
    )
    clock.set(datetime(2026, 12, 10, 4, 6, tzinfo=UTC))
    thread_has(bot, root, "where the policy asks for an approval")
    assert posted(bot) == []
    assert bot.runtime.store.get_request(request_id).state == "approving"  # type: ignore[union-attr]
    assert state_of(bot, request_id) == ["draft"]


def test_approved_after_the_window_it_was_moved_into_closed_nothing_is_sent(
    run: Any, clock: Clock
) -> None:
    """Moved to now and confirmed inside the window, it waits for a rule's approval; the
    approval that would release it comes after the window closed: under a window that only
    warns it would run outside the window it was moved into, so it ends as at a late Confirm,
    its thread told why (the reviewer's scenario)."""
    bot = run(RULE + WINDOW.format(outside="warn"))
    asked = shown(bot, "reboot server-01 at 05:00 UTC")
    moved = click(bot, ACTION_MOVE_TO_WINDOW, buttons(asked)[ACTION_MOVE_TO_WINDOW]["value"])
    request_id = confirm_button(moved)["value"]
    root = confirm(bot, request_id)
    assert bot.runtime.store.get_request(request_id).state == "approving"  # type: ignore[union-attr]

    clock.set(datetime(2026, 12, 10, 4, 30, tzinfo=UTC))
    response, key = bot.click("ops_approve", request_id, user=APPROVER)
    assert response.status_code == 200
    answer = bot.wait_response(key)["text"]
    assert "The maintenance window this was moved into has closed" in answer
    told = thread_has(bot, root, "The maintenance window this was moved into has closed")
    assert f"<@{REQUESTER}>" in all_text(told)
    request = bot.runtime.store.get_request(request_id)
    assert request is not None and request.state == "expired"
    assert [op.state for op in request.operations] == ["rejected"]
    assert posted(bot) == []


def test_moved_now_then_held_past_a_warn_window_nothing_is_sent(run: Any, clock: Clock) -> None:
    """Confirmed inside the window it was moved into, a freeze holds it until that window has
    closed: a window that only warns would send it outside it, so at the send it ends, its
    thread told why."""
    bot = run(WINDOW.format(outside="warn"))
    request_id = confirm_button(shown(bot, "reboot server-01 at 05:00 UTC"))["value"]
    assert bot.runtime.service.move_to_window(request_id, user=REQUESTER).ok
    bot.runtime.store.add_freeze(
        devices=("server-01",),
        reason="rack move",
        by="U0ADMIN",
        channel=CHANNEL,
        now=clock(),
        until=datetime(2026, 12, 10, 4, 5, tzinfo=UTC),
    )
    root = confirm(bot, request_id)
    eventually(
        lambda: bot.runtime.store.get_request(request_id).operations[0].held_since,  # type: ignore[union-attr]
        what="the operation held by the freeze",
    )
    clock.set(datetime(2026, 12, 10, 4, 6, tzinfo=UTC))
    told = thread_has(bot, root, "The maintenance window this was moved into has closed")
    assert f"<@{REQUESTER}>" in all_text(told)
    assert posted(bot) == []
    assert bot.runtime.store.get_request(request_id).state == "expired"  # type: ignore[union-attr]
    assert state_of(bot, request_id) == ["rejected"]


def test_another_window_before_the_time_keeps_the_next_start(tmp_path: Any) -> None:
    """Only the last window before the time is taken now: for a time two nights on, Move goes
    to the first window after it, as before; for a device outside any window, nothing."""
    store = Store(path=tmp_path / "opsbot.db")
    try:
        config = read_config(WINDOW.format(outside="warn"), source="opsbot.toml")
        desk = PolicyDesk(
            store=store,
            policy=Policy(config=config, members=StaticGroups({})),
            look=NoLook(),
            clock=lambda: OPEN,
        )

        def spec(device: str, at: datetime) -> OperationSpec:
            return OperationSpec(device_name=device, operation_type="reboot", scheduled_at=at)

        later = datetime(2026, 12, 11, 5, 0, tzinfo=UTC)
        assert desk.moves([spec("server-01", later)], OPEN) == (
            (datetime(2026, 12, 12, 2, 0, tzinfo=UTC),),
            False,
        )
        soon = datetime(2026, 12, 10, 5, 0, tzinfo=UTC)
        assert desk.moves([spec("server-01", soon), spec("server-02", soon)], OPEN) == (
            (OPEN, OPEN),
            True,
        )
        # One operation with no window: it keeps its time, so nothing runs now.
        assert desk.moves([spec("server-01", soon), spec("db-01", soon)], OPEN) == (
            (datetime(2026, 12, 11, 2, 0, tzinfo=UTC), soon),
            False,
        )
    finally:
        store.close()
