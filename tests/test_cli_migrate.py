"""`opsbot migrate`: brings PostgreSQL (OPSBOT_DATABASE_URL) or the SQLite file (--db,
OPSBOT_DB) up to date and names what it applied; never shows a password."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from bot.run.cli import main
from bot.run.settings import load, redact_url
from store.schema import MIGRATIONS
from store.schema_postgres import MIGRATIONS as PG_MIGRATIONS
from tests.test_cli import free_port

ALL_SQLITE = [m.name for m in MIGRATIONS._migrations]
ALL_PG = [name for name, _ in PG_MIGRATIONS]


@pytest.fixture(autouse=True)
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No .env, OPSBOT_DB or OPSBOT_DATABASE_URL of the developer's own."""
    monkeypatch.chdir(tmp_path)
    for name in ("OPSBOT_DB", "OPSBOT_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


def with_password(url: str, password: str) -> str:
    # The test server trusts loopback: a password is accepted whatever it is.
    return url.replace("opsbot@", f"opsbot:{password}@", 1)


def test_migrate_brings_postgres_up_to_date_once(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPSBOT_DATABASE_URL", with_password(pg_url, "s3cret-pw"))
    shown = with_password(pg_url, "***")
    assert main(["migrate"]) == 0
    out = capsys.readouterr().out
    listed = "".join(f"  {name}\n" for name in ALL_PG)
    assert out == f"migrated {shown} to schema {ALL_PG[-1]}, applying {len(ALL_PG)}:\n{listed}"
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM operations").fetchone() == (0,)
    assert main(["migrate"]) == 0
    out = capsys.readouterr().out
    assert out == f"{shown} is up to date (schema {ALL_PG[-1]}); nothing to apply.\n"
    assert "s3cret-pw" not in out


def test_migrate_says_in_one_line_when_postgres_cannot_be_reached(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(
        "OPSBOT_DATABASE_URL", f"postgresql://opsbot:s3cret-pw@127.0.0.1:{free_port()}/opsbot"
    )
    assert main(["migrate"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("opsbot: could not migrate postgresql://opsbot:***@127.0.0.1:")
    assert captured.err.rstrip().endswith("Check OPSBOT_DATABASE_URL.")
    assert captured.err.count("\n") == 1 and "s3cret-pw" not in captured.err


def test_migrate_refuses_a_url_that_is_not_postgres(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPSBOT_DATABASE_URL", "mysql://opsbot:s3cret-pw@db/opsbot")
    assert main(["migrate"]) == 1
    err = capsys.readouterr().err
    assert "OPSBOT_DATABASE_URL must be a PostgreSQL URL, like postgresql://" in err
    assert "s3cret-pw" not in err


def test_migrate_sqlite_names_every_migration_then_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPSBOT_DB", str(tmp_path / "env.db"))
    assert main(["migrate"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"migrated {tmp_path / 'env.db'} to schema {ALL_SQLITE[-1]}, ")
    assert out.split("\n")[1:-1] == [f"  {name}" for name in ALL_SQLITE]
    assert main(["migrate"]) == 0
    assert "is up to date" in capsys.readouterr().out


def test_migrate_db_names_the_sqlite_file_even_with_a_database_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPSBOT_DATABASE_URL", f"postgresql://opsbot@127.0.0.1:{free_port()}/x")
    path = tmp_path / "given.db"
    assert main(["migrate", "--db", str(path)]) == 0
    assert f"migrated {path}" in capsys.readouterr().out
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")}
    assert {"requests", "operations", "outbox", "audit"} <= tables


def test_the_database_url_is_a_setting_whose_password_stays_hidden() -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "ZEQUENZE_API_TOKEN": "t",
        "OPSBOT_DATABASE_URL": "postgresql://opsbot:s3cret-pw@db.example.com/opsbot",
    }
    settings = load(env, dotenv="/nonexistent")
    assert settings.database_url == env["OPSBOT_DATABASE_URL"]
    assert "s3cret-pw" in settings.secrets()  # so the log redacts it
    assert "s3cret-pw" not in repr(settings)
    assert load({**env, "OPSBOT_DATABASE_URL": ""}, dotenv="/nonexistent").database_url is None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql://u:p%40ss@h/db?sslmode=require", "postgresql://u:***@h/db?sslmode=require"),
        ("postgresql://h/db?user=u&password=pw", "postgresql://h/db?user=u&password=***"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
