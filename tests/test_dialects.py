"""What store/dialect.py writes differently for SQLite and PostgreSQL means the same on both:
each fragment is asked the same questions on a real database of each engine."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from store import Store


@pytest.fixture(scope="module")
def engines(
    tmp_path_factory: pytest.TempPathFactory, pg_server: Any, _pg_migrated_template: str
) -> Iterator[tuple[Store, Store]]:
    with pg_server.database(template=_pg_migrated_template) as url:
        sqlite = Store(path=tmp_path_factory.mktemp("dialects") / "opsbot.db")
        postgres = Store(url=url)
        yield sqlite, postgres
        sqlite.close()
        postgres.close()


def ask(store: Store, sql: str, params: list[Any]) -> Any:
    with store.engine.read() as tx:
        return tx.value(sql, params)


def both(engines: tuple[Store, Store], fragment: Any, params: list[Any]) -> tuple[Any, Any]:
    """The value of `fragment(dialect)` (an SQL expression) on each engine."""
    return tuple(ask(store, f"SELECT {fragment(store.dialect)}", params) for store in engines)


def test_the_clock_is_the_databases_now_written_as_the_store_writes_times(
    engines: tuple[Store, Store],
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    for now in both(engines, lambda d: d.clock(), []):
        assert now == datetime.fromisoformat(now).isoformat(timespec="milliseconds")
        assert before < datetime.fromisoformat(now) < before + timedelta(seconds=30)


@pytest.mark.parametrize(
    ("a", "b"),
    [("2026-12-06T10:00:00.000+00:00", "2026-12-06T09:59:59.999+00:00"), ("b", "a"), ("a", "a")],
)
def test_greatest(engines: tuple[Store, Store], a: str, b: str) -> None:
    sqlite, postgres = both(
        engines, lambda d: d.greatest("CAST(? AS TEXT)", "CAST(? AS TEXT)"), [a, b]
    )
    assert sqlite == postgres == max(a, b)


@pytest.mark.parametrize(
    "document", ['{"fingerprint": "abc", "n": 1}', '{"other": "x"}', None, '{"fingerprint": ""}']
)
def test_json_text(engines: tuple[Store, Store], document: str | None) -> None:
    sqlite, postgres = both(
        engines, lambda d: d.json_text("CAST(? AS TEXT)", "fingerprint"), [document]
    )
    expected = None if document is None else json.loads(document).get("fingerprint")
    assert sqlite == postgres == expected


@pytest.mark.parametrize("array", [None, "[]", '["2026-12-06T10:00:00.000+00:00"]'])
def test_json_append(engines: tuple[Store, Store], array: str | None) -> None:
    answers = both(
        engines, lambda d: d.json_append("CAST(? AS TEXT)", "CAST(? AS TEXT)"), [array, "x'y\""]
    )
    before = json.loads(array) if array else []
    assert [json.loads(answer) for answer in answers] == [before + ["x'y\""]] * 2


@pytest.mark.parametrize("array", ["[]", '["a"]', '["a", "b", "a"]'])
def test_json_texts(engines: tuple[Store, Store], array: str) -> None:
    for store in engines:
        elements = store.dialect.json_texts("CAST(? AS TEXT)")
        with store.engine.read() as tx:
            found = tx.value(f"SELECT count(*) FROM ({elements}) AS t", [array])
        assert found == len(json.loads(array))


# Every pattern of up to three pieces, and every name of up to three characters from a small
# alphabet: what a freeze covers is the same on both engines, and what fnmatch says.
PIECES = ["a", "b", "-", ".", "1", "*", "?", "[ab]", "[!a]", "[a-b]", "["]
NAMES = ["".join(p) for n in range(0, 4) for p in itertools.product("ab-.1", repeat=n)]


def covered(store: Store, pattern: str) -> set[str]:
    # VALUES names its column column1 on both engines.
    names = ", ".join("(CAST(? AS TEXT))" for _ in NAMES)
    condition = store.dialect.frozen("n.column1", "f.devices")
    with store.engine.read() as tx:
        rows = tx.rows(
            f"SELECT n.column1 AS name FROM (VALUES {names}) AS n, "
            f"(SELECT CAST(? AS TEXT) AS devices) AS f WHERE {condition}",
            [*NAMES, json.dumps([pattern])],
        )
    return {r["name"] for r in rows}


def test_a_freeze_covers_the_same_devices_on_both_engines(engines: tuple[Store, Store]) -> None:
    import fnmatch

    patterns = ["".join(p) for n in range(1, 4) for p in itertools.product(PIECES, repeat=n)]
    differ = []
    for pattern in patterns:
        sqlite, postgres = (covered(store, pattern) for store in engines)
        if sqlite != postgres:
            differ.append((pattern, sorted(sqlite ^ postgres)))
        elif "[" not in pattern:  # fnmatch reads a lone '[' its own way; the sets agree above
            assert sqlite == {n for n in NAMES if fnmatch.fnmatchcase(n, pattern)}, pattern
    assert differ == [], differ[:10]
