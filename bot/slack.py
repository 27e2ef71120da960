"""The Slack side of the ports: posting the thread, delivering updates, knowing a user's zone."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from bot import messages, text
from bot.ports import CannotPost, ThreadRef
from store import OutboxEvent, RequestRecord

log = logging.getLogger(__name__)

METADATA_TYPE = "opsbot_announcement"
REQUEST_TYPE = "opsbot_request"
MAX_REPLY_PAGES = 10
CANNOT_POST_ERRORS = frozenset(
    {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}
)
# Errors worth asking again: Slack's own trouble and rate limits (as are HTTP 429 and 5xx, and
# not reaching Slack at all). The bot's credentials too: while they are wrong no message goes
# out anywhere, and none should be thrown away before an admin fixes them. Any other error
# is the same answer however often the same message is sent.
# Slack's answers to a token it will not take.
CREDENTIAL_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "not_allowed_token_type",
    }
)
TEMPORARY_ERRORS = (
    frozenset(
        {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
    )
    | CREDENTIAL_ERRORS
)


def web_client(*, token: str, base_url: str) -> WebClient:
    """Slack's client with 429 (Retry-After), 5xx and connection retries switched on."""
    return WebClient(
        token=token,
        base_url=base_url,
        timeout=10,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


class SlackNotifier:
    def __init__(self, *, client: WebClient) -> None:
        self._client = client

    def open_thread(self, request: RequestRecord) -> ThreadRef:
        blocks = messages.status_message(request)
        try:
            response = self._client.chat_postMessage(
                channel=request.channel or "",
                thread_ts=request.thread_ts,
                blocks=blocks,
                text=_fallback(blocks),
                unfurl_links=False,
                metadata={"event_type": REQUEST_TYPE, "event_payload": {"request_id": request.id}},
            )
        except SlackApiError as exc:
            error = exc.response.get("error", "") if exc.response is not None else ""
            if error in CANNOT_POST_ERRORS:
                raise CannotPost(text.NOT_IN_CHANNEL) from exc
            raise
        return ThreadRef(channel=response["channel"], status_ts=response["ts"])

    def deliver(self, event: OutboxEvent, request: RequestRecord) -> None:
        line = messages.clip(messages.event_text(event, request), 3000)
        with _refused_for_good():
            if event.kind.startswith("private"):
                if event.kind == "private_confirm_interrupted":
                    self._retire_orphan(request)
                tell_privately(
                    self._client,
                    response_url=request.response_url,
                    channel=request.channel or "",
                    user=request.requester,
                    thread_ts=request.thread_ts,
                    message={"text": line},
                )
                return
            # `attempts` counts the tries before this one: any earlier try may have landed.
            if event.attempts > 0 and self._already_posted(event, request):
                return
            self._client.chat_postMessage(
                channel=request.channel or "",
                thread_ts=request.reply_thread,
                text=line,
                unfurl_links=False,
                metadata={"event_type": METADATA_TYPE, "event_payload": _tag(event)},
            )

    def _retire_orphan(self, request: RequestRecord) -> None:
        """The bot died after posting a request's public message but before recording it: find
        that message by its tag and say that nothing was sent, rather than leave it hanging."""
        try:
            if request.thread_ts:
                found = self._client.conversations_replies(
                    channel=request.channel or "",
                    ts=request.thread_ts,
                    include_all_metadata=True,
                    limit=200,
                )
            else:
                found = self._client.conversations_history(
                    channel=request.channel or "", include_all_metadata=True, limit=100
                )
        except SlackApiError as exc:
            log.warning(
                "cannot look for an unfinished status message: %s", exc.response.get("error")
            )
            return
        for message in found.get("messages") or []:
            metadata = message.get("metadata") or {}
            if metadata.get("event_type") == REQUEST_TYPE and (
                (metadata.get("event_payload") or {}).get("request_id") == request.id
            ):
                note = text.interrupted_status(request.id)
                self._client.chat_update(
                    channel=request.channel or "",
                    ts=message["ts"],
                    text=note,
                    blocks=[messages.section(note)],
                )

    def _already_posted(self, event: OutboxEvent, request: RequestRecord) -> bool:
        """A previous attempt may have reached Slack before the bot died or the answer was
        lost: look for the message, tagged with this event's id, in the thread."""
        cursor = None
        for _ in range(MAX_REPLY_PAGES):
            try:
                page = self._client.conversations_replies(
                    channel=request.channel or "",
                    ts=request.reply_thread or "",
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            except SlackApiError as exc:
                # Without the history scopes the check cannot be made: a rare duplicate is
                # better than a message that never goes out.
                log.warning(
                    "cannot check the thread for a sent message: %s", exc.response.get("error")
                )
                return False
            for message in page.get("messages") or []:
                metadata = message.get("metadata") or {}
                if metadata.get("event_type") == METADATA_TYPE and (
                    metadata.get("event_payload") == _tag(event)
                ):
                    return True
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not page.get("has_more") or not cursor:
                return False
        return False

    def refresh(self, request: RequestRecord) -> None:
        blocks = messages.status_message(request)
        with _refused_for_good():
            self._client.chat_update(
                channel=request.channel or "",
                ts=request.status_ts or "",
                blocks=blocks,
                text=_fallback(blocks),
            )


def tell_privately(
    client: WebClient,
    *,
    response_url: str | None,
    channel: str,
    user: str,
    message: dict[str, Any],
    thread_ts: str | None = None,
) -> None:
    """Say something only `user` sees: through the response_url of what they did while it
    lasts (30 minutes; it answers 404 after, rather than raising), else as an ephemeral
    message in the channel. `message` holds `text` and maybe `blocks`."""
    if response_url:
        try:
            status = (
                WebhookClient(response_url, timeout=10)
                .send(response_type="ephemeral", replace_original=False, **message)
                .status_code
            )
        except OSError as exc:
            # Unanswered: a rare second copy is better than the person hearing nothing.
            status, reason = 0, type(exc).__name__
        else:
            reason = f"HTTP {status}"
        if status == 200:
            return
        log.info("response_url unusable (%s); telling %s in the channel instead", reason, user)
    client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread_ts, **message)


@contextmanager
def _refused_for_good() -> Iterator[None]:
    """A Slack error that will not go away becomes CannotPost, saying what the requester can
    do; any other failure goes on up, to be tried again later."""
    try:
        yield
    except SlackApiError as exc:
        if _temporary(exc):
            raise
        raise CannotPost(text.slack_refused(_error_code(exc))) from exc


def _temporary(exc: SlackApiError) -> bool:
    status = exc.response.status_code if exc.response is not None else 0
    return status == 429 or status >= 500 or _error_code(exc) in TEMPORARY_ERRORS


def _error_code(exc: SlackApiError) -> str:
    data = exc.response.data if exc.response is not None else None
    return str(data.get("error") or "") if isinstance(data, dict) else ""


def _tag(event: OutboxEvent) -> dict[str, str]:
    return {"request_id": event.request_id, "outbox_id": str(event.id)}


def _fallback(blocks: messages.Blocks) -> str:
    """The notification text: the first section, which always says what this is about."""
    for block in blocks:
        if block.get("type") == "section":
            return messages.clip(block["text"]["text"], 300)
    return "opsbot"


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@dataclass(frozen=True, kw_only=True)
class Zone:
    tz: str
    known: bool  # False: the profile had none, and UTC is assumed (the person is told)


class ZoneLookup:
    """`users.info` → `user.tz`, remembered a few minutes per user."""

    def __init__(self, *, client: WebClient, ttl: float = 600.0) -> None:
        self._client = client
        self._ttl = ttl
        self._cache: dict[str, tuple[float, Zone]] = {}
        self._lock = threading.Lock()

    def peek(self, user_id: str) -> Zone | None:
        """The zone last seen for this person, however old, without asking Slack: for an
        answer that must leave within Slack's 3 s."""
        with self._lock:
            hit = self._cache.get(user_id)
        return hit[1] if hit else None

    def __call__(self, user_id: str) -> Zone:
        with self._lock:
            hit = self._cache.get(user_id)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        zone = Zone(tz="UTC", known=False)
        try:
            user = self._client.users_info(user=user_id).get("user") or {}
            if isinstance(user.get("tz"), str) and _known_zone(user["tz"]):
                zone = Zone(tz=user["tz"], known=True)
        except SlackApiError as exc:
            log.warning("users.info for %s failed: %s", user_id, exc.response.get("error"))
        except OSError as exc:
            # Slack unreachable: UTC this once (the person is told), and ask again next time.
            log.warning("users.info for %s failed: %s", user_id, exc)
            return zone
        with self._lock:
            self._cache[user_id] = (time.monotonic() + self._ttl, zone)
        return zone
