"""A halted request's Continue and Stop: a wave failed, the later ones wait for a person."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot import say
from bot.answers import Outcome
from bot.policy.clicks import Clicks
from bot.understand.typed import whole_number
from store import LARGEST_ID, Store


class Halts:
    def __init__(
        self,
        *,
        store: Store,
        clicks: Clicks,
        clock: Callable[[], datetime],
        on_change: Callable[[], None],
    ) -> None:
        self._store = store
        self._clicks = clicks
        self._clock = clock
        self._on_change = on_change  # a wave released: the sender and the outbox are woken

    def go_on(self, value: str, *, user: str) -> Outcome:
        """A halted request's next wave goes now (that one only; those after it follow as
        usual). `value`: the button's, `<request id>:<the wave that failed>`, so that an
        older halt's button never moves a later halt on."""
        return self._on_halt(value, user=user, go_on=True)

    def stop(self, value: str, *, user: str) -> Outcome:
        """A halted request ends: the devices held are never sent."""
        return self._on_halt(value, user=user, go_on=False)

    def _on_halt(self, value: str, *, user: str, go_on: bool) -> Outcome:
        request_id, _, wave_text = value.rpartition(":")
        wave = whole_number(wave_text, at_most=LARGEST_ID)  # None: forged, as 20 digits are
        if not request_id or wave is None or wave < 1:
            return Outcome(reason="not_found")
        # Judged by the file in force: its approvers may have changed since it was confirmed.
        current = self._clicks.to_steer(
            self._store.get_request(request_id),
            user=user,
            action="continue" if go_on else "stop",
            topic="waves",
            forward=go_on,
        )
        if isinstance(current, Outcome):
            return current
        now = self._clock()
        if go_on:
            result = self._store.continue_waves(request_id, wave=wave, user=user, now=now)
        else:
            result = self._store.stop_waves(
                request_id, wave=wave, user=user, now=now, error=say.waves.STOPPED_ERROR
            )
        current = self._store.get_request(request_id) or current
        if result in ("continued", "stopped"):
            self._on_change()
            return Outcome(reason="ok", request=current)
        return Outcome(
            reason="waves_not_halted",
            request=current,
            detail=say.waves.wave_state(current.wave_state, wave=current.wave, waves=current.waves),
        )
