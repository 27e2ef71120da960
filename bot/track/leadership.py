"""Which replica does the background work: the one holding the lease.

Every replica answers Slack; only the leader sends operations, polls the API, settles unknown
outcomes and delivers the outbox, so the API is asked about each operation once and Slack's
per-channel pace is kept by one process. A lease row (store/leases.py) decides, renewed every
RENEW_EVERY seconds for LEASE_SECONDS: a leader killed with `kill -9` is replaced within
LEASE_SECONDS + RENEW_EVERY. A row, not a PostgreSQL advisory lock: a lease works behind a
pooler in transaction mode and through a network partition (a half-dead session would keep an
advisory lock until the kernel noticed, minutes later), and it runs out on its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from store import Store, StoreUnavailable
from store.base import BACKGROUND_LEASE as BACKGROUND

log = logging.getLogger(__name__)
LEASE_SECONDS = 10.0
RENEW_EVERY = 3.0
# A leader stops counting itself one this long before its lease runs out by its own clock:
# the database's clock and ours tick at the same rate but a renewal's answer takes time.
MARGIN = 2.0


class Leadership:
    """Takes and renews the lease in its own thread. `leading` is True only while the lease
    is surely held. Each time this process becomes the leader, `settle(term)` runs first, while
    `leading` is still False (the previous leader's unfinished work is settled before any
    round of ours), then `leading` turns True and `on_leading()` runs (to wake the loops)."""

    def __init__(
        self,
        *,
        store: Store,
        holder: str,
        settle: Callable[[int], None] = lambda term: None,
        on_leading: Callable[[], None] = lambda: None,
        seconds: float = LEASE_SECONDS,
        renew_every: float = RENEW_EVERY,
        margin: float = MARGIN,
    ) -> None:
        self.holder = holder
        self._store = store
        self._settle = settle
        self._on_leading = on_leading
        self._seconds = seconds
        self._renew_every = renew_every
        self._margin = margin
        self.term: int | None = None
        self._valid_until = 0.0  # time.monotonic() after which we no longer count as leader
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def leading(self) -> bool:
        return self.term is not None and time.monotonic() < self._valid_until

    def start(self) -> Leadership:
        self.renew()
        self._thread = threading.Thread(target=self._run, name="leadership", daemon=True)
        self._thread.start()
        return self

    def renew(self) -> bool:
        """One try at taking or keeping the lease; True while this process leads."""
        asked = time.monotonic()
        try:
            term = self._store.take_lease(BACKGROUND, holder=self.holder, seconds=self._seconds)
        except StoreUnavailable as exc:
            log.warning("could not renew the lease: %s", exc)
            return self.leading
        except Exception:
            # The database does not answer: we lead until our lease would have run out, no
            # longer (another replica may take it then).
            log.exception("could not renew the lease")
            return self.leading
        if term is None:
            if self.term is not None:
                log.warning("no longer leading: another replica holds the lease")
            self.term = None
            return False
        elected = term != self.term
        if elected:
            self.term = None  # not leading while the previous leader's work is settled
            log.info("leading (term %d)", term)
            self._settle(term)
            self.term = term
        self._valid_until = asked + self._seconds - self._margin
        if elected:
            self._on_leading()
        return True

    def stop(self, *, release: bool = True) -> None:
        """Stop renewing and hand the lease over at once, so a rolling restart does not wait
        for it to run out. `release=False` when a round of ours may still be running: the
        lease then runs out by itself, after that round had its time."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._seconds)
        if not release:
            self.term = None
        elif self.term is not None:
            self.term = None
            try:
                self._store.release_lease(BACKGROUND, holder=self.holder)
            except Exception:
                log.exception("could not release the lease: it runs out by itself")

    def _run(self) -> None:
        while not self._stop.wait(self._renew_every):
            self.renew()
