"""The request form (the modal): its labels and hints."""

from __future__ import annotations

# --- the modal -----------------------------------------------------------------------------

MODAL_TITLE = "Schedule an operation"
MODAL_SUBMIT = "Review"
MODAL_TYPE = "Operation"
MODAL_DEVICES = "Device(s)"
MODAL_WHEN = "When"
MODAL_WHEN_HINT = "Your local time. Leave empty to run now."
MODAL_HINTS = {  # by the kind of the operation's field
    "name": "One or more, separated by commas: one operation per name and device.",
    "name_list": "One or more, separated by commas.",
}
MODAL_VALUE_HINTS = {  # by the value_type of a "value" field
    "string": "Exactly as it should be set; no quotes needed.",
}
MODAL_TRUE = "true"
MODAL_FALSE = "false"


def form_summary(operation_type: str, devices: str) -> str:
    """What a request made with the form is remembered as: the command it amounts to."""
    return f"{operation_type} on {devices} (from the form)"
