"""Delivery that never wedges: Block Kit that Slack accepts however long the input, a thread
Slack refuses for good given up (its requester told once) without holding up the others, a
status message that cannot be edited left alone, and a private answer that outlives its
response_url."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from bot.answers import Listed, Looked, OperationList
from bot.say import common_blocks, track_blocks
from bot.track.outbox import ROOT_BACKOFF, UNDELIVERED
from bot.zequenze.simulator.endpoint import Simulator
from store import RequestRecord, Store
from tests.conftest import Bot, eventually, start_bot, stop_bot
from tests.fakes import FakeSlack
from tests.test_flow import all_text, confirm_button, thread_replies
from tests.test_messages import NOW, make_request

# 380 packages: 3822 characters typed, well over one section's 3000 once listed.
PACKAGES = ", ".join(f"pkg-{i:04d}" for i in range(380))
LONG_UPDATE = f"update server-01 with {PACKAGES}"


def sections_fit(blocks: list[dict[str, Any]]) -> None:
    """What Slack itself insists on: slack_sdk's offline checks, and no empty section text
    (which slack_sdk lets through but Slack refuses with `invalid_blocks`)."""
    assert 0 < len(blocks) <= 50
    for block in blocks:
        Block.parse(block).validate_json()
        if block["type"] == "section":
            assert 0 < len(block["text"]["text"]) <= 3000, len(block["text"]["text"])


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(path=tmp_path / "d.db")


def in_public(store: Store, typed: str, *, status_ts: str) -> RequestRecord:
    request = make_request(store, typed, tz="UTC")
    assert store.confirm(request.id, user="U123", now=NOW, run_at=None)
    (root,) = store.pending_outbox()
    assert store.root_posted(root.id, status_ts=status_ts, now=NOW)
    confirmed = store.get_request(request.id)
    assert confirmed is not None
    return confirmed


# --- 1. Block Kit within limits, whatever the length ---------------------------------------


def test_an_over_long_line_never_leaves_an_empty_or_oversized_section(store: Store) -> None:
    request = make_request(store, LONG_UPDATE, tz="UTC")
    sections_fit(track_blocks.confirmation(request, now=NOW))
    sections_fit(track_blocks.status_message(request))
    # An API error longer than a section, with characters that grow when escaped.
    error = "refused: " + "<&>" * 2000
    (op,) = request.operations
    for state in ("rejected", "unknown"):
        failed = replace(request, operations=(replace(op, state=state, error=error),))
        sections_fit(track_blocks.status_message(failed))
    several = make_request(store, "reboot server-01, server-02, server-03 now", tz="UTC")
    many_errors = tuple(replace(o, state="rejected", error=error) for o in several.operations)
    blocks = track_blocks.status_message(replace(several, operations=many_errors))
    sections_fit(blocks)
    # Each operation's error is shown (shortened to share the message's room).
    assert sum(b["text"]["text"].count("refused") for b in blocks if b["type"] == "section") == 3


def test_long_answers_and_listings_stay_within_limits() -> None:
    item = {
        "id": "txn_1",
        "device_name": "server-01",
        "operation_type": "update",
        "status": "failed" * 700,
        "scheduled_at": "2026-11-25T10:00:00Z",
        "parameters": {"package_list": PACKAGES.split(", ")},
        "error": "e" * 5000,
    }
    items = [item, {**item, "id": "txn_2"}]
    listing = Listed(listing=OperationList(items=items, total=2), device=None)
    for result in (listing, Looked(operation_id="txn_1", item=item)):
        sections_fit(track_blocks.answer(result, now=NOW).message["blocks"])
    sections_fit(common_blocks.notice("x" * 5000)["blocks"])


def test_a_long_update_goes_through_to_a_valid_status_message(bot: Bot) -> None:
    shown = bot.wait_response(bot.command(f"{LONG_UPDATE} now"))
    sections_fit(shown["blocks"])
    response, key = bot.click("ops_confirm", confirm_button(shown)["value"])
    assert response.status_code == 200
    assert "Confirmed" in bot.wait_response(key)["text"]
    (op,) = eventually(lambda: bot.simulator.operations(), what="the operation")
    assert len(op["parameters"]["package_list"]) == 380
    root = next(c for c in bot.slack.calls_to("chat.postMessage") if not c.args.get("thread_ts"))
    sections_fit(root.args["blocks"])
    last = eventually(
        lambda: [
            c for c in bot.slack.calls_to("chat.update") if "all finished" in all_text(c.args)
        ],
        what="the status message to show the end",
    )[-1]
    # The list of packages is cut, not the status after it.
    assert "*completed*" in all_text(last.args) or "*failed*" in all_text(last.args)
    for update in bot.slack.calls_to("chat.update"):
        sections_fit(update.args["blocks"])


# --- 2. the outbox: fair, and giving up what Slack will never take --------------------------


def test_each_thread_offers_only_its_oldest_event_so_none_fills_the_window(store: Store) -> None:
    busy = in_public(store, "reboot server-01 now", status_ts="1.1")
    quiet = in_public(store, "reboot server-02 now", status_ts="2.2")
    for n in range(250):
        store.enqueue({"request_id": busy.id, "kind": f"busy{n}"}, now=NOW)
    store.enqueue({"request_id": busy.id, "kind": "private_note"}, now=NOW)
    store.enqueue({"request_id": quiet.id, "kind": "quiet"}, now=NOW)
    assert len(store.pending_outbox()) == 200  # the old window: only the busy thread
    assert store.waiting_channels() == ["C1"]
    heads = store.next_in_each_thread("C1", limit=200)
    assert [e.kind for e in heads] == ["busy0", "quiet"]
    (private,) = store.next_in_each_thread(None, limit=200)
    assert private.kind == "private_note"
    assert len({e.thread for e in [*heads, private]}) == 3

    assert store.mark_delivered(heads[0].id, now=NOW)
    assert [e.kind for e in store.next_in_each_thread("C1")][0] == "busy1"  # still in order


def test_giving_up_is_stored_and_the_requester_notice_queued_once(store: Store) -> None:
    request = in_public(store, "reboot server-01 now", status_ts="1.1")
    for n in range(3):
        store.enqueue({"request_id": request.id, "kind": f"k{n}"}, now=NOW)
    notice = {"request_id": request.id, "kind": UNDELIVERED, "reason": "why"}
    first, second, _ = store.pending_outbox()
    assert store.give_up_delivery(first.id, error="not_in_channel", now=NOW, notice=notice)
    assert not store.give_up_delivery(first.id, error="again", now=NOW, notice=notice)
    assert store.give_up_delivery(second.id, error="not_in_channel", now=NOW, notice=notice)
    assert [e.kind for e in store.pending_outbox()] == ["k2", UNDELIVERED]
    given_up = store.db.execute("SELECT count(*) FROM outbox WHERE given_up_at IS NOT NULL")
    assert given_up.fetchone()[0] == 2

    store.enqueue({"request_id": request.id, "kind": "bump"}, now=NOW)
    assert [r for r, _, _ in store.stale_roots()] == [request.id]
    store.give_up_root(request.id, now=NOW)
    store.enqueue({"request_id": request.id, "kind": "bump"}, now=NOW)
    assert store.stale_roots() == []  # never again, however it changes


def confirm_in(bot: Bot, typed: str, *, channel: str) -> tuple[str, str, str]:
    """Confirm a request typed in `channel`: (request id, its command's response key, the
    ts of its public status message)."""
    key = bot.command(typed, channel=channel)
    request_id = confirm_button(bot.wait_response(key))["value"]
    response, click = bot.click("ops_confirm", request_id)
    assert response.status_code == 200
    assert "Confirmed" in bot.wait_response(click)["text"]
    root = eventually(
        lambda: [
            c
            for c in bot.slack.calls_to("chat.postMessage")
            if c.args.get("channel") == channel and not c.args.get("thread_ts")
        ],
        what=f"the status message in {channel}",
    )[0]
    return request_id, key, root.response["ts"]


def pile_up(bot: Bot, request_id: str, count: int) -> None:
    """More announcements for a thread than the sender ever looked at in one round."""
    store = bot.runtime.store
    request = store.get_request(request_id)
    assert request is not None
    for n in range(count):
        store.enqueue(
            {
                "request_id": request_id,
                "kind": "status",
                "operation_id": request.operations[0].id,
                "old": "x",
                "new": f"step-{n:03d}",
            },
            now=datetime.now(UTC),
        )
    bot.runtime.outbox.wake()


def finished_in(bot: Bot, root_ts: str) -> None:
    eventually(
        lambda: any("is now *completed*" in r for r in thread_replies(bot, root_ts)),
        timeout=15,
        what="the other thread to hear its operation completed",
    )


def failed_calls(bot: Bot, method: str, channel: str) -> list[Any]:
    return [
        c
        for c in bot.slack.calls_to(method)
        if c.args.get("channel") == channel and isinstance(c.response, dict)
        if not c.response.get("ok")
    ]


def posted_in(bot: Bot, thread_ts: str) -> list[str]:
    """The replies Slack took (thread_replies counts the refused tries too)."""
    return [
        c.args.get("text", "")
        for c in bot.slack.calls_to("chat.postMessage")
        if c.args.get("thread_ts") == thread_ts and c.response.get("ok")
    ]


def told_privately(bot: Bot, key: str, words: str) -> list[str]:
    answers = [r.get("text", "") for r in bot.responses(key)]
    answers += [c.args.get("text", "") for c in bot.slack.calls_to("chat.postEphemeral")]
    return [a for a in answers if words in a]


def test_a_thread_slack_refuses_for_good_is_given_up_without_silencing_others(
    bot: Bot,
) -> None:
    blocked, blocked_key, _ = confirm_in(bot, "reboot server-01 now", channel="CGONE")
    # The bot is removed from the channel and its status message deleted.
    bot.slack.fail("chat.postMessage", error="not_in_channel", times=None, channel="CGONE")
    bot.slack.fail("chat.update", error="message_not_found", times=None, channel="CGONE")
    pile_up(bot, blocked, 250)

    _, _, root_ts = confirm_in(bot, "reboot server-02 now", channel="C123")
    finished_in(bot, root_ts)

    store = bot.runtime.store
    eventually(
        lambda: not [e for e in store.pending_outbox(limit=10_000) if e.request_id == blocked],
        what="every message of the refused thread to be settled",
    )
    given_up = store.db.execute(
        "SELECT count(*) FROM outbox WHERE request_id = ? AND given_up_at IS NOT NULL", [blocked]
    ).fetchone()[0]
    assert given_up >= 250
    # A refusal is enough: what was queued before it is not tried, each at the channel's pace,
    # only to be refused again. What comes later (the rest of the pile-up while the outbox
    # runs beside it, the operation running, then done) is tried once, in case the bot was
    # invited back: a handful of tries, not 250.
    assert len(failed_calls(bot, "chat.postMessage", "CGONE")) <= 12
    (notice,) = told_privately(bot, blocked_key, "/invite @opsbot")
    assert blocked in notice
    # Editing the deleted message was tried once and then left alone, though the request
    # changed 250 times since.
    eventually(
        lambda: store.db.execute(
            "SELECT root_given_up_at FROM requests WHERE id = ?", [blocked]
        ).fetchone()[0],
        what="the deleted status message to be given up",
    )
    assert len(failed_calls(bot, "chat.update", "CGONE")) == 1


@pytest.fixture
def quick(slack: FakeSlack, simulator: Simulator, tmp_path: Path) -> Iterator[Bot]:
    """A bot and a Slack ten times faster than the others (250 posts in 2.5 s, not 15 s)."""
    slack.post_rate = 200.0
    running = start_bot(
        slack=slack, simulator=simulator, database=tmp_path / "quick.db", channel_gap=0.01
    )
    yield running
    stop_bot(running)


def test_a_thread_slack_keeps_turning_away_waits_without_holding_up_others(quick: Bot) -> None:
    bot = quick
    slow, slow_key, slow_root = confirm_in(bot, "reboot server-01 now", channel="CSLOW")
    bot.slack.fail("chat.postMessage", error="ratelimited", times=None, channel="CSLOW")
    bot.slack.fail("chat.update", error="internal_error", times=None, channel="CSLOW")
    pile_up(bot, slow, 250)

    _, _, root_ts = confirm_in(bot, "reboot server-02 now", channel="C123")
    finished_in(bot, root_ts)

    # Still waiting, nothing given up, nobody told of a failure: it is only a delay.
    waiting = [e for e in bot.runtime.store.pending_outbox(limit=10_000) if e.request_id == slow]
    assert len(waiting) >= 250
    assert not told_privately(bot, slow_key, "could not post")
    # The status message edit backs off: n tries need (2^(n-1) - 1) × the first delay.
    # Tried at its own pace, which the other channel's request need not have outlasted.
    edits = eventually(
        lambda: failed_calls(bot, "chat.update", "CSLOW"), what="the status message's edit"
    )
    span = time.monotonic() - edits[0].at
    assert len(edits) <= 2 + math.log2(span / ROOT_BACKOFF[0] + 1), (len(edits), span)

    bot.slack.clear_faults()
    replies = eventually(
        lambda: (
            (r := [x for x in posted_in(bot, slow_root) if "step-" in x]) and len(r) >= 250 and r
        ),
        timeout=60,
        what="the delayed thread to go out once Slack takes it again",
    )
    # Each once, in order.
    assert [r.split("*")[1] for r in replies] == [f"step-{n:03d}" for n in range(250)]
    eventually(
        lambda: [
            c
            for c in bot.slack.calls_to("chat.update")
            if c.args.get("ts") == slow_root and c.response.get("ok")
        ],
        timeout=60,
        what="the status message to be edited again",
    )


# --- 3. a private answer outlives its response_url -----------------------------------------


def test_a_form_submitted_after_its_response_url_expired_still_gets_its_confirmation(
    bot: Bot,
) -> None:
    bot.command("")
    opened = eventually(lambda: bot.slack.calls_to("views.open"), what="views.open")[0]
    metadata = opened.args["view"]["private_metadata"]
    assert json.loads(metadata)["channel"] == "C123"
    bot.slack.fail("response_url", status=404, error="expired_url", times=None)

    submitted = bot.submit_view(
        {
            "operation_type": {
                "ops_modal_type": {"type": "static_select", "selected_option": {"value": "reboot"}}
            },
            "devices": {"value": "server-01"},
            "when": {"value": {"type": "datetimepicker", "selected_date_time": None}},
        },
        metadata,
    )
    assert submitted.status_code == 200
    (ephemeral,) = eventually(
        lambda: bot.slack.calls_to("chat.postEphemeral"), what="the confirmation, ephemerally"
    )
    assert (ephemeral.args["channel"], ephemeral.args["user"]) == ("C123", "U123")
    assert ephemeral.response["ok"]
    assert confirm_button(ephemeral.args)["style"] == "primary"
    assert [c.status for c in bot.slack.calls_to("response_url")] == [404]
