"""What reaches Bolt over HTTP: signed, small, UTF-8, and shaped like a Slack request.

Bolt answers 500 (with a traceback in the log) for a `payload` that is not a JSON object or a
JSON body that is a list; this refuses such requests first with a 4xx and a sentence.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier

MAX_BODY = 1024 * 1024  # Slack's own payloads are a few kB; a modal's state at most ~100 kB

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


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
        problem = _shape_problem(raw, environ.get("CONTENT_TYPE", ""))
        if problem:
            return refuse(start_response, "400 Bad Request", problem)
        environ["wsgi.input"] = io.BytesIO(raw)
        return app(environ, start_response)

    return wsgi


def _shape_problem(raw: bytes, content_type: str) -> str | None:
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "The body is not UTF-8."
    if content_type.startswith("application/json"):
        try:
            data = json.loads(body)
        except json.JSONDecodeError:
            return "The body is not valid JSON."
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            return "The JSON body is not a Slack event (no `type`)."
        return None
    form = parse_qs(body, keep_blank_values=True)
    if "payload" in form:
        try:
            payload = json.loads(form["payload"][0])
        except json.JSONDecodeError:
            return "`payload` is not valid JSON."
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
            return "`payload` is not a Slack interaction (no `type`)."
        return None
    if "command" in form:
        missing = [f for f in ("user_id", "channel_id", "response_url") if not form.get(f, [""])[0]]
        return f"The command lacks {', '.join(missing)}." if missing else None
    return "Not a Slack command, interaction or event."
