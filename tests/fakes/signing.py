"""What Slack sends to an app: realistic payloads, signed HTTP bodies, and a sender.

The ``*_payload`` functions build the payload dicts once; the ``*_body`` functions
encode them the way Slack does over HTTP, and ``socket_mode`` sends the same dicts
inside Socket Mode envelopes.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from .slack import APP_ID, BOT_ID, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
DEFAULT_MESSAGE_TS = "1700000000.000100"  # the first ts FakeSlack hands out
VERIFICATION_TOKEN = "fake-verification-token"  # deprecated by Slack but still sent
# What the tests' clients would verify a certificate with (they speak plain HTTP on loopback),
# built once: httpx reads the CA bundle again for each client it builds, 35 ms of CPU each.
TRUST = httpx.create_ssl_context()


_trigger_counter = itertools.count(1)


def new_trigger_id() -> str:
    """A fresh trigger_id: FakeSlack, like Slack, accepts each one in only one views.open."""
    return f"123.456.{next(_trigger_counter):06x}"


def _username(user_id: str) -> str:
    return f"user-{user_id.lower()}"


def _action_ts() -> str:
    return f"{time.time():.6f}"


# ---- payloads (dicts)


def slash_command_payload(
    *,
    text: str,
    user_id: str = "U123",
    channel_id: str = "C123",
    command: str = "/ops",
    team_id: str = TEAM_ID,
    response_url: str,
    trigger_id: str | None = None,
) -> dict[str, str]:
    # Every value is a string: Slack form-encodes these, and sends the same strings in Socket Mode.
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": f"channel-{channel_id.lower()}",
        "user_id": user_id,
        "user_name": _username(user_id),
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or new_trigger_id(),
    }


def _user(user_id: str, team_id: str) -> dict[str, str]:
    name = _username(user_id)
    return {"id": user_id, "username": name, "name": name, "team_id": team_id}


def _team(team_id: str) -> dict[str, Any]:
    return {"id": team_id, "domain": TEAM_DOMAIN}


def _button_message(
    *, ts: str, action_id: str, value: str, block_id: str, button_text: str, team_id: str
) -> dict[str, Any]:
    button = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": button_text, "emoji": True},
        "value": value,
    }
    return {
        "type": "message",
        "subtype": "bot_message",
        "user": BOT_USER_ID,
        "bot_id": BOT_ID,
        "app_id": APP_ID,
        "team": team_id,
        "ts": ts,
        "text": "",
        "blocks": [{"type": "actions", "block_id": block_id, "elements": [button]}],
    }


def _full_view(view: dict[str, Any], team_id: str) -> dict[str, Any]:
    full = {
        "id": "V00000001",
        "team_id": team_id,
        "type": "modal",
        "blocks": [],
        "private_metadata": "",
        "callback_id": "",
        "state": {"values": {}},
        "hash": "1700000001.fake0001",
        "title": {"type": "plain_text", "text": "opsbot", "emoji": True},
        "clear_on_close": False,
        "notify_on_close": False,
        "close": None,
        "submit": None,
        "previous_view_id": None,
        "app_id": APP_ID,
        "external_id": "",
        "app_installed_team_id": team_id,
        "bot_id": BOT_ID,
    }
    full.update(view)
    if not full.get("root_view_id"):
        full["root_view_id"] = full["id"]
    return full


def block_actions_payload(
    *,
    action_id: str,
    value: str,
    user_id: str = "U123",
    channel_id: str = "C123",
    response_url: str | None = None,
    message_ts: str = DEFAULT_MESSAGE_TS,
    container: dict[str, Any] | None = None,
    view: dict[str, Any] | None = None,
    block_id: str = "b",
    team_id: str = TEAM_ID,
    trigger_id: str | None = None,
    button_text: str = "Confirm",
    message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A button click: on a message by default, in a modal when `view` is given.

    `view` may be partial (e.g. the `view` FakeSlack returned from views.open); Slack's
    fields are filled in. A modal click carries no channel and no response_url.
    """
    action = {
        "action_id": action_id,
        "block_id": block_id,
        "text": {"type": "plain_text", "text": button_text, "emoji": True},
        "value": value,
        "type": "button",
        "action_ts": _action_ts(),
    }
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(user_id, team_id),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or new_trigger_id(),
        "team": _team(team_id),
        "enterprise": None,
        "is_enterprise_install": False,
    }
    if view is not None:
        full = _full_view(view, team_id)
        payload["container"] = container or {"type": "view", "view_id": full["id"]}
        payload["view"] = full
        payload["actions"] = [action]
        return payload
    if response_url is None:
        raise ValueError("a block_actions payload from a message needs a response_url")
    payload["container"] = container or {
        "type": "message",
        "message_ts": message_ts,
        "channel_id": channel_id,
        "is_ephemeral": False,
    }
    payload["channel"] = {"id": channel_id, "name": f"channel-{channel_id.lower()}"}
    payload["message"] = message or _button_message(
        ts=message_ts,
        action_id=action_id,
        value=value,
        block_id=block_id,
        button_text=button_text,
        team_id=team_id,
    )
    payload["state"] = {"values": {}}
    payload["response_url"] = response_url
    payload["actions"] = [action]
    return payload


def _state_values(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    # A bare string leaf is shorthand for a plain_text_input value.
    out: dict[str, dict[str, Any]] = {}
    for block_id, actions in values.items():
        out[block_id] = {
            action_id: {"type": "plain_text_input", "value": v} if isinstance(v, str) else v
            for action_id, v in actions.items()
        }
    return out


def _input_blocks(values: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    blocks = []
    for block_id, actions in values.items():
        for action_id, state in actions.items():
            element = {"type": state.get("type", "plain_text_input"), "action_id": action_id}
            blocks.append(
                {
                    "type": "input",
                    "block_id": block_id,
                    "label": {"type": "plain_text", "text": block_id, "emoji": True},
                    "optional": False,
                    "dispatch_action": False,
                    "element": element,
                }
            )
    return blocks


def view_submission_payload(
    *,
    callback_id: str,
    values: dict[str, Any],
    private_metadata: str,
    user_id: str = "U123",
    view_id: str = "V00000001",
    view_hash: str = "1700000001.fake0001",
    team_id: str = TEAM_ID,
    trigger_id: str | None = None,
) -> dict[str, Any]:
    """A modal submit. `values` is view.state.values: {block_id: {action_id: state}};
    a str state is shorthand for {"type": "plain_text_input", "value": str}."""
    state_values = _state_values(values)
    view = _full_view(
        {
            "id": view_id,
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "blocks": _input_blocks(state_values),
            "state": {"values": state_values},
            "hash": view_hash,
            "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
            "close": {"type": "plain_text", "text": "Cancel", "emoji": True},
        },
        team_id,
    )
    return {
        "type": "view_submission",
        "team": _team(team_id),
        "user": _user(user_id, team_id),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or new_trigger_id(),
        "view": view,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def app_mention_payload(
    *,
    text: str,
    user_id: str = "U123",
    channel_id: str = "C123",
    ts: str,
    thread_ts: str | None = None,
    event_id: str = "Ev1",
    team_id: str = TEAM_ID,
    bot_user_id: str = BOT_USER_ID,
) -> dict[str, Any]:
    """An Events API event_callback envelope for app_mention. `text` is used verbatim,
    so include the mention yourself: f"<@{BOT_USER_ID}> restart nginx"."""
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": user_id,
        "text": text,
        "ts": ts,
        "team": team_id,
        "channel": channel_id,
        "event_ts": ts,
        "client_msg_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{channel_id}/{ts}")),
        "blocks": [
            {
                "type": "rich_text",
                "block_id": "rt1",
                "elements": [
                    {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
                ],
            }
        ],
    }
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "context_team_id": team_id,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(float(ts)),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-fake-{event_id}",
    }


def app_home_opened_payload(
    *,
    user_id: str = "U123",
    tab: str = "home",
    event_id: str = "Ev1",
    view: dict[str, Any] | None = None,
    team_id: str = TEAM_ID,
    bot_user_id: str = BOT_USER_ID,
) -> dict[str, Any]:
    """An Events API event_callback envelope for app_home_opened: the person opened the app's
    Home tab (`tab="home"`) or its Messages tab. `view`: the Home view last published for
    them, which Slack includes once there is one."""
    ts = f"{time.time():.6f}"
    event: dict[str, Any] = {
        "type": "app_home_opened",
        "user": user_id,
        "channel": "D0HOME" + user_id[-4:],
        "tab": tab,
        "event_ts": ts,
    }
    if view is not None:
        event["view"] = _full_view({"type": "home", **view}, team_id)
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "context_team_id": team_id,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(float(ts)),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-fake-{event_id}",
    }


# ---- HTTP bodies (what Slack POSTs to /slack/events)


def slash_command_body(
    *,
    text: str,
    user_id: str = "U123",
    channel_id: str = "C123",
    command: str = "/ops",
    team_id: str = TEAM_ID,
    response_url: str,
    trigger_id: str | None = None,
) -> str:
    return urlencode(
        slash_command_payload(
            text=text,
            user_id=user_id,
            channel_id=channel_id,
            command=command,
            team_id=team_id,
            response_url=response_url,
            trigger_id=trigger_id,
        )
    )


def _form_payload(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def block_actions_body(
    *,
    action_id: str,
    value: str,
    user_id: str = "U123",
    channel_id: str = "C123",
    response_url: str | None = None,
    message_ts: str = DEFAULT_MESSAGE_TS,
    container: dict[str, Any] | None = None,
    view: dict[str, Any] | None = None,
    block_id: str = "b",
) -> str:
    return _form_payload(
        block_actions_payload(
            action_id=action_id,
            value=value,
            user_id=user_id,
            channel_id=channel_id,
            response_url=response_url,
            message_ts=message_ts,
            container=container,
            view=view,
            block_id=block_id,
        )
    )


def view_submission_body(
    *, callback_id: str, values: dict[str, Any], private_metadata: str, user_id: str = "U123"
) -> str:
    return _form_payload(
        view_submission_payload(
            callback_id=callback_id,
            values=values,
            private_metadata=private_metadata,
            user_id=user_id,
        )
    )


def app_mention_body(
    *,
    text: str,
    user_id: str = "U123",
    channel_id: str = "C123",
    ts: str,
    thread_ts: str | None = None,
    event_id: str = "Ev1",
) -> str:
    """JSON body; send it with content_type="application/json" (post() detects it)."""
    return json.dumps(
        app_mention_payload(
            text=text,
            user_id=user_id,
            channel_id=channel_id,
            ts=ts,
            thread_ts=thread_ts,
            event_id=event_id,
        )
    )


def app_home_opened_body(**kwargs: Any) -> str:
    """JSON body of app_home_opened_payload(**kwargs)."""
    return json.dumps(app_home_opened_payload(**kwargs))


# ---- signing and sending


def signed_headers(
    body: str,
    *,
    secret: str,
    timestamp: int | None = None,
    content_type: str = FORM,
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }


def post(
    url: str,
    body: str,
    *,
    secret: str,
    content_type: str | None = None,
    timestamp: int | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> httpx.Response:
    """Sign `body` and POST it. content_type defaults to JSON for a body starting with "{",
    else form. `headers` override the signed ones (e.g. to send a bad signature)."""
    if content_type is None:
        content_type = JSON if body.lstrip().startswith("{") else FORM
    sent = signed_headers(body, secret=secret, timestamp=timestamp, content_type=content_type)
    sent.update(headers or {})
    # trust_env=False: a developer's HTTPS_PROXY must not swallow loopback traffic.
    with httpx.Client(trust_env=False, timeout=timeout, verify=TRUST) as client:
        return client.post(url, content=body.encode("utf-8"), headers=sent)
