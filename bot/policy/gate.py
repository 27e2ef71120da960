"""The last look before a POST: an operation that waited in the bot (for approval, a retry, a
freeze) is checked again against freezes and maintenance windows when it is about to go."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from bot import text
from bot.policy import freezes
from bot.policy.config import OUTSIDE_BLOCK
from bot.policy.rules import Policy
from bot.when import both_times
from store import OperationRecord, Store


class SendGate:
    def __init__(self, *, store: Store, policy: Policy, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock

    def admit(self, due: Sequence[OperationRecord]) -> list[OperationRecord]:
        """Those of `due` that may be sent now: a frozen device's operation waits (its thread
        is told once, and again when it goes)."""
        if not due:
            return []
        now = self._clock()
        active = self._store.active_freezes(now=now)
        admitted = []
        for op in due:
            freeze = freezes.covering(active, op.device_name)
            if freeze is not None:
                if op.held_since is None:
                    announce = op.announce("held", freeze=freeze.id, reason=freeze.reason)
                    self._store.hold(op.id, now=now, announce=announce)
                continue
            if op.held_since is not None:
                self._store.unhold(op.id, now=now, announce=op.announce("released"))
            admitted.append(op)
        return admitted

    def refusal(self, op: OperationRecord) -> str | None:
        """Why a claimed operation must not be sent after all: its time is outside a window
        that blocks (it waited for an approval, say, and now runs at another hour)."""
        window = self._policy.window_for(op.device_name)
        if window is None or window.outside != OUTSIDE_BLOCK:
            return None
        if window.when.contains(op.scheduled_at, tz=window.tz):
            return None
        start = window.when.next_start(op.scheduled_at, tz=window.tz)
        return text.outside_window_at_send(
            when=window.when.text, next_start=both_times(start, window_tz=window.tz, tz=window.tz)
        )
