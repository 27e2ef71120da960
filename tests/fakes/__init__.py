"""Fakes of Slack for tests: Web API over HTTP, Socket Mode over websocket, signed requests."""

from .signing import (
    app_home_opened_body,
    app_home_opened_payload,
    app_mention_body,
    app_mention_payload,
    block_actions_body,
    block_actions_payload,
    new_trigger_id,
    post,
    signed_headers,
    slash_command_body,
    slash_command_payload,
    view_submission_body,
    view_submission_payload,
)
from .slack import (
    APP_ID,
    APP_TOKEN,
    BOT_ID,
    BOT_TOKEN,
    BOT_USER_ID,
    TEAM_ID,
    Call,
    FakeSlack,
)
from .socket_mode import FakeSocketMode

__all__ = [
    "app_home_opened_body",
    "app_home_opened_payload",
    "APP_ID",
    "APP_TOKEN",
    "BOT_ID",
    "BOT_TOKEN",
    "BOT_USER_ID",
    "TEAM_ID",
    "Call",
    "FakeSlack",
    "FakeSocketMode",
    "app_mention_body",
    "app_mention_payload",
    "block_actions_body",
    "block_actions_payload",
    "new_trigger_id",
    "post",
    "signed_headers",
    "slash_command_body",
    "slash_command_payload",
    "view_submission_body",
    "view_submission_payload",
]
