"""The `opsbot` command: parse, help, the demo and `run` as real processes."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from bot.run.cli import main
from bot.slack.app import bolt_app, socket_mode
from bot.slack.notifier import web_client
from bot.zequenze.simulator.endpoint import Simulator
from bot.zequenze.simulator.faults import Fault
from store import Store
from tests.conftest import SECRET, eventually
from tests.fakes import (
    APP_TOKEN,
    BOT_TOKEN,
    FakeSlack,
    FakeSocketMode,
    post,
    slash_command_body,
    slash_command_payload,
)
from tests.fakes.slack import TEAM_DOMAIN

# These tests pick free ports for processes that bind them later: in one group, the suite's
# parallel workers never race each other for a port between picking and binding.
pytestmark = pytest.mark.xdist_group("ports")

NOW = "2026-11-25T10:45:00Z"  # a Wednesday


def parsed(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["parse", *args]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        ("restart nginx on server-02 at 14:00", "UTC", "2026-11-25T14:00:00Z"),
        ("restart nginx on server-02 at 14:00", "America/Los_Angeles", "2026-11-25T22:00:00Z"),
        ("reboot server-01 at 3pm", "Europe/Madrid", "2026-11-25T14:00:00Z"),
        ("reboot server-01 at noon", "UTC", "2026-11-25T12:00:00Z"),
        ("reboot server-01 tomorrow at 3am", "UTC", "2026-11-26T03:00:00Z"),
        ("reboot server-01 in 2 hours", "UTC", "2026-11-25T12:45:00Z"),
        ("reboot server-01 in 30 minutes", "UTC", "2026-11-25T11:15:00Z"),
        ("reboot server-01 on saturday at 23:00", "UTC", "2026-11-28T23:00:00Z"),
        ("reboot server-01 14:00 tomorrow", "UTC", "2026-11-26T14:00:00Z"),
        ("reboot server-01 now", "UTC", "2026-11-25T10:45:00Z"),
        ("reboot server-01 at 16:00 CET", "America/Los_Angeles", "2026-11-25T15:00:00Z"),
        ("reboot server-01 2pm UTC", "Europe/Madrid", "2026-11-25T14:00:00Z"),
    ],
)
def test_parse_prints_what_the_bot_understood(capsys, text: str, tz: str, expected: str) -> None:
    result = parsed(capsys, text, "--tz", tz, "--now", NOW)
    assert [op["scheduled_at"] for op in result["operations"]] == [expected]


def test_parse_examples_of_each_operation(capsys) -> None:
    result = parsed(capsys, "restart nginx on server-02 at 14:00", "--now", NOW)
    assert result["operations"] == [
        {
            "device_name": "server-02",
            "operation_type": "restart_service",
            "scheduled_at": "2026-11-25T14:00:00Z",
            "parameters": {"service_name": "nginx", "verify_status": True},
        }
    ]
    result = parsed(
        capsys, "reboot server-01, server-02 and server-03 force timeout 90s", "--now", NOW
    )
    assert [op["device_name"] for op in result["operations"]] == [
        "server-01",
        "server-02",
        "server-03",
    ]
    assert result["operations"][0]["parameters"] == {"force": True, "timeout": 90}
    result = parsed(capsys, "update workstation-05 with security-updates, openssl", "--now", NOW)
    assert result["operations"][0]["parameters"] == {
        "package_list": ["security-updates", "openssl"]
    }


def test_parse_says_when_a_time_has_passed_today(capsys) -> None:
    result = parsed(capsys, "reboot server-01 at 09:00", "--now", NOW)
    assert result["operations"][0]["scheduled_at"] == "2026-11-26T09:00:00Z"
    assert any("passed" in note for note in result["notes"])


@pytest.mark.parametrize(
    "text",
    [
        "reboot server-01 at 25:99",
        "reboot server-01 on 2024-02-30 at 10:00",
        "make coffee",
        "reboot server-01 on 2024-01-20 at 09:30",
    ],
)
def test_parse_refuses_with_exit_2_and_a_reason(capsys, text: str) -> None:
    assert main(["parse", text, "--now", NOW]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "For example:" in captured.err


def test_parse_reads_the_groups_of_a_policy_file(
    capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "opsbot.toml"
    path.write_text('[groups]\nweb = ["web-01..web-03", "lb-01"]\n')
    result = parsed(capsys, "reboot @web, server-08..10", "--config", str(path), "--now", NOW)
    assert [op["device_name"] for op in result["operations"]] == [
        *("web-01", "web-02", "web-03", "lb-01"),
        *("server-08", "server-09", "server-10"),
    ]
    assert result["notes"] == ["@web is 4 devices: web-01..web-03, lb-01."]
    # OPSBOT_CONFIG's file, when no --config is given
    monkeypatch.setenv("OPSBOT_CONFIG", str(path))
    assert len(parsed(capsys, "reboot @web", "--now", NOW)["operations"]) == 4
    # without one, there are no groups
    monkeypatch.delenv("OPSBOT_CONFIG")
    monkeypatch.chdir(tmp_path)  # no .env here
    assert main(["parse", "reboot @web", "--now", NOW]) == 2
    assert 'There is no group "@web"' in capsys.readouterr().err
    # a broken file is named, as check-config names it
    path.write_text('[groups]\nweb = ["web-03..web-01"]\n')
    assert main(["parse", "reboot @web", "--config", str(path), "--now", NOW]) == 1
    assert 'group "web": "web-03..web-01" counts down' in capsys.readouterr().err


def run_cli(*args: str, stdin: str | None = None, env: dict | None = None, timeout: float = 90):
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=Path(__file__).resolve().parent.parent,
    )


def test_every_command_explains_itself() -> None:
    top = run_cli("--help")
    assert top.returncode == 0
    for command in ("run", "demo", "simulator", "parse", "audit"):
        assert command in top.stdout
        sub = run_cli(command, "--help")
        assert sub.returncode == 0 and "usage: opsbot " + command in sub.stdout


def test_demo_with_piped_input_runs_to_the_end(tmp_path: Path) -> None:
    lines = "restart nginx on server-02 now\nconfirm\nreboot server-99 now\nconfirm\nlist\n"
    done = run_cli("demo", "--run-seconds", "0.5", "--tz", "Europe/Madrid", stdin=lines)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Please confirm this operation" in out
    assert "scheduled as txn_1001" in out
    assert "Device server-99 is not in the inventory." in out
    assert "txn_1001 on server-02 (nginx) is now completed" in out
    assert "Traceback" not in out + done.stderr


def test_run_refuses_to_start_without_a_setting_and_never_prints_tokens(tmp_path: Path) -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-very-secret-1", "SLACK_SIGNING_SECRET": "s3cr3t-signing"}
    env |= {"ZEQUENZE_API_TOKEN": "", "SLACK_APP_TOKEN": ""}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, **env, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    assert result.returncode == 2
    assert "ZEQUENZE_API_TOKEN" in result.stderr
    assert "xoxb-very-secret-1" not in result.stdout + result.stderr
    assert "s3cr3t-signing" not in result.stdout + result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ROOT = Path(__file__).resolve().parent.parent
# A log line from a library: Bolt's warnings, slack_sdk's retries, httpx's request lines.
LIBRARY_LINE = re.compile(r" (slack_bolt|slack_sdk|httpx|httpcore|urllib3)[.:]")


def bot_env(slack: FakeSlack, api: Simulator, db: Path, **extra: str) -> dict[str, str]:
    """What `opsbot run` needs to serve HTTP against the fakes; nothing from the developer's
    own settings."""
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "ZEQUENZE_", "OPSBOT_")) and k != "PORT"
    }
    return {
        **inherited,
        "PYTHONPATH": str(ROOT),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.api_url,
        "ZEQUENZE_API_URL": api.url,
        "ZEQUENZE_API_TOKEN": api.token,
        "OPSBOT_DB": str(db),
        "OPSBOT_POLL_INTERVAL": "0.2",
        "PORT": str(free_port()),
        **extra,
    }


class Running:
    """`opsbot run` as a process, its log (stdout and stderr) read as it comes."""

    def __init__(self, *, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, *, timeout: float = 30) -> None:
        eventually(
            lambda: text in self.output or self.process.poll() is not None,
            timeout=timeout,
            what=f"{text!r} from opsbot run",
        )
        if self.process.poll() is not None:
            self._reader.join(timeout=5)
        assert text in self.output, self.output

    def answers(self, slack: FakeSlack, key: str) -> None:
        """A `/ops list` over HTTP is answered on its response_url."""
        body = slash_command_body(text="list", response_url=slack.response_url(key))
        url = f"http://127.0.0.1:{self.env['PORT']}/slack/events"
        assert post(url, body, secret=SECRET, timeout=10).status_code == 200
        slack.wait_for(
            lambda cs: any(c.method == "response_url" and c.args.get("_key") == key for c in cs)
        )

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=60)
        self._reader.join(timeout=5)
        return code


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


def test_run_serves_http_and_stops_cleanly_on_sigterm(tmp_path: Path, start_run) -> None:
    with FakeSlack() as slack, Simulator(run_seconds=0.3) as simulator:
        limits = {"OPSBOT_HTTP_THREADS": "4", "OPSBOT_HTTP_CONNECTIONS": "300"}
        bot = start_run(bot_env(slack, simulator, tmp_path / "run.db", **limits))
        bot.wait_for("opsbot is listening")
        # The server's limits are the settings' (the backlog its default).
        assert "(4 threads, up to 300 connections open, 1024 more waiting)" in bot.output
        bot.answers(slack, "run")
        # Health and metrics on the same port, with no signature (see tests/test_health.py).
        port = bot.env["PORT"]
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code == 200
        assert bot.stop() == 0, bot.output
        assert len(slack.calls_to("auth.test")) == 1  # Bolt's check is the only one
        assert simulator.requests  # httpx was used, at least for the start-up check
    # Its answer's workspace address is kept, for the audit's permalinks.
    store = Store(path=tmp_path / "run.db", read_only=True)
    try:
        assert store.fact("slack_url") == f"https://{TEAM_DOMAIN}.slack.com/"
    finally:
        store.close()
    output = bot.output
    assert "opsbot stopped" in output
    assert BOT_TOKEN not in output and SECRET not in output and simulator.token not in output
    # Neither Bolt's "token will be unused" nor a line per request to the API.
    assert not LIBRARY_LINE.search(output), output


def test_run_in_socket_mode_asks_slack_for_one_connection(tmp_path: Path, start_run) -> None:
    with FakeSlack() as slack, Simulator() as simulator, FakeSocketMode() as sm:
        slack.socket_mode_url = sm.url
        health_port = free_port()
        env = bot_env(
            slack,
            simulator,
            tmp_path / "sm.db",
            SLACK_APP_TOKEN=APP_TOKEN,
            OPSBOT_HEALTH_PORT=str(health_port),
        )
        bot = start_run(env)
        sm.wait_connected(timeout=30)
        envelope = sm.send_envelope(
            type="slash_commands",
            payload=slash_command_payload(text="list", response_url=slack.response_url("sm")),
        )
        assert sm.wait_ack(envelope)["envelope_id"] == envelope
        slack.wait_for(lambda cs: any(c.method == "response_url" for c in cs))
        # The URL asked for as the start-up check is the one connected to.
        assert len(slack.calls_to("apps.connections.open")) == 1
        assert len(slack.calls_to("auth.test")) == 1
        # OPSBOT_HEALTH_PORT: health, readiness and metrics, and nothing else.
        health = f"http://127.0.0.1:{health_port}"
        assert httpx.get(health + "/healthz", timeout=10).json()["status"] == "ok"
        assert httpx.get(health + "/readyz", timeout=10).status_code == 200
        assert "opsbot_slack_calls_total" in httpx.get(health + "/metrics", timeout=10).text
        assert httpx.get(health + "/slack/events", timeout=10).status_code == 404
        sm.stop()  # first: the built-in client's close() otherwise waits out a recv timeout
        assert bot.stop() == 0, bot.output
    assert "opsbot is running in Socket Mode" in bot.output


def test_a_socket_url_gone_stale_is_replaced_by_a_fresh_one(tmp_path: Path) -> None:
    with FakeSlack() as slack, FakeSocketMode() as sm:
        slack.socket_mode_url = sm.url
        client = web_client(token=BOT_TOKEN, base_url=slack.api_url)
        app = bolt_app(client=client, signing_secret=SECRET)
        stale = f"ws://127.0.0.1:{free_port()}/link/?ticket=expired"
        handler = socket_mode(app=app, app_token=APP_TOKEN, url=stale)
        try:
            handler.connect()
            sm.wait_connected(timeout=15)
            assert len(slack.calls_to("apps.connections.open")) == 1
        finally:
            sm.stop()
            handler.close()


@pytest.mark.parametrize("trouble", ["unreachable", "failing", "hanging"])
def test_run_starts_with_one_warning_when_the_api_cannot_be_checked(
    tmp_path: Path, start_run, trouble: str
) -> None:
    with FakeSlack() as slack, Simulator() as simulator:
        api_url = simulator.url
        if trouble == "unreachable":
            api_url = f"http://127.0.0.1:{free_port()}/api/v1"
        elif trouble == "failing":
            simulator.faults.add(Fault(kind="status", status=503, method="GET", times=None))
        else:
            simulator.faults.add(Fault(kind="hang", seconds=60, method="GET"))
        bot = start_run(bot_env(slack, simulator, tmp_path / "run.db", ZEQUENZE_API_URL=api_url))
        bot.wait_for("opsbot is listening")
        assert bot.stop() == 0, bot.output
    warnings = [line for line in bot.lines if " WARNING " in line or " ERROR " in line]
    assert len(warnings) == 1, bot.output
    reason = {"unreachable": "Connection refused", "failing": "HTTP 503", "hanging": "timed out"}
    assert f"could not check the control API at {api_url} (" in warnings[0]
    assert reason[trouble] in warnings[0].split("(", 1)[1]


def test_one_bot_per_database(tmp_path: Path, start_run) -> None:
    db = tmp_path / "opsbot.db"
    with FakeSlack() as slack, Simulator() as simulator:
        env = bot_env(slack, simulator, db)
        first = start_run(env)
        first.wait_for("opsbot is listening")

        # A rolling restart: the same settings, the first still running.
        second = subprocess.run(
            [sys.executable, "-m", "bot", "run"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env=env,
        )
        assert second.returncode == 1
        assert second.stdout == ""
        assert second.stderr == (
            f"opsbot: another opsbot (process {first.process.pid}) is already running with "
            f"OPSBOT_DB={db}; two would take each other's work in hand. Stop that one first, "
            "or set OPSBOT_DB to another file.\n"
        )
        assert first.process.poll() is None
        first.answers(slack, "first")

        backup = subprocess.run(
            [sys.executable, "-m", "bot", "backup", str(tmp_path / "copy.db")],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env=env,
        )
        assert backup.returncode == 0, backup.stderr
        Store(path=tmp_path / "copy.db").close()

        first.stop(signal.SIGKILL)  # the OS releases the lock; nothing else does
        third = start_run(env)
        third.wait_for("opsbot is listening")
        third.answers(slack, "third")
        assert third.stop() == 0, third.output
