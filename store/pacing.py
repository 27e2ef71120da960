"""The turns each Slack channel has left, kept where every replica sees them: Slack counts a
channel's posts whichever process makes them (bot/track/pacing.py does the arithmetic)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from store.base import StoreBase

T = TypeVar("T")
# A bucket as kept: (tokens, filled_at, held_until), times in seconds since the epoch.
Kept = tuple[float, float, float]


class Pacing(StoreBase):
    def change_turns(self, key: str, change: Callable[[Kept | None], tuple[T, Kept]]) -> T:
        """Apply `change` to `key`'s bucket (None: never used) in one write transaction: with
        one writer at a time, no other replica's change comes between the read and the
        write."""
        with self.engine.write() as tx:
            found = tx.row(
                "SELECT tokens, filled_at, held_until FROM channel_turns WHERE key = ?", [key]
            )
            kept = (
                None
                if found is None
                else (float(found["tokens"]), float(found["filled_at"]), float(found["held_until"]))
            )
            answer, (tokens, filled_at, held_until) = change(kept)
            if kept != (tokens, filled_at, held_until):
                tx.execute(
                    "INSERT INTO channel_turns (key, tokens, filled_at, held_until) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                    "tokens = excluded.tokens, filled_at = excluded.filled_at, "
                    "held_until = excluded.held_until",
                    [key, tokens, filled_at, held_until],
                )
            return answer
