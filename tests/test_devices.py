"""Device names as the API spells them: a typed name is compared with the names the API has
shown, ignoring case; a known one is sent as the API spells it, one never shown is flagged
with the closest known names. The API keeps the last word at Confirm."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.model import Plan
from bot.understand.grammar import parse
from bot.zequenze.api import ApiError
from bot.zequenze.devices import DeviceBook
from bot.zequenze.simulator.endpoint import Simulator
from store import Store
from tests.conftest import Bot, eventually
from tests.test_flow import all_text, request_and_confirm, thread_replies

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def plan(typed: str) -> Plan:
    command = parse(typed, tz="UTC", now=NOW)
    assert isinstance(command, Plan)
    return command


def book(tmp_path: Path, *names: str) -> DeviceBook:
    devices = DeviceBook(store=Store(path=tmp_path / "d.db"), clock=lambda: NOW)
    devices.learn({"device_name": name} for name in names)
    return devices


def test_a_known_name_is_sent_as_the_api_spells_it(tmp_path: Path) -> None:
    spelled = book(tmp_path, "server-01", "db-01").spell(plan("REBOOT Server-01, DB-01 NOW"))
    assert [op.device_name for op in spelled.operations] == ["server-01", "db-01"]
    assert "Server-01 is spelled server-01 in the API; using that." in spelled.notes


def test_a_name_never_shown_is_flagged_with_the_closest_known(tmp_path: Path) -> None:
    devices = book(tmp_path, "server-01", "server-02", "router-01")
    spelled = devices.spell(plan("reboot server-1"))
    assert [op.device_name for op in spelled.operations] == ["server-1"]  # sent as typed
    (note,) = spelled.notes
    assert "I have not seen a device called server-1" in note
    assert "did you mean server-01?" in note  # the same but for the zero padding
    (note,) = devices.spell(plan("reboot sever-02")).notes
    assert "did you mean server-02 or server-01?" in note  # the most alike


def test_a_name_like_none_known_is_flagged_without_a_guess(tmp_path: Path) -> None:
    (note,) = book(tmp_path, "server-01").spell(plan("reboot printer-7")).notes
    assert "check the name" in note and "did you mean" not in note


def test_nothing_known_nothing_said_and_the_api_is_asked_once_a_minute(tmp_path: Path) -> None:
    asked: list[int] = []

    def fetch() -> list[dict[str, str]]:
        asked.append(1)
        raise ApiError("down")

    devices = DeviceBook(store=Store(path=tmp_path / "d.db"), clock=lambda: NOW, fetch=fetch)
    typed = plan("reboot Server-01")
    assert devices.spell(typed) == typed
    assert devices.spell(typed) == typed
    assert len(asked) == 1  # not again within the minute


def test_learning_the_same_names_again_writes_nothing(tmp_path: Path) -> None:
    devices = book(tmp_path, "server-01")
    store = devices._store  # noqa: SLF001 - the write count is what this test is about
    before = store.db.execute("SELECT total_changes()").fetchone()[0]
    devices.learn([{"device_name": "server-01"}] * 100)
    assert store.db.execute("SELECT total_changes()").fetchone()[0] == before


def test_a_request_in_other_case_reaches_the_api_in_its_spelling(bot: Bot) -> None:
    """`REBOOT Server-01 NOW` was confirmed as Server-01, then refused by the API after the
    click. A bot that has seen the API's operations knows how server-01 is spelled."""
    seed(bot.simulator)
    shown, root = request_and_confirm(bot, "REBOOT Server-01 NOW")
    assert "`server-01`" in all_text(shown)
    assert "Server-01 is spelled server-01 in the API" in all_text(shown)
    eventually(
        lambda: any("is now *completed*" in r for r in thread_replies(bot, root)),
        what="the reboot of server-01",
    )
    (op,) = bot.simulator.operations()[1:]
    assert op["device_name"] == "server-01"


def test_a_misspelt_device_is_flagged_before_the_click(bot: Bot) -> None:
    seed(bot.simulator)
    shown = bot.wait_response(bot.command("reboot server-1 now"))
    assert "did you mean server-01" in all_text(shown)


def seed(simulator: Simulator) -> None:
    """One operation in the API's history, so that its list shows the device names."""
    simulator.seed(1, device_names=["server-01"])
