"""HTTP mode's front door (issue 16): every request of a burst is accepted and answered; each is
acknowledged by the thread that received it, once its body is read and parsed once, and before
any of its work; and no listener waits on Slack before it acknowledges.

Correctness only: how fast is measured in bench/ack_latency.py.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import slack_bolt.request.request as bolt_request
from slack_bolt import App

import bot.slack.guard as guard
import handlers.context
from bot import say
from bot.run.settings import HTTP_BACKLOG
from bot.slack.app import HttpServer, Workers, _Channel
from bot.zequenze.simulator.endpoint import Simulator
from bot.zequenze.simulator.faults import Fault
from tests.conftest import SECRET, Bot, eventually, start_bot, stop_bot
from tests.fakes import (
    BOT_TOKEN,
    FakeSlack,
    app_home_opened_body,
    app_mention_body,
    block_actions_body,
    block_actions_payload,
    slash_command_body,
)
from tests.fakes.burst import burst, signed_request

BURST = 200


def test_two_hundred_requests_at_once_on_connections_kept_open_are_all_answered(bot: Bot) -> None:
    """Slack retries neither a slash command nor a click: a connection the server does not take
    is a request lost. All 200 connections stay open (as kept-alive connections do) until the
    last one is answered, so none can wait for another to close."""
    keys = [f"burst-{n:03d}" for n in range(BURST)]
    requests = [
        signed_request(
            bot.url,
            slash_command_body(text="help", response_url=bot.slack.response_url(key)),
            secret=SECRET,
            keep_alive=True,
        )
        for key in keys
    ]
    answers = burst(bot.url, requests, timeout=30.0, hold=True)
    failed = [(keys[n], a.failure or a.status) for n, a in enumerate(answers) if a.status != 200]
    assert not failed, f"{len(failed)} of {BURST} not acknowledged, e.g. {failed[:3]}"

    def answered() -> set[str]:
        return {c.args["_key"] for c in bot.slack.calls_to("response_url")} & set(keys)

    eventually(lambda: answered() == set(keys), what="every command's answer")
    for key in keys:
        assert "reboot" in bot.responses(key)[0]["text"]  # the help, not an error


def test_the_server_keeps_to_the_limits_it_is_given() -> None:
    app = App(signing_secret=SECRET, token=BOT_TOKEN, token_verification_enabled=False)
    server = HttpServer(
        app=app, signing_secret=SECRET, host="127.0.0.1", port=0, threads=3, connections=20
    )
    serving = threading.Thread(target=server.serve, daemon=True)
    serving.start()
    try:
        assert server.limits == (3, 20, HTTP_BACKLOG)
    finally:
        server.close()
        serving.join(10)


def test_the_loop_has_nothing_to_send_while_a_task_holds_the_buffer() -> None:
    """waitress's loop found every connection whose task had written part of its answer
    writable, while the task's own thread held the buffer to send it: the loop went round
    and round with nothing to do (12,000 times in a burst of 100, up to a second of CPU under
    the interpreter's lock). The state waitress keeps for such a connection, without a
    socket."""
    channel = object.__new__(_Channel)
    channel.requests = ["a request being answered"]
    channel.total_outbufs_len = 120
    channel.will_close = channel.close_when_flushed = False
    channel.outbuf_lock = threading.Condition()
    held, done = threading.Event(), threading.Event()

    def task_sending() -> None:
        with channel.outbuf_lock:
            held.set()
            done.wait(10)

    sender = threading.Thread(target=task_sending)
    sender.start()
    try:
        assert held.wait(10)
        assert not channel.writable()
    finally:
        done.set()
        sender.join(10)
    assert channel.writable()  # the buffer free and bytes left in it: the loop sends them


@pytest.fixture
def where_work_is_handed_on(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of the thread each listener hands its work on from."""
    names: list[str] = []
    later = handlers.context.Deps.later

    def recorded(self: handlers.context.Deps, send: Any, work: Any) -> None:
        names.append(threading.current_thread().name)
        later(self, send, work)

    monkeypatch.setattr(handlers.context.Deps, "later", recorded)
    return names


def test_listeners_run_in_the_thread_that_received_the_request(
    bot: Bot, where_work_is_handed_on: list[str]
) -> None:
    """Bolt's default runs a listener in another pool while the request's thread polls every
    10 ms for its ack: an idle click took 12 ms instead of 2."""
    key = bot.command("help")
    bot.wait_response(key)
    response, click = bot.click("ops_confirm", "r_000000000000")
    assert response.status_code == 200
    bot.wait_response(click)
    assert len(where_work_is_handed_on) == 2
    assert all(name.startswith("waitress") for name in where_work_is_handed_on), (
        where_work_is_handed_on
    )


def test_a_request_body_is_parsed_once(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed_by_guard: list[str] = []
    parsed_by_bolt: list[str] = []
    parse_qsl, parse_body = guard.parse_qsl, bolt_request.parse_body

    def guard_parse(text_: str, **kwargs: Any) -> Any:
        parsed_by_guard.append(text_)
        return parse_qsl(text_, **kwargs)

    def bolt_parse(body: str, content_type: str | None) -> Any:
        if body:
            parsed_by_bolt.append(body)
        return parse_body(body, content_type)

    monkeypatch.setattr(guard, "parse_qsl", guard_parse)
    monkeypatch.setattr(bolt_request, "parse_body", bolt_parse)
    bot.wait_response(bot.command("help"))
    response, click = bot.click("ops_confirm", "r_000000000000")
    assert response.status_code == 200
    assert "does not exist" in bot.wait_response(click)["text"]
    bot.mention("help", ts="1700000500.000100", thread_ts=None)
    eventually(lambda: bot.slack.calls_to("chat.postMessage"), what="the mention's answer")
    assert len(parsed_by_guard) == 2  # the two form bodies; the mention is JSON
    assert parsed_by_bolt == []


def test_a_command_that_says_payload_is_read_as_a_command(bot: Bot) -> None:
    """Bolt's own parse takes any form body with "payload" in it for an interaction, and
    found no command in `/ops reboot payload-01 now`: Slack showed an error."""
    answer = bot.wait_response(bot.command("reboot payload-01 now"))
    assert "Please confirm" in answer["text"] and "payload-01" in answer["text"]


def test_an_ack_never_waits_for_the_work(bot: Bot) -> None:
    released = threading.Event()
    bot.simulator.faults.add(Fault(kind="latency", seconds=30, until=released, times=None))
    try:
        key = bot.command("list")  # answered 200 while the API holds the list
        assert bot.responses(key) == []
    finally:
        released.set()
    assert "operation" in bot.wait_response(key)["text"]


def _type_change(bot: Bot) -> str:
    """A click on the request form's type select, in a form the bot opened."""
    bot.command("")
    opened = eventually(lambda: bot.slack.calls_to("views.open"), what="views.open")[0]
    payload = block_actions_payload(
        action_id="ops_modal_type", value="", view=opened.response["view"]
    )
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
    return urlencode({"payload": json.dumps(payload)})


def test_a_type_change_is_acknowledged_before_slack_is_asked(bot: Bot) -> None:
    """The modal is updated after the ack: the ack waits on nothing Slack does."""
    body = _type_change(bot)
    bot.slack.fail("views.update", delay=5.0, status=200)  # slow, then the real answer
    assert bot.send(body).status_code == 200
    assert bot.slack.calls_to("views.update") == []  # still waiting for Slack's answer
    eventually(lambda: bot.slack.calls_to("views.update"), what="the modal's update")


def test_every_kind_of_request_is_acknowledged_while_slack_is_down(
    slack: FakeSlack, simulator: Simulator, tmp_path: Path
) -> None:
    """A listener answers Slack when it returns: one that called Slack first and failed would
    answer 500 (and Slack show an error) for something it could have acknowledged."""
    workers = Workers()
    bot = start_bot(
        slack=slack, simulator=simulator, database=tmp_path / "down.db", workers=workers
    )
    try:
        type_change = _type_change(bot)
        gone = slack.response_url("down")
        requests = {
            "command": slash_command_body(text="help", response_url=gone),
            "Confirm": block_actions_body(
                action_id="ops_confirm", value="r_000000000000", response_url=gone
            ),
            "unknown button": block_actions_body(
                action_id="ops_unheard_of", value="1", response_url=gone
            ),
            "type change": type_change,
            "mention": app_mention_body(text="<@U0BOT> help", ts="1700000600.000100"),
            "Home tab": app_home_opened_body(),
        }
        slack.down = True
        answered = {name: bot.send(body).status_code for name, body in requests.items()}
        workers.shutdown()  # the work, which cannot reach Slack, is over: nothing runs on
    finally:
        slack.down = False
        stop_bot(bot)
    assert answered == dict.fromkeys(requests, 200)


def test_an_unknown_button_is_still_answered(bot: Bot) -> None:
    response, key = bot.click("ops_unheard_of", "1")
    assert response.status_code == 200
    assert bot.wait_response(key)["text"] == say.recovery.UNKNOWN_ACTION
