"""What reaches Bolt over HTTP: signed, small, UTF-8, and shaped like a Slack request.

Bolt answers 500 (with a traceback in the log) for a `payload` that is not a JSON object, a
JSON body that is a list, or a known request type whose parts have the wrong shape (`actions`
a string, `view` a list, `event` a number); this refuses such requests first with a 4xx and a
sentence. Only a holder of the signing secret can send one, so this is about clear answers and
clean logs, not about an attacker.

The body is parsed here, once, and handed on in the environ (PARSED) as the dict Bolt reads:
parsing a click's form body is a third of an acknowledgement's CPU, and Bolt's WSGI adapter
would do it again (bot.slack.app.bolt_wsgi takes it from here instead).
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from slack_sdk.signature import SignatureVerifier

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # Slack's own payloads are a few kB; a modal's state at most ~100 kB

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# The environ's key for the checked request: (the body as text, the body as Bolt reads it: a
# JSON body's object, an interaction's `payload`, a command's form fields).
PARSED = "opsbot.slack_request"


def guarded_wsgi(app: WsgiApp, *, signing_secret: str, path: str) -> WsgiApp:
    verifier = SignatureVerifier(signing_secret)

    def refuse(start_response: Callable[..., Any], status: str, why: str) -> list[bytes]:
        start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
        return [why.encode() + b"\n"]

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != path:
            return refuse(start_response, "404 Not Found", f"Not found: Slack sends to {path}")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return refuse(start_response, "400 Bad Request", "Content-Length is not a number.")
        if length > MAX_BODY:
            return refuse(start_response, "413 Payload Too Large", "Request body too large.")
        raw = environ["wsgi.input"].read(length) if length else b""
        headers = {
            "x-slack-request-timestamp": environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", ""),
            "x-slack-signature": environ.get("HTTP_X_SLACK_SIGNATURE", ""),
        }
        try:
            signed = verifier.is_valid_request(raw, headers)
        except UnicodeDecodeError:
            # The verifier decodes the body as UTF-8 (after checking the timestamp): such a
            # body cannot be checked, and Slack never sends one.
            return refuse(start_response, "400 Bad Request", "The body is not UTF-8.")
        except ValueError:  # a missing or non-numeric X-Slack-Request-Timestamp
            signed = False
        if not signed:
            return refuse(start_response, "401 Unauthorized", "Invalid or stale signature.")
        text, body, problem = _read(raw, environ.get("CONTENT_TYPE", ""))
        if problem:
            return refuse(start_response, "400 Bad Request", problem)
        environ["wsgi.input"] = io.BytesIO(raw)
        environ[PARSED] = (text, body)
        try:
            return app(environ, start_response)
        except Exception as error:  # Bolt reads the body before it answers: nothing was sent yet
            log.warning("refused a signed request Bolt could not read: %r", error)
            return refuse(start_response, "400 Bad Request", "Not a well-formed Slack request.")

    return wsgi


def _read(raw: bytes, content_type: str) -> tuple[str, dict[str, Any], str | None]:
    """The body as text and as Bolt reads it, or what is wrong with it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "", {}, "The body is not UTF-8."
    if content_type.startswith("application/json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return text, {}, "The body is not valid JSON."
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            return text, {}, "The JSON body is not a Slack event (no `type`)."
        return text, data, _parts_problem(data, _EVENT_PARTS)
    # A field given twice counts once, the last, as in Bolt's own parse.
    form = dict(parse_qsl(text, keep_blank_values=True))
    if "payload" in form:
        try:
            payload = json.loads(form["payload"])
        except json.JSONDecodeError:
            return text, {}, "`payload` is not valid JSON."
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
            return text, {}, "`payload` is not a Slack interaction (no `type`)."
        return text, payload, _interaction_problem(payload)
    if "command" in form:
        missing = [f for f in ("user_id", "channel_id", "response_url") if not form.get(f)]
        return text, form, f"The command lacks {', '.join(missing)}." if missing else None
    return text, {}, "Not a Slack command, interaction or event."


# The parts Bolt reads while routing, and the shape it assumes for each when present.
_OBJECT = "an object"
_LIST_OF_OBJECTS = "a list of objects"
_INTERACTION_PARTS = {
    "user": _OBJECT,
    "team": _OBJECT,
    "channel": _OBJECT,
    "container": _OBJECT,
    "view": _OBJECT,
    "actions": _LIST_OF_OBJECTS,
    "enterprise": _OBJECT,
}
_EVENT_PARTS = {"event": _OBJECT, "authorizations": _LIST_OF_OBJECTS}


def _parts_problem(data: dict[str, Any], parts: dict[str, str]) -> str | None:
    for name, shape in parts.items():
        if name not in data or data[name] is None:
            continue
        value = data[name]
        fits = (
            isinstance(value, dict)
            if shape == _OBJECT
            else isinstance(value, list) and all(isinstance(v, dict) for v in value)
        )
        if not fits:
            return f"`{name}` is not {shape}."
    return None


def _interaction_problem(payload: dict[str, Any]) -> str | None:
    """What Slack always sends with a click or a form, and the handlers rely on."""
    problem = _parts_problem(payload, _INTERACTION_PARTS)
    if problem or payload["type"] not in ("block_actions", "view_submission"):
        return problem
    if not isinstance((payload.get("user") or {}).get("id"), str):
        return "The interaction names no `user.id`."
    view = payload.get("view") or {}
    if payload["type"] == "block_actions":
        if not view and not isinstance(payload.get("response_url"), str):
            return "A click on a message must carry its `response_url`."
        return None
    if not isinstance(view.get("state"), dict) or not isinstance(view["state"].get("values"), dict):
        return "A form submission must carry `view.state.values`."
    return None
