"""The demo's first hour, in process: the example policy file works in the demo as it is (its
`[demo]` table says who is who), what the greeting offers can be typed back, several requests
wait for confirmation side by side, and a kept database goes on in a second demo and is read
by `opsbot audit`. The same walk on a real terminal is in test_demo.py."""

from __future__ import annotations

import csv
import fnmatch
import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.console.chat import ConsoleChat, ConsoleNotifier
from bot.console.setup import cast, demo_devices
from bot.console.terminal import Terminal
from bot.model import Plan
from bot.policy.config import OPEN_POLICY, ConfigError, PolicyConfig, load_config, read_config
from bot.policy.groups import StaticGroups
from bot.run.cli import main
from bot.run.runtime import Runtime
from bot.understand import grammar
from bot.zequenze.simulator.endpoint import DEFAULT_INVENTORY, Simulator

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "opsbot.example.toml"


class Console:
    def __init__(self, chat: ConsoleChat, out: io.StringIO, runtime: Runtime) -> None:
        self.chat, self.out, self.runtime = chat, out, runtime

    def type(self, line: str) -> str:
        start = len(self.out.getvalue())
        assert self.chat.handle(line)
        return self.out.getvalue()[start:]

    def greeting(self) -> str:
        return self.type("?")


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Callable[[PolicyConfig], Console]]:
    """The demo as `opsbot demo --config FILE` assembles it, for a policy given."""
    started: list[tuple[Runtime, Simulator]] = []

    def start(config: PolicyConfig) -> Console:
        setup = cast(config)
        simulator = Simulator(
            inventory=demo_devices(DEFAULT_INVENTORY, config, fail=setup.fail), run_seconds=0.2
        )
        simulator.failing = set(setup.fail)
        simulator.start()
        out = io.StringIO()
        terminal = Terminal(out=out, tz="UTC")
        runtime = Runtime(
            database=str(tmp_path / f"demo{len(started)}.db"),
            api_url=simulator.url,
            api_token=simulator.token,
            poll_interval=0.1,
            notifier=ConsoleNotifier(terminal=terminal, user=setup.user, channel=setup.channel),
            channel_gap=0.0,
            config=config,
            groups=StaticGroups(setup.groups),
        ).start()
        started.append((runtime, simulator))
        chat = ConsoleChat(
            service=runtime.service,
            terminal=terminal,
            tz="UTC",
            devices=sorted(simulator.inventory),
            groups=setup.groups,
            user=setup.user,
            channel=setup.channel,
            failing=setup.fail,
        )
        return Console(chat, out, runtime)

    yield start
    for runtime, simulator in started:
        runtime.stop()
        simulator.stop()


# --------------------------------------------------------------------- who is who


def test_the_example_s_demo_table_says_who_is_who_and_the_command_line_overrides_it() -> None:
    config = load_config(EXAMPLE)
    setup = cast(config)
    assert (setup.user, setup.channel, setup.fail) == ("U0001", "C0001", ("web-03",))
    assert setup.groups["S0DBA"] == ("U0001", "U0002", "U0003")
    assert setup.groups["S0LEADS"] == ("U0004",)

    given = cast(
        config,
        user="U0009",
        channel="C0002",
        groups=[("S0DBA", ("U0007",)), ("S0DBA", ("U0008",))],
        fail=["web-01"],
    )
    assert (given.user, given.channel, given.fail) == ("U0009", "C0002", ("web-01",))
    assert given.groups["S0DBA"] == ("U0007", "U0008")  # in place of the table's members
    assert given.groups["S0OPS"] == setup.groups["S0OPS"]  # the others kept

    # No table: the first channel the policy allows, and "you"; no policy: the console.
    bare = read_config('[access]\nchannels = ["C0003", "C0004"]\n', source="p.toml")
    assert (cast(bare).user, cast(bare).channel) == ("you", "C0003")
    assert (cast(OPEN_POLICY).user, cast(OPEN_POLICY).channel) == ("you", "console")


def test_a_demo_table_with_mistakes_is_refused_naming_each() -> None:
    with pytest.raises(ConfigError) as refused:
        read_config(
            "[demo]\n"
            'channel = "general"\n'
            'user = "alice"\n'
            'groups = { dba = ["U0002"], S0OPS = ["bob"] }\n'
            'fail = ["web 03"]\n'
            'users = "U0001"\n',
            source="p.toml",
        )
    problems = refused.value.problems
    assert len(problems) == 6, problems
    for words in (
        '[demo] (line 2): "general" is not a channel id',
        '[demo] (line 3): "alice" is not a user id (U… or W…)',
        '"dba" is not a user group id (S…)',
        'S0OPS must list user ids (U… or W…), like ["U0002", "U0003"], not ["bob"]',
        'fail: "web 03" can\'t be a device name',
        'unknown key "users" (did you mean "user"?)',
    ):
        assert any(words in problem for problem in problems), (words, problems)


# ------------------------------------------------------- what the demo offers, typed back


def test_every_device_the_example_names_is_in_the_demo_s_simulator() -> None:
    config = load_config(EXAMPLE)
    devices = demo_devices(DEFAULT_INVENTORY, config, fail=cast(config).fail)
    for name in ("cpe-0042", "lb-01", "web-01", "web-12", "db-03", "server-20"):
        assert name in devices
    patterns = [p for rule in config.rules for p in rule.devices or ()]
    patterns += [p for window in config.windows for p in window.devices or ()]
    for pattern in patterns:  # server-*, db-0?, cpe-*, db-*: each matches something here
        assert fnmatch.filter(devices, pattern), pattern


@pytest.mark.parametrize("config", [OPEN_POLICY, load_config(EXAMPLE)], ids=["open", "example"])
def test_the_greeting_s_devices_typed_back_are_the_simulator_s(
    demo: Callable[[PolicyConfig], Console], config: PolicyConfig
) -> None:
    """`server-01..server-20`, as the grammar reads a range: never `server-01…20`."""
    console = demo(config)
    [listed] = re.findall(r"Devices in the simulator: (.*)\.\n", console.greeting())
    understood = grammar.parse(
        f"reboot {listed} now", tz="UTC", now=console.runtime.service.clock(),
        catalog=config.catalog, naming=config.naming,
    )  # fmt: skip
    assert isinstance(understood, Plan), understood
    shown = {op.device_name for op in understood.operations}
    assert shown == set(demo_devices(DEFAULT_INVENTORY, config, fail=cast(config).fail))
    assert "…" not in listed


def test_the_example_file_works_in_the_demo_as_it_is(
    demo: Callable[[PolicyConfig], Console],
) -> None:
    console = demo(load_config(EXAMPLE))
    greeting = console.greeting()
    assert "You are U0001, typing in #C0001" in greeting
    assert "2 approvals by U0002 or S0DBA: as U0002 approve, then as U0003 approve" in greeting
    assert "as U0004 freeze server-* for 1h patching, then as U0004 unfreeze server-*" in greeting
    assert "reboot @web in waves of 4 now halts after the wave" in greeting
    assert "Unknown here" not in greeting  # every group the file names has its members

    # The file's own example, on its own device: proposed, and approved by a peer.
    shown = console.type("set Device.ManagementServer.PeriodicInformInterval to 300 on cpe-0042")
    assert "Please confirm this operation" in shown, shown
    shown = console.type("confirm")
    assert "type as U0002 approve, or as U0002 reject" in shown, shown
    assert "Approved. Follow it in the thread." in console.type("as U0002 approve")

    # You are no admin; the greeting's admin is.
    assert "Only @S0LEADS may freeze" in console.type("freeze server-* for 1h patching")
    assert "@U0004 froze server-* until" in console.type("as U0004 freeze server-* for 1h patching")
    assert "server-03 is frozen by @U0004" in console.type("reboot server-03 now")
    assert "lifted the freeze on server-*" in console.type("as U0004 unfreeze server-*")


# ------------------------------------------------------------- several waiting to confirm


def test_a_second_request_does_not_replace_the_first(
    demo: Callable[[PolicyConfig], Console],
) -> None:
    console = demo(OPEN_POLICY)
    first = re.findall(r"Request (r_\w+)", console.type("reboot server-01 now"))[0]
    shown = console.type("restart nginx on server-02 now")
    second = re.findall(r"Request (r_\w+)", shown)[0]
    assert f"Also waiting for your confirmation: {first} (reboot server-01 now)." in shown

    # `confirm` takes the newest and says which; the first still waits, and is said to.
    shown = console.type("confirm")
    assert f"Confirmed {second} (restart nginx on server-02 now)." in shown
    assert f"Still waiting for your confirmation: {first} (reboot server-01 now)" in shown
    store = console.runtime.store
    assert store.get_request(first).state == "pending"  # type: ignore[union-attr]

    third = re.findall(r"Request (r_\w+)", console.type("reboot server-03 now"))[0]
    assert "nothing was done" in console.type("confirm r_0000")  # not one of those waiting
    assert f"Confirmed {first} (reboot server-01 now)." in console.type(f"confirm {first}")
    fourth = re.findall(r"Request (r_\w+)", console.type("reboot server-04 now"))[0]
    assert f"Cancelled {third} (reboot server-03 now)" in console.type(f"cancel {third}")
    assert [store.get_request(r).state for r in (first, second, third, fourth)] == [  # type: ignore[union-attr]
        "confirmed",
        "confirmed",
        "cancelled",
        "pending",
    ]
    console.chat.end(wait=0)
    assert (
        f"Never confirmed, so never sent: {fourth} (reboot server-04 now)."
        in console.out.getvalue()
    )


# ------------------------------------------------------------- a kept database, audited


def test_a_kept_database_goes_on_in_a_second_demo_and_audit_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.db"

    def demo_with(lines: str) -> str:
        monkeypatch.setattr("sys.stdin", io.StringIO(lines))
        assert main(["demo", "--db", str(db), "--run-seconds", "0.2"]) == 0
        return capsys.readouterr().out

    first = demo_with("reboot server-01 now\nconfirm\n")
    assert "txn_1001 on server-01 is now completed" in first
    assert f"Kept in {db} after the demo: opsbot audit --db {db}" in first
    second = demo_with("list\nrestart nginx on server-02 now\nconfirm\n")
    # The API of the second demo knows the first's operations, and gives no id twice.
    assert "✅ txn_1001 server-01 reboot — completed" in second
    assert "txn_1002 on server-02 (nginx) is now completed" in second
    assert not (tmp_path / "demo.db.lock").exists()

    assert main(["audit", "--db", str(db)]) == 0
    text = capsys.readouterr().out.splitlines()
    assert len(text) == 8 and not [line for line in text if "{" in line], text
    assert re.fullmatch(
        r"\S+ \S+ UTC  opsbot  created txn_1002, restart_service on server-02 at .* UTC, "
        r"for r_\w+",
        text[6],
    ), text[6]
    assert main(["audit", "--db", str(db), "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[6]["detail"]["post"]["parameters"] == {
        "service_name": "nginx",
        "verify_status": True,
    }
    assert main(["audit", "--db", str(db), "--format", "csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["event"] for r in table] == [r["event"] for r in rows]
