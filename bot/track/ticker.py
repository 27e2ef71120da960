"""A background thread that runs one job every few seconds, or at once when woken."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from store import StoreUnavailable

log = logging.getLogger(__name__)


class Ticker:
    """`pause`, when given, says after each round how long to wait at most before the next
    (never longer than `interval`): a loop whose work becomes due at a known moment runs
    then, not at the next tick."""

    def __init__(
        self,
        *,
        name: str,
        interval: float,
        job: Callable[[], object],
        pause: Callable[[], float] | None = None,
    ) -> None:
        self.name = name
        self.interval = interval
        self._job = job
        self._pause = pause
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._allowed: Callable[[], bool] = lambda: True
        # time.monotonic() when the last round ended (failed or not), or when the loop started:
        # health asks whether a loop still goes round. None: never started.
        self.last_round_at: float | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def start(self) -> Ticker:
        self.last_round_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def only_while(self, allowed: Callable[[], bool]) -> None:
        """Rounds run only while `allowed()` says so (a replica that does not lead skips them,
        and still counts as going round for the health check)."""
        self._allowed = allowed

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Ask the loop to end after the round it is in; `join` waits for that."""
        self._stop.set()
        self._wake.set()

    def join(self, timeout: float) -> bool:
        """Wait for the loop to end; True once it has (or never started)."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                if self._allowed():
                    self._job()
            except StoreUnavailable as exc:
                # The database is out of reach: one line, no traceback; tried again next round.
                log.warning("%s: round failed: %s", self.name, exc)
            except Exception:
                # One bad round must not end the loop: it is logged and the next round runs.
                log.exception("%s: round failed", self.name)
            self.last_round_at = time.monotonic()
            wait = self.interval
            if self._pause is not None:
                try:
                    wait = max(0.0, min(wait, self._pause()))
                except Exception:
                    log.exception("%s: pause failed", self.name)
            self._wake.wait(wait)
