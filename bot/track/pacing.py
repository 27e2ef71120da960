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
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from store import Store

# Posts a quiet channel may take at once. Slack tolerates short bursts without saying how
# short; two keeps one post under a burst of three, so that the few milliseconds between the
# bot taking its turn and the post reaching Slack never cross Slack's own count.
BURST = 2
# The turns of a channel with pacing off: more than any one pass sends.
UNPACED = 1_000_000

T = TypeVar("T")


@dataclass(frozen=True)
class Bucket:
    """One key's turns: `tokens` as of `filled_at`, and a 429's hold (times on the pacer's
    clock, in seconds)."""

    tokens: float
    filled_at: float
    held_until: float = 0.0


# A change of one bucket: given it as it stands (None: never used) and the clock's now, what
# to answer and the bucket to keep.
Change = Callable[[Bucket | None, float], tuple[T, Bucket]]


class Buckets(Protocol):
    def change(self, key: str, change: Change[T], now: float) -> T:
        """Apply `change` to `key`'s bucket, alone: no other change of it comes between."""
        ...


class LocalBuckets:
    """This process's buckets, in memory (the pacer's lock keeps the changes apart)."""

    def __init__(self) -> None:
        self._buckets: dict[str, Bucket] = {}

    def change(self, key: str, change: Change[T], now: float) -> T:
        answer, self._buckets[key] = change(self._buckets.get(key), now)
        return answer


class SharedBuckets:
    """The buckets in the database the replicas share (store/pacing.py), on the wall clock
    (`time.time`): the monotonic clocks of two machines have nothing in common, and their wall
    clocks, kept by NTP, differ by milliseconds where a turn is a second."""

    def __init__(self, store: Store, kind: str) -> None:
        self._store = store
        self._kind = kind  # what is paced: a channel's posts, the workspace's edits

    def change(self, key: str, change: Change[T], now: float) -> T:
        def kept(found: tuple[float, float, float] | None) -> tuple[T, tuple[float, float, float]]:
            answer, bucket = change(None if found is None else Bucket(*found), now)
            return answer, (bucket.tokens, bucket.filled_at, bucket.held_until)

        return self._store.change_turns(f"{self._kind}:{key}", kept)


class ChannelPacer:
    """Per channel: a token bucket of `burst` posts refilled one per `gap` seconds, and a hold
    set by a 429. `gap` 0 turns pacing off (a terminal has no rate limit). `buckets`: where
    the turns are kept; replicas sharing a database share them there (store/pacing.py), as
    Slack counts a channel's posts whichever process makes them."""

    def __init__(
        self,
        *,
        gap: float = 1.0,
        burst: int = BURST,
        clock: Callable[[], float] = time.monotonic,
        buckets: Buckets | None = None,
    ) -> None:
        self._gap = gap
        self._burst = burst
        self._clock = clock
        self._lock = threading.Condition()
        self._buckets = buckets or LocalBuckets()

    def try_take(self, channel: str) -> bool:
        """Take a turn in `channel` if one is free now; never waits."""
        return self._try(channel) == 0.0

    def take(self, channel: str, *, timeout: float) -> bool:
        """Wait (at most `timeout` seconds) for a turn in `channel`; False if none came."""
        deadline = self._clock() + timeout
        with self._lock:
            while True:
                needed = self._try(channel)
                if needed == 0.0:
                    return True
                left = deadline - self._clock()
                if left <= 0:
                    return False
                self._lock.wait(min(needed, left))

    def wait(self, channel: str) -> float:
        """Seconds until `channel` has a turn free (0: now)."""
        if self._gap <= 0:
            return 0.0
        return self._change(channel, lambda bucket, now: (self._needed(bucket, now), bucket))

    def turns(self, channel: str) -> int:
        """How many posts `channel` may take now, without taking any (`UNPACED` with pacing
        off): what to read of what waits there."""
        if self._gap <= 0:
            return UNPACED

        def count(bucket: Bucket, now: float) -> tuple[int, Bucket]:
            return (0 if self._needed(bucket, now) > 0.0 else int(bucket.tokens)), bucket

        return self._change(channel, count)

    def hold(self, channel: str, seconds: float) -> None:
        """Slack said 429: nothing more goes into `channel` for `seconds`."""

        def held(bucket: Bucket, now: float) -> tuple[None, Bucket]:
            until = max(now + max(0.0, seconds), bucket.held_until)
            return None, Bucket(tokens=0.0, filled_at=until, held_until=until)

        self._change(channel, held)

    def _try(self, channel: str) -> float:
        """Take a turn if one is free (0.0), else the seconds until one is."""
        if self._gap <= 0:
            return 0.0

        def take(bucket: Bucket, now: float) -> tuple[float, Bucket]:
            needed = self._needed(bucket, now)
            if needed > 0.0:
                return needed, bucket
            return 0.0, replace(bucket, tokens=bucket.tokens - 1.0)

        return self._change(channel, take)

    def _change(self, channel: str, change: Callable[[Bucket, float], tuple[T, Bucket]]) -> T:
        """`change` of the channel's bucket refilled to now. A question that changes nothing
        (how long to wait, how many turns) keeps the bucket as it was: its refill is the same
        arithmetic next time, so the outbox asking several times a second writes nothing
        (with replicas, nothing to the database)."""

        def refilled(stored: Bucket | None, now: float) -> tuple[T, Bucket]:
            bucket = stored
            if bucket is None:
                bucket = Bucket(tokens=float(self._burst), filled_at=now)
            elif now > bucket.filled_at:
                gained = (now - bucket.filled_at) / self._gap
                bucket = replace(
                    bucket, tokens=min(float(self._burst), bucket.tokens + gained), filled_at=now
                )
            answer, kept = change(bucket, now)
            return answer, (stored if stored is not None and kept is bucket else kept)

        with self._lock:
            return self._buckets.change(channel, refilled, self._clock())

    def _needed(self, bucket: Bucket, now: float) -> float:
        held = bucket.held_until - now
        if held > 0:
            return held
        return 0.0 if bucket.tokens >= 1.0 else (1.0 - bucket.tokens) * self._gap
