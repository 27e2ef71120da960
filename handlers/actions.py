"""Confirm and Cancel buttons, and the modal's operation-type select."""

from __future__ import annotations

import json
import re
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import messages, text
from handlers.context import Deps


def register(app: App, deps: Deps) -> None:
    @app.action(messages.ACTION_CONFIRM)
    def confirm(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        user = (body.get("user") or {}).get("id", "")

        def work() -> None:
            outcome = deps.service.confirm(str(action.get("value", "")), user=user)
            if outcome.ok:
                respond(replace_original=True, text=text.CONFIRMED)
            else:
                _refuse(respond, outcome.reason, outcome.request, outcome.detail)

        deps.later(lambda m: respond(replace_original=False, response_type="ephemeral", **m), work)

    @app.action(messages.ACTION_CANCEL)
    def cancel(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        user = (body.get("user") or {}).get("id", "")

        def work() -> None:
            outcome = deps.service.cancel(str(action.get("value", "")), user=user)
            if outcome.ok:
                respond(replace_original=True, text=text.CANCELLED)
            else:
                _refuse(respond, outcome.reason, outcome.request, outcome.detail)

        deps.later(lambda m: respond(replace_original=False, response_type="ephemeral", **m), work)

    @app.action(messages.ACTION_MODAL_TYPE)
    def change_type(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient):
        ack()
        kind = deps.service.catalog.by_type(action["selected_option"]["value"])
        view = body["view"]
        if kind is None:
            return
        client.views_update(
            view_id=view["id"],
            hash=view.get("hash"),
            view=messages.request_modal(
                deps.service.catalog,
                kind=kind,
                metadata=json.loads(view.get("private_metadata") or "{}"),
            ),
        )


def register_fallback(app: App) -> None:
    """Registered last: a click on anything the bot does not know (an old message, a forged
    payload) is acknowledged and answered privately, never a 404 and a Slack error icon."""

    @app.action(re.compile(".*"))
    def unknown_action(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        if body.get("response_url"):
            respond(replace_original=False, response_type="ephemeral", text=text.UNKNOWN_ACTION)


def _refuse(respond: Respond, reason: str, request: Any, detail: str) -> None:
    requester = f"<@{request.requester}>" if request is not None else "the requester"
    respond(
        replace_original=False,
        response_type="ephemeral",
        text=text.click_refusal(reason, requester=requester, detail=detail),
    )
