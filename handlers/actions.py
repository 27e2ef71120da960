"""Confirm and Cancel buttons, and the modal's operation-type select."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import messages, text
from handlers.context import Deps, form_metadata

log = logging.getLogger(__name__)


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

    @app.action(messages.ACTION_SEND_AGAIN)
    def send_again(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond
    ) -> None:
        ack()
        user = (body.get("user") or {}).get("id", "")

        def work() -> None:
            outcome = deps.service.send_again(_operation_id(action), user=user)
            if outcome.ok:
                respond(replace_original=True, text=text.sent_again_answer(f"<@{user}>"))
            else:
                _refuse(respond, outcome.reason, outcome.request, outcome.detail)

        deps.later(lambda m: respond(replace_original=False, response_type="ephemeral", **m), work)

    @app.action(messages.ACTION_DROP)
    def drop(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        user = (body.get("user") or {}).get("id", "")

        def work() -> None:
            outcome = deps.service.drop(_operation_id(action), user=user)
            if outcome.ok:
                respond(replace_original=True, text=text.dropped_answer(f"<@{user}>"))
            else:
                _refuse(respond, outcome.reason, outcome.request, outcome.detail)

        deps.later(lambda m: respond(replace_original=False, response_type="ephemeral", **m), work)

    @app.action(messages.ACTION_MODAL_TYPE)
    def change_type(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        ack()
        # Runs in Bolt's listener pool after the ack: whatever the payload holds or Slack
        # answers, it ends here, logged; the modal keeps its fields and its submit is checked.
        option = action.get("selected_option")
        view = body.get("view")
        kind = deps.service.catalog.by_type(
            str(option.get("value", "")) if isinstance(option, dict) else ""
        )
        has_id = isinstance(view, dict) and bool(view.get("id"))
        metadata = form_metadata(view.get("private_metadata")) if has_id else None
        if kind is None or metadata is None:
            log.warning("type change ignored: no known type, or no view the bot opened")
            return
        try:
            client.views_update(
                view_id=view["id"],
                hash=view.get("hash"),
                view=messages.request_modal(deps.service.catalog, kind=kind, metadata=metadata),
            )
        except SlackApiError as exc:
            # hash_conflict: the person changed the modal again, and the newer change wins.
            log.warning("modal not updated for a type change: %s", exc.response.get("error"))
        except Exception:
            log.exception("modal not updated for a type change")


def register_fallback(app: App) -> None:
    """Registered last: a click on anything the bot does not know (an old message, a forged
    payload) is acknowledged and answered privately, never a 404 and a Slack error icon."""

    @app.action(re.compile(".*"))
    def unknown_action(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        if body.get("response_url"):
            respond(replace_original=False, response_type="ephemeral", text=text.UNKNOWN_ACTION)


def _operation_id(action: dict[str, Any]) -> int:
    """The button's value: the operation asked about; anything else names none (-1)."""
    value = str(action.get("value", ""))
    return int(value) if value.isascii() and value.isdigit() else -1


def _refuse(respond: Respond, reason: str, request: Any, detail: str) -> None:
    requester = f"<@{request.requester}>" if request is not None else "the requester"
    respond(
        replace_original=False,
        response_type="ephemeral",
        text=text.click_refusal(reason, requester=requester, detail=detail),
    )
