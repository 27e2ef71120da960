"""HTTP mode under load: 40 slash commands at once, with the API answering in 2 s.

A correctness test, not a timing one: every request must be answered 200 (no connection
dropped or reset, as Bolt's development server did) and every command must get its answer
through the response_url. How fast the acks are is measured in bench/ack_latency.py.
"""

from __future__ import annotations

import threading
import time

import httpx

from bot import say
from bot.zequenze.simulator.faults import Fault
from tests.conftest import SECRET, Bot, eventually
from tests.fakes import signed_headers, slash_command_body
from tests.fakes.signing import TRUST

CONCURRENCY = 40
API_LATENCY = 2.0
COMMANDS = ("list", "reboot server-01 now")


def test_forty_concurrent_commands_are_all_acknowledged_and_answered(bot: Bot) -> None:
    bot.simulator.faults.add(Fault(kind="latency", seconds=API_LATENCY, times=None))
    keys = [f"load-{n:02d}" for n in range(CONCURRENCY)]
    bodies = [
        slash_command_body(
            text=COMMANDS[n % len(COMMANDS)],
            user_id="U123",
            channel_id="C123",
            response_url=bot.slack.response_url(key),
        )
        for n, key in enumerate(keys)
    ]
    start = threading.Barrier(CONCURRENCY)
    outcomes: list[httpx.Response | BaseException | None] = [None] * CONCURRENCY
    ack_seconds = [0.0] * CONCURRENCY

    # One client (so one connection) per request, as separate Slack deliveries.
    clients = [
        httpx.Client(trust_env=False, timeout=10.0, verify=TRUST) for _ in range(CONCURRENCY)
    ]

    def send(n: int) -> None:
        start.wait()
        began = time.monotonic()
        try:
            headers = signed_headers(bodies[n], secret=SECRET)
            outcomes[n] = clients[n].post(bot.url, content=bodies[n].encode(), headers=headers)
        except BaseException as exc:  # a dropped or reset connection lands here
            outcomes[n] = exc
        ack_seconds[n] = time.monotonic() - began

    threads = [threading.Thread(target=send, args=(n,), daemon=True) for n in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15)
    for client in clients:
        client.close()
    print(f"max ack time with {CONCURRENCY} concurrent commands: {max(ack_seconds):.3f} s")

    failed = {
        keys[n]: repr(outcome)
        for n, outcome in enumerate(outcomes)
        if not isinstance(outcome, httpx.Response) or outcome.status_code != 200
    }
    assert not failed, f"{len(failed)} of {CONCURRENCY} requests not acknowledged: {failed}"

    def answered() -> set[str]:
        return {c.args["_key"] for c in bot.slack.calls_to("response_url")} & set(keys)

    try:
        eventually(lambda: len(answered()) == CONCURRENCY, timeout=12.0, what="every answer")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; no answer to {sorted(set(keys) - answered())}") from None
    for key in keys:
        for answer in bot.responses(key):
            assert say.track.INTERNAL_ERROR not in (answer.get("text") or ""), answer


def test_the_api_clients_pool_holds_everyone_who_may_call_at_once() -> None:
    # The work pool, the poller and the sender share Runtime.api: a thread that queued for a
    # connection would wait behind another's slow answer.
    from bot.slack.app import WORK_THREADS
    from bot.track.poller import PollTuning
    from bot.track.tuning import DEFAULT_TUNING
    from bot.zequenze.api import API_LIMITS

    callers = WORK_THREADS + PollTuning().concurrency + DEFAULT_TUNING.send_concurrency
    assert API_LIMITS.max_connections is not None
    assert API_LIMITS.max_connections >= callers
