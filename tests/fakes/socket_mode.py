"""A local Socket Mode server that slack_sdk's Socket Mode clients can connect to.

Wire it up through FakeSlack: ``fake.socket_mode_url = sm.url`` makes
``apps.connections.open`` hand this server's URL to the client.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from .signing import (
    app_mention_payload,
    block_actions_payload,
    slash_command_payload,
    view_submission_payload,
)
from .slack import APP_ID

__all__ = [
    "FakeSocketMode",
    "app_mention_payload",
    "block_actions_payload",
    "slash_command_payload",
    "view_submission_payload",
]

# What Slack sets per envelope type: a response payload is only meaningful where Slack
# shows it to the user (slash command reply, modal validation errors).
_ACCEPTS_RESPONSE = {"slash_commands": True, "interactive": True, "events_api": False}


class FakeSocketMode:
    def __init__(self, *, app_id: str = APP_ID, close_timeout: float = 1.0) -> None:
        self.app_id = app_id
        self.received: list[dict[str, Any]] = []  # every message the client sent, parsed
        self.connection_count = 0  # connections that got a hello, ever
        self._close_timeout = close_timeout
        self._open: list[ServerConnection] = []  # connections that got a hello, oldest first
        self._warned: set[ServerConnection] = set()  # sent "disconnect": Slack sends them no more
        # Seeded: which connection gets a payload is Slack's choice, but a failing test repeats.
        self._choice = random.Random(0)
        self.delivered_to: dict[str, int] = {}  # envelope id -> which connection (its hello number)
        self._numbers: dict[ServerConnection, int] = {}
        self._acks: dict[str, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle

    def start(self) -> FakeSocketMode:
        # compression=None: the built-in client cannot inflate permessage-deflate frames.
        self._server = serve(
            self._serve_connection,
            "127.0.0.1",
            0,
            compression=None,
            close_timeout=self._close_timeout,
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="FakeSocketMode", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeSocketMode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeSocketMode is not started")
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/link"

    # ---- waiting

    def wait_connected(self, timeout: float = 20.0, *, count: int = 1) -> None:
        """Wait until `count` connections in total have been greeted with hello
        (count=2 waits for a reconnect) and one is open."""
        self._wait(
            lambda: self.connection_count >= count and bool(self._open),
            timeout,
            f"{count} Socket Mode connection(s)",
        )

    def wait_ack(self, envelope_id: str, timeout: float = 20.0) -> dict[str, Any]:
        self._wait(lambda: envelope_id in self._acks, timeout, f"ack of {envelope_id}")
        with self._cond:
            return self._acks[envelope_id]

    def acked(self, envelope_id: str) -> dict[str, Any] | None:
        with self._cond:
            return self._acks.get(envelope_id)

    def _wait(self, ready: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not ready():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"FakeSocketMode: no {what} within {timeout}s; "
                        f"connections={self.connection_count} open={len(self._open)} "
                        f"received={self.received!r}"
                    )
                self._cond.wait(remaining)

    # ---- sending

    def send_envelope(
        self,
        *,
        type: str,
        payload: dict[str, Any],
        envelope_id: str | None = None,
        accepts_response_payload: bool | None = None,
        retry_attempt: int = 0,
        connection: int | None = None,
    ) -> str:
        """Send an envelope ("slash_commands", "interactive", "events_api") to ONE of the open
        connections, as Slack does with an app's several connections (replicas each open one):
        picked at random among those not warned of a disconnect, or the one whose hello was
        number `connection` (1 for the first ever greeted). accepts_response_payload defaults
        to what Slack sets for the type."""
        envelope_id = envelope_id or str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": type,
            "payload": payload,
            "accepts_response_payload": (
                _ACCEPTS_RESPONSE.get(type, False)
                if accepts_response_payload is None
                else accepts_response_payload
            ),
        }
        if type == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = "timeout" if retry_attempt else ""
        target = self._pick(connection)
        with self._cond:
            self.delivered_to[envelope_id] = self._numbers[target]
        target.send(json.dumps(envelope))
        return envelope_id

    def send_disconnect(self, reason: str = "refresh_requested") -> None:
        """Slack's warning that it will drop this connection; clients reconnect on it.

        slack_sdk's built-in client only reads the new connection once the old one's
        3 s recv timeout has run out: an envelope sent right after wait_connected(count=2)
        is acked about 3 s late.
        """
        current = self._current()
        with self._cond:
            self._warned.add(current)
        current.send(
            json.dumps({"type": "disconnect", "reason": reason, "debug_info": {"host": "fake"}})
        )

    def drop(self, code: int = 1001) -> None:
        """Close the newest connection from the server side, as a Slack restart would.

        slack_sdk's built-in client reconnects only on its next state check, i.e. after
        up to ping_interval (10 s with SocketModeHandler's default); send_disconnect()
        makes it reconnect at once.
        """
        self._current().close(code)

    def _current(self) -> ServerConnection:
        with self._cond:
            if not self._open:
                raise AssertionError("FakeSocketMode: no client connected")
            return self._open[-1]

    def _pick(self, number: int | None) -> ServerConnection:
        with self._cond:
            if number is not None:
                for conn in self._open:
                    if self._numbers[conn] == number:
                        return conn
                raise AssertionError(f"FakeSocketMode: connection {number} is not open")
            live = [conn for conn in self._open if conn not in self._warned] or self._open
            if not live:
                raise AssertionError("FakeSocketMode: no client connected")
            return self._choice.choice(live)

    # ---- server side of one connection (runs in the server's thread per connection)

    def _serve_connection(self, conn: ServerConnection) -> None:
        with self._cond:
            hello = self._hello()
        try:
            conn.send(json.dumps(hello))
            with self._cond:
                self._open.append(conn)
                self.connection_count += 1
                self._numbers[conn] = self.connection_count
                self._cond.notify_all()
            for raw in conn:
                self._record(raw)
        except ConnectionClosed:
            pass  # the built-in client closes its socket without a close frame
        finally:
            with self._cond:
                if conn in self._open:
                    self._open.remove(conn)
                self._warned.discard(conn)
                self._cond.notify_all()

    def _record(self, raw: str | bytes) -> None:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            message = {"_raw": text}
        with self._cond:
            self.received.append(message)
            envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
            if envelope_id:
                self._acks[str(envelope_id)] = message
            self._cond.notify_all()

    def _hello(self) -> dict[str, Any]:
        return {
            "type": "hello",
            "num_connections": len(self._open) + 1,
            "debug_info": {
                "host": "applink-fake",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.app_id},
        }
