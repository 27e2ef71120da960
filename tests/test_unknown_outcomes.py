"""A create call whose outcome is unknown never becomes a second operation on the bot's word.

The API's list is the evidence: whatever appears that matches is adopted, however late. While
nothing does, the requester is asked in the thread (Send again / Drop), with what the API holds
for the device; a first attempt that turns up after a Send again becomes an operation of the
request too, and the thread says the device has two."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot import say
from bot.answers import Proposed
from bot.service import OpsService
from bot.track.tuning import Tuning
from bot.zequenze.api import ZequenzeClient
from bot.zequenze.devices import DeviceBook
from bot.zequenze.simulator.endpoint import Simulator
from bot.zequenze.simulator.faults import Fault
from store import Store
from tests.conftest import Bot, eventually, start_bot, stop_bot
from tests.fakes import FakeSlack
from tests.test_flow import all_text, confirm_button, request_and_confirm, thread_replies

# Unknown after the 0.5 s timeout; first looked for 0.3 s later, then every 0.2-0.5 s; the
# requester is asked 1.5 s after the outcome became unknown.
ASKING = Tuning(
    reconcile_delay=timedelta(seconds=0.3),
    look_every=0.2,
    look_cap=0.5,
    ask_after=timedelta(seconds=1.5),
    send_backoff=0.1,
    root_wait=timedelta(seconds=2),
)


@pytest.fixture
def asking(slack: FakeSlack, simulator: Simulator, tmp_path: Path) -> Iterator[Bot]:
    running = start_bot(
        slack=slack,
        simulator=simulator,
        database=tmp_path / "unknown.db",
        tuning=ASKING,
        api_timeout=0.5,
    )
    yield running
    stop_bot(running)


def question(bot: Bot) -> dict[str, Any]:
    """The thread message asking the requester, with its Send again / Drop buttons."""
    posts = eventually(
        lambda: [
            c.args
            for c in bot.slack.calls_to("chat.postMessage")
            if any(b.get("block_id") == "ops_unknown" for b in c.args.get("blocks") or [])
        ],
        what="the question to the requester",
    )
    assert len(posts) == 1, "asked more than once"
    return posts[0]


def button(message: dict[str, Any], action_id: str) -> dict[str, Any]:
    (actions,) = [b for b in message["blocks"] if b["type"] == "actions"]
    return next(e for e in actions["elements"] if e["action_id"] == action_id)


def answer(bot: Bot, message: dict[str, Any], action_id: str, *, user: str = "U123") -> str:
    response, key = bot.click(action_id, button(message, action_id)["value"], user=user)
    assert response.status_code == 200
    return bot.wait_response(key)["text"]


def test_a_post_that_never_landed_is_asked_about_never_resent_alone(asking: Bot) -> None:
    asking.simulator.faults.add(Fault(method="POST", kind="status", status=502))
    _, root_ts = request_and_confirm(asking, "reboot server-01 now")
    asked = question(asking)
    assert asking.simulator.operations() == []  # nothing sent again on the bot's word
    said = all_text(asked)
    assert "did the API create it?" in said
    assert "shows no operation for `server-01` since you confirmed" in said
    assert "Only <@U123> can choose" in said
    assert button(asked, "ops_send_again")["confirm"]["title"]["text"] == "Send it again?"
    assert "Only <@U123> can answer" in answer(asking, asked, "ops_send_again", user="U456")
    assert "Only <@U123> can answer" in answer(asking, asked, "ops_drop", user="U456")
    assert asking.simulator.operations() == []
    # Each refused click leaves its line in the audit trail, as a refused Approve does.
    refused = [
        (r["actor"], r["detail"]["action"], r["detail"]["reason"])
        for r in asking.runtime.store.audit_rows(since=None)
        if r["event"] == "click_refused"
    ]
    assert refused == [
        ("U456", "send_again", "not_yours_to_answer"),
        ("U456", "drop", "not_yours_to_answer"),
    ]

    assert "chose to send it again" in answer(asking, asked, "ops_send_again")
    eventually(
        lambda: any("is now *completed*" in r for r in thread_replies(asking, root_ts)),
        what="the operation sent again to complete",
    )
    assert asking.simulator.post_count == 1
    assert "already answered" in answer(asking, asked, "ops_drop")


def test_a_late_original_is_adopted_even_after_the_question(asking: Bot) -> None:
    # Answered by nothing; the API creates it 4 s later, well after the question (at ~2 s).
    asking.simulator.faults.add(Fault(method="POST", kind="commit_late", seconds=4.0))
    _, root_ts = request_and_confirm(asking, "reboot server-02 now")
    asked = question(asking)
    replies = eventually(
        lambda: (r := thread_replies(asking, root_ts)) and any("did create it" in x for x in r),
        what="the late operation to be adopted",
    )
    assert replies
    (created,) = asking.simulator.operations()
    adopted = next(r for r in thread_replies(asking, root_ts) if "did create it" in r)
    assert f"`{created['id']}`" in adopted and "nothing was sent twice" in adopted
    settled = answer(asking, asked, "ops_send_again")
    assert f"`{created['id']}`" in settled and "Nothing to choose" in settled
    eventually(
        lambda: any("is now *completed*" in r for r in thread_replies(asking, root_ts)),
        what="the adopted operation to be followed to the end",
    )
    assert asking.simulator.post_count == 1


def test_a_first_attempt_that_lands_after_a_send_again_is_told_and_followed(
    asking: Bot,
) -> None:
    asking.simulator.faults.add(Fault(method="POST", kind="commit_late", seconds=5.0))
    _, root_ts = request_and_confirm(asking, "reboot server-03 now")
    asked = question(asking)
    answer(asking, asked, "ops_send_again")
    twice = eventually(
        lambda: [r for r in thread_replies(asking, root_ts) if "after all" in r],
        timeout=15,
        what="the thread to hear of the first attempt",
    )
    first, again = asking.simulator.operations()  # both reached the API: the device has two
    assert f"`{first['id']}`" in twice[0] and f"`{again['id']}`" in twice[0]
    request = asking.runtime.store.get_request(
        asking.runtime.store.operations_in_state("submitted")[0].request_id
    )
    assert request is not None
    assert sorted(op.api_id or "" for op in request.operations) == sorted(
        [first["id"], again["id"]]
    )
    eventually(
        lambda: sum("is now *completed*" in r for r in thread_replies(asking, root_ts)) == 2,
        what="both operations to be followed to the end",
    )


def test_drop_sends_nothing_and_says_so(asking: Bot) -> None:
    asking.simulator.faults.add(Fault(method="POST", kind="reset"))
    _, root_ts = request_and_confirm(asking, "reboot server-04, server-05 now")
    asked = question(asking)
    assert "chose to drop it" in answer(asking, asked, "ops_drop")
    summary = eventually(
        lambda: [r for r in thread_replies(asking, root_ts) if r.startswith("🏁")],
        what="the summary once the other one ends",
    )
    assert "1 completed" in summary[0] and "1 did not" in summary[0]
    assert len(asking.simulator.operations()) == 1
    dropped = [
        op
        for op in asking.runtime.store.operations_in_state("rejected")
        if op.device_name in ("server-04", "server-05")
    ]
    assert len(dropped) == 1 and "Dropped" in (dropped[0].error or "")


def test_an_adopted_operation_that_already_ended_is_told_with_its_error(
    slack: FakeSlack, simulator: Simulator, tmp_path: Path
) -> None:
    simulator.failure_rate = 1.0
    simulator.run_seconds = 0.0
    simulator.faults.add(Fault(method="POST", kind="status_after_work", status=500))
    tuning = Tuning(reconcile_delay=timedelta(seconds=1.5), look_every=0.2, ask_after=timedelta(1))
    bot = start_bot(slack=slack, simulator=simulator, database=tmp_path / "a.db", tuning=tuning)
    try:
        _, root_ts = request_and_confirm(bot, "reboot server-06 now")
        (created,) = simulator.operations()
        # Someone asks the API about it before the bot looks: by then it has failed.
        httpx.get(
            f"{simulator.url}/inventory_device_name_headless_operation/",
            params={"id": created["id"], "update_status": "true"},
            headers={"Authorization": f"Bearer {simulator.token}"},
        ).raise_for_status()
        adopted = eventually(
            lambda: [r for r in thread_replies(bot, root_ts) if "did create it" in r],
            what="the adoption",
        )
        assert "It is *failed*: Device did not come back online" in adopted[0]
        status = eventually(
            lambda: [
                c for c in slack.calls_to("chat.update") if "all finished" in all_text(c.args)
            ],
            what="the status message to show it ended",
        )
        assert "❌" in all_text(status[-1].args)
        assert simulator.post_count == 1
    finally:
        stop_bot(bot)


def test_a_send_again_that_goes_unanswered_too_is_asked_about_again(asking: Bot) -> None:
    asking.simulator.faults.add(Fault(method="POST", kind="status", status=502, times=2))
    _, root_ts = request_and_confirm(asking, "reboot server-07 now")
    first = question(asking)
    answer(asking, first, "ops_send_again")
    asked = eventually(
        lambda: [
            c.args
            for c in asking.slack.calls_to("chat.postMessage")
            if any(b.get("block_id") == "ops_unknown" for b in c.args.get("blocks") or [])
        ][1:],
        what="the second question",
    )
    assert asking.simulator.operations() == []
    assert "chose to send it again" in answer(asking, asked[0], "ops_send_again")
    eventually(
        lambda: any("is now *completed*" in r for r in thread_replies(asking, root_ts)),
        what="the third try to complete",
    )
    assert asking.simulator.post_count == 1


def test_a_request_for_now_sent_again_runs_when_sent_again(asking: Bot) -> None:
    asking.simulator.faults.add(Fault(method="POST", kind="status", status=502))
    request_id = confirm_button(asking.wait_response(asking.command("reboot server-08 now")))[
        "value"
    ]
    asking.click("ops_confirm", request_id)
    asked = question(asking)
    answer(asking, asked, "ops_send_again")
    (created,) = eventually(asking.simulator.operations, what="the operation sent again")
    request = asking.runtime.store.get_request(request_id)
    assert request is not None and request.confirmed_at is not None
    # Asked 1.5 s after the unanswered call: sent again for the click's moment, not for the
    # confirmation's, which could be long gone (and refused as too late to send).
    assert created["scheduled_at"] > request.confirmed_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_dropped_attempt_that_reaches_the_api_after_all_is_told_and_followed(
    asking: Bot,
) -> None:
    asking.simulator.faults.add(Fault(method="POST", kind="commit_late", seconds=4.0))
    _, root_ts = request_and_confirm(asking, "reboot server-09 now")
    asked = question(asking)
    answer(asking, asked, "ops_drop")
    told = eventually(
        lambda: [r for r in thread_replies(asking, root_ts) if "dropped reached the API" in r],
        what="the thread to hear of it",
    )
    (created,) = asking.simulator.operations()
    assert f"`{created['id']}`" in told[0]
    eventually(
        lambda: any("is now *completed*" in r for r in thread_replies(asking, root_ts)),
        what="it to be followed to the end",
    )


def test_a_send_again_after_the_operations_time_has_gone_by_is_refused(tmp_path: Path) -> None:
    """Not "sending it again" and then "not sent, too late": the click says so itself."""
    moment = [datetime(2030, 1, 1, 12, 0, tzinfo=UTC)]
    store = Store(path=tmp_path / "late.db")
    service = OpsService(
        store=store,
        # Nothing listens there: the proposal's look at the device fails, at once as it is
        # not retried (retries would only back off for 4 s), and nothing is ever sent.
        api=ZequenzeClient(base_url="http://127.0.0.1:9/", token="t", retries=0),
        devices=DeviceBook(store=store, clock=lambda: moment[0]),
        clock=lambda: moment[0],
    )
    proposed = service.handle_text(
        "reboot server-01 at 12:30", requester="U123", tz="UTC", surface="command", channel="C1"
    )
    assert isinstance(proposed, Proposed)
    assert service.confirm(proposed.request.id, user="U123").ok
    (op,) = proposed.request.operations
    assert store.start_sending(op.id, now=moment[0])
    assert store.record_unsent(
        op.id, state="unknown", error="timed out", now=moment[0], announce=op.announce("unsent")
    )
    moment[0] = datetime(2030, 1, 1, 12, 33, tzinfo=UTC)  # 12:30 was 3 minutes ago
    outcome = service.send_again(op.id, user="U123")
    assert outcome.reason == "too_late_to_resend"
    assert "not sent again" in say.track.click_refusal(outcome.reason)
    (still,) = store.get_request(proposed.request.id).operations  # type: ignore[union-attr]
    assert still.state == "unknown"  # Drop is still open to the requester
    assert service.drop(op.id, user="U123").ok
    store.close()


def test_a_send_again_after_it_was_found_says_it_was_found(tmp_path: Path) -> None:
    """Not "too late to send": the operation was found meanwhile, and that is the answer."""
    moment = [datetime(2030, 1, 1, 12, 0, tzinfo=UTC)]
    store = Store(path=tmp_path / "found.db")
    service = OpsService(
        store=store,
        # Nothing listens there: the proposal's look at the device fails, at once as it is
        # not retried (retries would only back off for 4 s), and nothing is ever sent.
        api=ZequenzeClient(base_url="http://127.0.0.1:9/", token="t", retries=0),
        devices=DeviceBook(store=store, clock=lambda: moment[0]),
        clock=lambda: moment[0],
    )
    proposed = service.handle_text(
        "reboot server-01 at 12:30", requester="U123", tz="UTC", surface="command", channel="C1"
    )
    assert isinstance(proposed, Proposed)
    assert service.confirm(proposed.request.id, user="U123").ok
    (op,) = proposed.request.operations
    assert store.start_sending(op.id, now=moment[0])
    assert store.record_unsent(
        op.id, state="unknown", error="timed out", now=moment[0], announce=op.announce("unsent")
    )
    assert store.adopt_found(
        op.id,
        was="unknown",
        api_id="txn_7",
        status="running",
        scheduled_at=op.scheduled_at,
        estimated_duration=None,
        end_watch=True,
        now=moment[0],
        announce=op.announce("adopted"),
    )
    moment[0] = datetime(2030, 1, 1, 12, 40, tzinfo=UTC)
    outcome = service.send_again(op.id, user="U123")
    assert (outcome.reason, outcome.detail) == ("already_found", "txn_7")
    store.close()


def test_a_first_attempt_found_after_the_resend_was_refused_is_not_called_dropped(
    asking: Bot,
) -> None:
    asking.simulator.faults.add(Fault(method="POST", kind="commit_late", seconds=4.0))
    asking.simulator.faults.add(
        Fault(method="POST", kind="status", status=400, body='{"device_name": ["Busy."]}')
    )
    _, root_ts = request_and_confirm(asking, "reboot server-10 now")
    answer(asking, question(asking), "ops_send_again")
    told = eventually(
        lambda: [r for r in thread_replies(asking, root_ts) if "reached the API after all" in r],
        what="the thread to hear of the first attempt",
    )
    assert "an earlier attempt reached the API" in told[0] and "dropped" not in told[0]
    assert len(asking.simulator.operations()) == 1
