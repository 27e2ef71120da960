"""The Zequenze API's answers, as sentences for people."""

from __future__ import annotations

# --- the Zequenze API's answers, as sentences for people ----------------------------------

API_NO_ID = "The API accepted the operation but did not say its id; check `/ops list`."
API_NO_COUNT = (
    "The API's list did not say how many operations it holds (no `count`); it may be misconfigured."
)
API_NO_RESULTS = (
    "The API answered without a list of operations (no `results`); it may be misconfigured."
)
API_UNREACHABLE = (
    "Could not reach the Zequenze API (connection refused or no route); nothing was sent."
)
API_TIMEOUT = "The Zequenze API did not answer in time."
API_CONNECTION_BROKE = "The connection to the Zequenze API broke before it answered."
API_TOKEN_INVALID = "The bot's API token is invalid or missing (HTTP 401): tell an admin."
API_TOKEN_FORBIDDEN = "The bot's API token is not allowed to do this (HTTP 403): tell an admin."
API_RATE_LIMITED = "The Zequenze API is rate-limiting the bot (HTTP 429); try again shortly."
API_INVALID_DATA = "invalid data."


def api_ignored_id_filter(operation_id: str) -> str:
    return (
        f"Asked for operation {operation_id} by id, the API answered with other operations; "
        "it may not support the id filter."
    )


def api_not_json(kind: str, status: int) -> str:
    return (
        f"The API answered with something that is not JSON ({kind}, HTTP {status}); "
        "it may be down or misconfigured."
    )


def api_refused_fields(errors: str) -> str:
    return f"The API refused the request: {errors}"


def api_unknown_device(device: str) -> str:
    return f"Device {device} is not in the inventory."


def api_said(detail: str) -> str:
    return f"The API said: {detail.rstrip('.')}."


def api_internal_error(status: int, *, creating: bool) -> str:
    message = f"The Zequenze API failed with an internal error (HTTP {status})."
    return message + (" The operation may or may not have been created." if creating else "")


def api_refused(status: int, detail: str) -> str:
    return f"The API refused the request (HTTP {status}): {detail}"
