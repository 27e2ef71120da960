"""Posts into one channel, paced the way Slack paces them.

Slack takes about one `chat.postMessage` per second per channel, with short bursts tolerated,
and answers 429 with `Retry-After` beyond that. Every post of the bot, the outbox's and the
answers to mentions alike, takes its turn here, so the bot keeps under the limit instead of
learning it from 429s; a 429 that still comes holds that channel alone for as long as Slack
asked. Written by hand: a token bucket per key with a hold is a dozen lines, and the rate
limiting libraries on PyPI either sleep in the caller or know nothing of Retry-After.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Posts a quiet channel may take at once. Slack tolerates short bursts without saying how
# short; two keeps one post under a burst of three, so that the few milliseconds between the
# bot taking its turn and the post reaching Slack never cross Slack's own count.
BURST = 2
# The turns of a channel with pacing off: more than any one pass sends.
UNPACED = 1_000_000


class ChannelPacer:
    """Per channel: a token bucket of `burst` posts refilled one per `gap` seconds, and a hold
    set by a 429. `gap` 0 turns pacing off (a terminal has no rate limit)."""

    def __init__(
        self,
        *,
        gap: float = 1.0,
        burst: int = BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._gap = gap
        self._burst = burst
        self._clock = clock
        self._lock = threading.Condition()
        self._tokens: dict[str, float] = {}
        self._filled_at: dict[str, float] = {}
        self._held_until: dict[str, float] = {}

    def try_take(self, channel: str) -> bool:
        """Take a turn in `channel` if one is free now; never waits."""
        with self._lock:
            return self._wait_needed(channel) == 0.0 and self._take(channel)

    def take(self, channel: str, *, timeout: float) -> bool:
        """Wait (at most `timeout` seconds) for a turn in `channel`; False if none came."""
        deadline = self._clock() + timeout
        with self._lock:
            while True:
                needed = self._wait_needed(channel)
                if needed == 0.0:
                    return self._take(channel)
                left = deadline - self._clock()
                if left <= 0:
                    return False
                self._lock.wait(min(needed, left))

    def wait(self, channel: str) -> float:
        """Seconds until `channel` has a turn free (0: now)."""
        with self._lock:
            return self._wait_needed(channel)

    def turns(self, channel: str) -> int:
        """How many posts `channel` may take now, without taking any (`UNPACED` with pacing
        off): what to read of what waits there."""
        with self._lock:
            if self._gap <= 0:
                return UNPACED
            if self._wait_needed(channel) > 0.0:
                return 0
            return int(self._tokens[channel])

    def hold(self, channel: str, seconds: float) -> None:
        """Slack said 429: nothing more goes into `channel` for `seconds`."""
        with self._lock:
            until = self._clock() + max(0.0, seconds)
            self._held_until[channel] = max(until, self._held_until.get(channel, 0.0))
            self._tokens[channel] = 0.0
            self._filled_at[channel] = until

    def _wait_needed(self, channel: str) -> float:
        if self._gap <= 0:
            return 0.0
        now = self._clock()
        held = self._held_until.get(channel, 0.0) - now
        if held > 0:
            return held
        tokens = self._refill(channel, now)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) * self._gap

    def _refill(self, channel: str, now: float) -> float:
        tokens = self._tokens.get(channel, float(self._burst))
        filled_at = self._filled_at.get(channel, now)
        tokens = min(float(self._burst), tokens + max(0.0, now - filled_at) / self._gap)
        self._tokens[channel] = tokens
        self._filled_at[channel] = now
        return tokens

    def _take(self, channel: str) -> bool:
        if self._gap > 0:
            self._tokens[channel] -= 1.0
        return True
