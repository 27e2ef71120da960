"""The `opsbot` command: parse, help, the demo and `run` as real processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bot.cli import main
from bot.simulator import Simulator
from tests.conftest import SECRET, eventually
from tests.fakes import BOT_TOKEN, FakeSlack, post, slash_command_body

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
    for command in ("run", "demo", "simulator", "parse"):
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
    assert "txn_1001 on server-02 is now completed" in out
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


def test_run_serves_http_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    with FakeSlack() as slack, Simulator(run_seconds=0.3) as simulator:
        env = {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_APP_TOKEN": "",
            "SLACK_API_URL": slack.api_url,
            "ZEQUENZE_API_URL": simulator.url,
            "ZEQUENZE_API_TOKEN": simulator.token,
            "OPSBOT_DB": str(tmp_path / "run.db"),
            "OPSBOT_POLL_INTERVAL": "0.2",
            "PORT": str(port),
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            cwd=tmp_path,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            body = slash_command_body(text="list", response_url=slack.response_url("run"))
            url = f"http://127.0.0.1:{port}/slack/events"

            def answered() -> bool:
                try:
                    return post(url, body, secret=SECRET, timeout=2).status_code == 200
                except httpx.TransportError:
                    return False

            eventually(answered, timeout=20, what="opsbot run to answer over HTTP")
            slack.wait_for(lambda cs: any(c.method == "response_url" for c in cs))
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=30)
        assert process.returncode == 0, output
        assert "opsbot stopped" in output
        assert BOT_TOKEN not in output and SECRET not in output and simulator.token not in output
