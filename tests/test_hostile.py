"""Hostile and malformed input over the real HTTP path (waitress → guard → Bolt → handlers).

Each test sends what an attacker, a broken proxy or Slack's own retries could send, and checks
that the bot refuses it clearly, changes nothing, and leaks nothing into what it sends to Slack.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from bot import say
from bot.slack.guard import guarded_wsgi
from bot.zequenze.simulator.faults import Fault
from tests.conftest import SECRET, Bot, eventually
from tests.fakes import (
    BOT_TOKEN,
    app_mention_body,
    block_actions_body,
    post,
    slash_command_body,
)
from tests.fakes.signing import TRUST

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
MIB = 1024 * 1024
RETRY_HEADERS = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
LOGGERS = ("bot", "handlers", "slack_bolt", "slack_sdk")


# ---- helpers


def sign(raw: bytes, timestamp: str, secret: str = SECRET) -> str:
    """Slack's v0 signature over the raw bytes (the fakes' helper only signs text)."""
    base = b"v0:" + timestamp.encode() + b":" + raw
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def send_raw(
    bot: Bot,
    raw: bytes,
    *,
    content_type: str = FORM,
    drop: tuple[str, ...] = (),
    headers: dict[str, str] | None = None,
    chunked: bool = False,
) -> httpx.Response:
    """POST exact bytes, correctly signed unless `drop`/`headers` say otherwise."""
    timestamp = str(int(time.time()))
    sent = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": sign(raw, timestamp),
    }
    sent.update(headers or {})
    for name in drop:
        sent.pop(name)
    content: bytes | Iterator[bytes] = raw
    if chunked:  # no Content-Length: Transfer-Encoding: chunked
        content = (raw[i : i + 65536] for i in range(0, len(raw), 65536))
    with httpx.Client(trust_env=False, timeout=10.0, verify=TRUST) as client:
        return client.post(bot.url, content=content, headers=sent)


def form_payload(payload: Any) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def click(**parts: Any) -> bytes:
    """A Confirm click with some parts replaced (None removes one)."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": "U123"},
        "team": {"id": "T123"},
        "response_url": "http://127.0.0.1:9/x",
        "actions": [{"action_id": "ops_confirm", "value": "req_1", "type": "button"}],
    }
    payload.update(parts)
    return form_payload({k: v for k, v in payload.items() if v is not None})


def submission(**parts: Any) -> bytes:
    payload: dict[str, Any] = {"type": "view_submission", "user": {"id": "U123"}} | parts
    return form_payload(payload)


def event(**parts: Any) -> bytes:
    envelope: dict[str, Any] = {"type": "event_callback", "event_id": "Ev1"} | parts
    return json.dumps(envelope).encode()


def command_bytes(**fields: str) -> bytes:
    return urlencode({"command": "/ops", "channel_id": "C123", **fields}).encode()


def sent_to_slack(bot: Bot) -> list[str]:
    """Every call the bot made to Slack (Web API and response_url), as JSON text."""
    return [f"{c.method} {json.dumps(c.args, default=str)}" for c in list(bot.slack.calls)]


def assert_nothing_leaked(bot: Bot) -> None:
    for sent in sent_to_slack(bot):
        assert "Traceback" not in sent, sent
        assert 'File "' not in sent, sent


def counts(bot: Bot) -> tuple[int, int]:
    db = bot.runtime.store.db
    return db["requests"].count, db["operations"].count


def state_of(bot: Bot, request_id: str) -> tuple[str, tuple[str, ...]]:
    request = bot.runtime.store.get_request(request_id)
    assert request is not None
    return request.state, tuple(op.state for op in request.operations)


def request_id_of(shown: dict[str, Any]) -> str:
    for block in shown.get("blocks", []):
        if block["type"] == "actions":
            return next(e["value"] for e in block["elements"] if e["action_id"] == "ops_confirm")
    raise AssertionError(f"no Confirm button in {shown}")


def propose(bot: Bot, typed: str = "reboot server-01 now", *, user: str = "U123") -> str:
    return request_id_of(bot.wait_response(bot.command(typed, user=user)))


def barrier(bot: Bot) -> None:
    """A later request answered: what was sent before it has been taken in."""
    answer = bot.wait_response(bot.command("help"))
    assert "What I can do" in answer["text"]


def age(bot: Bot, request_id: str) -> None:
    """Push a pending request past its 15 minutes."""
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="milliseconds")
    store = bot.runtime.store
    # In a transaction of the store's: its connection is shared with the poller and the outbox.
    with store.engine.write() as tx:
        tx.execute("UPDATE requests SET expires_at = ? WHERE id = ?", [past, request_id])


def thread_replies(bot: Bot, thread_ts: str) -> list[str]:
    return [
        c.args.get("text") or ""
        for c in bot.slack.calls_to("chat.postMessage")
        if c.args.get("thread_ts") == thread_ts
    ]


def confirm(bot: Bot, typed: str) -> str:
    """Propose and confirm; returns the ts of the public status message."""
    request_id = propose(bot, typed)
    response, key = bot.click("ops_confirm", request_id)
    assert response.status_code == 200
    assert "Confirmed" in bot.wait_response(key)["text"]
    request = eventually(
        lambda: (r := bot.runtime.store.get_request(request_id)) and r.status_ts and r,
        what="the status message",
    )
    return request.status_ts


# ---- signatures


@pytest.mark.parametrize(
    "how",
    [
        "wrong signature",
        "another secret",
        "stale timestamp",
        "future timestamp",
        "no signature",
        "no timestamp",
        "timestamp not a number",
    ],
)
def test_bad_or_stale_signature_gets_401_and_does_nothing(bot: Bot, how: str) -> None:
    key = f"sig-{how}"
    body = slash_command_body(text="reboot server-01 now", response_url=bot.slack.response_url(key))
    now = int(time.time())
    if how == "wrong signature":
        response = bot.send(body, headers={"X-Slack-Signature": "v0=" + "0" * 64})
    elif how == "another secret":
        response = post(bot.url, body, secret="not-" + SECRET)
    elif how == "stale timestamp":
        response = bot.send(body, timestamp=now - 5 * 60 - 30)
    elif how == "future timestamp":
        response = bot.send(body, timestamp=now + 5 * 60 + 30)
    elif how == "no signature":
        response = send_raw(bot, body.encode(), drop=("X-Slack-Signature",))
    elif how == "no timestamp":
        response = send_raw(bot, body.encode(), drop=("X-Slack-Request-Timestamp",))
    else:
        response = send_raw(bot, body.encode(), headers={"X-Slack-Request-Timestamp": "soon"})

    assert response.status_code == 401, response.text
    assert "signature" in response.text
    barrier(bot)
    assert bot.responses(key) == []
    assert counts(bot) == (0, 0)
    assert bot.simulator.post_count == 0


def test_a_badly_signed_confirm_click_changes_nothing(bot: Bot) -> None:
    request_id = propose(bot)
    before = state_of(bot, request_id)
    body = block_actions_body(
        action_id="ops_confirm", value=request_id, response_url=bot.slack.response_url("bad")
    )
    stale = bot.send(body, timestamp=int(time.time()) - 10 * 60)
    forged = post(bot.url, body, secret="guessed-secret")
    assert (stale.status_code, forged.status_code) == (401, 401)
    barrier(bot)
    assert bot.responses("bad") == []
    assert state_of(bot, request_id) == before == ("pending", ("draft",))
    assert bot.simulator.post_count == 0
    assert bot.slack.calls_to("chat.postMessage") == []


# ---- forged interactions


def _someone_elses(bot: Bot) -> tuple[str, str, str]:
    return "ops_confirm", propose(bot, user="U123"), "U456"


def _someone_elses_cancel(bot: Bot) -> tuple[str, str, str]:
    return "ops_cancel", propose(bot, user="U123"), "U456"


def _missing(bot: Bot) -> tuple[str, str, str]:
    return "ops_confirm", "r_000000000000", "U123"


def _injection(bot: Bot) -> tuple[str, str, str]:
    propose(bot)  # there is a request, but the value is not its id
    return "ops_confirm", "' OR 1=1 --", "U123"


def _expired(bot: Bot) -> tuple[str, str, str]:
    request_id = propose(bot)
    age(bot, request_id)
    return "ops_confirm", request_id, "U123"


def _confirmed(bot: Bot) -> tuple[str, str, str]:
    request_id = propose(bot)
    _, key = bot.click("ops_confirm", request_id)
    assert "Confirmed" in bot.wait_response(key)["text"]
    # Let its own story finish, so that nothing the click did not cause is still arriving.
    eventually(
        lambda: any("completed" in r for r in thread_replies(bot, _status_ts(bot, request_id))),
        what="the operation to complete",
    )
    return "ops_cancel", request_id, "U123"


def _status_ts(bot: Bot, request_id: str) -> str:
    request = bot.runtime.store.get_request(request_id)
    return (request.status_ts if request else None) or "none yet"


def _cancelled(bot: Bot) -> tuple[str, str, str]:
    request_id = propose(bot)
    _, key = bot.click("ops_cancel", request_id)
    assert "Cancelled" in bot.wait_response(key)["text"]
    return "ops_confirm", request_id, "U123"


def _unknown_action(bot: Bot) -> tuple[str, str, str]:
    return "ops_delete_everything", propose(bot), "U123"


@pytest.mark.parametrize(
    ("setup", "reason", "state_after"),
    [
        pytest.param(_someone_elses, "Only <@U123> can confirm", None, id="someone else's"),
        pytest.param(_someone_elses_cancel, "Only <@U123> can", None, id="someone else's cancel"),
        pytest.param(_missing, "does not exist", None, id="no such request"),
        pytest.param(_injection, "does not exist", None, id="SQL in the value"),
        # Clicking an expired request records that it expired; it is never confirmed.
        pytest.param(_expired, "expired before it was confirmed", "expired", id="expired"),
        pytest.param(_confirmed, "already confirmed", None, id="already confirmed"),
        pytest.param(_cancelled, "was cancelled", None, id="already cancelled"),
        pytest.param(_unknown_action, say.recovery.UNKNOWN_ACTION, None, id="unknown action id"),
    ],
)
def test_a_forged_click_is_refused_privately_and_changes_nothing(
    bot: Bot, setup, reason: str, state_after: str | None
) -> None:
    action_id, request_id, user = setup(bot)
    exists = bot.runtime.store.get_request(request_id) is not None
    before = state_of(bot, request_id) if exists else None
    posts, messages = bot.simulator.post_count, len(bot.slack.calls_to("chat.postMessage"))
    rows = counts(bot)

    response, key = bot.click(action_id, request_id, user=user)
    assert response.status_code == 200  # acknowledged, so Slack shows no error icon
    answer = bot.wait_response(key)
    assert answer["response_type"] == "ephemeral"
    assert answer["replace_original"] is False
    assert reason in answer["text"]

    barrier(bot)
    time.sleep(0.1)  # bounded: anything the click set off would have shown by now
    assert len(bot.responses(key)) == 1
    assert bot.simulator.post_count == posts
    assert len(bot.slack.calls_to("chat.postMessage")) == messages
    assert counts(bot) == rows
    if before is not None:
        expected = before if state_after is None else (state_after, before[1])
        assert state_of(bot, request_id) == expected
    assert_nothing_leaked(bot)


def test_an_expired_request_stays_unconfirmable(bot: Bot) -> None:
    request_id = propose(bot)
    age(bot, request_id)
    for action in ("ops_confirm", "ops_cancel", "ops_confirm"):
        _, key = bot.click(action, request_id)
        answer = bot.wait_response(key)
        assert answer["response_type"] == "ephemeral" and "expired" in answer["text"]
    assert state_of(bot, request_id) == ("expired", ("draft",))
    assert bot.simulator.post_count == 0


def test_a_repeated_confirm_click_makes_one_operation(bot: Bot) -> None:
    request_id = propose(bot, "reboot server-02 now")
    answers = []
    for _ in range(3):
        _, key = bot.click("ops_confirm", request_id)
        answers.append(bot.wait_response(key)["text"])
    assert "Confirmed" in answers[0]
    assert all("already confirmed" in a for a in answers[1:]), answers
    eventually(lambda: bot.simulator.post_count >= 1, what="the operation")
    barrier(bot)
    assert bot.simulator.post_count == 1
    assert len(bot.simulator.operations()) == 1


# ---- malformed requests


OVERSIZED = command_bytes(user_id="U123", text="x" * MIB, response_url="http://127.0.0.1:9/x")


@pytest.mark.parametrize(
    ("raw", "content_type", "chunked", "status", "said"),
    [
        pytest.param(OVERSIZED, FORM, False, 413, "too large", id="over 1 MiB"),
        pytest.param(OVERSIZED, FORM, True, 413, "too large", id="over 1 MiB chunked"),
        pytest.param(b"payload=%7Bnot+json", FORM, False, 400, "not valid JSON", id="bad payload"),
        pytest.param(form_payload([1, 2]), FORM, False, 400, "no `type`", id="payload list"),
        pytest.param(form_payload("hi"), FORM, False, 400, "no `type`", id="payload string"),
        pytest.param(form_payload(None), FORM, False, 400, "no `type`", id="payload null"),
        pytest.param(b'[{"type": "event_callback"}]', JSON, False, 400, "no `type`", id="list"),
        pytest.param(b'{"type": "event_callback",', JSON, False, 400, "not valid JSON", id="json"),
        pytest.param(
            command_bytes(text="reboot server-01 now", response_url="http://127.0.0.1:9/x"),
            FORM,
            False,
            400,
            "lacks user_id",
            id="no user_id",
        ),
        pytest.param(
            command_bytes(user_id="", text="reboot server-01 now"),
            FORM,
            False,
            400,
            "lacks user_id",
            id="empty user_id",
        ),
        pytest.param(
            urlencode({"command": "/ops", "user_id": "U123", "text": "help"}).encode(),
            FORM,
            False,
            400,
            "lacks channel_id",
            id="no channel_id",
        ),
        pytest.param(
            b"command=%2Fops&user_id=U123&channel_id=C123&text=reboot+\xff\xfe",
            FORM,
            False,
            400,
            "not UTF-8",
            id="non-UTF-8 form",
        ),
        pytest.param(b'{"type": "\xc3\x28"}', JSON, False, 400, "not UTF-8", id="non-UTF-8 json"),
        pytest.param(b"", FORM, False, 400, "Not a Slack", id="empty"),
        pytest.param(b"", JSON, False, 400, "not valid JSON", id="empty json"),
        # Signed, typed, and garbled inside: Bolt would answer 500 and log a traceback.
        *(
            pytest.param(raw, content_type, False, 400, said, id=name)
            for name, raw, content_type, said in (
                ("actions a string", click(actions="x"), FORM, "`actions` is not a list"),
                ("actions of strings", click(actions=["x"]), FORM, "`actions` is not a list"),
                ("user a string", click(user="U123"), FORM, "`user` is not an object"),
                ("no user id", click(user={}), FORM, "no `user.id`"),
                ("click without response_url", click(response_url=None), FORM, "response_url"),
                ("team a string", click(team="T1"), FORM, "`team` is not an object"),
                ("view a string", submission(view="x"), FORM, "`view` is not an object"),
                ("view without state", submission(view={"type": "modal"}), FORM, "state.values"),
                ("event a string", event(event="x"), JSON, "`event` is not an object"),
                ("authorizations a string", event(authorizations="x"), JSON, "authorizations"),
            )
        ),
    ],
)
def test_a_malformed_request_gets_a_4xx_sentence_and_stores_nothing(
    bot: Bot, raw: bytes, content_type: str, chunked: bool, status: int, said: str
) -> None:
    response = send_raw(bot, raw, content_type=content_type, chunked=chunked)
    assert response.status_code == status, response.text
    assert said.lower() in response.text.lower()
    assert "Traceback" not in response.text and 'File "' not in response.text
    barrier(bot)
    assert counts(bot) == (0, 0)
    answered = [c.args["_key"] for c in bot.slack.calls_to("response_url")]
    assert len(answered) == 1 and answered[0].startswith("cmd-"), answered  # the barrier's only
    assert_nothing_leaked(bot)


def test_a_request_bolt_cannot_read_gets_a_400_not_a_500(caplog: pytest.LogCaptureFixture) -> None:
    """The guard's last resort, for a shape it does not know yet: Bolt raising while it reads
    the request (it has answered nothing at that point)."""

    def unreadable(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise KeyError("type")

    wsgi = guarded_wsgi(unreadable, signing_secret=SECRET, path="/slack/events")
    raw = click()
    timestamp = str(int(time.time()))
    answered: list[str] = []
    body = wsgi(
        {
            "PATH_INFO": "/slack/events",
            "CONTENT_LENGTH": str(len(raw)),
            "CONTENT_TYPE": FORM,
            "HTTP_X_SLACK_REQUEST_TIMESTAMP": timestamp,
            "HTTP_X_SLACK_SIGNATURE": sign(raw, timestamp),
            "wsgi.input": io.BytesIO(raw),
        },
        lambda status, headers: answered.append(status),
    )
    assert answered == ["400 Bad Request"]
    assert b"Not a well-formed Slack request" in b"".join(body)
    assert "KeyError('type')" in caplog.text


REBOOT_FORM = {
    "operation_type": {
        "ops_modal_type": {"type": "static_select", "selected_option": {"value": "reboot"}}
    },
    "devices": {"value": "server-01"},
}
FORM_METADATA = json.dumps({"channel": "C123", "response_url": "http://127.0.0.1:9/x"})


@pytest.mark.parametrize(
    "metadata",
    ["", "not json", "[1]", json.dumps({"channel": "C123"}), json.dumps({"response_url": 7})],
)
def test_a_form_the_bot_did_not_open_is_closed_and_ignored(bot: Bot, metadata: str) -> None:
    response = bot.submit_view(REBOOT_FORM, metadata, user="U555")
    assert response.status_code == 200 and response.text == ""
    barrier(bot)
    assert counts(bot) == (0, 0)
    assert not [c for c in bot.slack.calls_to("users.info") if c.args["user"] == "U555"]


@pytest.mark.parametrize("picked", ["1700000000", True, [1], {"t": 1}, 10**20, -(10**20)])
def test_an_unreadable_picker_value_is_refused_never_read_as_now(bot: Bot, picked: Any) -> None:
    when = {"value": {"type": "datetimepicker", "selected_date_time": picked}}
    response = bot.submit_view(REBOOT_FORM | {"when": when}, FORM_METADATA)
    assert response.json() == {
        "response_action": "errors",
        "errors": {"when": say.time.PICKER_UNREADABLE},
    }
    barrier(bot)
    assert counts(bot) == (0, 0)


def test_a_form_is_answered_without_asking_slack_first(bot: Bot) -> None:
    """Slack drops a submission not answered within 3 s, so no users.info call comes before
    the answer: a person whose zone is not remembered gets the errors worded in UTC."""
    bot.slack.set_user("U777", tz="Asia/Tokyo")
    past = {"value": {"type": "datetimepicker", "selected_date_time": 1000}}
    response = bot.submit_view(REBOOT_FORM | {"when": past}, FORM_METADATA, user="U777")
    assert "UTC" in response.json()["errors"]["when"]
    assert not bot.slack.calls_to("users.info")


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        pytest.param(
            "reboot server-01 now " + "a" * 50_000,
            "That is 50021 characters; a command can be at most 4000.",
            id="50000 characters",
        ),
        pytest.param("reboot server-01\x00 now", "U+0000", id="NUL"),
        pytest.param("\x1b[31mreboot server-01 now", "U+001B", id="ESC"),
        pytest.param("reboot server-01 \u202ewon", "U+202E", id="RLO"),
    ],
)
def test_unreadable_text_is_refused_privately_and_stores_nothing(
    bot: Bot, typed: str, said: str
) -> None:
    answer = bot.wait_response(bot.command(typed))
    assert answer["response_type"] == "ephemeral"
    assert answer["replace_original"] is False
    assert said in answer["text"]
    assert "For example: `/ops " in answer["text"]
    assert len(json.dumps(answer)) < 4000  # the text is not echoed back
    for char in ("\x00", "\x1b", "\u202e"):
        assert char not in json.dumps(answer, ensure_ascii=False)
    assert counts(bot) == (0, 0)
    assert_nothing_leaked(bot)


def test_control_characters_in_a_mention_are_refused_privately(bot: Bot) -> None:
    body = app_mention_body(
        text="<@U0BOT> reboot server-01 \u202enow", ts="1700000300.000100", event_id="EvRLO"
    )
    assert bot.send(body).status_code == 200
    (ephemeral,) = eventually(lambda: bot.slack.calls_to("chat.postEphemeral"), what="a refusal")
    assert "U+202E" in ephemeral.args["text"]
    assert bot.slack.calls_to("chat.postMessage") == []
    assert counts(bot) == (0, 0)
    assert_nothing_leaked(bot)


# ---- Slack's retries


@pytest.mark.parametrize("parallel", [False, True], ids=["in turn", "at once"])
@pytest.mark.parametrize("retry_headers", [False, True], ids=["plain", "X-Slack-Retry"])
def test_a_redelivered_mention_is_answered_once(
    bot: Bot, retry_headers: bool, parallel: bool
) -> None:
    body = app_mention_body(
        text="<@U0BOT> reboot server-03 now", ts="1700000400.000100", event_id="EvDUP1"
    )
    extra = [{}, RETRY_HEADERS if retry_headers else {}]
    statuses: list[int] = []
    if parallel:
        threads = [
            threading.Thread(
                target=lambda h=h: statuses.append(bot.send(body, headers=h).status_code)
            )
            for h in extra
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        statuses = [bot.send(body, headers=h).status_code for h in extra]
    assert statuses == [200, 200]

    # A later event, answered: both deliveries have been taken in by then.
    bot.mention("help", ts="1700000500.000100", thread_ts=None)
    eventually(
        lambda: any(
            c.args.get("thread_ts") == "1700000500.000100"
            for c in bot.slack.calls_to("chat.postMessage")
        ),
        what="the help answer",
    )
    time.sleep(0.2)  # bounded: a second confirmation would have been sent by now
    confirmations = [
        c for c in bot.slack.calls_to("chat.postEphemeral") if "Please confirm" in c.args["text"]
    ]
    assert len(confirmations) == 1
    assert counts(bot) == (1, 1)


# ---- typed text is data


MARKUP_TEXTS = (
    "reboot server-01 <!channel>",
    "reboot server-01 <https://evil.example|innocent>",
    "reboot <!channel> now",
    "reboot server-01, <!here> now",
    "restart <https://evil.example|nginx> on server-01",
    "update server-01 with <!channel>",
    "reboot server-01 at <!channel>",
    "reboot server-01 in 5 minutes <!subteam^S123|ops>",
    "list <!channel>",
    "status <https://evil.example|innocent>",
    "<!channel> reboot server-01",
)
MARKUP = ("<!channel>", "<!here>", "<!subteam", "<https://evil", "|innocent>")


@pytest.mark.parametrize("surface", ["command", "mention"])
def test_typed_markup_never_reaches_slack_as_markup(bot: Bot, surface: str) -> None:
    for number, typed in enumerate(MARKUP_TEXTS, start=1):
        if surface == "command":
            answer = bot.wait_response(bot.command(typed))
            assert answer["response_type"] == "ephemeral", typed
            shown = answer["text"]
        else:
            bot.mention(typed, ts=f"1700000600.{number:06d}", thread_ts=None)
            shown = eventually(
                lambda n=number: (
                    (found := bot.slack.calls_to("chat.postEphemeral"))[n - 1 :] and found
                ),
                what=f"the answer to {typed!r}",
            )[number - 1].args["text"]
        assert "&lt;" in shown, (typed, shown)  # shown as text, escaped
        for sent in sent_to_slack(bot):
            for markup in MARKUP:
                assert markup not in sent, (typed, sent)
    assert bot.slack.calls_to("chat.postMessage") == []
    assert counts(bot) == (0, 0)
    assert_nothing_leaked(bot)


# ---- secrets


def _secrets(bot: Bot) -> dict[str, str]:
    return {
        "API token": bot.simulator.token,
        "signing secret": SECRET,
        "bot token": BOT_TOKEN,
    }


def _capture_everything(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)


def _assert_no_secret(bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    sent = "\n".join(sent_to_slack(bot))
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert logged, "nothing was logged: the capture is not working"
    for what, secret in _secrets(bot).items():
        assert secret not in sent, f"the {what} was sent to Slack"
        assert secret not in logged, f"the {what} was logged"
    assert_nothing_leaked(bot)


def test_no_token_or_secret_reaches_slack_or_the_log(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    _capture_everything(caplog)
    # A refusal, a forged click, a badly signed request.
    assert "dance" in bot.wait_response(bot.command("dance on server-01"))["text"]
    _, key = bot.click("ops_confirm", "r_doesnotexist", user="U456")
    assert "does not exist" in bot.wait_response(key)["text"]
    body = slash_command_body(text="help", response_url=bot.slack.response_url("unsigned"))
    assert post(bot.url, body, secret="wrong").status_code == 401
    # API errors while looking (first: once operations exist, the poller's GETs would hit the
    # faults too): a list that fails every retry, a status the API refuses.
    bot.simulator.faults.add(Fault(method="GET", kind="status", status=503, times=None))
    assert "internal error" in bot.wait_response(bot.command("list"))["text"]
    bot.simulator.faults.clear()
    bot.simulator.faults.add(
        Fault(method="GET", kind="status", status=403, body='{"detail": "No."}', times=1)
    )
    assert "not allowed" in bot.wait_response(bot.command("status op_1"))["text"]
    # API errors while creating: the token is refused, the server fails.
    for status, body_text, said in [
        (401, '{"detail": "Invalid token."}', "API token is invalid"),
        (500, '{"detail": "boom"}', "may or may not have been created"),
    ]:
        bot.simulator.faults.add(Fault(method="POST", kind="status", status=status, body=body_text))
        root_ts = confirm(bot, "reboot server-05 now")
        eventually(
            lambda ts=root_ts, s=said: any(s in r for r in thread_replies(bot, ts)),
            what=f"the {status} in the thread",
        )
    # Slack errors too (in another channel: the thread replies above may still be going out).
    bot.slack.fail("chat.postMessage", error="not_in_channel", times=1, channel="C999")
    command = bot.command("reboot server-06 now", channel="C999")
    request_id = request_id_of(bot.wait_response(command))
    _, key = bot.click("ops_confirm", request_id)
    assert "Confirmed" in bot.wait_response(key)["text"]
    assert "/invite" in bot.wait_response(command, count=2)["text"]
    barrier(bot)
    _assert_no_secret(bot, caplog)


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param((400, '{"detail": "Bearer TOKEN is not valid."}', "is not valid"), id="400"),
        pytest.param((400, '{"token": ["TOKEN is expired"]}', "is expired"), id="400 field"),
        pytest.param((418, '{"detail": "Authorization: Bearer TOKEN"}', "HTTP 418"), id="418"),
    ],
)
def test_an_api_error_that_echoes_the_token_does_not_pass_it_on(
    bot: Bot, caplog: pytest.LogCaptureFixture, fault: tuple[int, str, str]
) -> None:
    _capture_everything(caplog)
    status, template, said = fault
    body = template.replace("TOKEN", bot.simulator.token)
    bot.simulator.faults.add(Fault(method="POST", kind="status", status=status, body=body))
    root_ts = confirm(bot, "reboot server-07 now")
    replies = eventually(lambda: thread_replies(bot, root_ts), what="the error in the thread")
    assert "server-07" in replies[0] and said in replies[0], replies  # the API's words, quoted
    _assert_no_secret(bot, caplog)


def test_a_status_lookup_that_echoes_the_token_does_not_pass_it_on(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    _capture_everything(caplog)
    body = '{"detail": "Token TOKEN has no access to op_1."}'.replace("TOKEN", bot.simulator.token)
    bot.simulator.faults.add(Fault(method="GET", kind="status", status=404, body=body))
    answer = bot.wait_response(bot.command("status op_1"))
    assert "The API said" in answer["text"]
    _assert_no_secret(bot, caplog)
