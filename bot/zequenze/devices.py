"""Device names as the API spells them.

Every operation the API shows (in its list, in a status answer, in a create's answer) names a
device; those names are the known ones. A request's names are compared with them ignoring
case: a known name is sent as the API spells it, and a name the API has never shown is
flagged with the closest known ones. The API still has the last word when the operation is
sent: a name it does not hold is refused then, as before.
"""

from __future__ import annotations

import difflib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from bot import say
from bot.model import Plan
from bot.zequenze.api import ApiError
from store import Store

log = logging.getLogger(__name__)

SUGGESTIONS = 3
FETCH_EVERY = 60.0
SIMILARITY = 0.6  # difflib's ratio for "did you mean": server-1 → server-01, not db-01


class DeviceBook:
    """`fetch` reads the API's newest operations: a bot that knows no names yet learns the
    usual ones from them when a request first needs them (at most once a minute while the API
    cannot be read)."""

    def __init__(
        self,
        *,
        store: Store,
        clock: Callable[[], datetime],
        fetch: Callable[[], list[dict[str, Any]]] = list,
    ) -> None:
        self._store = store
        self._clock = clock
        self._fetch = fetch
        self._fetched_at = -FETCH_EVERY
        self._lock = threading.Lock()
        self._known: dict[str, str] | None = None  # lower-case name → the API's spelling

    def _names(self) -> dict[str, str]:
        """A copy of the known names: the poller's and the sender's threads learn while a
        request is being spelled."""
        with self._lock:
            if self._known is None:
                self._known = self._store.known_devices()
            return dict(self._known)

    def learn(self, items: Iterable[dict[str, Any]]) -> None:
        """Remember the device names of these API operations; only new spellings are
        written, so a poller round that sees the same names costs no write."""
        seen = {
            str(item["device_name"])
            for item in items
            if isinstance(item.get("device_name"), str) and item["device_name"]
        }
        with self._lock:
            if self._known is None:
                self._known = self._store.known_devices()
            new = [name for name in seen if self._known.get(name.lower()) != name]
            if not new:
                return
            self._store.learn_devices(new, now=self._clock())
            self._known.update((name.lower(), name) for name in new)

    def _first_names(self) -> dict[str, str]:
        with self._lock:
            if time.monotonic() - self._fetched_at < FETCH_EVERY:
                return {}
            self._fetched_at = time.monotonic()
        try:
            self.learn(self._fetch())
        except ApiError as exc:
            log.info("device names not learnt yet: %s", exc.message)
        return self._names()

    def spelled(self, name: str) -> str:
        """`name` as the API spells it (`SERVER-01` typed is `server-01`), or as typed if
        the API has never shown it."""
        return self._names().get(name.lower(), name)

    def spell(self, plan: Plan) -> Plan:
        """The plan with each device as the API spells it, and a note for each name the API
        has never shown (with the closest known names). Nothing to compare with yet (a new
        bot), nothing is said."""
        known = self._names() or self._first_names()
        if not known:
            return plan
        respelled: dict[str, str] = {}
        unseen: list[str] = []
        operations = []
        for op in plan.operations:
            spelled = known.get(op.device_name.lower())
            if spelled is None:
                if op.device_name not in unseen:
                    unseen.append(op.device_name)
                operations.append(op)
                continue
            if spelled != op.device_name:
                respelled[op.device_name] = spelled
            operations.append(replace(op, device_name=spelled))
        notes = [say.track.device_respelled(typed, spelled) for typed, spelled in respelled.items()]
        for name in unseen:
            notes.append(say.track.device_unseen(name, _closest(name, known)))
        if not notes:
            return plan
        return replace(plan, operations=tuple(operations), notes=(*plan.notes, *notes))


def _closest(name: str, known: dict[str, str]) -> list[str]:
    """The known names `name` most likely meant: the same but for zero padding (server-2 is
    server-02) if there is one, else the most alike."""
    padded = [spelled for key, spelled in known.items() if _unpadded(key) == _unpadded(name)]
    if padded:
        return padded[:SUGGESTIONS]
    close = difflib.get_close_matches(name.lower(), list(known), n=SUGGESTIONS, cutoff=SIMILARITY)
    return [known[key] for key in close]


def _unpadded(name: str) -> str:
    return re.sub(r"[0-9]+", lambda m: str(int(m.group())), name.lower())
