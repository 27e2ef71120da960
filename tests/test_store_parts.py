"""The store split by what it keeps (issue 17): one engine under every part, and a request
recorded exactly as its dry run shows it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.model import OperationSpec
from store import RequestRecord, Store

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
STORE = Path(__file__).resolve().parent.parent / "store"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(path=tmp_path / "parts.db")
    yield opened
    opened.close()


def test_a_request_is_recorded_as_its_preview_shows_it_waves_included(store: Store) -> None:
    at = NOW + timedelta(hours=1)
    specs = [
        OperationSpec(device_name=f"web-{n:02d}", operation_type="reboot", scheduled_at=at)
        for n in range(7)
    ]
    asked = dict(
        specs=specs,
        requester="U1",
        surface="slash",
        text="reboot web-*",
        tz="UTC",
        immediate=False,
        notes=["a note"],
        channel="C1",
        thread_ts=None,
        response_url=None,
        now=NOW,
        expires_at=NOW + timedelta(minutes=15),
        policy={"rule": "r"},
        wave_size=3,
        canary=True,
    )
    plan = RequestRecord.preview(**asked)  # type: ignore[arg-type]
    made = store.create_request(**asked)  # type: ignore[arg-type]

    def shown(record: RequestRecord) -> tuple[object, ...]:
        ops = [
            (o.seq, o.device_name, o.operation_type, o.parameters, o.scheduled_at, o.wave)
            for o in record.operations
        ]
        return (
            record.waves,
            record.wave_size,
            record.canary,
            record.notes,
            record.policy,
            record.immediate,
            ops,
        )

    assert plan.waves == 3  # a canary, then waves of 3
    assert shown(made) == shown(plan)


def test_only_the_engine_touches_sqlite() -> None:
    """The store's parts speak to a Tx; sqlite3 and sqlite-utils are the engine's (and the
    migrations'), so a second engine needs no change to them."""
    # copy.py reads a whole SQLite file into PostgreSQL: it is the one meant to touch both.
    allowed = {"engine.py", "schema.py", "lock.py", "copy.py"}
    touching = []
    for path in sorted(STORE.glob("*.py")):
        tree = ast.parse(path.read_text())
        # Names for type hints only (db.py's SQLite-only `db` property) import nothing.
        hints = {
            id(child)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
            for child in node.body
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            sqlite = any(n.split(".")[0] in ("sqlite3", "sqlite_utils") for n in names)
            if sqlite and id(node) not in hints and path.name not in allowed:
                touching.append(path.name)
    assert touching == []
