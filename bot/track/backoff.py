"""Waiting longer after each failure: per key, doubling from a first delay up to a cap."""

from __future__ import annotations

import time
from collections.abc import Hashable


class Backoff:
    """Per key: not before when to try again, doubling after each failure up to a cap."""

    def __init__(self, *, first: float, cap: float) -> None:
        self._first = first
        self._cap = cap
        self._failures: dict[Hashable, int] = {}
        self._retry_at: dict[Hashable, float] = {}

    def ready(self, key: Hashable) -> bool:
        return self._retry_at.get(key, 0.0) <= time.monotonic()

    def waiting(self) -> list[Hashable]:
        """The keys not ready now: a question can leave them out rather than ask each."""
        now = time.monotonic()
        return [key for key, at in self._retry_at.items() if at > now]

    def failed(self, key: Hashable, *, at_least: float = 0.0) -> float:
        """Count a failure; returns the delay before the next try (`at_least`: what the other
        side asked for, such as a Retry-After)."""
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        delay = max(at_least, min(self._cap, self._first * 2 ** (failures - 1)))
        self._retry_at[key] = time.monotonic() + delay
        return delay

    def reset(self, key: Hashable) -> None:
        self._failures.pop(key, None)
        self._retry_at.pop(key, None)
