"""The fakes themselves, driven by real slack_sdk and slack_bolt clients."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_bolt import App, BoltRequest
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from tests.conftest import eventually
from tests.fakes import (
    APP_TOKEN,
    BOT_TOKEN,
    BOT_USER_ID,
    FakeSlack,
    FakeSocketMode,
    app_mention_body,
    block_actions_body,
    block_actions_payload,
    post,
    signed_headers,
    slash_command_body,
    slash_command_payload,
    view_submission_body,
)

SECRET = "test-signing-secret"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # slack_sdk reads HTTPS_PROXY and ignores NO_PROXY: a developer's proxy would eat loopback.
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        yield f


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=fake.api_url)


def test_auth_test_and_bad_tokens(fake: FakeSlack, client: WebClient) -> None:
    assert fake.api_url.startswith("http://127.0.0.1:") and fake.api_url.endswith("/api/")
    resp = client.auth_test()
    assert resp["team_id"] == "T0001" and resp["user_id"] == BOT_USER_ID
    assert resp["bot_id"] == "B0BOT"
    call = fake.calls_to("auth.test")[0]
    assert call.headers["authorization"] == f"Bearer {BOT_TOKEN}"

    with pytest.raises(SlackApiError) as bad:
        WebClient(token="xoxb-wrong", base_url=fake.api_url).auth_test()
    assert bad.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as unknown:
        client.api_call("no.such.method")
    assert unknown.value.response["error"] == "unknown_method"


def test_users_info_with_and_without_tz(fake: FakeSlack, client: WebClient) -> None:
    user = client.users_info(user="U123")["user"]
    assert user["id"] == "U123" and user["tz"] == "America/Los_Angeles"
    assert user["tz_offset"] in (-28800, -25200) and user["tz_label"]

    fake.set_user("U777", tz=None, name="botty")
    bare = client.users_info(user="U777")["user"]
    assert bare["name"] == "botty"
    assert not {"tz", "tz_label", "tz_offset"} & bare.keys()

    with pytest.raises(SlackApiError) as missing:
        client.users_info(user="UNOBODY")
    assert missing.value.response["error"] == "user_not_found"


def test_usergroups_users_list(fake: FakeSlack, client: WebClient) -> None:
    fake.set_group("S0DBA", ["U1", "W2"])
    fake.set_group("S0OLD", ["U3"], disabled=True)
    answer = client.usergroups_users_list(usergroup="S0DBA", include_disabled=False)
    assert answer["users"] == ["U1", "W2"]
    assert fake.calls_to("usergroups.users.list")[0].args["include_disabled"] == "0"

    for group, include_disabled in (("S0NONE", True), ("S0OLD", False)):
        with pytest.raises(SlackApiError) as unknown:
            client.usergroups_users_list(usergroup=group, include_disabled=include_disabled)
        assert unknown.value.response["error"] == "no_such_subteam"
    assert client.usergroups_users_list(usergroup="S0OLD", include_disabled=True)["users"]

    with pytest.raises(SlackApiError) as bad:
        WebClient(token="xoxb-wrong", base_url=fake.api_url).usergroups_users_list(
            usergroup="S0DBA"
        )
    assert bad.value.response["error"] == "invalid_auth"

    fake.fail("usergroups.users.list", status=429, retry_after=30)
    with pytest.raises(SlackApiError) as limited:
        client.usergroups_users_list(usergroup="S0DBA")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "30"
    assert client.usergroups_users_list(usergroup="S0DBA")["ok"]


def test_post_message_ts_increases_and_blocks_are_decoded(
    fake: FakeSlack, client: WebClient
) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*restart* nginx"}}]
    first = client.chat_postMessage(channel="C1", text="a", blocks=blocks)
    second = client.chat_postMessage(channel="C1", text="b", thread_ts=first["ts"])
    # Form-encoded, as older code and api_call(data=...) send it: blocks arrive as a JSON string.
    client.api_call(
        "chat.postMessage", data={"channel": "C1", "text": "c", "blocks": json.dumps(blocks)}
    )
    assert first["ts"] == "1700000000.000100"
    assert float(first["ts"]) < float(second["ts"])
    assert second["message"]["thread_ts"] == first["ts"]
    assert first["message"]["blocks"] == blocks
    calls = fake.calls_to("chat.postMessage")
    assert [c.args["blocks"] for c in (calls[0], calls[2])] == [blocks, blocks]

    client.chat_update(channel="C1", ts=first["ts"], text="done")
    assert fake.message("C1", first["ts"])["text"] == "done"  # type: ignore[index]
    link = client.chat_getPermalink(channel="C1", message_ts=first["ts"])["permalink"]
    assert link == "https://fake.slack.test/archives/C1/p1700000000000100"


def test_invalid_blocks_rejected_like_slack(client: WebClient) -> None:
    too_long = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="t", blocks=too_long)
    assert err.value.response["error"] == "invalid_blocks"


def section(length: int) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": "s" * length}}


def button(length: int) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": "b" * length}}


# Each kind of text Slack counts towards msg_blocks_too_long, with how much of it there is.
TEXT_KINDS = {
    "section fields": (
        [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 1000}] * 2}],
        2000,
    ),
    "context": (
        [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * 1500}]}],
        1500,
    ),
    "header": ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 150}}], 150),
    "buttons": ([{"type": "actions", "elements": [button(75) for _ in range(20)]}], 1500),
    "accessory": ([{**section(10), "accessory": button(75)}], 85),
}


def blocks_totalling(total: int, extra: list[dict[str, Any]], extra_length: int) -> list[Any]:
    """`extra` after sections of filler: `total` characters of block text in all."""
    filler, rest = [], total - extra_length
    while rest > 0:
        filler.append(section(min(rest, 3000)))
        rest -= 3000
    return filler + extra


@pytest.mark.parametrize("kind", TEXT_KINDS)
def test_blocks_over_13000_characters_of_text_are_refused_like_slack(
    fake: FakeSlack, client: WebClient, kind: str
) -> None:
    extra, length = TEXT_KINDS[kind]
    at_limit = blocks_totalling(13_000, extra, length)
    over = blocks_totalling(13_001, extra, length)
    assert len(over) <= 50  # within the block count: only the text is too long

    ts = client.chat_postMessage(channel="C1", text="t", blocks=at_limit)["ts"]
    assert fake.message("C1", ts)["blocks"] == at_limit  # type: ignore[index]
    refusals = {
        "chat.postMessage": lambda: client.chat_postMessage(channel="C1", text="t", blocks=over),
        "chat.update": lambda: client.chat_update(channel="C1", ts=ts, text="t", blocks=over),
        "chat.postEphemeral": lambda: client.chat_postEphemeral(
            channel="C1", user="U123", text="t", blocks=over
        ),
    }
    for method, call in refusals.items():
        with pytest.raises(SlackApiError) as err:
            call()
        assert err.value.response["error"] == "msg_blocks_too_long", method
    assert fake.message("C1", ts)["blocks"] == at_limit  # type: ignore[index]  # not updated
    assert len(client.conversations_history(channel="C1")["messages"]) == 1

    webhook = WebhookClient(fake.response_url(f"too-long-{kind}"))
    refused = webhook.send(text="t", blocks=over)
    assert (refused.status_code, refused.body) == (400, "msg_blocks_too_long")
    assert webhook.send(text="t", blocks=at_limit).status_code == 200


def test_response_url_posts_are_validated_like_chat_post_message(fake: FakeSlack) -> None:
    webhook = WebhookClient(fake.response_url("invalid"))
    too_long = webhook.send(text="t", blocks=[section(3001)])
    assert (too_long.status_code, too_long.body) == (400, "invalid_blocks")
    too_many = webhook.send(text="t", blocks=[section(1)] * 51)
    assert (too_many.status_code, too_many.body) == (400, "invalid_blocks")
    assert webhook.send(text="").body == "no_text"
    assert webhook.send(delete_original=True).body == "ok"  # nothing to show: no text needed
    assert [c.status for c in fake.calls_to("response_url")] == [400, 400, 400, 200]


def test_views_open_update_and_single_use_trigger(fake: FakeSlack, client: WebClient) -> None:
    modal = {
        "type": "modal",
        "callback_id": "confirm",
        "title": {"type": "plain_text", "text": "Confirm"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "sure?"}}],
    }
    # Each built payload carries a fresh trigger, as Slack's do; each opens one modal only.
    first, second = (slash_command_payload(text="", response_url="u") for _ in range(2))
    assert first["trigger_id"] != second["trigger_id"]
    view = client.views_open(trigger_id=first["trigger_id"], view=modal)["view"]
    assert view["id"].startswith("V") and view["callback_id"] == "confirm"
    with pytest.raises(SlackApiError) as reused:
        client.views_open(trigger_id=first["trigger_id"], view=modal)
    assert reused.value.response["error"] == "exchanged_trigger_id"
    updated = client.views_update(view_id=view["id"], hash=view["hash"], view=modal)["view"]
    assert updated["hash"] != view["hash"]
    with pytest.raises(SlackApiError) as stale:
        client.views_update(view_id=view["id"], hash=view["hash"], view=modal)
    assert stale.value.response["error"] == "hash_conflict"


def test_fail_not_in_channel_only_for_that_channel(fake: FakeSlack, client: WebClient) -> None:
    fake.fail("chat.postMessage", error="not_in_channel", channel="C9", times=None)
    assert client.chat_postMessage(channel="C1", text="ok")["ok"]
    for _ in range(2):
        with pytest.raises(SlackApiError) as err:
            client.chat_postMessage(channel="C9", text="nope")
        assert err.value.response["error"] == "not_in_channel"
    fake.clear_faults()
    assert client.chat_postMessage(channel="C9", text="ok now")["ok"]


def test_fail_429_with_retry_after(fake: FakeSlack, client: WebClient) -> None:
    fake.fail("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="x")
    assert err.value.response.status_code == 429
    assert err.value.response["error"] == "ratelimited"
    assert err.value.response.headers["Retry-After"] == "7"
    assert client.chat_postMessage(channel="C1", text="x")["ok"]  # times=1: only once

    # slack_sdk's own retry handler reads the header and succeeds on the second attempt.
    fake.fail("chat.postMessage", status=429, retry_after=0)
    retrying = WebClient(
        token=BOT_TOKEN, base_url=fake.api_url, retry_handlers=[RateLimitErrorRetryHandler()]
    )
    assert retrying.chat_postMessage(channel="C1", text="y")["ok"]
    assert [c.status for c in fake.calls_to("chat.postMessage")[-2:]] == [429, 200]


def test_posts_beyond_a_burst_of_3_in_a_channel_get_429_and_are_not_stored(
    fake: FakeSlack, client: WebClient
) -> None:
    for n in range(3):
        client.chat_postMessage(channel="C1", text=f"burst {n}")
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="one too many")
    assert err.value.response.status_code == 429
    assert err.value.response["error"] == "ratelimited"
    assert err.value.response.headers["Retry-After"] == "1"  # whole seconds, as Slack sends it
    history = client.conversations_history(channel="C1")["messages"]
    assert [m["text"] for m in history] == ["burst 2", "burst 1", "burst 0"]
    # The limit is per channel, and only chat.postMessage's.
    assert client.chat_postMessage(channel="C2", text="elsewhere")["ok"]
    assert client.chat_update(channel="C1", ts=history[0]["ts"], text="edited")["ok"]
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [200, 200, 200, 429, 200]


def test_the_per_channel_limit_refills_at_its_rate_and_can_be_turned_off() -> None:
    with FakeSlack(post_rate=5.0, post_burst=1) as fake:
        client = WebClient(token=BOT_TOKEN, base_url=fake.api_url)
        client.chat_postMessage(channel="C1", text="first")
        with pytest.raises(SlackApiError) as err:
            client.chat_postMessage(channel="C1", text="too soon")
        assert err.value.response.headers["Retry-After"] == "1"  # 0.2 s, rounded up

        def posted() -> bool:
            try:
                return bool(client.chat_postMessage(channel="C1", text="later")["ok"])
            except SlackApiError as refused:
                assert refused.response["error"] == "ratelimited"
                return False

        eventually(posted, timeout=5, what="a token back in C1's bucket")
        texts = [m["text"] for m in client.conversations_history(channel="C1")["messages"]]
        assert texts == ["later", "first"]
    with FakeSlack(post_rate=None) as unlimited:
        client = WebClient(token=BOT_TOKEN, base_url=unlimited.api_url)
        for n in range(10):
            assert client.chat_postMessage(channel="C1", text=str(n))["ok"]


def test_a_503_after_the_message_was_stored(fake: FakeSlack, client: WebClient) -> None:
    root = client.chat_postMessage(channel="C1", text="root")["ts"]
    fake.fail("chat.postMessage", status=503, after_store=True)
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="reply", thread_ts=root)
    assert err.value.response.status_code == 503
    assert err.value.response["error"] == "internal_error"
    replies = client.conversations_replies(channel="C1", ts=root)["messages"]
    assert [m["text"] for m in replies] == ["root", "reply"]  # Slack kept it all the same

    # Why a client must not re-send on a 5xx by itself: slack_sdk's handler posts it twice.
    fake.fail("chat.postMessage", status=503, after_store=True)
    retrying = WebClient(
        token=BOT_TOKEN, base_url=fake.api_url, retry_handlers=[ServerErrorRetryHandler()]
    )
    assert retrying.chat_postMessage(channel="C2", text="status")["ok"]
    history = client.conversations_history(channel="C2")["messages"]
    assert [m["text"] for m in history] == ["status", "status"]


@pytest.mark.parametrize(
    ("fault", "raised"),
    [
        pytest.param({"error": "fatal_error"}, SlackApiError, id="an error answer"),
        pytest.param({"status": 500}, SlackApiError, id="a 5xx"),
        pytest.param({"delay": 1.0}, TimeoutError, id="slower than the client waits"),
    ],
)
def test_users_info_fails_once(
    fake: FakeSlack, fault: dict[str, Any], raised: type[Exception]
) -> None:
    client = WebClient(token=BOT_TOKEN, base_url=fake.api_url, timeout=0.3, retry_handlers=[])
    fake.fail("users.info", **fault)
    with pytest.raises(raised):
        client.users_info(user="U123")
    assert client.users_info(user="U123")["user"]["tz"] == "America/Los_Angeles"
    # A slow answer still comes, late: recorded when answered, with the time it arrived.
    calls = fake.wait_for(lambda cs: len([c for c in cs if c.method == "users.info"]) == 2)
    first, second = sorted((c for c in calls if c.method == "users.info"), key=lambda c: c.at)
    assert [first.status, second.status] == [fault.get("status", 200), 200]
    assert first.response["ok"] is ("delay" in fault)  # type: ignore[index]


def test_a_post_stored_whose_answer_comes_too_late(fake: FakeSlack) -> None:
    client = WebClient(token=BOT_TOKEN, base_url=fake.api_url, timeout=0.3, retry_handlers=[])
    fake.fail("chat.postMessage", delay=1.0, after_store=True)
    with pytest.raises(TimeoutError):
        client.chat_postMessage(channel="C1", text="stored, answer late")
    # Stored before the answer was due: visible while the client is still waiting.
    history = client.conversations_history(channel="C1")["messages"]
    assert [m["text"] for m in history] == ["stored, answer late"]
    with pytest.raises(ValueError, match="needs an error or a delay"):
        fake.fail("users.info")


def test_a_response_url_takes_5_posts(fake: FakeSlack) -> None:
    webhook = WebhookClient(fake.response_url("five"))
    assert [webhook.send(text=str(n)).status_code for n in range(5)] == [200] * 5
    sixth = webhook.send(text="sixth")
    assert (sixth.status_code, sixth.body) == (404, "used_url")
    assert WebhookClient(fake.response_url("another")).send(text="x").status_code == 200
    # Refused posts do not use it up.
    fresh = WebhookClient(fake.response_url("fresh"))
    assert fresh.send(text="t", blocks=[section(3001)]).status_code == 400
    assert [fresh.send(text=str(n)).status_code for n in range(5)] == [200] * 5


def test_a_response_url_expires_after_its_lifetime() -> None:
    with FakeSlack(response_url_lifetime=0.0) as fake:
        webhook = WebhookClient(fake.response_url("brief"))
        assert webhook.send(text="first").status_code == 200  # its clock starts here
        late = webhook.send(text="later")
        assert (late.status_code, late.body) == (404, "expired_url")


def test_down_closes_connections(fake: FakeSlack) -> None:
    quick = WebClient(token=BOT_TOKEN, base_url=fake.api_url, retry_handlers=[])
    fake.down = True
    # Not a SlackApiError: callers must handle ConnectionError/OSError for an unreachable Slack.
    with pytest.raises(ConnectionError):
        quick.auth_test()
    fake.down = False
    assert quick.auth_test()["ok"]


def test_response_url_records_posts(fake: FakeSlack) -> None:
    url = fake.response_url("cmd-1")
    # WebhookClient is what Bolt's respond() uses.
    resp = WebhookClient(url).send(text="queued", response_type="ephemeral")
    assert resp.status_code == 200 and resp.body == "ok"
    fake.wait_for(lambda cs: bool(fake.calls_to("response_url")))  # may query the fake
    assert fake.calls[-1].args == {"text": "queued", "response_type": "ephemeral", "_key": "cmd-1"}

    fake.fail("response_url", status=404, error="expired_url")
    # respond() does not raise on an HTTP error: the status is all a caller gets.
    assert WebhookClient(url).send(text="late").status_code == 404


def test_wait_for_times_out_showing_calls(fake: FakeSlack, client: WebClient) -> None:
    client.auth_test()
    with pytest.raises(AssertionError, match="auth.test"):
        fake.wait_for(lambda cs: len(cs) > 1, timeout=0.05)


def test_signed_headers_verify() -> None:
    body = slash_command_body(text="restart nginx", response_url="http://127.0.0.1:1/r")
    headers = signed_headers(body, secret=SECRET)
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid_request(body, headers)
    assert not SignatureVerifier("other-secret").is_valid_request(body, headers)
    stale = signed_headers(body, secret=SECRET, timestamp=int(time.time()) - 600)
    assert not verifier.is_valid_request(body, stale)
    fields = parse_qs(body)
    assert fields["command"] == ["/ops"] and fields["text"] == ["restart nginx"]


def test_post_sends_signed_body(fake: FakeSlack) -> None:
    body = slash_command_body(text="status", response_url="http://127.0.0.1:1/r")
    resp = post(fake.response_url("post"), body, secret=SECRET)
    assert resp.status_code == 200
    call = fake.calls_to("response_url")[-1]
    assert call.args["text"] == "status"
    raw = {k: v for k, v in call.headers.items() if k.startswith("x-slack")}
    assert SignatureVerifier(SECRET).is_valid_request(body, raw)


def _bolt_app(fake: FakeSlack, seen: list[str]) -> App:
    app = App(client=WebClient(token=BOT_TOKEN, base_url=fake.api_url), signing_secret=SECRET)

    @app.command("/ops")
    def on_ops(ack: Any, command: dict[str, Any]) -> None:
        ack()
        seen.append(f"command:{command['text']}")

    @app.action("approve")
    def on_approve(ack: Any, body: dict[str, Any]) -> None:
        ack()
        seen.append(f"action:{body['container']['type']}")

    @app.view("schedule")
    def on_view(ack: Any, view: dict[str, Any]) -> None:
        ack()
        seen.append(f"view:{view['state']['values']['when']['time']['value']}")

    @app.event("app_mention")
    def on_mention(event: dict[str, Any]) -> None:
        seen.append(f"mention:{event['text']}")

    return app


def test_bodies_route_to_bolt_listeners(fake: FakeSlack) -> None:
    seen: list[str] = []
    app = _bolt_app(fake, seen)
    rurl = fake.response_url()
    bodies = [
        slash_command_body(text="restart nginx", response_url=rurl),
        block_actions_body(action_id="approve", value="op-1", response_url=rurl),
        block_actions_body(action_id="approve", value="op-1", view={"id": "V1"}),
        view_submission_body(
            callback_id="schedule", values={"when": {"time": "14:00"}}, private_metadata="op-1"
        ),
        app_mention_body(text=f"<@{BOT_USER_ID}> status", ts="1700000001.000100"),
    ]
    for body in bodies:
        ctype = "application/json" if body.startswith("{") else "application/x-www-form-urlencoded"
        headers = signed_headers(body, secret=SECRET, content_type=ctype)
        response = app.dispatch(BoltRequest(body=body, headers=headers))
        assert response.status == 200, (body[:80], response.body)
    deadline = time.monotonic() + 5
    while len(seen) < len(bodies) and time.monotonic() < deadline:
        time.sleep(0.01)  # listeners run on Bolt's worker pool after ack
    assert sorted(seen) == sorted(
        [
            "command:restart nginx",
            "action:message",
            "action:view",
            "view:14:00",
            f"mention:<@{BOT_USER_ID}> status",
        ]
    )
    bad = signed_headers(bodies[0], secret="wrong")
    assert app.dispatch(BoltRequest(body=bodies[0], headers=bad)).status == 401


def test_block_actions_from_modal_has_no_response_url() -> None:
    payload = block_actions_payload(action_id="a", value="v", view={"id": "V9", "hash": "h"})
    assert payload["container"] == {"type": "view", "view_id": "V9"}
    assert "response_url" not in payload and "channel" not in payload
    assert payload["view"]["root_view_id"] == "V9"


def test_socket_mode_round_trip(fake: FakeSlack) -> None:
    app = App(client=WebClient(token=BOT_TOKEN, base_url=fake.api_url), signing_secret=SECRET)

    @app.command("/ops")
    def on_ops(ack: Any, respond: Any, command: dict[str, Any]) -> None:
        ack(text=f"working on: {command['text']}")
        respond("done")

    with FakeSocketMode() as sm:
        fake.socket_mode_url = sm.url
        handler = SocketModeHandler(app, APP_TOKEN)
        try:
            handler.connect()
            sm.wait_connected()
            assert fake.calls_to("apps.connections.open")[0].headers["authorization"] == (
                f"Bearer {APP_TOKEN}"
            )
            payload = slash_command_payload(
                text="restart nginx", response_url=fake.response_url("sm")
            )
            envelope_id = sm.send_envelope(type="slash_commands", payload=payload)
            ack = sm.wait_ack(envelope_id)
            assert ack == {
                "envelope_id": envelope_id,
                "payload": {"text": "working on: restart nginx"},
            }
            calls = fake.wait_for(lambda cs: any(c.method == "response_url" for c in cs))
            assert calls[-1].args == {"text": "done", "_key": "sm"}

            # Slack's "disconnect" warning: the client fetches a new URL and reconnects.
            sm.send_disconnect()
            sm.wait_connected(count=2)
            assert len(fake.calls_to("apps.connections.open")) == 2
        finally:
            # Server first: the built-in client's close() otherwise waits out a 3 s recv timeout.
            sm.stop()
            handler.close()


def _keeping_texts_in(kept: list[str]) -> Any:
    # Bolt fills every argument of a listener by its name: the list is bound by a closure.
    def on_ops(ack: Any, command: dict[str, Any]) -> None:
        kept.append(command["text"])
        ack()

    return on_ops


def test_socket_mode_gives_each_payload_to_one_of_the_open_connections(fake: FakeSlack) -> None:
    # Two replicas, each with its own connection: Slack hands every payload to one of them,
    # never to both, so a click may reach a replica other than the one that showed the button.
    seen: dict[str, list[str]] = {"first": [], "second": []}
    handlers = []
    with FakeSocketMode() as sm:
        fake.socket_mode_url = sm.url
        try:
            for number, name in enumerate(seen, start=1):
                app = App(
                    client=WebClient(token=BOT_TOKEN, base_url=fake.api_url),
                    signing_secret=SECRET,
                )

                app.command("/ops")(_keeping_texts_in(seen[name]))

                handler = SocketModeHandler(app, APP_TOKEN)
                handlers.append(handler)
                handler.connect()
                sm.wait_connected(count=number)
            sent = [
                sm.send_envelope(
                    type="slash_commands",
                    payload=slash_command_payload(text=f"{n}", response_url=fake.response_url("r")),
                )
                for n in range(20)
            ]
            for envelope_id in sent:
                sm.wait_ack(envelope_id)
            assert sorted(seen["first"] + seen["second"], key=int) == [f"{n}" for n in range(20)]
            assert seen["first"] and seen["second"]
            assert {sm.delivered_to[e] for e in sent} == {1, 2}

            chosen = sm.send_envelope(
                type="slash_commands",
                payload=slash_command_payload(text="to two", response_url=fake.response_url("r")),
                connection=2,
            )
            sm.wait_ack(chosen)
            assert seen["second"][-1] == "to two" and "to two" not in seen["first"]
        finally:
            sm.stop()
            for handler in handlers:
                handler.close()


def test_chat_update_is_limited_for_the_whole_workspace() -> None:
    # Tier 3: edits in any channel count against one budget (here 1 a second, a burst of 2).
    with FakeSlack(update_rate=1.0, update_burst=2) as fake:
        client = WebClient(token=BOT_TOKEN, base_url=fake.api_url)
        first = client.chat_postMessage(channel="C1", text="one")["ts"]
        second = client.chat_postMessage(channel="C2", text="two")["ts"]
        assert client.chat_update(channel="C1", ts=first, text="one, edited")["ok"]
        assert client.chat_update(channel="C2", ts=second, text="two, edited")["ok"]
        with pytest.raises(SlackApiError) as err:
            client.chat_update(channel="C1", ts=first, text="once more")
        assert err.value.response.status_code == 429
        assert err.value.response.headers["Retry-After"] == "1"
        assert fake.rate_limited == 1
        assert fake.message("C1", first)["text"] == "one, edited"  # type: ignore[index]
