"""Recovery, in Block Kit: the question put to the requester when an operation's outcome is
unknown (what the API holds for its device, and Send again or Drop).
"""

from __future__ import annotations

from typing import Any

from bot import say
from bot.say.common import escape
from bot.say.common_blocks import (
    ACTION_DROP,
    ACTION_SEND_AGAIN,
    Blocks,
    button,
    context,
    fit,
    operation_label,
    section,
)
from bot.say.lists_blocks import listed
from store import (
    OperationRecord,
    OutboxEvent,
    RequestRecord,
)


def unknown_question(event: OutboxEvent, request: RequestRecord) -> Blocks:
    """Did the API create it? What it holds for the device, and Send again / Drop."""
    data = event.data
    op = next(o for o in request.operations if o.id == data.get("operation_id"))
    device = operation_label(op)
    held = [item for item in data.get("held") or [] if isinstance(item, dict)]
    lines = [say.recovery.held_heading(device) if held else say.recovery.held_nothing(device)]
    lines += [f"• {listed(item)}" for item in held]
    more = int(data.get("more") or 0)
    if more or data.get("complete") is False:
        lines.append(say.recovery.held_partial(more))
    send_again = button(say.recovery.SEND_AGAIN, ACTION_SEND_AGAIN, str(op.id), style="danger")
    send_again["confirm"] = {
        "title": {"type": "plain_text", "text": say.recovery.SEND_AGAIN_CONFIRM_TITLE},
        "text": {"type": "plain_text", "text": say.recovery.SEND_AGAIN_CONFIRM},
        "confirm": {"type": "plain_text", "text": say.recovery.SEND_AGAIN_CONFIRM_YES},
        "deny": {"type": "plain_text", "text": say.recovery.SEND_AGAIN_CONFIRM_NO},
    }
    return fit(
        [
            section(unknown_line(op, data)),
            section("\n".join(lines)),
            context(say.recovery.ask_choice(f"<@{request.requester}>")),
            {
                "type": "actions",
                "block_id": "ops_unknown",
                "elements": [send_again, button(say.recovery.DROP, ACTION_DROP, str(op.id))],
            },
        ]
    )


def unknown_line(op: OperationRecord, data: dict[str, Any]) -> str:
    """The thread's line asking whether the API created `op`."""
    return say.recovery.ask_unknown(
        device=operation_label(op),
        error=escape(op.error or ""),
        waited=_minutes(data.get("minutes")),
    )


def _minutes(value: object) -> str:
    return say.time.span(round(float(value) * 60)) if isinstance(value, int | float) else "a while"
