"""The Slack side of the ports: posting the thread, delivering updates, knowing a user's zone."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot import say
from bot.ports import CannotPost, NotInChannel, RateLimited
from bot.say import common_blocks, track_blocks
from bot.slack import metadata
from bot.track.pacing import ChannelPacer
from store import OutboxEvent, RequestRecord

log = logging.getLogger(__name__)

MAX_REPLY_PAGES = 10
# The channel turning the bot away: a request's public message meeting one of these stops the
# request before anything is sent. restricted_action: only some members may post there.
NOT_IN_CHANNEL_ERRORS = frozenset(
    {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}
)
# Slack's definite answers that there is no profile to read a zone from.
NO_SUCH_USER = frozenset({"user_not_found", "user_not_visible"})
DEFAULT_RETRY_AFTER = 1.0  # a 429 without a readable Retry-After
MAX_RETRY_AFTER = 300.0
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


class BotClient(WebClient):
    """Slack's client, keeping the workspace's address from auth.test's answer: Bolt asks it
    once at start to check the token, and the audit's permalinks are built from it, so the
    bot need not ask a second time (nor Bolt's private middleware for its copy)."""

    workspace_url: str | None = None
    token_accepted = False  # auth.test answered ok: the readiness check asks
    # Told of every Web API call: (method, rate limited); the metrics set it.
    on_call: Callable[[str, bool], None] | None = None

    def api_call(self, api_method: str, **kwargs: Any) -> Any:  # type: ignore[override]
        limited = False
        try:
            return super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            limited = _rate_limited(exc)
            raise
        finally:
            if self.on_call is not None:
                self.on_call(api_method, limited)

    def auth_test(self, **kwargs: Any) -> Any:
        response = super().auth_test(**kwargs)
        self.token_accepted = True
        url = response.get("url")
        if isinstance(url, str) and url.startswith("https://"):
            self.workspace_url = url
        return response


def web_client(*, token: str, base_url: str, timeout: int = 10) -> BotClient:
    """Slack's client with no retries of its own: slack_sdk's handlers re-send inside one
    call, sleeping in the calling thread and bypassing the look-before-resend check (a 503
    after Slack stored a message would post it twice). The outbox owns retries."""
    return BotClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=[])


class SlackNotifier:
    def __init__(self, *, client: WebClient) -> None:
        self._client = client

    def post_root(self, request: RequestRecord, *, retry: bool) -> str:
        if retry:
            found = self._find_root(request)
            if found is not None:
                return found
        blocks = track_blocks.status_message(request)
        with _refused_for_good():
            response = _with_metadata(
                self._client.chat_postMessage,
                metadata.request_metadata(request),
                channel=request.channel or "",
                thread_ts=request.thread_ts,
                blocks=blocks,
                text=_fallback(blocks),
                unfurl_links=False,
            )
        return str(response["ts"])

    def deliver(self, event: OutboxEvent, request: RequestRecord) -> None:
        message = track_blocks.thread_message(event, request)
        with _refused_for_good():
            if event.kind.startswith("private"):
                tell_privately(
                    self._client,
                    response_url=request.response_url,
                    channel=request.channel or "",
                    user=request.requester,
                    thread_ts=request.thread_ts,
                    message=message,
                )
                return
            if request.reply_thread is None:
                # The request's public message was never posted: its news has no thread to go
                # to, and the channel is no place for it on its own.
                raise CannotPost(say.recovery.NO_THREAD)
            # `attempts` counts the tries before this one: any earlier try may have landed.
            if event.attempts > 0 and self._already_posted(event, request):
                return
            _with_metadata(
                self._client.chat_postMessage,
                metadata.line_metadata(event, request),
                channel=request.channel or "",
                thread_ts=request.reply_thread,
                unfurl_links=False,
                **message,
            )

    def _find_root(self, request: RequestRecord) -> str | None:
        """An earlier try may have posted the request's public message before its answer was
        lost (a crash, a 503 after storing): find it by its metadata among the messages posted
        since the confirmation, rather than post a second one."""
        since = request.confirmed_at or request.created_at
        for message in self._messages_since(request, oldest=since.timestamp() - 60):
            if metadata.is_request_message(message, request.id):
                return str(message["ts"])
        return None

    def _already_posted(self, event: OutboxEvent, request: RequestRecord) -> bool:
        """A previous attempt may have reached Slack before the bot died or the answer was
        lost: look for the message, its metadata naming this event, in the thread."""
        return any(
            metadata.is_line_message(message, event)
            for message in self._messages_since(request, oldest=0.0, thread=request.reply_thread)
        )

    def _messages_since(
        self, request: RequestRecord, *, oldest: float, thread: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """The messages of the request's thread (or, without one, of its channel) since
        `oldest`, page by page: what a look costs is what was posted since, not the channel's
        history. A look Slack refuses for good (no history scope) finds nothing: a rare
        duplicate is better than a message that never goes out. A passing failure is raised,
        to look again on the next try."""
        thread = thread or request.thread_ts
        cursor = None
        for _ in range(MAX_REPLY_PAGES):
            try:
                if thread:
                    page = self._client.conversations_replies(
                        channel=request.channel or "",
                        ts=thread,
                        include_all_metadata=True,
                        oldest=f"{oldest:.6f}",
                        limit=200,
                        cursor=cursor,
                    )
                else:
                    page = self._client.conversations_history(
                        channel=request.channel or "",
                        include_all_metadata=True,
                        oldest=f"{oldest:.6f}",
                        limit=200,
                        cursor=cursor,
                    )
            except SlackApiError as exc:
                if _temporary(exc):
                    raise _passing(exc) from exc
                log.warning("cannot look for a message already sent: %s", _error_code(exc))
                return
            yield from page.get("messages") or []
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not page.get("has_more") or not cursor:
                return

    def refresh(self, request: RequestRecord) -> None:
        blocks = track_blocks.status_message(request)
        with _refused_for_good():
            # The metadata is edited with the message: other apps read where it stands now.
            _with_metadata(
                self._client.chat_update,
                metadata.request_metadata(request),
                channel=request.channel or "",
                ts=request.status_ts or "",
                blocks=blocks,
                text=_fallback(blocks),
            )


class ChannelPoster:
    """Public answers posted from a handler (a reply to a mention): paced with the outbox's
    posts in the same channel, never re-sent blindly. A 429 means Slack did not post it, so
    it is tried again once its wait is over. When no turn comes within `patience` (a held or
    busy channel must not keep a worker that everyone's clicks need), or the post fails
    otherwise, the answer goes to the person privately instead: never lost, and at worst a
    private copy of a public answer that Slack kept after all (a 503 after storing it)."""

    def __init__(self, *, client: WebClient, pacer: ChannelPacer, patience: float = 3.0) -> None:
        self._client = client
        self._pacer = pacer
        self._patience = patience

    def post(
        self, *, channel: str, thread_ts: str | None, user: str, message: dict[str, Any]
    ) -> None:
        deadline = time.monotonic() + self._patience
        # Only the person sees the private copy: no metadata for other apps to read.
        private = {key: value for key, value in message.items() if key != "metadata"}
        while self._pacer.take(channel, timeout=max(0.0, deadline - time.monotonic())):
            try:
                if "metadata" in message:
                    _with_metadata(
                        self._client.chat_postMessage,
                        message["metadata"],
                        channel=channel,
                        thread_ts=thread_ts,
                        **private,
                    )
                else:
                    self._client.chat_postMessage(channel=channel, thread_ts=thread_ts, **message)
                return
            except SlackApiError as exc:
                if not _rate_limited(exc):
                    log.warning("answer not posted in %s: %s", channel, _error_code(exc) or exc)
                    break
                self._pacer.hold(channel, _retry_after(exc))
            except OSError as exc:
                log.warning("answer not posted in %s: %s", channel, exc)
                break
        else:
            log.warning("no turn to post in %s in time; answering %s privately", channel, user)
        self._client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread_ts, **private)


def respond_in_channel(
    respond: Callable[..., Any],
    message: dict[str, Any],
    *,
    otherwise: Callable[[dict[str, Any]], None],
) -> None:
    """A slash command's answer for the whole channel (a freeze, its end), through its
    response_url, with its metadata. Refused for the metadata alone, it is sent again with the
    ids only, as `_with_metadata` does; refused otherwise or unanswered, it is logged and
    handed to `otherwise` (posted in the channel): never dropped, as Bolt's respond() does not
    raise for a refusal. A rare second copy is better than a channel never told of a freeze."""

    def send(sent: dict[str, Any]) -> tuple[int, str]:
        try:
            answer = respond(response_type="in_channel", replace_original=False, **sent)
        except OSError as exc:
            return 0, type(exc).__name__
        return int(answer.status_code), str(answer.body or "").strip()

    status, said = send(message)
    tag = message.get("metadata")
    if status != 200 and tag and said in metadata.METADATA_ERRORS:
        log.warning(
            "Slack refused the metadata of a %s answer (%s); sent with its ids only",
            tag.get("event_type"),
            said,
        )
        status, said = send({**message, "metadata": metadata.ids_only(tag)})
    if status != 200:
        log.warning("the channel's answer was refused at its response_url (%s): posted", said)
        otherwise(message)


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
                WebhookClient(response_url, timeout=10, retry_handlers=[])
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
    """Slack's refusals sorted: a 429 becomes RateLimited (that channel waits), the channel
    turning the bot away NotInChannel, any other error that will not go away CannotPost,
    saying what the requester can do; any other failure goes on up, to be tried again."""
    try:
        yield
    except SlackApiError as exc:
        if _rate_limited(exc):
            raise RateLimited(_retry_after(exc)) from exc
        if _temporary(exc):
            raise
        code = _error_code(exc)
        if code in NOT_IN_CHANNEL_ERRORS:
            raise NotInChannel(say.recovery.slack_refused(code)) from exc
        raise CannotPost(say.recovery.slack_refused(code)) from exc


def _with_metadata(
    send: Callable[..., Any], message_metadata: metadata.Metadata, **kwargs: Any
) -> Any:
    """`send` (chat.postMessage or chat.update) with the message's metadata. Refused for the
    metadata alone (Slack refused the whole call: nothing was posted), it is sent again with
    the metadata cut to its ids: a person's message is never lost for what other apps read,
    and the bot can still find it."""
    try:
        return send(metadata=message_metadata, **kwargs)
    except SlackApiError as exc:
        if _error_code(exc) not in metadata.METADATA_ERRORS:
            raise
        log.warning(
            "Slack refused the metadata of a %s message (%s); sent with its ids only",
            message_metadata.get("event_type"),
            _error_code(exc),
        )
        return send(metadata=metadata.ids_only(message_metadata), **kwargs)


def _passing(exc: SlackApiError) -> Exception:
    return RateLimited(_retry_after(exc)) if _rate_limited(exc) else exc


def _rate_limited(exc: SlackApiError) -> bool:
    status = exc.response.status_code if exc.response is not None else 0
    return status == 429 or _error_code(exc) == "ratelimited"


def _retry_after(exc: SlackApiError) -> float:
    headers = exc.response.headers if exc.response is not None else {}
    raw = next((v for k, v in (headers or {}).items() if k.lower() == "retry-after"), None)
    if isinstance(raw, list):
        raw = raw[0] if raw else None
    try:
        return min(MAX_RETRY_AFTER, max(1.0, float(raw)))
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER


def _temporary(exc: SlackApiError) -> bool:
    status = exc.response.status_code if exc.response is not None else 0
    return status == 429 or status >= 500 or _error_code(exc) in TEMPORARY_ERRORS


def _error_code(exc: SlackApiError) -> str:
    data = exc.response.data if exc.response is not None else None
    return str(data.get("error") or "") if isinstance(data, dict) else ""


def _fallback(blocks: common_blocks.Blocks) -> str:
    """The notification text: the first section, which always says what this is about."""
    for block in blocks:
        if block.get("type") == "section":
            return common_blocks.clip(block["text"]["text"], 300)
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
    # None: the profile's own zone. Else UTC is assumed, and this sentence tells the person
    # why: the profile has none, or Slack could not be asked just now.
    note: str | None = None


class ZoneLookup:
    """`users.info` → `user.tz`, remembered a few minutes per user. Only Slack's definite
    answers are remembered: a lookup that failed (an error, a timeout) gives UTC this once,
    saying so, and is asked again next time."""

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
        try:
            user = self._client.users_info(user=user_id).get("user") or {}
        except SlackApiError as exc:
            if _error_code(exc) not in NO_SUCH_USER:
                # Passing (a rate limit, an outage) or the bot's own (a missing scope): not the
                # person's profile, which is asked again next time.
                log.warning("users.info for %s failed: %s", user_id, _error_code(exc) or exc)
                return Zone(tz="UTC", note=say.track.TZ_UNAVAILABLE)
            log.warning("users.info for %s: %s", user_id, _error_code(exc))
            zone = Zone(tz="UTC", note=say.track.NO_TZ)
        except OSError as exc:
            # Slack unreachable or slow (a timeout is an OSError too).
            log.warning("users.info for %s failed: %s", user_id, exc)
            return Zone(tz="UTC", note=say.track.TZ_UNAVAILABLE)
        else:
            tz = user.get("tz")
            known = isinstance(tz, str) and _known_zone(tz)
            zone = Zone(tz=tz) if known else Zone(tz="UTC", note=say.track.NO_TZ)  # type: ignore[arg-type]
        with self._lock:
            self._cache[user_id] = (time.monotonic() + self._ttl, zone)
        return zone
