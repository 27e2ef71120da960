"""The request modal's submission: inline errors, or the same confirmation as `/ops …`."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App
from slack_sdk.webhook import WebhookClient

from bot import messages, text
from bot.grammar import FieldErrors
from bot.service import Proposed
from handlers.context import Deps


def register(app: App, deps: Deps) -> None:
    @app.view(messages.MODAL_CALLBACK)
    def submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        metadata = json.loads(view.get("private_metadata") or "{}")
        fields = _values(view["state"]["values"])
        zone = deps.zones(user)
        try:
            plan = deps.service.understand_fields(
                operation_type=str(fields.pop("operation_type", "")),
                devices=str(fields.pop("devices", "") or ""),
                when=fields.pop("when", None),
                values=fields,
                tz=zone.tz,
            )
        except FieldErrors as exc:
            ack(response_action="errors", errors=exc.errors)
            return
        ack()
        webhook = WebhookClient(metadata["response_url"])

        def reply(message: dict[str, Any]) -> None:
            webhook.send(response_type="ephemeral", replace_original=False, **message)

        def work() -> None:
            notes = plan.notes if zone.known else (text.NO_TZ, *plan.notes)
            request = deps.service.propose(
                replace(plan, notes=notes),
                requester=user,
                surface="modal",
                text=_summary(plan),
                channel=metadata["channel"],
                response_url=metadata["response_url"],
            )
            reply(messages.answer(Proposed(request=request), now=deps.service.clock()).message)

        deps.later(reply, work)


def _values(state: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """view.state.values → {block_id: plain value}."""
    values: dict[str, Any] = {}
    for block_id, actions in state.items():
        for element in actions.values():
            kind = element.get("type")
            if kind == "static_select":
                selected = element.get("selected_option") or {}
                values[block_id] = selected.get("value")
            elif kind == "checkboxes":
                values[block_id] = bool(element.get("selected_options"))
            elif kind == "datetimepicker":
                stamp = element.get("selected_date_time")
                values[block_id] = datetime.fromtimestamp(stamp, UTC) if stamp else None
            else:
                values[block_id] = element.get("value")
    return values


def _summary(plan: Any) -> str:
    """What the modal asked for, as the equivalent command would read."""
    first = plan.operations[0]
    devices = ", ".join(op.device_name for op in plan.operations)
    return f"{first.operation_type} on {devices} (from the form)"
