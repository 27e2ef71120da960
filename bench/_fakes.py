"""The fake Slack and the API simulator in a process of their own, for benchmarks whose bot runs
as `opsbot run` processes (tests/processes.py): their CPU is not the bot's, nor the generator's.
The bench asks them over a pipe what they saw.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from bot.zequenze.simulator.endpoint import Simulator
from bot.zequenze.simulator.faults import Fault
from tests.fakes import FakeSlack

# What a Slack call is reduced to for the bench: the whole of 2,000 devices' blocks would
# cross the pipe at every look otherwise.
CALL_ARGS = ("channel", "thread_ts", "text", "ts", "_key")


class _Timed(Simulator):
    """Keeps the moment of each POST it accepted (time.monotonic: one clock for every process
    on Linux)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.post_times: list[float] = []

    def _create(self, body: bytes) -> Any:
        answer = super()._create(body)
        if answer.status == 201:
            self.post_times.append(time.monotonic())
        return answer


def _serve(conn: Any, users: dict[str, dict[str, Any]], limits: bool, sim: dict[str, Any]) -> None:
    unlimited = {
        "post_rate": None,
        "update_rate": None,
        "response_url_uses": None,
        "response_url_lifetime": None,
    }
    slack = FakeSlack(users=users, **({} if limits else unlimited))
    with slack, _Timed(**sim) as simulator:
        conn.send((slack.base_url, simulator.url, simulator.token))
        while True:
            what, arg = conn.recv()
            if what == "stop":
                return
            if what == "latency":
                simulator.faults.clear()
                if arg:
                    simulator.faults.add(Fault(kind="latency", seconds=arg, times=None))
                conn.send(None)
            elif what == "answers":  # the first answer to each of these response_url keys
                wanted, first = set(arg), {}
                for call in slack.calls_to("response_url"):
                    key = call.args.get("_key")
                    if key in wanted and key not in first:
                        first[key] = (call.at, call.args)
                conn.send(first)
            elif what == "post_count":
                conn.send(simulator.post_count)
            elif what == "posts":  # every POST's moment, and the device of each operation
                devices = [op["device_name"] for op in simulator.operations()]
                conn.send((list(simulator.post_times), devices))
            elif what == "calls":  # Slack's calls of these methods since call number `start`
                methods, start = arg
                conn.send(
                    (
                        len(slack.calls),
                        slack.rate_limited,
                        [
                            (
                                c.method,
                                c.at,
                                c.status,
                                {k: c.args[k] for k in CALL_ARGS if k in c.args},
                                c.response.get("ts") if isinstance(c.response, dict) else None,
                            )
                            for c in slack.calls[start:]
                            if c.method in methods
                        ],
                    )
                )


class Fakes:
    """The fake Slack (`limits`: Slack's own rate limits, as tests/fakes/slack.py enforces them;
    otherwise none) and the simulator (`simulator`: its keyword arguments) in a child process."""

    def __init__(
        self,
        *,
        users: dict[str, dict[str, Any]],
        limits: bool = False,
        simulator: dict[str, Any] | None = None,
    ) -> None:
        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe()
        sim = {"run_seconds": 0.4, "seed": 7, **(simulator or {})}
        self._process = context.Process(
            target=_serve, args=(child, users, limits, sim), daemon=True
        )
        self._process.start()
        self.slack_url, self.api_url, self.api_token = self._conn.recv()

    def _ask(self, what: str, arg: Any = None) -> Any:
        self._conn.send((what, arg))
        return self._conn.recv()

    def response_url(self, key: str) -> str:
        return f"{self.slack_url}/response_url/{quote(key, safe='')}"

    def api_latency(self, seconds: float) -> None:
        self._ask("latency", seconds)

    def answers(self, keys: list[str]) -> dict[str, tuple[float, dict[str, Any]]]:
        return self._ask("answers", keys)

    def wait_answers(
        self, keys: list[str], *, deadline: float
    ) -> dict[str, tuple[float, dict[str, Any]]]:
        while True:
            found = self.answers(keys)
            if len(found) == len(keys) or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def post_count(self) -> int:
        """The operations the simulator created (POSTs it accepted)."""
        return self._ask("post_count")

    def posts(self) -> tuple[list[float], list[str]]:
        """The moment of each POST the simulator accepted, in order, and each operation's
        device."""
        return self._ask("posts")

    def calls(
        self, methods: Sequence[str], *, start: int = 0
    ) -> tuple[int, int, list[tuple[str, float, int, dict[str, Any], str | None]]]:
        """Slack's calls so far, its 429s, and each call of `methods` from call `start` on:
        (method, moment, HTTP status, its channel/thread_ts/text/ts arguments, the ts
        answered)."""
        return self._ask("calls", (list(methods), start))

    def stop(self) -> None:
        self._conn.send(("stop", None))
        self._process.join(10)
