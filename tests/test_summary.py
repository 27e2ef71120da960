"""One live summary: a request of several devices keeps its public message as the summary and
tells its thread only what a person must read; a request of one device is told step by step."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from bot.say import track_blocks
from bot.zequenze.simulator.endpoint import Simulator
from store import Store
from tests.conftest import FAST_RECOVERY, POST_RATE, Bot, eventually, start_bot, stop_bot
from tests.fakes import FakeSlack
from tests.test_flow import all_text, confirm_button, request_and_confirm, sent, thread_replies
from tests.test_store import T0, announce, confirmed_request, loaded, specs

TWENTY = "reboot server-01..server-20 now"


def root_text(bot: Bot, root_ts: str) -> str:
    message = bot.slack.message("C123", root_ts)
    assert message is not None
    return all_text(message)


def request_id_of(bot: Bot, root_ts: str) -> str:
    rows = bot.runtime.store.db.execute(
        "SELECT id FROM requests WHERE status_ts = ?", [root_ts]
    ).fetchall()
    assert len(rows) == 1
    return rows[0][0]


def test_twenty_devices_that_go_well_post_a_handful_of_replies_and_a_final_summary(
    bot: Bot,
) -> None:
    bot.simulator.run_seconds = 1.0
    _, root_ts = request_and_confirm(bot, TWENTY)
    eventually(
        lambda: (
            "all finished" in root_text(bot, root_ts)
            and "✅ 20 completed" in root_text(bot, root_ts)
        ),
        what="the public message to show all twenty completed",
    )
    replies = eventually(
        lambda: (r := thread_replies(bot, root_ts)) and r[-1].startswith("🏁") and r,
        what="the end in the thread",
    )
    assert len(replies) <= 5, replies
    assert replies == ["🏁 All 20 finished: 20 completed."]
    assert "*20 operations:* ✅ 20 completed" in root_text(bot, root_ts)


def test_a_failure_among_twenty_is_told_in_the_thread_with_its_error(bot: Bot) -> None:
    bot.simulator.run_seconds = 2.0
    _, root_ts = request_and_confirm(bot, TWENTY)
    sent(bot, request_id_of(bot, root_ts))
    with bot.simulator._lock:  # the outcome is the simulator's, decided at creation
        (doomed,) = [op for op in bot.simulator._operations if op.device_name == "server-07"]
        doomed.outcome, doomed.error = "failed", "Disk full: /var is at 100%"
    replies = eventually(
        lambda: (r := thread_replies(bot, root_ts)) and r[-1].startswith("🏁") and r,
        what="the end in the thread",
    )
    failures = [r for r in replies if "failed" in r and not r.startswith("🏁")]
    assert len(failures) == 1, replies
    assert "`server-07`" in failures[0] and "Disk full: /var is at 100%" in failures[0]
    assert replies[-1] == "🏁 All 20 finished: 19 completed and 1 did not (`server-07`)."
    assert len(replies) == 2, replies
    eventually(
        lambda: "✅ 19 completed · ❌ 1 failed" in root_text(bot, root_ts),
        what="the summary to count the failure",
    )


def test_the_summary_is_edited_at_most_once_a_gap_and_shows_the_end(
    slack: FakeSlack, simulator: Simulator, tmp_path: Path
) -> None:
    gap = 1.0
    tuning = dataclasses.replace(FAST_RECOVERY, summary_gap=gap)
    simulator.run_seconds = 2.0
    bot = start_bot(slack=slack, simulator=simulator, database=tmp_path / "s.db", tuning=tuning)
    try:
        _, root_ts = request_and_confirm(bot, TWENTY)
        sent(bot, request_id_of(bot, root_ts))
        with simulator._lock:  # one ends every 0.15 s: a change for the summary each time
            for n, op in enumerate(sorted(simulator._operations, key=lambda o: o.device_name)):
                op.run_seconds = 1.0 + 0.15 * n
        eventually(
            lambda: "all finished" in root_text(bot, root_ts),
            what="the public message to show the end",
        )
        edits = [c for c in slack.calls_to("chat.update") if c.args.get("ts") == root_ts]
        (post,) = [c for c in slack.calls_to("chat.postMessage") if c.response.get("ts") == root_ts]
        moments = [post.at, *(c.at for c in edits)]
        gaps = [b - a for a, b in zip(moments, moments[1:], strict=False)]
        assert all(g >= gap * 0.95 for g in gaps), gaps
        # 40 changes over about four seconds, and an edit a gap at most while they happen.
        assert 2 <= len(edits) <= (moments[-1] - moments[0]) / gap + 1, gaps
        assert "✅ 20 completed" in all_text(edits[-1].args)
        request = bot.runtime.store.get_request(request_id_of(bot, root_ts))
        assert request is not None and all(op.final for op in request.operations)
    finally:
        stop_bot(bot)


def test_one_device_is_still_told_every_step(bot: Bot) -> None:
    bot.simulator.run_seconds = 1.0
    _, root_ts = request_and_confirm(bot, "reboot server-03 now")
    replies = eventually(
        lambda: (r := thread_replies(bot, root_ts)) and "completed" in r[-1] and r,
        what="the completion",
    )
    assert "scheduled as" in replies[0]
    assert not any(r.startswith("🏁") for r in replies)
    assert "operations:*" not in root_text(bot, root_ts)  # one line, no counts


# --- the store: what a request of several queues --------------------------------------------


def test_routine_steps_of_several_are_not_queued_but_change_the_summary(tmp_path: Path) -> None:
    store = Store(path=tmp_path / "o.db")
    try:
        request = confirmed_request(store)  # three operations
        first, second, third = request.operations
        version = store.root_version(request.id)
        for op in (first, second):
            assert store.start_sending(op.id, now=T0)
            assert store.record_submitted(
                op.id,
                api_id=f"txn_{op.id}",
                status="scheduled",
                estimated_duration=60,
                now=T0,
                announce=announce(request.id, "submitted", operation_id=op.id),
            )
        assert store.record_status(
            first.id,
            old="scheduled",
            new="running",
            now=T0,
            announce=announce(request.id, old="scheduled", new="running", operation_id=first.id),
        )
        assert store.pending_outbox() == []  # nothing for the thread
        assert store.root_version(request.id) == version + 3  # but the summary is stale
        assert [root[:2] for root in store.stale_roots()] == [(request.id, version + 3)]
        assert store.record_status(
            second.id,
            old="scheduled",
            new="failed",
            now=T0,
            announce=announce(
                request.id, old="scheduled", new="failed", error="boom", operation_id=second.id
            ),
        )
        assert store.start_sending(third.id, now=T0)
        assert store.record_unsent(
            third.id,
            state="unknown",
            error="timed out",
            now=T0,
            announce=announce(request.id, "unsent", unknown=True, operation_id=third.id),
        )
        assert store.warn_overdue(
            first.id, now=T0, announce=announce(request.id, "overdue", operation_id=first.id)
        )
        assert [e.kind for e in store.pending_outbox()] == ["status", "unsent", "overdue"]
        # The history keeps every step all the same.
        assert [s["new_status"] for s in store.status_history(first.id)] == [
            "scheduled",
            "running",
        ]
    finally:
        store.close()


def test_an_operation_the_api_answers_as_failed_at_once_is_told(tmp_path: Path) -> None:
    store = Store(path=tmp_path / "o.db")
    try:
        request = confirmed_request(store)
        op = request.operations[0]
        assert store.start_sending(op.id, now=T0)
        assert store.record_submitted(
            op.id,
            api_id="txn_1",
            status="failed",
            estimated_duration=None,
            now=T0,
            announce=announce(request.id, "submitted", operation_id=op.id),
        )
        assert [e.kind for e in store.pending_outbox()] == ["submitted"]
    finally:
        store.close()


def test_two_services_on_one_device_are_still_told_step_by_step(tmp_path: Path) -> None:
    store = Store(path=tmp_path / "o.db")
    try:
        spec = specs()[0]
        request = store.create_request(
            specs=[spec, dataclasses.replace(spec, parameters={"service_name": "apache"})],
            requester="U123",
            surface="command",
            text="restart nginx, apache on server-02",
            tz="UTC",
            immediate=True,
            notes=[],
            channel="C123",
            thread_ts=None,
            response_url=None,
            now=T0,
            expires_at=T0 + timedelta(minutes=10),
        )
        assert store.confirm(request.id, user="U123", now=T0, run_at=None)
        for op in request.operations:
            assert store.start_sending(op.id, now=T0)
            assert store.record_submitted(
                op.id,
                api_id=f"txn_{op.id}",
                status="scheduled",
                estimated_duration=60,
                now=T0,
                announce=announce(request.id, "submitted", operation_id=op.id),
            )
        kinds = [e.kind for e in store.pending_outbox()]
        assert kinds == ["root", "submitted", "submitted"]
    finally:
        store.close()


# --- the message: counts in their order, held, and the place of the wave ----------------------


def test_the_counts_go_from_waiting_to_ended_with_held_and_no_wave_line(tmp_path: Path) -> None:
    store = Store(path=tmp_path / "o.db")
    try:
        request = loaded(store, confirmed_request(store).id)
    finally:
        store.close()
    a, b, c = request.operations
    ops = (
        dataclasses.replace(a, state="submitted", api_id="txn_1", status="completed", final=True),
        dataclasses.replace(b, state="submitted", api_id="txn_2", status="running"),
        dataclasses.replace(c, held_since=T0),
    )
    shown = track_blocks.summary_lines(dataclasses.replace(request, operations=ops))
    assert shown == ["*3 operations:* ⏸️ 1 held by a freeze · ▶️ 1 running · ✅ 1 completed"]


def test_a_request_with_waves_shows_where_its_waves_stand(tmp_path: Path) -> None:
    store = Store(path=tmp_path / "o.db")
    try:
        request = loaded(store, confirmed_request(store).id)
    finally:
        store.close()
    going = dataclasses.replace(request, waves=20, wave=3, wave_state="going")
    assert track_blocks.summary_lines(going)[1].startswith("🌊 *Wave 3 of 20*")
    halted = dataclasses.replace(request, waves=20, wave=3, wave_state="halted")
    assert track_blocks.summary_lines(halted)[1].startswith("⏸️ *Halted after wave 3 of 20:*")
    assert len(track_blocks.summary_lines(request)) == 1


@pytest.mark.parametrize("budgeted", [True, False])
def test_edits_keep_to_the_workspaces_budget(
    budgeted: bool, simulator: Simulator, tmp_path: Path
) -> None:
    # Twenty requests at once, each editing its public message as it goes, with Slack's edit
    # limit tight (5 a second for the workspace): with the budget, no edit is refused and
    # every message ends right; without it (the control), Slack refuses some.
    with FakeSlack(post_rate=POST_RATE, update_rate=5.0, update_burst=6) as slack:
        bot = start_bot(
            slack=slack,
            simulator=simulator,
            database=tmp_path / "o.db",
            edit_gap=0.25 if budgeted else 0.0,
        )
        try:
            # Running longer than the twenty public messages take to go out (a public message
            # posted later than the request finished shows its end at once: nothing to edit).
            simulator.run_seconds = 1.5
            keys = [bot.command(f"reboot server-{n:02} now") for n in range(1, 21)]
            request_ids = [confirm_button(bot.wait_response(key))["value"] for key in keys]
            for request_id in request_ids:
                bot.click("ops_confirm", request_id)
            store = bot.runtime.store

            def all_shown() -> bool:
                requests = [store.get_request(r) for r in request_ids]
                return not store.stale_roots() and all(
                    r is not None and all(op.final for op in r.operations) for r in requests
                )

            eventually(all_shown, what="every request finished and its message showing it")
            refused = slack.rate_limited
        finally:
            stop_bot(bot)
    assert (refused == 0) is budgeted, refused


def test_an_outage_over_a_request_of_several_devices_is_told_once_each_way(
    tmp_path: Path,
) -> None:
    store = Store(path=tmp_path / "o.db")
    try:
        request = confirmed_request(store)  # three operations on several devices
        ops = request.operations
        for n, op in enumerate(ops):
            assert store.start_sending(op.id, now=T0)
            assert store.record_submitted(
                op.id,
                api_id=f"txn_{n}",
                status="scheduled",
                estimated_duration=60,
                now=T0,
                announce=op.announce("submitted"),
            )
        later = T0 + timedelta(minutes=10)
        for op in ops:  # every check failing for longer than the notice
            store.check_failed(op.id, now=T0, announce_after=60, announce=op.announce("x"))
            assert store.check_failed(
                op.id, now=later, announce_after=60, announce=op.announce("unreachable")
            )
        for op in ops:
            assert store.check_succeeded(op.id, now=later, announce=op.announce("reachable"))
        kinds = [e.kind for e in store.pending_outbox() if e.request_id == request.id]
        assert kinds.count("unreachable") == 1  # the first
        assert kinds.count("reachable") == 1  # the last
    finally:
        store.close()
