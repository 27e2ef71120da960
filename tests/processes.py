"""`opsbot run` as a process of its own, in HTTP mode, against the fake Slack and the API
simulator: the bot that dies at a failpoint (tests/test_crash.py), the replicas that share one
database (tests/test_replicas_postgres.py), the bot the benchmarks time (bench/ack_latency.py).

Nothing here imports pytest or the tests' conftest: the benchmarks use it outside pytest.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes import (
    BOT_TOKEN,
    app_mention_body,
    block_actions_body,
    post,
    slash_command_body,
)
from tests.fakes.signing import TRUST

ROOT = Path(__file__).resolve().parent.parent
LISTENING = "opsbot is listening"
# The bot's refusal of a port another process took between free_port() and its bind.
PORT_TAKEN = "cannot listen on port"
START_TRIES = 3
# Settings on a test's time scale: look at operations every 0.2 s, settle unknown outcomes
# after 0.3 s, ask the requester after 1 s.
FAST_SETTINGS = {
    "OPSBOT_POLL_INTERVAL": "0.2",
    "OPSBOT_RECONCILE_DELAY": "0.3",
    "OPSBOT_ASK_AFTER": "1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BotProcess:
    """One `python -m bot run` from the checkout at `repo`, its working folder `folder` (where
    its log is written), the fake Slack at `slack_url` (its base: the Web API is under /api/,
    response URLs under /response_url/) and the simulator at `api_url`. `database`: a SQLite
    file's path (OPSBOT_DB) or a PostgreSQL URL (OPSBOT_DATABASE_URL). Each start picks a
    free port; `env` adds or overrides settings (FAST_SETTINGS for the tests)."""

    def __init__(
        self,
        *,
        folder: Path,
        slack_url: str,
        api_url: str,
        api_token: str,
        secret: str,
        database: str | Path,
        env: Mapping[str, str] | None = None,
        repo: Path = ROOT,
        name: str = "opsbot",
    ) -> None:
        self.folder = folder
        self.slack_url = slack_url.rstrip("/")
        self.api_url = api_url
        self.api_token = api_token
        self.secret = secret
        self.database = str(database)
        self.env = dict(env or {})
        self.repo = repo
        self.name = name
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log = folder / f"{name}.log"
        self._log_from = 0  # where this start's output begins in the log
        self._launched: dict[str, Any] = {}
        self._tries = 0

    def __repr__(self) -> str:
        return f"<{self.name} on port {self.port}>"

    @property
    def on_postgres(self) -> bool:
        return self.database.startswith(("postgresql://", "postgres://"))

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/slack/events"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # ---- starting and stopping

    def start(
        self,
        *,
        failpoint: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 60.0,
    ) -> BotProcess:
        """Start the bot and wait until it listens."""
        return self.launch(failpoint=failpoint, env=env).listening(timeout=timeout)

    def launch(
        self, *, failpoint: str | None = None, env: Mapping[str, str] | None = None
    ) -> BotProcess:
        """Start the bot, not waiting for it: listening() waits (several start together)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._launched = {"failpoint": failpoint, "env": env}
        self._tries = 1
        self.port = free_port()
        self._spawn(failpoint=failpoint, env=env)
        return self

    def listening(self, *, timeout: float = 60.0) -> BotProcess:
        """Waits until the launched bot listens. Its port was picked free, then bound by the
        bot a moment later: if another process took it meanwhile, the bot is started again
        on another port."""
        deadline = time.monotonic() + timeout
        while LISTENING not in (output := self.output()):
            if self.process is not None and self.process.poll() is not None:
                if PORT_TAKEN not in output or self._tries >= START_TRIES:
                    raise RuntimeError(f"{self} ended as it started:\n{output[-3000:]}")
                self._tries += 1
                self.port = free_port()
                self._spawn(**self._launched)
            elif time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"{self} did not start:\n{output[-3000:]}")
            time.sleep(0.05)
        return self

    def _spawn(self, *, failpoint: str | None, env: Mapping[str, str] | None) -> None:
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SLACK_", "ZEQUENZE_", "OPSBOT_"))
            and k.lower() not in ("port", "http_proxy", "https_proxy", "all_proxy")
        }
        database = (
            {"OPSBOT_DATABASE_URL": self.database}
            if self.on_postgres
            else {"OPSBOT_DB": self.database}
        )
        environment = {
            **inherited,
            "PYTHONPATH": str(self.repo),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": self.secret,
            "SLACK_APP_TOKEN": "",
            "SLACK_API_URL": f"{self.slack_url}/api/",
            "ZEQUENZE_API_URL": self.api_url,
            "ZEQUENZE_API_TOKEN": self.api_token,
            "PORT": str(self.port),
            "OPSBOT_FAILPOINT": failpoint or "",
            **database,
            **self.env,
            **(env or {}),
        }
        self._log_from = self.log.stat().st_size if self.log.exists() else 0
        # A file, not a pipe: a pipe nobody reads while the bot runs fills up and stops it.
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "run"],
                cwd=self.folder,
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> str:
        """`kill -9`, as a machine that dies: its output, checked."""
        assert self.process is not None
        self.process.kill()
        return self.died()

    def died(self) -> str:
        """Waits for the bot to die by SIGKILL (a failpoint's or kill()'s): its output."""
        assert self.process is not None
        self.process.wait(timeout=20)
        output = self.output()
        assert self.process.returncode == -signal.SIGKILL, output[-3000:]
        return self.checked(output)

    def terminate(self) -> None:
        """SIGTERM, as a deploy's stop, without waiting: stopped() waits."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stopped(self, *, timeout: float = 30.0) -> str:
        """Waits for the bot to end after terminate(): its output, checked."""
        assert self.process is not None
        self.process.wait(timeout=timeout)
        return self.checked(self.output())

    def stop(self, *, timeout: float = 30.0) -> str:
        """SIGTERM and wait: its output, checked."""
        self.terminate()
        return self.stopped(timeout=timeout)

    def close(self, *, grace: float = 0.0) -> None:
        """Whatever state it is in, ended: SIGTERM and `grace` seconds first, then SIGKILL."""
        if self.process is None or self.process.poll() is not None:
            return
        if grace:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(grace)
                return
        self.process.kill()
        self.process.wait(10)

    def output(self) -> str:
        """What the bot printed since its last start."""
        if not self.log.exists():
            return ""
        with self.log.open("rb") as log:
            log.seek(self._log_from)
            return log.read().decode(errors="replace")

    def checked(self, output: str) -> str:
        """Whatever the bot printed, dying or not, holds none of its secrets, and no
        traceback."""
        for secret in (BOT_TOKEN, self.secret, self.api_token):
            assert secret not in output, f"{self} printed a secret"
        assert "Traceback" not in output, output[-3000:]
        return output

    def cpu(self) -> float:
        """CPU seconds the bot's process has used (user and system)."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    # ---- talking to it as Slack does

    def response_url(self, key: str) -> str:
        return f"{self.slack_url}/response_url/{quote(key, safe='')}"

    def send(self, body: str, *, timeout: float = 10.0) -> httpx.Response | None:
        """POST a signed body; None when no answer came (refused, or cut by a SIGKILL)."""
        try:
            return post(self.url, body, secret=self.secret, timeout=timeout)
        except httpx.TransportError:
            return None

    def command(
        self, text: str, *, key: str, user: str = "U123", channel: str = "C123"
    ) -> httpx.Response | None:
        """`/ops TEXT`; its answers come to the response URL `key`."""
        return self.send(
            slash_command_body(
                text=text, user_id=user, channel_id=channel, response_url=self.response_url(key)
            )
        )

    def click(
        self, action_id: str, value: str, *, key: str, user: str = "U123", channel: str = "C123"
    ) -> httpx.Response | None:
        return self.send(
            block_actions_body(
                action_id=action_id,
                value=value,
                user_id=user,
                channel_id=channel,
                response_url=self.response_url(key),
            )
        )

    def mention(
        self, text: str, *, ts: str, event_id: str, channel: str = "C123", user: str = "U123"
    ) -> httpx.Response | None:
        return self.send(
            app_mention_body(
                text=f"<@U0BOT> {text}", user_id=user, channel_id=channel, ts=ts, event_id=event_id
            )
        )

    # ---- what it says of itself

    def get(self, path: str, *, timeout: float = 5.0) -> httpx.Response | None:
        """GET /healthz, /readyz or /metrics; None when no answer came."""
        try:
            with httpx.Client(trust_env=False, timeout=timeout, verify=TRUST) as client:
                return client.get(f"{self.base}{path}")
        except httpx.TransportError:
            return None

    def metrics(self) -> dict[str, float]:
        """Its /metrics, each sample by name (labels left out: the last sample of a name
        wins); empty when it does not answer."""
        answer = self.get("/metrics")
        if answer is None or answer.status_code != 200:
            return {}
        return {
            sample.name: sample.value
            for family in text_string_to_metric_families(answer.text)
            for sample in family.samples
        }

    def leading(self) -> bool:
        """Its /metrics say it does the background work (`opsbot_leading 1`)."""
        return self.metrics().get("opsbot_leading") == 1


class Replicas:
    """Replicas of one bot on one database, each a process of its own on its own port, as
    behind a load balancer. `make(name)` builds each (a BotProcess not yet started)."""

    def __init__(self, make: Callable[[str], BotProcess]) -> None:
        self._make = make
        self.started: list[BotProcess] = []

    @property
    def running(self) -> list[BotProcess]:
        return [r for r in self.started if r.running]

    def start(self, count: int = 1) -> list[BotProcess]:
        """`count` more replicas, started together; returned once each listens."""
        new = [self._make(f"replica-{len(self.started) + n}") for n in range(1, count + 1)]
        self.started += new
        for replica in new:
            replica.launch()
        return [replica.listening() for replica in new]

    def leader(self, *, timeout: float = 30.0) -> BotProcess:
        """The running replica whose /metrics say it leads, once one does."""
        deadline = time.monotonic() + timeout
        while True:
            leading = [r for r in self.running if r.leading()]
            if len(leading) == 1:
                return leading[0]
            assert len(leading) < 2, f"two replicas lead at once: {leading}"
            if time.monotonic() > deadline:
                raise AssertionError(f"no replica led within {timeout} s: {self.running}")
            time.sleep(0.05)

    def close(self) -> None:
        """Every replica ended (a clean stop, or SIGKILL after 10 s)."""
        for replica in self.running:
            replica.terminate()  # all at once: each stop waits for its rounds
        for replica in self.started:
            replica.close(grace=10.0)
