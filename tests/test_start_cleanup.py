"""The database's lock file goes with the lock: a start that fails after taking it, and a bot
that stops, leave nothing beside the database. Only a process killed outright leaves the file,
which the next start reuses (tests/test_cli.py's one bot per database)."""

from __future__ import annotations

import fcntl
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import store.lock
from bot.zequenze.simulator.endpoint import Simulator
from store.lock import DatabaseInUse, DatabaseLock, lock_path
from tests.fakes import FakeSlack
from tests.test_cli import Running, bot_env
from tests.test_cli_polish import API_TOKEN, WRONG_APP_TOKEN, opsbot, settings_env

pytestmark = pytest.mark.xdist_group("ports")


@pytest.fixture
def api() -> Iterator[Simulator]:
    with Simulator(token=API_TOKEN) as simulator:
        yield simulator


def test_a_start_on_a_port_in_use_leaves_no_lock_file(tmp_path: Path, api: Simulator) -> None:
    with FakeSlack() as slack, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = settings_env(tmp_path, api, SLACK_API_URL=slack.api_url, PORT=str(port))
        result = opsbot("run", env=env, cwd=tmp_path)
    assert result.returncode == 1 and f"cannot listen on port {port}" in result.stderr
    assert list(tmp_path.iterdir()) == []  # no database, and no lock file either


def test_a_start_whose_app_token_slack_refuses_leaves_no_lock_file(
    tmp_path: Path, api: Simulator
) -> None:
    with FakeSlack() as slack:
        slack.fail("apps.connections.open", error="invalid_auth", times=None)
        env = settings_env(
            tmp_path, api, SLACK_APP_TOKEN=WRONG_APP_TOKEN, SLACK_API_URL=slack.api_url
        )
        result = opsbot("run", env=env, cwd=tmp_path)
    assert result.returncode == 1 and "Slack refused SLACK_APP_TOKEN" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_start_on_a_file_that_is_no_database_leaves_only_that_file(
    tmp_path: Path, api: Simulator
) -> None:
    db = tmp_path / "opsbot.db"
    db.write_bytes(b"not a database, " * 512)
    with FakeSlack() as slack:
        env = settings_env(tmp_path, api, SLACK_API_URL=slack.api_url)
        result = opsbot("run", env=env, cwd=tmp_path)
    assert result.returncode == 1 and f"OPSBOT_DB={db}" in result.stderr
    assert list(tmp_path.iterdir()) == [db]  # the person's file, untouched; no lock file


def test_a_bot_that_stops_leaves_no_lock_file(tmp_path: Path) -> None:
    db = tmp_path / "opsbot.db"
    with FakeSlack() as slack, Simulator() as simulator:
        bot = Running(env=bot_env(slack, simulator, db), cwd=tmp_path)
        try:
            bot.wait_for("opsbot is listening")
            assert lock_path(db).exists()  # held while it runs
        finally:
            code = bot.stop()
    assert code == 0, bot.output
    assert not lock_path(db).exists()
    assert db.exists()


def test_the_lock_file_is_removed_on_release_and_taken_again(tmp_path: Path) -> None:
    db = tmp_path / "opsbot.db"
    first = DatabaseLock(db_path=db)
    with pytest.raises(DatabaseInUse):
        DatabaseLock(db_path=db)
    first.release()
    assert not lock_path(db).exists()
    second = DatabaseLock(db_path=db)
    assert lock_path(db).exists()
    second.release()


def test_a_lock_taken_on_a_file_just_removed_is_taken_again_on_the_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holder lets go between another process opening the file and locking it: the lock
    it then gets is on a file no one else sees, so it must try again, or two bots would run."""
    db = tmp_path / "opsbot.db"
    holder = DatabaseLock(db_path=db)
    real_flock = fcntl.flock
    locked: list[int] = []

    def flock(fd: int, operation: int) -> None:
        if not locked:
            holder.release()  # removes the file this one has just opened, and unlocks it
        locked.append(fd)
        real_flock(fd, operation)

    monkeypatch.setattr(store.lock.fcntl, "flock", flock)
    taken = DatabaseLock(db_path=db)
    monkeypatch.setattr(store.lock.fcntl, "flock", real_flock)
    assert len(locked) == 2  # the first file was gone once locked: locked again, the new one
    with pytest.raises(DatabaseInUse):  # and the file at the path is the one it holds
        DatabaseLock(db_path=db)
    taken.release()
