"""`@opsbot …` typed in a channel or a thread: that thread becomes the originating thread. And
the Home tab opened: published afresh from the store."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from handlers.context import Deps, answer_text

log = logging.getLogger(__name__)

MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")


def register(app: App, deps: Deps) -> None:
    @app.event("app_mention")
    def mentioned(body: dict[str, Any], event: dict[str, Any], client: WebClient) -> None:
        user, channel = event.get("user"), event.get("channel")
        if not user or not channel:
            return
        # Slack redelivers an event it thinks was missed; its event_id stays the same. Asked in
        # the work, not before the ack: the store may be busy, and the ack waits for nothing.
        key = str(body.get("event_id") or f"{channel}:{event.get('ts')}")
        thread_ts = event.get("thread_ts") or event.get("ts")
        typed = MENTION.sub(" ", event.get("text") or "").strip()

        def private(message: dict[str, Any]) -> None:
            client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread_ts, **message)

        def public(message: dict[str, Any]) -> None:
            deps.poster.post(channel=channel, thread_ts=thread_ts, user=user, message=message)

        def work() -> None:
            if deps.service.first_time(key):
                answer_text(
                    deps,
                    typed or "help",
                    user=user,
                    channel=channel,
                    surface="mention",
                    private=private,
                    public=public,
                    thread_ts=thread_ts,
                )

        deps.later(private, work)

    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any]) -> None:
        user = event.get("user")
        # The Messages tab (turned off in the manifest) sends this event too: not ours.
        if not user or event.get("tab", "home") != "home":
            return
        deps.later(lambda _: log.warning("Home tab not published"), lambda: deps.home.publish(user))
