"""HttpServer (Bolt on waitress) stops cleanly while requests are still being answered."""

from __future__ import annotations

import errno
import logging
import socket
import sys
import threading
from collections.abc import Iterator

import pytest
from slack_bolt import App

from bot.slack.app import HttpServer
from tests.conftest import eventually
from tests.fakes import BOT_TOKEN

SECRET = "test-signing-secret"
ROUNDS = 400
IN_FLIGHT = 6


@pytest.fixture
def app() -> App:
    # No listener is reached: the guard answers every request below (404) before Bolt.
    return App(token=BOT_TOKEN, signing_secret=SECRET, token_verification_enabled=False)


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    # The race is between two Python threads: switching between them far more often than
    # every 5 ms makes it show within a few hundred stops instead of one in many test runs.
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def send_without_waiting(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=2)
    sock.sendall(b"GET /nowhere HTTP/1.1\r\nHost: opsbot\r\n\r\n")
    return sock


@pytest.mark.usefixtures("frequent_thread_switches")
def test_close_while_requests_finish_never_touches_a_closed_descriptor(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    """waitress's worker threads pull the server's trigger (a pipe) as they finish a request;
    a pull that wakes the loop while close() is between queueing its shutdown and writing to
    the pipe let the loop close the pipe first: close() then wrote to a closed descriptor
    (EBADF, the test_hostile teardown flake), or to whatever had reused its number."""
    caplog.set_level(logging.ERROR, logger="waitress")
    failures: list[str] = []
    for _ in range(ROUNDS):
        server = HttpServer(app=app, signing_secret=SECRET, host="127.0.0.1", port=0, threads=4)
        serving = threading.Thread(target=server.serve, daemon=True)
        serving.start()
        clients = [send_without_waiting(server.port) for _ in range(IN_FLIGHT)]
        try:
            server.close()
        except OSError as exc:
            failures.append(repr(exc))
        serving.join(10)
        for client in clients:
            client.close()
        assert not serving.is_alive(), "serve() did not return after close()"
    assert failures == []
    # Nor did a worker thread finishing its request write to a closed pipe. (waitress also logs
    # an AttributeError for an answer whose connection the stop closed first: not this.)
    stale = [r.getMessage() for r in caplog.records if r.exc_info and _closed_descriptor(r)]
    assert stale == []


def _closed_descriptor(record: logging.LogRecord) -> bool:
    exc = record.exc_info[1] if record.exc_info else None
    return isinstance(exc, OSError) and exc.errno == errno.EBADF


def test_close_survives_a_worker_waking_the_loop_just_before_it_writes(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same race, made certain: a worker thread's pull lands after close() queued its work
    for the loop and before close() writes to the pipe itself."""
    server = HttpServer(app=app, signing_secret=SECRET, host="127.0.0.1", port=0)
    serving = threading.Thread(target=server.serve, daemon=True)
    serving.start()
    trigger = server._server.trigger
    write = trigger._physical_pull

    def a_worker_pulls_first() -> None:
        write()  # what a worker thread does as it finishes a request
        eventually(lambda: not trigger.thunks, timeout=5, what="the loop to run close()'s work")
        write()  # close()'s own write, now after the loop has woken

    monkeypatch.setattr(trigger, "_physical_pull", a_worker_pulls_first)
    server.close()
    serving.join(10)
    assert not serving.is_alive()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1)


def test_close_twice_and_after_serve_returned_is_harmless(app: App) -> None:
    server = HttpServer(app=app, signing_secret=SECRET, host="127.0.0.1", port=0)
    serving = threading.Thread(target=server.serve, daemon=True)
    serving.start()
    server.close()
    serving.join(10)
    assert not serving.is_alive()
    server.close()  # the pipe is closed by now: nothing is written to it
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1)
