"""A reading of a store's database, for the benchmarks' own counts: through its engine
(store/engine.py), or, for the code before it run as a baseline, under the store's lock."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any


class _Before:
    """The few Tx methods the benchmarks use, over the sqlite-utils Database of a Store that
    has no engine yet."""

    def __init__(self, db: Any) -> None:
        self._db = db

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return list(self._db.query(sql, params))

    def row(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        return next(iter(self.rows(sql, params)), None)

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        found = self._db.execute(sql, params).fetchone()
        return None if found is None else found[0]


@contextmanager
def reading(store: Any) -> Iterator[Any]:
    engine = getattr(store, "engine", None)
    if engine is not None:
        with engine.read() as tx:
            yield tx
        return
    with store._lock:  # noqa: SLF001 - the code before the engine
        yield _Before(store.db)
