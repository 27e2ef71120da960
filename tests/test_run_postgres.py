"""`opsbot run`, `audit` and `backup` with OPSBOT_DATABASE_URL: the bot on PostgreSQL, as a
process. No file lock (replicas share the database and lead by its lease), the schema brought
up to date at start, and the URL's password in no line the bot prints."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from bot.run.cli import main
from bot.zequenze.simulator.endpoint import Simulator
from store import Store
from tests.fakes import FakeSlack
from tests.test_cli import Running, bot_env, free_port
from tests.test_cli_migrate import with_password

PASSWORD = "s3cret-pw-17"


@pytest.fixture
def start_run(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Running]]:
    started: list[Running] = []

    def start(env: dict[str, str]) -> Running:
        started.append(Running(env=env, cwd=tmp_path))
        return started[-1]

    yield start
    for running in started:
        if running.process.poll() is None:
            running.process.kill()
        running.stop()


def test_run_on_postgres_migrates_serves_and_leads_without_a_lock_file(
    tmp_path: Path, start_run, pg_url: str
) -> None:
    url = with_password(pg_url, PASSWORD)
    with FakeSlack() as slack, Simulator(run_seconds=0.3) as simulator:
        db = tmp_path / "opsbot.db"
        bot = start_run(bot_env(slack, simulator, db, OPSBOT_DATABASE_URL=url))
        bot.wait_for("opsbot is listening")
        bot.answers(slack, "list")
        assert "opsbot keeps its state in PostgreSQL at postgresql://opsbot:***@" in bot.output
        # Neither the SQLite file nor its lock: PostgreSQL keeps everything.
        assert not db.exists() and not Path(f"{db}.lock").exists()
        with psycopg.connect(pg_url) as conn:  # migrated at start, and the lease taken
            (holder,) = conn.execute("SELECT holder FROM leases").fetchone()
        assert holder
        assert bot.stop(signal.SIGTERM) == 0
    assert PASSWORD not in bot.output
    assert "Traceback" not in bot.output


def test_run_says_in_one_line_when_postgres_cannot_be_reached(tmp_path: Path, start_run) -> None:
    url = f"postgresql://opsbot:{PASSWORD}@127.0.0.1:{free_port()}/opsbot"
    with FakeSlack() as slack, Simulator() as simulator:
        bot = start_run(bot_env(slack, simulator, tmp_path / "x.db", OPSBOT_DATABASE_URL=url))
        assert bot.process.wait(timeout=60) == 1
        bot.stop()
    assert "cannot open the database OPSBOT_DATABASE_URL=postgresql://opsbot:***@" in bot.output
    assert "Check that PostgreSQL is running" in bot.output
    assert PASSWORD not in bot.output
    assert "Traceback" not in bot.output


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No .env, OPSBOT_DB or OPSBOT_DATABASE_URL of the developer's own."""
    monkeypatch.chdir(tmp_path)
    for name in ("OPSBOT_DB", "OPSBOT_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_backup_on_postgres_says_to_use_pg_dump(
    elsewhere: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql://opsbot:{PASSWORD}@db.example.com/opsbot"
    monkeypatch.setenv("OPSBOT_DATABASE_URL", url)
    assert main(["backup", "copy.db"]) == 2
    err = capsys.readouterr().err
    assert "pg_dump --format=custom --file=opsbot.dump 'postgresql://opsbot:***@" in err
    assert PASSWORD not in err
    assert not Path("copy.db").exists()


def test_audit_reads_postgres_without_changing_it(
    elsewhere: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    pg_url: str,
) -> None:
    monkeypatch.setenv("OPSBOT_DATABASE_URL", with_password(pg_url, PASSWORD))
    # A database no opsbot opened yet: nothing to show, and a look does not create the schema.
    assert main(["audit"]) == 0
    assert capsys.readouterr().err == "No audit lines.\n"
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('audit')").fetchone() == (None,)

    store = Store(url=pg_url)
    store.set_fact("slack_url", "https://example.slack.com/")
    store.record_audit(
        event="refused",
        actor="U123",
        channel="C1",
        now=datetime(2026, 12, 6, 9, 0, tzinfo=UTC),
        detail={"text": "dance on server-01"},
    )
    store.close()
    assert main(["audit", "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert '"event": "refused"' in out and "dance on server-01" in out


def test_audit_says_in_one_line_when_postgres_cannot_be_reached(
    elsewhere: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql://opsbot:{PASSWORD}@127.0.0.1:{free_port()}/opsbot"
    monkeypatch.setenv("OPSBOT_DATABASE_URL", url)
    assert main(["audit"]) == 1
    err = capsys.readouterr().err
    assert "cannot read the audit trail in postgresql://opsbot:***@" in err
    assert "Check OPSBOT_DATABASE_URL." in err and PASSWORD not in err
