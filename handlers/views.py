"""The request modal's submission: inline errors, or the same confirmation as `/ops …`."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import say
from bot.model import Plan
from bot.say import common_blocks, track_blocks
from bot.slack.notifier import tell_privately
from bot.understand.fields import FieldErrors
from handlers.context import Deps, form_metadata

log = logging.getLogger(__name__)


def register(app: App, deps: Deps) -> None:
    @app.view(common_blocks.MODAL_CALLBACK)
    def submit(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        user = body["user"]["id"]  # the guard lets no submission without one through
        metadata = form_metadata(view.get("private_metadata"))
        if metadata is None:  # not a form this bot opened
            log.warning("a form submission without this bot's metadata was ignored")
            ack()
            return
        fields = _values(view["state"]["values"])
        when = fields.pop("when", None)
        if when is not None and not isinstance(when, datetime):
            ack(response_action="errors", errors={"when": say.time.PICKER_UNREADABLE})
            return
        # No users.info before the ack: the zone only words an error here, and the one
        # remembered from opening the form will do. The confirmation looks it up afresh.
        remembered = deps.zones.peek(user)
        try:
            plan = deps.service.understand_fields(
                operation_type=str(fields.pop("operation_type", "")),
                devices=str(fields.pop("devices", "") or ""),
                when=when,
                values=fields,
                tz=remembered.tz if remembered else "UTC",
            )
        except FieldErrors as exc:
            ack(response_action="errors", errors=exc.errors)
            return
        ack()

        def reply(message: dict[str, Any]) -> None:
            # A form can stay open past the 30 minutes its command's response_url lasts.
            tell_privately(
                client,
                response_url=metadata["response_url"],
                channel=metadata["channel"],
                user=user,
                message=message,
            )

        def work() -> None:
            zone = deps.zones(user)
            notes = (zone.note, *plan.notes) if zone.note else plan.notes
            result = deps.service.propose(
                replace(plan, tz=zone.tz, notes=notes),
                requester=user,
                surface="modal",
                text=_summary(plan),
                channel=metadata["channel"],
                response_url=metadata["response_url"],
            )
            reply(track_blocks.answer(result, now=deps.service.clock()).message)

        deps.later(reply, work)


def _values(state: dict[str, Any]) -> dict[str, Any]:
    """view.state.values → {block_id: plain value}; parts of another shape are left out."""
    values: dict[str, Any] = {}
    for block_id, actions in state.items():
        if not isinstance(actions, dict):
            continue
        for element in actions.values():
            if not isinstance(element, dict):
                continue
            kind = element.get("type")
            if kind == "static_select":
                selected = element.get("selected_option") or {}
                values[block_id] = selected.get("value")
            elif kind == "checkboxes":
                values[block_id] = bool(element.get("selected_options"))
            elif kind == "datetimepicker":
                stamp = element.get("selected_date_time")
                values[block_id] = _picked(stamp)
            else:
                values[block_id] = element.get("value")
    return values


def _picked(stamp: object) -> object:
    """The picker's moment; None means "now"; anything unreadable comes back as it is (and is
    refused), never as "now" and never as an exception before the ack."""
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        try:
            return datetime.fromtimestamp(stamp, UTC)
        except (OverflowError, OSError, ValueError):  # beyond the years a datetime can hold
            return stamp
    return stamp


def _summary(plan: Plan) -> str:
    """What the modal asked for, as the equivalent command would read."""
    devices = ", ".join(dict.fromkeys(op.device_name for op in plan.operations))
    return say.modal.form_summary(plan.operations[0].operation_type, devices)
