"""The request form (the modal), in Block Kit."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot import say
from bot.say.common_blocks import ACTION_MODAL_TYPE, MODAL_CALLBACK, VALUE, Blocks
from bot.understand.catalog import OperationKind, ParamField

# --- the modal -----------------------------------------------------------------------------


def request_modal(
    kinds: Sequence[OperationKind], *, kind: OperationKind, metadata: dict[str, Any]
) -> dict[str, Any]:
    """The request form, offering the operation kinds this person may request."""
    options = [_option(k.label, k.operation_type) for k in kinds]
    blocks: Blocks = [
        {
            "type": "input",
            "block_id": "operation_type",
            "dispatch_action": True,
            "label": {"type": "plain_text", "text": say.modal.MODAL_TYPE},
            "element": {
                "type": "static_select",
                "action_id": ACTION_MODAL_TYPE,
                "options": options,
                "initial_option": _option(kind.label, kind.operation_type),
            },
        },
        _text_input("devices", say.modal.MODAL_DEVICES, placeholder="server-01, server-02"),
    ]
    for param in kind.fields:
        if param.kind == "flag":
            blocks.append(
                {
                    "type": "input",
                    "block_id": param.name,
                    "optional": True,
                    "label": {"type": "plain_text", "text": param.label},
                    "element": {
                        "type": "checkboxes",
                        "action_id": VALUE,
                        "options": [_option(param.label, "true")],
                    },
                }
            )
        elif param.kind == "value":
            blocks.append(_value_input(param))
        else:
            blocks.append(
                _text_input(
                    param.name,
                    param.label,
                    placeholder=param.placeholder,
                    optional=not param.required,
                    hint=say.modal.MODAL_HINTS.get(param.kind, ""),
                )
            )
    blocks.append(
        {
            "type": "input",
            "block_id": "when",
            "optional": True,
            "label": {"type": "plain_text", "text": say.modal.MODAL_WHEN},
            "hint": {"type": "plain_text", "text": say.modal.MODAL_WHEN_HINT},
            "element": {"type": "datetimepicker", "action_id": VALUE},
        }
    )
    return {
        "type": "modal",
        "callback_id": MODAL_CALLBACK,
        "title": {"type": "plain_text", "text": say.modal.MODAL_TITLE},
        "submit": {"type": "plain_text", "text": say.modal.MODAL_SUBMIT},
        "close": {"type": "plain_text", "text": say.track.CANCEL},
        "private_metadata": json.dumps(metadata),
        "blocks": blocks,
    }


def _value_input(param: ParamField) -> dict[str, Any]:
    """The input for one value: what Slack can check itself it checks (a number, a choice);
    the grammar reads the rest, as it reads the same value typed after /ops."""
    if param.value_type in ("integer", "number"):
        element: dict[str, Any] = {
            "type": "number_input",
            "action_id": VALUE,
            "is_decimal_allowed": param.value_type == "number",
        }
        if param.placeholder:
            element["placeholder"] = {"type": "plain_text", "text": param.placeholder[:150]}
    elif param.value_type == "boolean":
        choices = [_option(say.modal.MODAL_TRUE, "true"), _option(say.modal.MODAL_FALSE, "false")]
        element = {"type": "static_select", "action_id": VALUE, "options": choices}
        if isinstance(param.default, bool):
            element["initial_option"] = choices[0 if param.default else 1]
    else:
        return _text_input(
            param.name,
            param.label,
            placeholder=param.placeholder,
            optional=not param.required,
            hint=say.modal.MODAL_VALUE_HINTS.get(param.value_type, ""),
        )
    return {
        "type": "input",
        "block_id": param.name,
        "optional": not param.required,
        "label": {"type": "plain_text", "text": param.label},
        "element": element,
    }


def _option(label: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": label[:75]}, "value": value}


def _text_input(
    block_id: str, label: str, *, placeholder: str = "", optional: bool = False, hint: str = ""
) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": VALUE}
    if placeholder:
        element["placeholder"] = {"type": "plain_text", "text": placeholder[:150]}
    block = {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": {"type": "plain_text", "text": label},
        "element": element,
    }
    if hint:
        block["hint"] = {"type": "plain_text", "text": hint}
    return block
