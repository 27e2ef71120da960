"""Waves: `in waves of N`, `N at a time`, `with a canary`. The grammar; the store (waves never
overlap, a failure halts, Continue and Stop are compare-and-sets, a halt holds across a
restart); and end to end over the fake Slack and the simulator."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.model import OperationSpec, Plan, Refusal
from bot.say import common_blocks, track_blocks
from bot.understand import grammar
from bot.zequenze.simulator.endpoint import Simulator
from store import (
    FINISHED,
    WAVE_CONTINUED,
    WAVE_HALTED,
    WAVE_STARTED,
    WAVES_STOPPED,
    RequestRecord,
    Store,
)
from tests.conftest import Bot, eventually, is_root_post, rested, start_bot, stop_bot
from tests.fakes import FakeSlack
from tests.test_flow import all_text, confirm_button, thread_replies
from tests.test_metadata import posted_types

T0 = datetime(2026, 11, 25, 18, 45, tzinfo=UTC)
ALICE, BOB = "U123", "U456"

# ---------------------------------------------------------------------------- the grammar


def parse(typed: str) -> Plan:
    command = grammar.parse(typed, tz="UTC", now=T0)
    assert isinstance(command, Plan)
    return command


@pytest.mark.parametrize(
    ("typed", "waves", "at"),
    [
        (
            "reboot server-01..server-04 in waves of 2",
            [["server-01", "server-02"], ["server-03", "server-04"]],
            "2026-11-25T18:45:00Z",
        ),
        # The wave phrase never eats the time phrase, wherever it stands.
        (
            "reboot server-01..04 in 2 hours in waves of 3",
            [["server-01", "server-02", "server-03"], ["server-04"]],
            "2026-11-25T20:45:00Z",
        ),
        (
            "reboot server-01..04 in waves of 3 in 2 hours",
            [["server-01", "server-02", "server-03"], ["server-04"]],
            "2026-11-25T20:45:00Z",
        ),
        (
            "reboot server-01..06 2 at a time at 23:00",
            [["server-01", "server-02"], ["server-03", "server-04"], ["server-05", "server-06"]],
            "2026-11-25T23:00:00Z",
        ),
        (
            "reboot server-01..03 1 device at a time",
            [["server-01"], ["server-02"], ["server-03"]],
            "2026-11-25T18:45:00Z",
        ),
        (
            "reboot server-01..05 with a canary",
            [["server-01"], ["server-02", "server-03", "server-04", "server-05"]],
            "2026-11-25T18:45:00Z",
        ),
        (
            "reboot server-01..05 in waves of 2 with a canary tomorrow at 03:00",
            [["server-01"], ["server-02", "server-03"], ["server-04", "server-05"]],
            "2026-11-26T03:00:00Z",
        ),
        # An update's packages end where the canary begins.
        (
            "update server-01..03 with openssl, curl with a canary at 23:00",
            [["server-01"], ["server-02", "server-03"]],
            "2026-11-25T23:00:00Z",
        ),
        # Every service of a device goes in that device's wave.
        (
            "restart nginx, apache on server-01..04 2 devices at a time",
            [["server-01", "server-02"], ["server-03", "server-04"]],
            "2026-11-25T18:45:00Z",
        ),
    ],
)
def test_the_grammar_reads_waves(typed: str, waves: list[list[str]], at: str) -> None:
    plan = parse(typed)
    assert plan.waves == waves
    assert {op.to_api()["scheduled_at"] for op in plan.operations} == {at}
    # Every device named once, in the order asked.
    assert [d for wave in waves for d in wave] == list(
        dict.fromkeys(op.device_name for op in plan.operations)
    )


def test_a_request_without_waves_has_none() -> None:
    assert parse("reboot server-01..04 at 23:00").waves is None


@pytest.mark.parametrize(
    "typed", ["reboot server-01..04 in waves of 10", "reboot server-01 with a canary"]
)
def test_a_single_wave_is_allowed_and_said(typed: str) -> None:
    plan = parse(typed)
    assert plan.waves is not None and len(plan.waves) == 1
    assert any("a single wave: all go at once" in note for note in plan.notes)


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("reboot server-01..04 in waves of 0", "a wave needs at least one device"),
        ("reboot server-01..04 0 at a time", "a wave needs at least one device"),
        ("reboot server-01..04 in waves of ten", "whole number of devices"),
        ("reboot server-01..04 in waves of -2", "whole number of devices"),
        ("reboot server-01..04 in waves", "needs a number of devices"),
        ("reboot server-01..04 in waves of 2 3 at a time", "Two wave sizes (2 and 3)"),
    ],
)
def test_wrong_waves_are_refused_with_a_correct_example(typed: str, reason: str) -> None:
    with pytest.raises(Refusal) as refused:
        grammar.parse(typed, tz="UTC", now=T0)
    assert reason in refused.value.reason
    example = grammar.parse(refused.value.example, tz="UTC", now=T0)
    assert isinstance(example, Plan) and example.waves is not None


def test_a_huge_wave_size_is_one_wave_not_an_error() -> None:
    plan = parse("reboot server-01..04 in waves of 99999999999999999999")
    assert plan.waves == [["server-01", "server-02", "server-03", "server-04"]]


# ---------------------------------------------------------------------------- the store


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "opsbot.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    opened = Store(path=db_path)
    yield opened
    opened.close()


def waved(
    store: Store,
    devices: int = 6,
    *,
    size: int | None = 2,
    canary: bool = False,
    approvals: int = 0,
) -> RequestRecord:
    """A request on server-01.. in waves, confirmed, its public message posted."""
    specs = [
        OperationSpec(
            device_name=f"server-{n:02}",
            operation_type="reboot",
            scheduled_at=T0 + timedelta(hours=1),
            parameters={"force": False, "timeout": 300},
        )
        for n in range(1, devices + 1)
    ]
    request = store.create_request(
        specs=specs,
        requester=ALICE,
        surface="command",
        text="reboot in waves",
        tz="UTC",
        immediate=False,
        notes=[],
        channel="C123",
        thread_ts=None,
        response_url=None,
        now=T0,
        expires_at=T0 + timedelta(minutes=15),
        wave_size=size,
        canary=canary,
    )
    assert store.confirm(
        request.id,
        user=ALICE,
        now=T0,
        run_at=None,
        approvals_needed=approvals,
        approver_sets=[[BOB]] if approvals else (),
        approval_expires_at=T0 + timedelta(hours=1) if approvals else None,
    )
    (root,) = [e for e in store.pending_outbox() if e.request_id == request.id and e.kind == "root"]
    assert store.root_posted(root.id, status_ts="1700.01", now=T0)
    return loaded(store, request.id)


def loaded(store: Store, request_id: str) -> RequestRecord:
    request = store.get_request(request_id)
    assert request is not None
    return request


def sendable(store: Store, now: datetime = T0) -> list[int]:
    return [op.id for op in store.operations_to_send(now=now, root_wait=timedelta(seconds=30))]


def send(store: Store, operation_id: int, *, status: str = "scheduled") -> None:
    assert store.start_sending(operation_id, now=T0)
    assert store.record_submitted(
        operation_id,
        api_id=f"txn_{operation_id}",
        status=status,
        estimated_duration=60,
        now=T0,
        announce={"request_id": "", "kind": "submitted", "operation_id": operation_id}
        | {"request_id": store.request_of_operation(operation_id).id},  # type: ignore[union-attr]
    )


def end(store: Store, operation_id: int, status: str, *, error: str | None = None) -> None:
    request = store.request_of_operation(operation_id)
    assert request is not None
    op = next(o for o in request.operations if o.id == operation_id)
    assert store.record_status(
        operation_id,
        old=op.status,
        new=status,
        now=T0,
        announce=op.announce("status", old=op.status, new=status, error=error),
    )


def run_wave(store: Store, request_id: str, *, fail: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """Every operation now sendable is sent and ends, as `fail` says."""
    due = sendable(store)
    assert due
    for op_id in due:
        send(store, op_id)
    for op in loaded(store, request_id).operations:
        if op.id in due:
            failing = op.device_name in fail
            end(
                store,
                op.id,
                "failed" if failing else "completed",
                error="disk full" if failing else None,
            )


def kinds(store: Store, request_id: str) -> list[str]:
    return [
        row[0]
        for row in store.db.execute(
            "SELECT kind FROM outbox WHERE request_id = ? ORDER BY id", [request_id]
        )
    ]


def devices_of(store: Store, ids: list[int]) -> list[str]:
    request = store.request_of_operation(ids[0]) if ids else None
    return [op.device_name for op in request.operations if op.id in ids] if request else []


def test_only_the_first_wave_is_sent_at_confirm(store: Store) -> None:
    request = waved(store)
    assert (request.waves, request.wave, request.wave_state) == (3, 1, "going")
    assert [op.wave for op in request.operations] == [1, 1, 2, 2, 3, 3]
    assert [op.state for op in request.operations] == ["new"] * 2 + ["waiting"] * 4
    assert devices_of(store, sendable(store)) == ["server-01", "server-02"]
    assert kinds(store, request.id) == ["root", WAVE_STARTED]


def test_a_wave_goes_only_once_every_operation_of_the_one_before_is_final(store: Store) -> None:
    request = waved(store)
    first, second = request.operations[:2]
    send(store, first.id)
    send(store, second.id)
    end(store, first.id, "running")
    end(store, first.id, "completed")
    assert sendable(store) == []  # server-02 is still scheduled
    end(store, second.id, "completed")
    released = loaded(store, request.id)
    assert released.wave == 2
    assert devices_of(store, sendable(store)) == ["server-03", "server-04"]
    # Released before the time asked (here the first wave ended early): it keeps that time.
    # Released after it, it goes now.
    assert {op.scheduled_at for op in released.wave_operations(2)} == {T0 + timedelta(hours=1)}
    assert kinds(store, request.id)[-1] == WAVE_STARTED


def test_waves_never_overlap_whatever_the_order_things_end_in(store: Store) -> None:
    rng = random.Random(5)
    request = waved(store, 10, size=3, canary=True)
    assert [len(request.wave_operations(w)) for w in range(1, 5)] == [1, 3, 3, 3]
    while True:
        current = loaded(store, request.id)
        unfinished = {op.wave for op in current.operations if not op.final}
        # Every operation out of the bot's hands (sent, sending or sendable) is of one wave.
        out = {
            op.wave for op in current.operations if op.state not in ("waiting",) and not op.final
        }
        assert len(out) <= 1, out
        if not unfinished:
            break
        live = [
            op for op in current.operations if op.state in ("new", "submitted") and not op.final
        ]
        op = rng.choice(live)
        if op.state == "new":
            send(store, op.id)
        else:
            end(
                store,
                op.id,
                rng.choice(["running", "completed"]) if op.status != "running" else "completed",
            )
    assert kinds(store, request.id).count(WAVE_STARTED) == 4
    assert kinds(store, request.id)[-1] == FINISHED


def test_a_failure_halts_and_holds_the_later_waves(store: Store) -> None:
    request = waved(store)
    run_wave(store, request.id)
    run_wave(store, request.id, fail={"server-04"})
    halted = loaded(store, request.id)
    assert (halted.wave, halted.wave_state) == (2, "halted")
    assert [op.state for op in halted.wave_operations(3)] == ["waiting", "waiting"]
    assert sendable(store) == []
    assert store.halted_requests() == [request.id]
    (event,) = [e for e in store.pending_outbox() if e.kind == WAVE_HALTED]
    assert devices_of(store, event.data["failed"]) == ["server-04"]
    said = track_blocks.event_text(event, halted)
    assert "Wave 2 of 3 failed" in said
    assert "`server-04`: disk full" in said
    assert "Held, not sent: `server-05`, `server-06`" in said
    # No summary: the request has not ended.
    assert FINISHED not in kinds(store, request.id)
    # The public message shows the halt and its buttons, valued with the wave that failed.
    blocks = track_blocks.status_message(halted)
    (actions,) = [b for b in blocks if b.get("block_id") == "ops_waves"]
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [
        (common_blocks.ACTION_CONTINUE, f"{request.id}:2"),
        (common_blocks.ACTION_STOP, f"{request.id}:2"),
    ]


def test_a_refusal_before_the_api_counts_as_a_failure(store: Store) -> None:
    request = waved(store, 4)
    first, second = sendable(store)
    send(store, first)
    end(store, first, "completed")
    assert store.start_sending(second, now=T0)
    assert store.record_unsent(
        second,
        state="rejected",
        error="Device 'server-02' not found in inventory.",
        now=T0,
        announce={"request_id": request.id, "kind": "unsent", "operation_id": second},
    )
    assert loaded(store, request.id).wave_state == "halted"


def test_an_unknown_outcome_holds_the_next_wave_until_it_is_settled(store: Store) -> None:
    request = waved(store, 4)
    first, second = sendable(store)
    send(store, first)
    end(store, first, "completed")
    assert store.start_sending(second, now=T0)
    assert store.record_unsent(
        second,
        state="unknown",
        error="timed out",
        now=T0,
        announce={"request_id": request.id, "kind": "unsent", "operation_id": second},
    )
    assert loaded(store, request.id).wave == 1 and sendable(store) == []
    # The API's list shows it after all, completed: the next wave goes.
    assert store.adopt_found(
        second,
        was="unknown",
        api_id="txn_late",
        status="completed",
        scheduled_at=T0,
        estimated_duration=60,
        end_watch=True,
        now=T0,
        announce={"request_id": request.id, "kind": "adopted", "operation_id": second},
    )
    assert loaded(store, request.id).wave == 2
    assert devices_of(store, sendable(store)) == ["server-03", "server-04"]


def test_continue_sends_the_next_wave_only_and_once(store: Store) -> None:
    request = waved(store, 8)
    run_wave(store, request.id, fail={"server-02"})
    assert store.continue_waves(request.id, wave=7, user=ALICE, now=T0) == "stale"
    assert store.continue_waves(request.id, wave=1, user=ALICE, now=T0) == "continued"
    assert store.continue_waves(request.id, wave=1, user=BOB, now=T0) == "going"
    assert store.stop_waves(request.id, wave=1, user=BOB, now=T0, error="x") == "going"
    after = loaded(store, request.id)
    assert (after.wave, after.wave_state) == (2, "going")
    assert devices_of(store, sendable(store)) == ["server-03", "server-04"]
    assert {op.state for op in after.operations if op.wave in (3, 4)} == {"waiting"}
    assert kinds(store, request.id)[-1] == WAVE_CONTINUED
    # The waves after it follow as usual.
    run_wave(store, request.id)
    assert loaded(store, request.id).wave == 3


def test_stop_ends_the_held_operations_unsent_and_sums_up(store: Store) -> None:
    request = waved(store)
    run_wave(store, request.id, fail={"server-01"})
    assert store.stop_waves(request.id, wave=1, user=ALICE, now=T0, error="stopped by A") == (
        "stopped"
    )
    assert store.continue_waves(request.id, wave=1, user=ALICE, now=T0) == "stopped"
    after = loaded(store, request.id)
    assert after.wave_state == "stopped" and after.stopped_by == ALICE
    assert [op.state for op in after.operations[2:]] == ["stopped"] * 4
    assert all(op.final and op.error == "stopped by A" for op in after.operations[2:])
    assert sendable(store) == []
    assert kinds(store, request.id)[-2:] == [WAVES_STOPPED, FINISHED]
    (summary,) = [e for e in store.pending_outbox() if e.kind == FINISHED]
    assert "4 never sent (stopped)" in track_blocks.event_text(summary, after)
    assert "did not (`server-01`)" in track_blocks.event_text(summary, after)
    assert store.halted_requests() == []


def test_a_halt_holds_across_a_restart(db_path: Path) -> None:
    first = Store(path=db_path)
    request = waved(first)
    run_wave(first, request.id, fail={"server-02"})
    first.close()

    again = Store(path=db_path)
    try:
        reopened = loaded(again, request.id)
        assert (reopened.wave, reopened.wave_state) == (1, "halted")
        assert sendable(again, T0 + timedelta(days=1)) == []
        assert again.halted_requests() == [request.id]
        assert again.continue_waves(request.id, wave=1, user=ALICE, now=T0) == "continued"
        assert devices_of(again, sendable(again)) == ["server-03", "server-04"]
    finally:
        again.close()


def test_under_approval_nothing_goes_until_approved_then_the_first_wave(store: Store) -> None:
    request = waved(store, 4, approvals=1)
    assert {op.state for op in request.operations} == {"draft"}
    assert request.wave == 0 and sendable(store) == []
    assert store.approve(request.id, user=BOB, now=T0, run_at=None) == "approved"
    assert devices_of(store, sendable(store)) == ["server-01", "server-02"]
    assert kinds(store, request.id)[-1] == WAVE_STARTED


def test_a_channel_that_refuses_the_bot_stops_the_waiting_waves_too(store: Store) -> None:
    specs = [
        OperationSpec(
            device_name=f"server-{n:02}",
            operation_type="reboot",
            scheduled_at=T0,
            parameters={},
        )
        for n in range(1, 5)
    ]
    request = store.create_request(
        specs=specs,
        requester=ALICE,
        surface="command",
        text="reboot",
        tz="UTC",
        immediate=True,
        notes=[],
        channel="C999",
        thread_ts=None,
        response_url=None,
        now=T0,
        expires_at=T0 + timedelta(minutes=15),
        wave_size=2,
    )
    assert store.confirm(request.id, user=ALICE, now=T0, run_at=T0)
    stopped = store.stop_unposted(
        "C999", reason="not in channel", error="not_in_channel", now=T0, notice="private_x"
    )
    assert stopped == [request.id]
    assert {op.state for op in loaded(store, request.id).operations} == {"rejected"}


# ---------------------------------------------------------------------------- end to end


def ask_and_confirm(bot: Bot, typed: str, *, user: str = ALICE) -> tuple[dict, str, str]:
    """The confirmation shown, the request id and the ts of the public message."""
    shown = bot.wait_response(bot.command(typed, user=user))
    request_id = confirm_button(shown)["value"]
    _, key = bot.click("ops_confirm", request_id, user=user)
    assert "Confirmed" in bot.wait_response(key)["text"]
    (root,) = eventually(
        lambda: [c for c in bot.slack.calls_to("chat.postMessage") if is_root_post(c, request_id)],
        what="the public message",
    )
    return shown, request_id, root.response["ts"]


def click(bot: Bot, action_id: str, value: str, *, user: str) -> str:
    response, key = bot.click(action_id, value, user=user)
    assert response.status_code == 200
    answer = bot.wait_response(key)
    assert answer.get("response_type") == "ephemeral"
    return answer["text"]


def posted(bot: Bot) -> list[str]:
    """The devices the API holds an operation for (those of a wave go together, in any
    order: the overlap is checked by time)."""
    return sorted(op["device_name"] for op in bot.simulator.operations())


def said(bot: Bot, ts: str, words: str, what: str) -> str:
    return eventually(
        lambda: next((r for r in thread_replies(bot, ts) if words in r), None),
        what=what,
    )


def final_at(bot: Bot, request_id: str) -> dict[int, tuple[str, str | None]]:
    """Each operation's wave, and when it was created at the API / reached a final status,
    from the store's own records."""
    store = bot.runtime.store
    operation = store.dialect.json_text("a.detail", "operation")
    with store.engine.read() as tx:
        rows = tx.rows(
            "SELECT o.id, o.wave, "
            "(SELECT min(at) FROM audit a WHERE a.event = 'api_created' "
            f" AND CAST({operation} AS BIGINT) = o.id) AS created, "
            "(SELECT max(at) FROM status_changes s WHERE s.operation_id = o.id) AS ended "
            "FROM operations o WHERE o.request_id = ?",
            [request_id],
        )
    return {row["id"]: (row["wave"], row["created"], row["ended"]) for row in rows}


@pytest.fixture
def bot(slack: FakeSlack, simulator: Simulator, either_database: str) -> Iterator[Bot]:
    """The waves' whole path on each engine."""
    running = start_bot(slack=slack, simulator=simulator, database=either_database)
    yield running
    stop_bot(running)


@pytest.mark.xdist_group("ports")
def test_six_devices_in_waves_of_two_complete_wave_after_wave(bot: Bot) -> None:
    shown, request_id, ts = ask_and_confirm(bot, "reboot server-01..server-06 in waves of 2")
    assert "In 3 waves* (2 at a time)" in all_text(shown)
    assert "*Wave 1:* `server-01`, `server-02`" in all_text(shown)
    said(bot, ts, "🏁 All 6 finished", "the request's summary")
    replies = thread_replies(bot, ts)
    starts = [r for r in replies if r.startswith("🌊 Wave")]
    assert starts == [
        "🌊 Wave 1 of 3 goes: `server-01`, `server-02`.",
        "🌊 Wave 2 of 3 goes: `server-03`, `server-04`.",
        "🌊 Wave 3 of 3 goes: `server-05`, `server-06`.",
    ]
    assert posted(bot) == [f"server-{n:02}" for n in range(1, 7)]
    # Never overlapping: each wave reached the API after the one before had ended. The
    # sender's clock keeps whole seconds (the API's times do), the poller's milliseconds: the
    # two are compared to the second. The store-level test checks the order exactly.
    times = final_at(bot, request_id).values()
    for wave in (2, 3):
        created = min(c for w, c, _ in times if w == wave)
        ended = max(e for w, _, e in times if w == wave - 1)
        assert created[:19] >= ended[:19]  # type: ignore[index]


@pytest.mark.xdist_group("ports")
def test_a_failed_wave_halts_and_the_requester_continues(bot: Bot) -> None:
    bot.simulator.failing = {"server-04"}
    _, request_id, ts = ask_and_confirm(bot, "reboot server-01..server-06 in waves of 2")
    halt = said(bot, ts, "failed, so the request is halted", "the halt in the thread")
    assert "Wave 2 of 3 failed" in halt
    # The API's own error, as it said it.
    assert "❌ `server-04`: Device did not come back online within 300 seconds" in halt
    assert "Held, not sent: `server-05`, `server-06`" in halt
    assert posted(bot) == ["server-01", "server-02", "server-03", "server-04"]
    message = eventually(
        lambda: (
            (m := bot.slack.message("C123", ts)) and "Halted after wave 2 of 3" in all_text(m) and m
        ),
        what="the public message to show the halt",
    )
    # Other apps read the halt, what failed and where the waves stand from the metadata.
    (halted,) = [p for t, p in posted_types(bot, ts) if t == "opsbot_wave_halted"]
    assert halted["detail"] == {"wave": 2, "failed": 1}
    (failure,) = halted["operations"]
    assert (failure["device"], failure["status"], failure["wave"]) == ("server-04", "failed", 2)
    assert failure["error"] == "Device did not come back online within 300 seconds"
    waves = message["metadata"]["event_payload"]["waves"]
    assert waves == {"count": 3, "current": 2, "state": "halted", "canary": False, "size": 2}
    values = [
        e["value"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]
    assert values == [f"{request_id}:2", f"{request_id}:2"]

    refused = click(bot, common_blocks.ACTION_CONTINUE, f"{request_id}:2", user=BOB)
    assert "Only <@U123> may continue or stop" in refused
    assert "Only <@U123>" in click(bot, common_blocks.ACTION_STOP, f"{request_id}:2", user=BOB)
    # Both refusals are in the audit trail, as a refused Approve is.
    refusals = [
        (r["actor"], r["detail"]["action"], r["detail"]["reason"])
        for r in bot.runtime.store.audit_rows(since=None)
        if r["event"] == "click_refused"
    ]
    assert refusals == [(BOB, "continue", "waves_not_yours"), (BOB, "stop", "waves_not_yours")]
    assert "Continued" in click(bot, common_blocks.ACTION_CONTINUE, f"{request_id}:2", user=ALICE)
    said(bot, ts, "<@U123> continued: wave 3 of 3 goes", "the continue in the thread")
    said(bot, ts, "🏁 All 6 finished", "the summary")
    told = [t for t, _ in posted_types(bot, ts) if t != "opsbot_operation_failed"]
    assert told == [
        "opsbot_wave_started",
        "opsbot_wave_started",
        "opsbot_wave_halted",
        "opsbot_wave_continued",
        "opsbot_request_finished",
    ]
    assert posted(bot) == [f"server-{n:02}" for n in range(1, 7)]
    # A second click on the old button changes nothing.
    again = click(bot, common_blocks.ACTION_CONTINUE, f"{request_id}:2", user=ALICE)
    assert "not halted" in again


@pytest.mark.xdist_group("ports")
def test_a_failed_canary_stopped_never_sends_the_others_across_a_restart(
    slack: FakeSlack, simulator: Simulator, either_database: str
) -> None:
    simulator.failing = {"server-01"}
    db = either_database
    bot = start_bot(slack=slack, simulator=simulator, database=db)
    try:
        shown, request_id, ts = ask_and_confirm(
            bot, "reboot server-01..server-05 in waves of 2 with a canary"
        )
        assert "In 3 waves* (a canary first, then 2 at a time)" in all_text(shown)
        said(bot, ts, "Wave 1 of 3 goes: the canary (`server-01`)", "the canary's start")
        said(bot, ts, "failed, so the request is halted", "the halt")
    finally:
        stop_bot(bot)
    eventually(lambda: rested(slack), what="Slack's pace to rest, as over a restart")
    bot = start_bot(slack=slack, simulator=simulator, database=db)
    try:
        assert bot.runtime.store.halted_requests() == [request_id]
        assert "Stopped" in click(bot, common_blocks.ACTION_STOP, f"{request_id}:1", user=ALICE)
        stop = said(bot, ts, "stopped the request", "the stop in the thread")
        assert stop == "⏹️ <@U123> stopped the request: `server-02..server-05` (4) never sent."
        said(bot, ts, "4 never sent (stopped)", "the summary")
        assert posted(simulator_bot := bot) == ["server-01"]
        assert "Stopped after wave 1 of 3" in all_text(
            simulator_bot.slack.message("C123", ts) or {}
        )
    finally:
        stop_bot(bot)


APPROVAL = """
[[rules]]
operations = ["reboot"]
devices = ["server-*"]
approval = "peer"
approvers = ["U456"]
"""


@pytest.mark.xdist_group("ports")
def test_under_approval_its_approvers_may_continue_and_nobody_else(
    policy_bot: Callable[..., Bot],
) -> None:
    bot = policy_bot(APPROVAL)
    bot.simulator.failing = {"server-02"}
    _, request_id, ts = ask_and_confirm(bot, "reboot server-01..server-04 2 at a time")
    assert bot.simulator.post_count == 0
    assert "Approved" in click(bot, "ops_approve", request_id, user=BOB)
    halt = said(bot, ts, "failed, so the request is halted", "the halt")
    assert "<@U123> or <@U456>: *Continue*" in halt
    refused = click(bot, common_blocks.ACTION_STOP, f"{request_id}:1", user="U789")
    assert "Only <@U123> or <@U456> may continue or stop" in refused
    assert "Continued" in click(bot, common_blocks.ACTION_CONTINUE, f"{request_id}:1", user=BOB)
    said(bot, ts, "<@U456> continued: wave 2 of 2 goes", "the continue")
    eventually(lambda: bot.simulator.post_count == 4, what="the second wave sent")


def test_the_halt_is_valid_block_kit_on_the_public_message_and_in_the_thread(
    store: Store,
) -> None:
    from slack_sdk.models.blocks import Block

    request = waved(store, 300, size=100)
    run_wave(store, request.id, fail={f"server-{n:02}" for n in range(1, 101)})
    halted = loaded(store, request.id)
    (event,) = [e for e in store.pending_outbox(limit=1000) if e.kind == WAVE_HALTED]
    thread = track_blocks.thread_message(event, halted)
    for blocks in (track_blocks.status_message(halted), thread["blocks"]):
        for block in blocks:
            Block.parse(block).validate_json()  # type: ignore[union-attr]
        assert common_blocks.message_size(blocks) <= common_blocks.MAX_MESSAGE_TEXT
    assert "…and" in thread["text"]  # 100 failures: the first ones, and how many more
    assert "`server-101..server-300` (200)" in thread["text"]


def test_a_halted_wave_whose_failure_is_found_running_after_all_is_not_continued(
    store: Store,
) -> None:
    # server-01's create call was refused (the wave halts); then the API's list shows it
    # created after all and running. Continue must not send wave 2 over it: the halt is
    # lifted, and the wave decides again when server-01 ends.
    request = waved(store)
    first, second = request.operations[:2]
    assert store.start_sending(first.id, now=T0)
    assert store.record_unsent(
        first.id,
        state="rejected",
        error="refused",
        now=T0,
        announce=first.announce("unsent", error="refused"),
    )
    send(store, second.id)
    end(store, second.id, "completed")
    assert loaded(store, request.id).wave_state == "halted"
    assert store.adopt_found(
        first.id,
        was="rejected",
        api_id="txn_late",
        status="running",
        scheduled_at=first.scheduled_at,
        estimated_duration=60,
        end_watch=True,
        now=T0,
        announce=first.announce("found_after_drop", status="running"),
    )
    assert loaded(store, request.id).wave_state == "going"
    assert store.continue_waves(request.id, wave=1, user=ALICE, now=T0) == "going"
    assert sendable(store) == []  # wave 2 waits for server-01
    end(store, first.id, "completed")
    assert loaded(store, request.id).wave == 2
    assert devices_of(store, sendable(store, T0 + timedelta(hours=1))) == ["server-03", "server-04"]
