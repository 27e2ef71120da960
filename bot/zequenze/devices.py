"""Device names as the API spells them, and the services (the names an operation kind takes,
`restart nginx`) the site knows.

Every operation the API shows (in its list, in a status answer, in a create's answer) names a
device; those names are the known ones. A request's names are compared with them ignoring
case: a known name is sent as the API spells it, and a name the API has never shown is
flagged with the closest known ones. The API still has the last word when the operation is
sent: a name it does not hold is refused then, as before.

A service is known when the catalog names it (its placeholder, its example) or an operation
that succeeded ran it (the API's answers, and the newest operations the store keeps). One
close to a known one and not known itself (`ngnix`) is asked about before the click, with the
request that names the known one instead; never replaced: a restart of a service that does
not exist fails harmlessly, a wrong guess restarts the wrong thing. One like none known is
taken as typed, as before: the site may run services the bot has never seen.
"""

from __future__ import annotations

import difflib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bot import say
from bot.model import Plan, Refusal
from bot.understand.catalog import DEFAULT_CATALOG, Catalog
from bot.understand.grammar import parse
from bot.zequenze.api import ApiError
from store import SUCCEEDED_STATUSES, Store

log = logging.getLogger(__name__)

SUGGESTIONS = 3
FETCH_EVERY = 60.0
SIMILARITY = 0.6  # difflib's ratio for "did you mean": server-1 → server-01, not db-01
# The store's newest operations read once for the services that ran (then the API's answers
# teach the rest): a bound, however long the history.
NAMES_READ = 2000
# A moment to read the catalog's examples at: they must name their services whatever the day.
_EXAMPLES_READ_AT = datetime(2026, 1, 7, 12, 0, tzinfo=UTC)


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
        catalog: Catalog = DEFAULT_CATALOG,
    ) -> None:
        self._store = store
        self._clock = clock
        self._fetch = fetch
        self._catalog = catalog
        self._fetched_at = -FETCH_EVERY
        self._lock = threading.Lock()
        self._known: dict[str, str] | None = None  # lower-case name → the API's spelling
        self._services: dict[str, set[str]] | None = None  # operation type → names known

    def _names(self) -> dict[str, str]:
        """A copy of the known names: the poller's and the sender's threads learn while a
        request is being spelled."""
        with self._lock:
            if self._known is None:
                self._known = self._store.known_devices()
            return dict(self._known)

    def learn(self, items: Iterable[dict[str, Any]]) -> None:
        """Remember the device names of these API operations; only new spellings are
        written, so a poller round that sees the same names costs no write. The services of
        those that succeeded are remembered too, in memory (`_services`)."""
        items = list(items)
        seen = {
            str(item["device_name"])
            for item in items
            if isinstance(item.get("device_name"), str) and item["device_name"]
        }
        ran = [
            (str(item.get("operation_type")), item["parameters"])
            for item in items
            if str(item.get("status") or "").strip().lower() in SUCCEEDED_STATUSES
            and isinstance(item.get("parameters"), dict)
        ]
        with self._lock:
            if ran:
                self._learn_services(self._service_names(), ran)
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

    def spell(
        self,
        plan: Plan,
        *,
        retype: Callable[[str, str], str | None] | None = None,
        dry_run: bool = False,
    ) -> Plan:
        """The plan with each device as the API spells it, and a note for each name the API
        has never shown (with the closest known names); and for each service close to known
        ones but not known itself, a question (with `retype(typed, known)`: the request that
        names the known one, if it can be written). Nothing to compare with yet (a new bot),
        nothing is said of devices."""
        known = self._names() or self._first_names()
        respelled: dict[str, str] = {}
        unseen: list[str] = []
        operations = []
        for op in plan.operations:
            spelled = known.get(op.device_name.lower())
            if spelled is None:
                if known and op.device_name not in unseen:
                    unseen.append(op.device_name)
                operations.append(op)
                continue
            if spelled != op.device_name:
                respelled[op.device_name] = spelled
            operations.append(replace(op, device_name=spelled))
        notes = [say.track.device_respelled(typed, spelled) for typed, spelled in respelled.items()]
        for name in unseen:
            notes.append(say.track.device_unseen(name, _closest(name, known)))
        notes += self._service_notes(plan, retype, dry_run=dry_run)
        if not notes:
            return plan
        return replace(plan, operations=tuple(operations), notes=(*plan.notes, *notes))

    def _service_notes(
        self, plan: Plan, retype: Callable[[str, str], str | None] | None, *, dry_run: bool
    ) -> list[str]:
        notes: list[str] = []
        asked: set[str] = set()
        for op in plan.operations:
            field = self._catalog.name_field(op.operation_type)
            name = op.parameters.get(field.name) if field else None
            if field is None or not isinstance(name, str) or name in asked:
                continue
            asked.add(name)
            known = self._known_services(op.operation_type)
            if name in known:
                continue
            close = _closest(name, {n.lower(): n for n in sorted(known)})
            if not close:
                continue  # like none known: the site may run services the bot never saw
            # One close name is a question with its request written; several, the names.
            retyped = retype(name, close[0]) if retype and len(close) == 1 else None
            notes.append(
                say.track.name_unseen(field.label.lower(), name, close, retyped, dry_run=dry_run)
            )
        return notes

    def _known_services(self, operation_type: str) -> set[str]:
        with self._lock:
            return set(self._service_names().get(operation_type, ()))

    def _service_names(self) -> dict[str, set[str]]:
        """The services known, by operation type; read the first time (under the lock): the
        catalog's, and those of the newest operations the store keeps that succeeded."""
        if self._services is None:
            self._services = self._catalog_services()
            ran = self._store.succeeded_parameters(within=NAMES_READ)
            self._learn_services(self._services, ran)
        return self._services

    def _learn_services(
        self, services: dict[str, set[str]], ran: Iterable[tuple[str, Any]]
    ) -> None:
        for operation_type, params in ran:
            field = self._catalog.name_field(operation_type)
            name = params.get(field.name) if field else None
            if isinstance(name, str) and name:
                services.setdefault(operation_type, set()).add(name)

    def _catalog_services(self) -> dict[str, set[str]]:
        """The names the catalog offers: each kind's placeholder and example."""
        services: dict[str, set[str]] = {}
        for kind in self._catalog.kinds:
            field = self._catalog.name_field(kind.operation_type)
            if field is None:
                continue
            named = services.setdefault(kind.operation_type, set())
            named.update(p.strip() for p in field.placeholder.split(",") if p.strip())
            try:
                example = parse(
                    kind.example, tz="UTC", now=_EXAMPLES_READ_AT, catalog=self._catalog
                )
            except Refusal:
                continue  # an example naming a group: its placeholder is enough
            if isinstance(example, Plan):
                self._learn_services(
                    services, ((op.operation_type, op.parameters) for op in example.operations)
                )
        return services


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
