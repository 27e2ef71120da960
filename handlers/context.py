"""What every handler needs, and the one reply path shared by `/ops` and `@opsbot`."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from bot import say
from bot.say import common_blocks, track_blocks
from bot.service import OpsService
from bot.slack import metadata
from bot.slack.home import HomePublisher
from bot.slack.notifier import ChannelPoster, ZoneLookup
from store import StoreUnavailable

log = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, kw_only=True)
class Deps:
    service: OpsService
    zones: ZoneLookup
    poster: ChannelPoster  # public answers, paced with the outbox's posts
    # The work after the ack runs here, not in Bolt's listener pool: a listener that held its
    # thread through a 2 s API call would leave later requests waiting for a thread to ack in.
    work: Executor
    home: HomePublisher  # the person's Home tab, published on open, click and change

    def later(self, send: Send, work: Callable[[], None]) -> None:
        """Run `work` in the work pool; whatever breaks, `send` tells the person."""
        self.work.submit(guarded, send, work)


def answer_text(
    deps: Deps,
    typed: str,
    *,
    user: str,
    channel: str,
    surface: str,
    private: Send,
    public: Send | None = None,
    thread_ts: str | None = None,
    response_url: str | None = None,
    announce: Send | None = None,
) -> None:
    """Understand what was typed and answer it: a confirmation, a list, a status or a refusal.
    `public` takes what may be answered in public (without it, privately), and `announce`
    (by default `public`) what the whole channel must see, a freeze; both carry the answer's
    metadata, for other apps."""
    zone = deps.zones(user)
    result = deps.service.handle_text(
        typed,
        requester=user,
        tz=zone.tz,
        surface=surface,
        channel=channel,
        thread_ts=thread_ts,
        response_url=response_url,
        notes=(zone.note,) if zone.note else (),
    )
    reply = track_blocks.answer(result, now=deps.service.clock())
    shown = (announce or public) if reply.announce else public if reply.public else None
    if shown is None:
        private(reply.message)
        return
    tag = metadata.answer_metadata(result, user=user)
    shown({**reply.message, **({"metadata": tag} if tag else {})})


def form_metadata(raw: object) -> dict[str, str] | None:
    """The channel and response_url the bot put in the request form's private metadata when
    it opened it; None for a form it did not open (or a payload that holds none)."""
    try:
        metadata = json.loads(raw) if isinstance(raw, str) else None
    except json.JSONDecodeError:
        return None
    if not isinstance(metadata, dict):
        return None
    if not all(isinstance(metadata.get(key), str) for key in ("channel", "response_url")):
        return None
    return metadata


def guarded(send: Send, work: Callable[[], None]) -> None:
    """Run a handler's work; whatever breaks, the person gets a sentence, never a traceback."""
    try:
        work()
    except StoreUnavailable as exc:  # the database is out of reach: no traceback for this
        log.warning("handler could not reach the database: %s", exc)
        try:
            send(common_blocks.notice(say.track.DATABASE_UNAVAILABLE))
        except Exception:
            log.exception("could not tell the user the database is not answering")
    except Exception:
        log.exception("handler failed")
        try:
            send(common_blocks.notice(say.track.INTERNAL_ERROR))
        except Exception:
            log.exception("could not tell the user about the failure")
