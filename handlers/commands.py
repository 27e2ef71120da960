"""`/ops …`: understand the text and answer privately (a freeze, or its end, in the channel,
with its metadata); `/ops` alone opens the modal."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import say
from bot.answers import Refused
from bot.say import modal_blocks, track_blocks
from bot.slack.notifier import respond_in_channel
from handlers.context import Deps, answer_text


def register(app: App, deps: Deps) -> None:
    @app.command("/ops")
    def ops_command(ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        user, channel = command.get("user_id"), command.get("channel_id")
        if not user or not channel:
            ack(text=say.recovery.MALFORMED_COMMAND)
            return
        ack()
        typed = (command.get("text") or "").strip()

        def private(message: dict[str, Any]) -> None:
            respond(response_type="ephemeral", replace_original=False, **message)

        def work() -> None:
            if not typed:
                # Open first: the trigger expires in about 3 s. The zone is looked up on submit.
                kinds = deps.service.desk.kinds_for(user, channel=channel)
                if isinstance(kinds, Refused):
                    private(track_blocks.answer(kinds, now=deps.service.clock()).message)
                    return
                metadata = {"channel": channel, "response_url": command.get("response_url")}
                view = modal_blocks.request_modal(kinds, kind=kinds[0], metadata=metadata)
                client.views_open(trigger_id=command.get("trigger_id", ""), view=view)
                deps.zones(user)  # remembered: the submission words its errors in this zone
                return
            answer_text(
                deps,
                typed,
                user=user,
                channel=channel,
                surface="command",
                private=private,
                response_url=command.get("response_url"),
                announce=lambda message: respond_in_channel(
                    respond,
                    message,
                    otherwise=lambda m: deps.poster.post(
                        channel=channel, thread_ts=None, user=user, message=m
                    ),
                ),
            )

        deps.later(private, work)
