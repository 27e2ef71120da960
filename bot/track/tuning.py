"""Timings of sending and recovery: the defaults suit production, tests shorten them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, kw_only=True)
class Tuning:
    # Sending. A confirmed request's operations wait for Slack's first answer to its public
    # message, or to any public message of the bot's in that channel tried after the click
    # (so that "not in channel" can still stop them), but never longer than this after the
    # click. Slack failing or slow answers at once or within its 10 s timeout; this covers a
    # channel held by a 429 (no message is tried there meanwhile) or an outbox far behind.
    root_wait: timedelta = timedelta(seconds=30)
    stale_send: timedelta = timedelta(minutes=10)  # never send an operation this far past due
    max_send_attempts: int = 5
    send_backoff: float = 5.0  # seconds before the first retry of a POST that surely failed
    send_concurrency: int = 8  # POSTs in flight at once (each operation is claimed first)
    # Unknown outcomes. The API's list is first read this long after the create call went
    # unanswered (a slow POST may still be landing), then again and again, less often each
    # time up to `look_cap`; the requester is asked after `ask_after`.
    reconcile_delay: timedelta = timedelta(seconds=10)
    look_every: float = 15.0
    look_cap: float = 600.0
    ask_after: timedelta = timedelta(minutes=2)
    # A first attempt sent again on a person's word may still reach the API: looked for this
    # long, and made an operation of the request if it does.
    watch_original: timedelta = timedelta(hours=1)
    # While the API's list cannot be read, reconciling waits this long, doubling up to the cap.
    list_backoff: float = 2.0
    list_max_backoff: float = 120.0
    # A request's public message (its live summary) is edited at most once this many seconds
    # (Slack's chat.update is Tier 3, about 50 a minute in a workspace); its last state is
    # always shown, this long after the change at most.
    summary_gap: float = 3.0


DEFAULT_TUNING = Tuning()
