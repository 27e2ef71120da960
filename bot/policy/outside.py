"""Operations kept outside a maintenance window that blocks, at the moment they would have been
sent (bot/policy/gate.py): a person moves them into the window, or drops them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot import say
from bot.answers import Outcome
from bot.policy.clicks import Clicks
from bot.policy.desk import PolicyDesk
from store import OUTSIDE, Store


class Outside:
    def __init__(
        self,
        *,
        store: Store,
        desk: PolicyDesk,
        clicks: Clicks,
        clock: Callable[[], datetime],
        on_change: Callable[[], None],
    ) -> None:
        self._store = store
        self._desk = desk
        self._clicks = clicks
        self._clock = clock
        self._on_change = on_change  # moved: the sender is woken; either way, the outbox

    def move(self, request_id: str, *, user: str) -> Outcome:
        """Each operation kept outside goes for its window's next start (now, in a window
        open again), as the file in force says at the click; sent, it is judged once more."""
        return self._answer(request_id, user=user, move=True)

    def drop(self, request_id: str, *, user: str) -> Outcome:
        """What waits outside its window is never sent."""
        return self._answer(request_id, user=user, move=False)

    def _answer(self, request_id: str, *, user: str, move: bool) -> Outcome:
        current = self._clicks.to_steer(
            self._store.get_request(request_id),
            user=user,
            action="move_outside" if move else "drop_outside",
            topic="outside",
            forward=move,
        )
        if isinstance(current, Outcome):
            return current
        now = self._clock()
        outside = [op for op in current.operations if op.state == OUTSIDE]
        if move:
            times = {op.id: self._desk.into_window(op, now) for op in outside}
            done = self._store.move_outside(request_id, times=times, user=user, now=now)
        else:
            done = self._store.drop_outside(
                request_id, user=user, error=say.policy.DROPPED_OUTSIDE, now=now
            )
        if not done:
            return Outcome(reason="nothing_outside", request=current)
        self._on_change()
        return Outcome(reason="ok", request=self._store.get_request(request_id) or current)
