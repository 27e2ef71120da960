"""The whole path over loopback: /ops → confirmation → click → API → status in the thread, on
each engine (a SQLite file, and PostgreSQL where the bot leads by the lease and its claims are
fenced by it)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from slack_sdk import WebClient

from bot import say
from bot.slack.notifier import Zone, ZoneLookup
from bot.zequenze.simulator.endpoint import Simulator
from bot.zequenze.simulator.faults import Fault
from store import Store
from tests.conftest import Bot, eventually, is_root_post, start_bot, stop_bot
from tests.fakes import BOT_TOKEN, FakeSlack, block_actions_payload


@pytest.fixture
def bot(slack: FakeSlack, simulator: Simulator, either_database: str) -> Iterator[Bot]:
    running = start_bot(slack=slack, simulator=simulator, database=either_database)
    yield running
    stop_bot(running)


def requests_kept(store: Store) -> int:
    with store.engine.read() as tx:
        return tx.value("SELECT count(*) FROM requests")


def confirm_button(response: dict) -> dict:
    for block in response.get("blocks", []):
        if block["type"] == "actions":
            return next(e for e in block["elements"] if e["action_id"] == "ops_confirm")
    raise AssertionError(f"no Confirm button in {response}")


def all_text(message: dict) -> str:
    parts = [message.get("text") or ""]
    for block in message.get("blocks") or []:
        if "text" in block and isinstance(block["text"], dict):
            parts.append(block["text"]["text"])
        for element in block.get("elements", []):
            if isinstance(element.get("text"), str):
                parts.append(element["text"])
    return "\n".join(parts)


def thread_replies(bot: Bot, thread_ts: str) -> list[str]:
    return [
        c.args.get("text", "")
        for c in bot.slack.calls_to("chat.postMessage")
        if c.args.get("thread_ts") == thread_ts
    ]


def request_and_confirm(bot: Bot, text: str, *, user: str = "U123") -> tuple[dict, str]:
    """Returns the confirmation shown and the ts of the public status message."""
    shown = bot.wait_response(bot.command(text, user=user))
    request_id = confirm_button(shown)["value"]
    response, key = bot.click("ops_confirm", request_id, user=user)
    assert response.status_code == 200
    assert "Confirmed" in bot.wait_response(key)["text"]
    (root,) = eventually(
        lambda: [c for c in bot.slack.calls_to("chat.postMessage") if is_root_post(c, request_id)],
        what="this request's public status message",
    )
    sent(bot, request_id)
    return shown, root.response["ts"]


def sent(bot: Bot, request_id: str) -> None:
    """Wait until the sender has been through every operation of the request (the click only
    confirms; the operations go to the API from the sending loop)."""

    def done() -> bool:
        request = bot.runtime.store.get_request(request_id)
        assert request is not None
        return all(op.state not in ("draft", "new", "sending") for op in request.operations)

    eventually(done, what=f"the operations of {request_id} to be sent")


def test_restart_now_runs_to_completion_with_updates_in_the_thread(bot: Bot) -> None:
    # Long enough that a 0.1 s poller surely sees "running" between the other two.
    bot.simulator.run_seconds = 2.0
    shown, root_ts = request_and_confirm(bot, "restart nginx on server-02 now")

    button = confirm_button(shown)
    assert button["style"] == "primary"
    assert shown["response_type"] == "ephemeral"
    assert "`server-02` · restart_service · service_name=nginx, verify_status=true" in all_text(
        shown
    )

    replies = eventually(
        lambda: (r := thread_replies(bot, root_ts)) and "completed" in r[-1] and r,
        what="the completed reply",
    )
    assert [("scheduled as" in r, "running" in r, "completed" in r) for r in replies] == [
        (True, False, False),
        (False, True, False),
        (False, False, True),
    ]
    (op,) = bot.simulator.operations()
    assert op["device_name"] == "server-02"
    assert op["operation_type"] == "restart_service"
    assert op["parameters"] == {"service_name": "nginx", "verify_status": True}
    # The status message is re-rendered right after the thread reply: wait for that too.
    last_update = eventually(
        lambda: [
            c for c in bot.slack.calls_to("chat.update") if "all finished" in all_text(c.args)
        ],
        what="the status message to show the end",
    )[-1]
    assert last_update.args["ts"] == root_ts
    assert "completed" in all_text(last_update.args)


@pytest.mark.parametrize(
    ("user", "zone"), [("U123", "America/Los_Angeles"), ("U456", "Europe/Madrid")]
)
def test_at_14_is_read_in_the_requesters_own_zone(bot: Bot, user: str, zone: str) -> None:
    local_now = datetime.now(ZoneInfo(zone))
    expected = local_now.replace(hour=14, minute=0, second=0, microsecond=0)
    if expected <= local_now:
        expected += timedelta(days=1)
    expected_utc = expected.astimezone(UTC)

    shown, _ = request_and_confirm(bot, "restart nginx on server-02 at 14:00", user=user)

    text = all_text(shown)
    assert f"14:00 ({zone})" in text
    assert expected_utc.strftime("%H:%M UTC") in text
    assert " in " in text  # "in 3 h 15 min"
    (op,) = bot.simulator.operations()
    assert op["scheduled_at"] == expected_utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_several_devices_make_one_api_call_each(bot: Bot) -> None:
    _, root_ts = request_and_confirm(bot, "reboot server-01, server-02 and server-03 force now")
    ops = bot.simulator.operations()
    assert sorted(op["device_name"] for op in ops) == ["server-01", "server-02", "server-03"]
    assert all(op["parameters"] == {"force": True, "timeout": 300} for op in ops)
    assert bot.simulator.post_count == 3
    summary = eventually(
        lambda: [r for r in thread_replies(bot, root_ts) if r.startswith("🏁")],
        what="the summary once all three ended",
    )
    assert summary == ["🏁 All 3 finished: 3 completed."]
    # A request of several: its steps are in the live summary, not one reply each.
    assert thread_replies(bot, root_ts) == summary


def test_a_bad_signature_gets_401_and_does_nothing(bot: Bot) -> None:
    from tests.fakes import slash_command_body

    body = slash_command_body(text="reboot server-01 now", response_url=bot.slack.response_url("x"))
    response = bot.send(body, headers={"X-Slack-Signature": "v0=" + "0" * 64})
    assert response.status_code == 401
    stale = bot.send(body, timestamp=int(datetime.now(UTC).timestamp()) - 6 * 60)
    assert stale.status_code == 401
    assert bot.slack.calls_to("response_url") == []
    assert requests_kept(bot.runtime.store) == 0


def test_double_click_makes_exactly_one_operation(bot: Bot) -> None:
    shown = bot.wait_response(bot.command("reboot server-04 now"))
    request_id = confirm_button(shown)["value"]
    results: list[int] = []
    clicks = [
        threading.Thread(
            target=lambda: results.append(bot.click("ops_confirm", request_id)[0].status_code)
        )
        for _ in range(4)
    ]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join()
    assert results == [200] * 4
    eventually(lambda: len(bot.simulator.operations()) == 1, what="one operation")
    eventually(
        lambda: (
            sum("already" in (c.args.get("text") or "") for c in bot.slack.calls_to("response_url"))
            == 3
        ),
        what="three 'already' answers",
    )
    assert bot.simulator.post_count == 1
    roots = [c for c in bot.slack.calls_to("chat.postMessage") if not c.args.get("thread_ts")]
    assert len(roots) == 1


def test_only_the_requester_can_confirm_or_cancel(bot: Bot) -> None:
    shown = bot.wait_response(bot.command("reboot server-05 now", user="U123"))
    request_id = confirm_button(shown)["value"]
    for action in ("ops_confirm", "ops_cancel"):
        _, key = bot.click(action, request_id, user="U456")
        answer = bot.wait_response(key)
        assert answer["response_type"] == "ephemeral"
        assert answer["replace_original"] is False
        assert "Only <@U123> can confirm or cancel" in answer["text"]
    assert bot.simulator.operations() == []
    _, key = bot.click("ops_cancel", request_id, user="U123")
    assert "Cancelled" in bot.wait_response(key)["text"]
    _, key = bot.click("ops_confirm", request_id, user="U123")
    assert "cancelled" in bot.wait_response(key)["text"]
    assert bot.simulator.operations() == []


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("dance on server-01", "restart"),
        ("reboot server-01 at 25:99", "25:99"),
        ("reboot server-01 on 2020-01-20 at 09:30", "past"),
        ("reboot <!channel>", "<!channel>"),
        ("reboot server-01 server-02", "server-02"),
        ("restart nginx on server-01 tomorrow", "time"),
    ],
)
def test_each_refusal_says_what_was_wrong_and_shows_an_example(
    bot: Bot, text: str, said: str
) -> None:
    answer = bot.wait_response(bot.command(text))
    assert answer["response_type"] == "ephemeral"
    assert "For example: `/ops " in answer["text"]
    assert said.replace("<", "&lt;").replace(">", "&gt;") in answer["text"]
    assert "<!channel>" not in answer["text"]
    assert requests_kept(bot.runtime.store) == 0


@pytest.mark.parametrize(
    ("fault", "sentence"),
    [
        (
            Fault(
                method="POST",
                kind="status",
                status=400,
                body='{"scheduled_at": ["Bad time."]}',
                times=1,
            ),
            "The API refused the request: scheduled_at: Bad time.",
        ),
        (
            Fault(
                method="POST",
                kind="status",
                status=401,
                body='{"detail": "Invalid token."}',
                times=1,
            ),
            "API token is invalid",
        ),
        (
            Fault(method="POST", kind="status", status=500, body='{"detail": "boom"}', times=1),
            "may or may not have been created",
        ),
    ],
)
def test_api_errors_reach_the_thread_as_sentences(bot: Bot, fault: Fault, sentence: str) -> None:
    bot.simulator.faults.add(fault)
    _, root_ts = request_and_confirm(bot, "reboot server-06 now")
    replies = eventually(lambda: thread_replies(bot, root_ts), what="a thread reply")
    assert sentence in replies[0]
    assert "Traceback" not in replies[0]


def test_a_device_not_in_the_inventory_is_named(bot: Bot) -> None:
    _, root_ts = request_and_confirm(bot, "reboot server-99 now")
    replies = eventually(lambda: thread_replies(bot, root_ts), what="a thread reply")
    assert "Device server-99 is not in the inventory." in replies[0]
    assert bot.simulator.operations() == []


def test_not_in_channel_stops_the_request_and_says_how_to_invite(bot: Bot) -> None:
    bot.slack.fail("chat.postMessage", error="not_in_channel", times=1)
    key = bot.command("reboot server-07 now")
    request_id = confirm_button(bot.wait_response(key))["value"]
    _, click = bot.click("ops_confirm", request_id)
    assert "Confirmed" in bot.wait_response(click)["text"]
    told = bot.wait_response(key, count=2)  # privately, on the command's response_url
    assert told["response_type"] == "ephemeral"
    assert "Nothing was sent" in told["text"]
    assert "/invite @opsbot" in told["text"]
    assert "`/ops reboot server-07 now`" in told["text"]
    sent(bot, request_id)
    request = bot.runtime.store.get_request(request_id)
    assert request is not None and [op.state for op in request.operations] == ["rejected"]
    assert bot.simulator.operations() == []


def test_a_user_without_a_zone_is_told_utc_is_assumed(bot: Bot) -> None:
    shown = bot.wait_response(bot.command("reboot server-01 at 14:00", user="U789"))
    assert "no time zone" in all_text(shown)
    assert "(UTC)" in all_text(shown)


def test_mention_in_a_thread_keeps_the_story_in_that_thread(bot: Bot) -> None:
    bot.mention(
        "restart nginx on server-02 now", ts="1700000100.000200", thread_ts="1700000000.000100"
    )
    ephemeral = eventually(
        lambda: bot.slack.calls_to("chat.postEphemeral"), what="the confirmation"
    )[0]
    assert ephemeral.args["thread_ts"] == "1700000000.000100"
    assert ephemeral.args["user"] == "U123"
    request_id = confirm_button(ephemeral.args)["value"]
    _, key = bot.click("ops_confirm", request_id)
    assert "Confirmed" in bot.wait_response(key)["text"]
    replies = eventually(
        lambda: (r := thread_replies(bot, "1700000000.000100")) and "completed" in r[-1] and r,
        what="completion in the incident thread",
    )
    assert "Ops request" in replies[0]  # the status message itself, posted into the thread
    assert not [c for c in bot.slack.calls_to("chat.postMessage") if not c.args.get("thread_ts")]


def test_list_and_status(bot: Bot) -> None:
    for device in ("server-01", "server-02", "server-01"):
        _, _ = request_and_confirm(bot, f"update {device} with openssl now")
    answer = bot.wait_response(bot.command("list"))
    assert "*3 operations*" in all_text(answer)
    newest_first = [op["id"] for op in reversed(bot.simulator.operations())]
    text = all_text(answer)
    assert [text.index(f"`{i}`") for i in newest_first] == sorted(
        text.index(f"`{i}`") for i in newest_first
    )

    answer = bot.wait_response(bot.command("list server-01"))
    assert "*2 operations for `server-01`*" in all_text(answer)

    first = bot.simulator.operations()[0]["id"]
    answer = bot.wait_response(bot.command(f"status {first}"))
    assert first in all_text(answer) and "package_list=[openssl]" in all_text(answer)
    assert any("update_status=true" in path and first in path for _, path in bot.simulator.requests)

    answer = bot.wait_response(bot.command("status txn_999999"))
    assert "txn_999999" in answer["text"] and "No operation" in answer["text"]

    answer = bot.wait_response(bot.command("help"))
    assert "restart" in answer["text"] and "reboot" in answer["text"] and "update" in answer["text"]


def test_modal_round_trip(bot: Bot) -> None:
    key = bot.command("")
    opened = eventually(lambda: bot.slack.calls_to("views.open"), what="views.open")[0]
    view = opened.args["view"]
    assert view["callback_id"] == "ops_modal"
    metadata = view["private_metadata"]
    assert json.loads(metadata)["channel"] == "C123"
    assert "service_name" in [b["block_id"] for b in view["blocks"]]  # restart comes first

    # Choosing "reboot" swaps the parameter fields for reboot's own.
    opened_view = opened.response["view"]
    payload = block_actions_payload(action_id="ops_modal_type", value="", view=opened_view)
    payload["actions"] = [
        {
            "type": "static_select",
            "action_id": "ops_modal_type",
            "block_id": "operation_type",
            "selected_option": {
                "text": {"type": "plain_text", "text": "Reboot"},
                "value": "reboot",
            },
            "action_ts": "1700000000.1",
        }
    ]
    assert bot.send(urlencode({"payload": json.dumps(payload)})).status_code == 200
    updated = eventually(lambda: bot.slack.calls_to("views.update"), what="views.update")[0]
    assert updated.args["view_id"] == opened_view["id"]
    fields = [b["block_id"] for b in updated.args["view"]["blocks"]]
    assert fields == ["operation_type", "devices", "force", "timeout", "when"]
    assert updated.args["view"]["private_metadata"] == metadata

    bad = bot.submit_view(
        {
            "operation_type": {
                "ops_modal_type": {"type": "static_select", "selected_option": {"value": "reboot"}}
            },
            "devices": {"value": "server-01, <bad>"},
            "when": {"value": {"type": "datetimepicker", "selected_date_time": 1000}},
        },
        metadata,
    )
    assert bad.status_code == 200
    errors = bad.json()
    assert errors["response_action"] == "errors"
    assert set(errors["errors"]) >= {"devices", "when"}

    good = bot.submit_view(
        {
            "operation_type": {
                "ops_modal_type": {"type": "static_select", "selected_option": {"value": "reboot"}}
            },
            "devices": {"value": "server-01, server-02"},
            "force": {"value": {"type": "checkboxes", "selected_options": [{"value": "true"}]}},
            "timeout": {"value": "10m"},
            "when": {"value": {"type": "datetimepicker", "selected_date_time": None}},
        },
        metadata,
    )
    assert good.status_code == 200
    shown = bot.wait_response(key)
    assert "*reboot* on 2 devices: `server-01`, `server-02`" in all_text(shown)
    assert "*Parameters (both devices):* force=true, timeout=600" in all_text(shown)


def test_restart_mid_flight_resumes_polling_without_reposting(
    slack, simulator, either_database: str
) -> None:
    simulator.run_seconds = 1.5
    db = either_database
    first = start_bot(slack=slack, simulator=simulator, database=db)
    _, root_ts = request_and_confirm(first, "reboot server-08 now")
    eventually(
        lambda: any("scheduled as" in r for r in thread_replies(first, root_ts)), what="submitted"
    )
    stop_bot(first)
    seen = len(thread_replies(first, root_ts))

    second = start_bot(slack=slack, simulator=simulator, database=db)
    try:
        replies = eventually(
            lambda: (r := thread_replies(second, root_ts)) and "completed" in r[-1] and r,
            what="completion after the restart",
        )
        assert len(replies) >= seen
        assert sum("scheduled as" in r for r in replies) == 1
        assert sum("running" in r for r in replies) <= 1
        assert sum("completed" in r for r in replies) == 1
        assert len(simulator.operations()) == 1
    finally:
        stop_bot(second)


@pytest.mark.parametrize(
    "failure",
    [
        {"down": True},
        {"status": 500},
        {"status": 429},
        {"status": 200, "error": "internal_error"},
    ],
    ids=["unreachable", "5xx", "429", "internal_error"],
)
def test_a_failed_zone_lookup_is_utc_this_once_says_so_and_is_asked_again(
    slack, failure: dict
) -> None:
    """users.info failing for a moment is not a profile without a zone: nothing is
    remembered, the note says why UTC was used, and the next command gets the real zone."""
    lookup = ZoneLookup(
        client=WebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[])
    )
    if failure.pop("down", False):
        slack.down = True
    else:
        slack.fail("users.info", **failure)
    failed = lookup("U123")
    assert failed == Zone(tz="UTC", note=say.track.TZ_UNAVAILABLE)
    assert "no time zone" not in say.track.TZ_UNAVAILABLE
    assert lookup.peek("U123") is None
    slack.down = False
    assert lookup("U123") == Zone(tz="America/Los_Angeles")
    assert lookup.peek("U123") == Zone(tz="America/Los_Angeles")


def test_only_a_definite_answer_is_remembered_as_no_zone(slack) -> None:
    lookup = ZoneLookup(
        client=WebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[])
    )
    assert lookup("U789") == Zone(tz="UTC", note=say.track.NO_TZ)  # a profile without one
    assert lookup("U000") == Zone(tz="UTC", note=say.track.NO_TZ)  # user_not_found
    calls = len(slack.calls_to("users.info"))
    assert lookup("U789") == Zone(tz="UTC", note=say.track.NO_TZ)
    assert len(slack.calls_to("users.info")) == calls  # remembered


def test_a_failed_zone_lookup_words_the_confirmation_truthfully(bot: Bot) -> None:
    bot.slack.fail("users.info", status=503)
    shown = bot.wait_response(bot.command("reboot server-01 at 14:00"))
    assert "could not read your time zone" in all_text(shown)
    assert "no time zone" not in all_text(shown)
    shown = bot.wait_response(bot.command("reboot server-01 at 14:00"))
    assert "14:00 (America/Los_Angeles)" in all_text(shown)


def test_several_services_reach_the_api_as_one_operation_each(bot: Bot) -> None:
    shown, _ = request_and_confirm(bot, "restart nginx, apache on server-02 now")
    text = all_text(shown)
    assert "*Please confirm these 2 operations (on 1 device).*" in text
    assert "*On each device:*\n• service_name=nginx\n• service_name=apache" in text
    sent = eventually(
        lambda: len(ops := bot.simulator.operations()) == 2 and ops, what="both operations"
    )
    assert sorted((op["device_name"], op["parameters"]["service_name"]) for op in sent) == [
        ("server-02", "apache"),
        ("server-02", "nginx"),
    ]
