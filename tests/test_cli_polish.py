"""First-run polish of the `opsbot` command: start-up failures as one sentence, redacted logs,
the demo's refusals, rendering and ending, the simulator's help, and parse's answers."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import say
from bot.console.chat import ConsoleChat, ConsoleNotifier
from bot.console.terminal import Terminal, plain_text
from bot.policy.config import read_config
from bot.policy.groups import StaticGroups
from bot.run.cli import main
from bot.run.logs import Redactor, log_handler
from bot.run.runtime import Runtime
from bot.run.serve import _shut_down
from bot.run.settings import SettingsError, load
from bot.zequenze.simulator.endpoint import Simulator
from bot.zequenze.simulator.faults import Fault
from store import Store
from tests.conftest import SECRET, eventually
from tests.fakes import BOT_TOKEN, FakeSlack

# These tests pick free ports for processes that bind them later: in one group, the suite's
# parallel workers never race each other for a port between picking and binding.
pytestmark = pytest.mark.xdist_group("ports")

ROOT = Path(__file__).resolve().parent.parent
WRONG_BOT_TOKEN = "xoxb-000-111-WrOnGbUtWeLlFoRmEd"
WRONG_APP_TOKEN = "xapp-1-A000-WrOnGaPpToKeN"
API_TOKEN = "zq-api-NeVeRpRiNtEd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def opsbot(*args: str, env: dict[str, str], cwd: Path, timeout: float = 60):
    """`python -m bot ARGS` with only the settings given (none from the developer's shell or
    .env), in a directory of its own."""
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "ZEQUENZE_", "OPSBOT_")) and k != "PORT"
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**inherited, "PYTHONPATH": str(ROOT), **env},
    )


@pytest.fixture
def api() -> Iterator[Simulator]:
    """The control API, answering the start-up check; it takes API_TOKEN."""
    with Simulator(token=API_TOKEN) as simulator:
        yield simulator


def settings_env(tmp_path: Path, api: Simulator, **extra: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "ZEQUENZE_API_TOKEN": API_TOKEN,
        "ZEQUENZE_API_URL": api.url,
        "SLACK_API_URL": f"http://127.0.0.1:{free_port()}/api/",  # nothing listens there
        "OPSBOT_DB": str(tmp_path / "opsbot.db"),
        "PORT": str(free_port()),
        **extra,
    }


def assert_one_sentence(result: subprocess.CompletedProcess[str], *secrets: str) -> str:
    """The command printed one line, `opsbot: …`, and nothing else: no log line before it
    (a library's retries, a warning), no traceback, and no secret."""
    output = result.stdout + result.stderr
    for secret in secrets:
        assert secret not in output
    assert result.stdout == ""
    assert result.stderr.startswith("opsbot: ") and result.stderr.count("\n") == 1, output
    return result.stderr.strip()


# ---------------------------------------------------------------------- 1. settings


def test_run_names_every_missing_setting_in_one_message(tmp_path: Path) -> None:
    result = opsbot("run", env={}, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("opsbot: 3 settings need fixing")
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "ZEQUENZE_API_TOKEN"):
        assert f"{name} is not set" in result.stderr


def test_every_malformed_setting_is_named_at_once(tmp_path: Path) -> None:
    environ = {
        "SLACK_BOT_TOKEN": "xoxp-111-SeCrEtUsErToKeN",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": "ftp://slack.example",
        "PORT": "abc",
        "OPSBOT_POLL_INTERVAL": "nan",
    }
    with pytest.raises(SettingsError) as caught:
        load(environ, dotenv=tmp_path / "absent.env")
    named = [problem.split()[0] for problem in caught.value.problems]
    assert named == [
        "SLACK_BOT_TOKEN",
        "SLACK_API_URL",
        "ZEQUENZE_API_TOKEN",
        "OPSBOT_POLL_INTERVAL",
        "PORT",
    ]
    assert "SeCrEt" not in str(caught.value)


# ---------------------------------------------------------------- 1. start-up failures
# Each check that can fail comes before the database is opened: a failed start leaves no file.


@pytest.mark.parametrize("where", ["missing folder", "a folder"])
def test_run_with_an_unusable_database_says_so_in_one_line(
    tmp_path: Path, api: Simulator, where: str
) -> None:
    db = tmp_path / "nonexistent" / "x.db" if where == "missing folder" else tmp_path
    with FakeSlack() as slack:
        env = settings_env(tmp_path, api, OPSBOT_DB=str(db), SLACK_API_URL=slack.api_url)
        result = opsbot("run", env=env, cwd=tmp_path)
    assert result.returncode == 1
    line = assert_one_sentence(result, BOT_TOKEN, SECRET, API_TOKEN)
    assert f"OPSBOT_DB={db}" in line
    reason = f"the folder {db.parent} does not exist" if where == "missing folder" else "folder"
    assert reason in line
    if where == "a folder":
        assert not Path(f"{db}.lock").exists()  # no lock file left beside the folder


def test_run_with_a_token_slack_refuses_says_which_token(tmp_path: Path, api: Simulator) -> None:
    with FakeSlack() as slack:
        env = settings_env(
            tmp_path, api, SLACK_BOT_TOKEN=WRONG_BOT_TOKEN, SLACK_API_URL=slack.api_url
        )
        result = opsbot("run", env=env, cwd=tmp_path)
        assert [c.response.get("error") for c in slack.calls_to("auth.test")] == ["invalid_auth"]
    assert result.returncode == 1
    line = assert_one_sentence(result, WRONG_BOT_TOKEN, SECRET, API_TOKEN)
    assert "Slack refused SLACK_BOT_TOKEN (invalid_auth)" in line
    assert "Bot User OAuth Token" in line
    assert list(tmp_path.iterdir()) == []  # no database, and no lock file either


def test_run_when_slack_fails_its_check_says_what_slack_answered(
    tmp_path: Path, api: Simulator
) -> None:
    with FakeSlack() as slack:
        slack.fail("auth.test", status=500, times=None)
        env = settings_env(tmp_path, api, SLACK_API_URL=slack.api_url)
        result = opsbot("run", env=env, cwd=tmp_path)
        assert len(slack.calls_to("auth.test")) == 1  # no retries inside slack_sdk
    assert result.returncode == 1
    line = assert_one_sentence(result, BOT_TOKEN, SECRET, API_TOKEN)
    assert "Slack answered internal_error when opsbot started" in line
    assert not (tmp_path / "opsbot.db").exists()


def test_run_with_slack_unreachable_says_where_it_looked(tmp_path: Path, api: Simulator) -> None:
    env = settings_env(tmp_path, api)
    result = opsbot("run", env=env, cwd=tmp_path)
    assert result.returncode == 1
    line = assert_one_sentence(result, BOT_TOKEN, SECRET, API_TOKEN)
    assert f"could not reach Slack at {env['SLACK_API_URL']}" in line
    assert "SLACK_API_URL" in line.split(")", 1)[1]  # what to check comes after the reason
    assert not (tmp_path / "opsbot.db").exists()


def test_run_in_socket_mode_with_a_refused_app_token_says_which_token(
    tmp_path: Path, api: Simulator
) -> None:
    with FakeSlack() as slack:
        slack.fail("apps.connections.open", error="invalid_auth", times=None)
        env = settings_env(
            tmp_path, api, SLACK_APP_TOKEN=WRONG_APP_TOKEN, SLACK_API_URL=slack.api_url
        )
        result = opsbot("run", env=env, cwd=tmp_path)
        assert slack.calls_to("apps.connections.open")
    assert result.returncode == 1
    line = assert_one_sentence(result, WRONG_APP_TOKEN, BOT_TOKEN, SECRET, API_TOKEN)
    assert "Slack refused SLACK_APP_TOKEN (invalid_auth)" in line
    assert not (tmp_path / "opsbot.db").exists()


def test_run_on_a_port_in_use_names_the_port(tmp_path: Path, api: Simulator) -> None:
    with FakeSlack() as slack, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = settings_env(tmp_path, api, SLACK_API_URL=slack.api_url, PORT=str(port))
        result = opsbot("run", env=env, cwd=tmp_path)
    assert result.returncode == 1
    line = assert_one_sentence(result, BOT_TOKEN, SECRET, API_TOKEN)
    assert f"cannot listen on port {port}" in line and "set PORT" in line
    assert not (tmp_path / "opsbot.db").exists()


@pytest.mark.parametrize(
    ("problem", "expected"),
    [
        ("wrong token", "refused ZEQUENZE_API_TOKEN (HTTP 401). Check the token."),
        ("forbidden", "refused ZEQUENZE_API_TOKEN (HTTP 403). Check the token, and that it may"),
        ("a web page", "it answered HTTP 200 without the list of operations. Set ZEQUENZE_API"),
        (
            "wrong path",
            "does not look like the control API: asked for its operations, it "
            "answered HTTP 404. Set ZEQUENZE_API_URL to the API's base",
        ),
    ],
)
def test_run_stops_when_the_api_refuses_its_token_or_is_not_there(
    tmp_path: Path, api: Simulator, problem: str, expected: str
) -> None:
    extra = {"ZEQUENZE_API_TOKEN": "zq-api-WrOnGtOkEn"} if problem == "wrong token" else {}
    if problem == "forbidden":
        api.faults.add(Fault(kind="status", status=403, method="GET"))
    if problem == "a web page":
        api.faults.add(Fault(kind="html", method="GET"))
    if problem == "wrong path":
        extra["ZEQUENZE_API_URL"] = api.url + "v2/"
    with FakeSlack() as slack:
        env = settings_env(tmp_path, api, SLACK_API_URL=slack.api_url, **extra)
        result = opsbot("run", env=env, cwd=tmp_path)
    assert result.returncode == 1
    line = assert_one_sentence(result, BOT_TOKEN, SECRET, API_TOKEN, "zq-api-WrOnGtOkEn")
    assert expected in line
    assert [method for method, _ in api.requests] == ["GET"]  # one check, not retried
    assert "limit=1" in api.requests[0][1]
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "opsbot.db"
    Store(path=path).close()
    monkeypatch.setenv("OPSBOT_DB", str(path))
    monkeypatch.chdir(tmp_path)  # no developer's .env
    return path


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("missing/copy.db", "the folder {tmp}/missing does not exist"),
        ("opsbot.db-file/copy.db", "the folder {tmp}/opsbot.db-file does not exist"),
    ],
)
def test_backup_to_an_impossible_path_says_so_in_one_line(
    capsys: pytest.CaptureFixture[str], database: Path, target: str, reason: str
) -> None:
    (database.parent / "opsbot.db-file").write_text("a file, not a folder")
    path = database.parent / target
    assert main(["backup", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"opsbot: could not write a backup to {path}")
    assert reason.format(tmp=database.parent) in err
    assert not path.exists()


def test_backup_still_copies(capsys: pytest.CaptureFixture[str], database: Path) -> None:
    assert main(["backup", str(database.parent / "copy.db")]) == 0
    assert "backed up" in capsys.readouterr().out
    Store(path=database.parent / "copy.db").close()  # a database SQLite can open


# ------------------------------------------------------------------------ 2. redaction


def raise_with(token: str) -> None:
    raise RuntimeError(f"the server rejected {token}")


def test_log_redaction_covers_tracebacks_and_arguments() -> None:
    secret = "xoxb-999-SeCrEtInAnExCePtIoN"
    out = io.StringIO()
    logger = logging.getLogger("opsbot.test.redaction")
    logger.propagate = False  # the record holds the secret until the handler formats it
    handler = log_handler(Redactor(secrets=[secret]), stream=out)
    logger.addHandler(handler)
    try:
        try:
            raise_with(secret)
        except RuntimeError:
            logger.exception("calling with %s failed", secret)
        logger.warning("where %s was", secret, stack_info=True)
    finally:
        logger.removeHandler(handler)
    printed = out.getvalue()
    assert secret not in printed
    assert "calling with [redacted] failed" in printed
    assert "Traceback (most recent call last)" in printed
    assert "RuntimeError: the server rejected [redacted]" in printed
    assert "Stack (most recent call last)" in printed


# ----------------------------------------------------------------------- 3. shutdown


def test_shutdown_goes_in_the_order_work_flows(tmp_path: Path) -> None:
    order: list[str] = []

    class Stopping:
        def stop(self) -> None:
            order.append("runtime")

    _shut_down(
        stop_serving=lambda: order.append("serving"),
        drain=lambda: order.append("workers"),
        runtime=Stopping(),  # type: ignore[arg-type]
    )
    assert order == ["serving", "workers", "runtime"]


# ------------------------------------------------------------------- 4, 5. arguments


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["demo", "--tz", "Mars/Base"], 'time zone "Mars/Base"'),
        (["parse", "reboot server-01", "--tz", "Mars/Base"], 'time zone "Mars/Base"'),
        (["demo", "--failure-rate", "2"], '"2" is not a share'),
        (["demo", "--failure-rate", "-0.1"], '"-0.1" is not a share'),
        (["demo", "--failure-rate", "nan"], '"nan" is not a share'),
        (["simulator", "--failure-rate", "1.5"], '"1.5" is not a share'),
        (["simulator", "--run-seconds", "-1"], '"-1" is not a number of seconds'),
        (["simulator", "--port", "70000"], '"70000" is not a port'),
        (["parse", "reboot server-01", "--now", "2026-11-25T10:45:00"], "has no time zone"),
        (["parse", "reboot server-01", "--now", "yesterday"], "is not ISO 8601"),
        (["demo", "--group", "S0DBA=bob"], '"S0DBA=bob" is not a user group with its members'),
        (["demo", "--group", "U0002=U0003"], '"U0002=U0003" is not a user group'),
        (["demo", "--group", "S0DBA"], '"S0DBA" is not a user group'),
    ],
)
def test_bad_arguments_are_refused_with_a_reason(
    capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


def test_simulator_help_explains_each_option_with_its_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["simulator", "--help"])
    assert exited.value.code == 0
    words = " ".join(capsys.readouterr().out.split())  # as read, whatever the line breaks
    for option, default in [
        ("--host", "127.0.0.1"),
        ("--port", "8000"),
        ("--token", "sim-token"),
        ("--failure-rate", "0.0"),
        ("--run-seconds", "3.0"),
    ]:
        explained = rf"{option} [A-Z_]+ [a-z][^()]+ \(default: {re.escape(default)}\)"
        assert re.search(explained, words), (option, words)


# ------------------------------------------------------------------------ 4. the demo


@pytest.mark.parametrize(
    ("mrkdwn", "shown"),
    [
        (
            "*Please confirm.* You asked: _reboot server-01 now_",
            "Please confirm. You asked: reboot server-01 now",
        ),
        ("scheduled as `txn_1001` on `server-02`", "scheduled as txn_1001 on server-02"),
        ("_restart my_service on db_01_", "restart my_service on db_01"),
        ("request `r_c75d53060fb6`, 3*4 = 12", "request r_c75d53060fb6, 3*4 = 12"),
        (
            "<!date^1700000000^{date_short_pretty} at {time}|14 Nov 22:13 UTC>",
            "Tue 14 Nov 23:13 CET",
        ),
        ("<!date^soon|the fallback>", "the fallback"),
        ("a &amp; b &lt;b&gt; &amp;lt;", "a & b <b> &lt;"),
        (
            "<@U123> in <#C1|ops>, <!here>: <https://x.test|the page>",
            "@U123 in #ops, @here: the page",
        ),
        ("```block\nof code```", "block\nof code"),
        (
            "ask <!subteam^S0DBA> or <@U0002> in <#C0001>; <!subteam^S1|@dba>",
            "ask @S0DBA or @U0002 in #C0001; @dba",
        ),
    ],
)
def test_mrkdwn_is_rendered_for_the_terminal(mrkdwn: str, shown: str) -> None:
    assert plain_text(mrkdwn, zone=ZoneInfo("Europe/Madrid")) == shown


class Console:
    def __init__(
        self, chat: ConsoleChat, out: io.StringIO, runtime: Runtime, simulator: Simulator
    ) -> None:
        self.chat, self.out, self.runtime, self.simulator = chat, out, runtime, simulator

    def type(self, line: str) -> str:
        start = len(self.out.getvalue())
        assert self.chat.handle(line)
        return self.out.getvalue()[start:]


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    out = io.StringIO()
    terminal = Terminal(out=out, tz="Europe/Madrid")
    with Simulator(run_seconds=0.2) as simulator:
        runtime = Runtime(
            database=str(tmp_path / "demo.db"),
            api_url=simulator.url,
            api_token=simulator.token,
            poll_interval=0.1,
            notifier=ConsoleNotifier(terminal=terminal),
            channel_gap=0.0,
        ).start()
        chat = ConsoleChat(
            service=runtime.service,
            terminal=terminal,
            tz="Europe/Madrid",
            devices=sorted(simulator.inventory),
        )
        yield Console(chat, out, runtime, simulator)
        runtime.stop()


def test_a_leading_ops_is_the_grammar_s_to_strip(console: Console) -> None:
    assert "Please confirm this operation" in console.type("/ops reboot server-01 now")
    refused = console.type("/opsreboot server-01 now")
    assert 'I don\'t know "/opsreboot"' in refused
    assert "Please confirm" not in refused


def test_the_demo_knows_its_devices_from_the_start(console: Console) -> None:
    shown = console.type("REBOOT Server-02 NOW")
    assert "Server-02 is spelled server-02 in the API; using that." in shown
    shown = console.type("reboot server-2 now")
    assert "did you mean server-02" in shown


def test_a_failure_in_the_console_is_a_sentence_and_the_demo_goes_on(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    console.runtime.store.close()  # every read or write now fails, as a broken disk would
    with caplog.at_level(logging.ERROR, logger="bot.console"):
        shown = console.type("reboot server-01 now")
    assert shown.strip() == plain_text(say.track.INTERNAL_ERROR, zone=ZoneInfo("UTC"))
    failure = next(r for r in caplog.records if r.name == "bot.console.chat")
    assert failure.exc_info is not None  # the details are in the log
    assert console.chat.handle("quit") is False  # and the chat still answers


def test_operations_left_scheduled_are_named_when_the_demo_ends(console: Console) -> None:
    console.type("reboot server-01 in 2 hours")
    console.type("confirm")
    console.type("restart nginx on server-02 now")
    console.type("confirm")
    began = time.monotonic()
    console.chat.end(wait=30)
    assert time.monotonic() - began < 15  # no waiting for what cannot finish in time
    [request] = [
        r
        for r in map(console.runtime.store.get_request, console.chat.started)
        if r is not None and r.operations[0].device_name == "server-01"
    ]
    when = request.operations[0].scheduled_at.astimezone(ZoneInfo("Europe/Madrid"))
    out = console.out.getvalue()
    assert f"server-01 · txn_1001 · scheduled · {when:%a %d %b %H:%M} CET" in out
    assert "server-02 · txn_1002" not in out.split("Not finished")[1]  # it did finish
    assert "txn_1002 on server-02 (nginx) is now completed" in out
    assert "stay scheduled in the simulator, which is stopping now" in out
    assert "failed:" not in out  # no failure, no summary


def test_the_demo_ends_with_one_line_naming_what_failed_or_was_not_scheduled(
    console: Console,
) -> None:
    def posts() -> int:
        return [method for method, _ in console.simulator.requests].count("POST")

    console.simulator.failure_rate = 1.0
    console.type("reboot server-03 now")
    console.type("confirm")
    eventually(lambda: posts() == 1, what="the first to be sent (the click only confirms)")
    console.simulator.failure_rate = 0.0
    console.simulator.faults.add(Fault(kind="status", method="POST", status=400))
    console.type("reboot server-07 now")
    console.type("confirm")
    eventually(lambda: posts() == 2, what="the second to be sent")
    console.type("restart nginx on server-02, server-04 now")
    console.type("confirm")
    console.chat.end(wait=30)
    out = console.out.getvalue()
    assert "txn_1001 on server-03 is now failed" in out
    assert "server-07: not scheduled" in out
    assert out.endswith(
        "2 of 4 operations failed: server-03 (txn_1001), server-07 (not scheduled).\n"
    )


def test_demo_greets_with_the_devices_and_ends_without_waiting_in_vain(tmp_path: Path) -> None:
    lines = "reboot server-01 in 2 hours\nconfirm\nrestart nginx on server-02 now\nconfirm\n"
    done = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--run-seconds", "0.3"],
        input=lines,
        capture_output=True,
        text=True,
        timeout=40,  # under the 60 s the demo would have waited for the scheduled reboot
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert (
        "Devices in the simulator: db-01..db-03, router-01, server-01..server-20, "
        "workstation-01..workstation-10." in out
    )
    assert "/ops alone opens a form in Slack only" in out
    assert "You asked: reboot server-01 in 2 hours" in out
    assert "scheduled as txn_1002" in out
    assert "expected to take about 1 s" in out  # as --run-seconds 0.3 makes it
    assert "txn_1002 on server-02 (nginx) is now completed" in out
    assert "`" not in out
    assert "server-01 · txn_1001 · scheduled ·" in out
    assert "Traceback" not in out + done.stderr


# ------------------------------------------------------------------------- 6, 7. parse


@pytest.mark.parametrize("typed", ["list server-01", "status txn_1001", "help"])
def test_parse_says_in_words_that_it_explains_operations_only(
    capsys: pytest.CaptureFixture[str], typed: str
) -> None:
    assert main(["parse", typed]) == 2
    err = capsys.readouterr().err
    assert "Query" not in err
    assert "parse only explains operations (restart, reboot or update)" in err
    assert "list, status and help are answered by the bot itself" in err


def test_parse_takes_now_with_an_offset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "reboot server-01 at 14:00", "--now", "2026-11-25T11:45:00+01:00"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["operations"][0]["scheduled_at"] == "2026-11-25T14:00:00Z"
    assert result["notes"] == []  # 11:45+01:00 is 10:45 UTC: 14:00 has not passed


def test_cancel_alone_drops_the_pending_request_and_cancel_an_id_says_the_api_cannot(
    console: Console,
) -> None:
    assert "Please confirm" in console.type("reboot server-01 now")
    cancelled = console.type("cancel")
    assert cancelled.startswith("Cancelled r_") and "(reboot server-01 now)" in cancelled
    assert cancelled.endswith(": nothing was sent to the API.\n")
    answer = console.type("cancel txn_1001")
    assert "the Zequenze API offers no way to cancel a scheduled operation" in answer
    assert "/ops status txn_1001" in answer


# ---------------------------------------------------------------- the demo with a policy

DEMO_POLICY = """
[access]
admins = ["U0009"]

[[rules]]
operations = ["reboot"]
devices = ["server-*"]
approval = "peer"
approvers = ["S0DBA"]

[[rules]]
operations = ["restart_service"]
devices = ["server-2*"]
requesters = ["S0OPS"]
"""


def test_the_demo_with_a_policy_tries_an_approval_a_dry_run_and_a_freeze(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(DEMO_POLICY)
    lines = [
        "reboot server-01 now",
        "confirm",
        "approve",  # the requester's own
        "as U0002 approve",
        "plan reboot server-02 now",
        "as U0009 freeze server-1* for 1h patching",
        "reboot server-12 now",
        "restart nginx on server-20 now",  # a rule naming a group the demo was not given
        "as bob approve",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--run-seconds", "0.3", "--config", str(policy)]
        + ["--group", "S0DBA=U0002,U0003"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Traceback" not in out + done.stderr
    assert f"Policy: {policy}." in out
    assert "User groups (from [demo] and --group): S0DBA = U0002, U0003." in out
    assert "Unknown here, as there is no Slack to ask: S0OPS." in out
    # The requester confirms; it waits for S0DBA, and the console says how to be one of them.
    assert "this needs an approval from @S0DBA (never you)" in out
    assert "type as U0002 approve, or as U0002 reject" in out
    assert "│ 🔐 Waiting for approval by @S0DBA: 0 of 1." in out
    assert "│ [ Approve ]  [ Reject ]   (type approve or reject)" in out
    before, after = out.split("you> as U0002 approve\n", 1)
    assert "You asked for this yourself, so someone else must approve it." in before
    assert "✅ Approved. Follow it in the thread." in after
    assert "✅ Approved by @U0002." in after
    assert "txn_1001 on server-01 is now completed" in after
    # The dry run: shown, with no buttons, and nothing sent.
    dry_run = after.split("you> plan reboot server-02 now\n", 1)[1].split("you> ")[0]
    assert "Dry run: nothing was recorded or sent." in dry_run
    assert "(type" not in dry_run
    assert "server-02: scheduled" not in out
    # The admin's freeze, then a request it covers.
    assert "🧊 @U0009 froze server-1* until" in out
    assert "server-12 is frozen by @U0009 until" in out
    assert "Slack does not know the user group S0OPS" in out
    assert '"bob" is not a Slack user id' in out
    for markup in ("`", "<@", "<!", "<#"):
        assert markup not in out
    assert "failed" not in out.split("you> as bob approve", 1)[1]


@pytest.mark.parametrize(
    ("content", "shown"),
    [
        (
            '[access]\nadmins = "U0009"\n\n[demo]\nuser = "alice"\n',
            ["2 problems in the policy file", '"alice" is not a user id', "admins must be a list"],
        ),
        (None, ["there is no such file"]),
    ],
)
def test_the_demo_refuses_a_policy_file_that_is_not_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, shown: list[str]
) -> None:
    path = tmp_path / "policy.toml"
    if content is not None:
        path.write_text(content)
    assert main(["demo", "--config", str(path)]) == 1  # as check-config and run refuse it
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing started: no greeting
    assert captured.err.startswith("opsbot: ")
    for words in shown:
        assert words in captured.err
    assert "Traceback" not in captured.err


@pytest.fixture
def policy_console(tmp_path: Path) -> Iterator[Console]:
    """The demo's console under a policy: db-* has a maintenance window that starts in three
    hours, whenever the test runs, so that now is always outside it."""
    start = datetime.now(UTC) + timedelta(hours=3)
    end = start + timedelta(hours=1)
    config = read_config(
        f"""{DEMO_POLICY}
[[windows]]
devices = ["db-*"]
when = "daily {start:%H}:00-{end:%H}:00"
tz = "UTC"
outside = "warn"
""",
        source="policy.toml",
    )
    out = io.StringIO()
    terminal = Terminal(out=out, tz="UTC")
    groups = {"S0DBA": ["U0002"]}
    with Simulator(run_seconds=0.2) as simulator:
        runtime = Runtime(
            database=str(tmp_path / "demo.db"),
            api_url=simulator.url,
            api_token=simulator.token,
            poll_interval=0.1,
            notifier=ConsoleNotifier(terminal=terminal),
            channel_gap=0.0,
            config=config,
            groups=StaticGroups(groups),
        ).start()
        chat = ConsoleChat(
            service=runtime.service,
            terminal=terminal,
            tz="UTC",
            devices=sorted(simulator.inventory),
            groups=groups,
        )
        yield Console(chat, out, runtime, simulator)
        runtime.stop()


def test_move_puts_the_pending_request_into_its_window(policy_console: Console) -> None:
    asked = policy_console.type("restart nginx on db-01 now")
    assert "outside its maintenance window" in asked
    assert "(type confirm, cancel or move)" in asked
    moved = policy_console.type("move")
    assert "Moved into the maintenance window." in moved
    assert "db-01: in its maintenance window" in moved
    assert "(type confirm or cancel)" in moved
    assert "move" not in policy_console.type("confirm")
    assert "moved" not in policy_console.type("move").lower()  # nothing pending any more


def test_each_person_confirms_their_own_and_a_named_request_is_approved(
    policy_console: Console,
) -> None:
    console = policy_console
    console.type("as U0003 reboot server-05 now")
    assert "Nothing is waiting for confirmation" in console.type("confirm")  # not yours
    assert "as U0002 approve" in console.type("as u0003 confirm")  # ids are upper case
    [request_id] = console.chat.started
    console.type("reboot server-06 now")
    console.type("confirm")
    # The newest waits too; naming the older one approves that one.
    assert "Approved. Follow it in the thread." in console.type(f"as U0002 approve {request_id}")
    store = console.runtime.store
    assert [store.get_request(r).state for r in console.chat.started] == [  # type: ignore[union-attr]
        "confirmed",
        "approving",
    ]
    assert "Only @S0DBA may approve or reject" in console.type("as U0004 reject")
    assert "Rejected: nothing will be sent" in console.type("as U0002 reject")
    assert "Nothing is waiting for approval" in console.type("as U0002 approve")
    assert "Say what they type" in console.type("as U0002")
