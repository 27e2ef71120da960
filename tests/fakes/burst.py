"""Many signed requests at the same moment, as Slack's deliveries arrive, from one thread.

One non-blocking socket per request, driven by a selector: no client thread or HTTP client
library waits for the interpreter's lock between the moment a request is due and the moment
it is sent, so what is measured is the server's time, not the sender's: a thread and an
httpx client per request cost the sender 1 to 2 ms of CPU a request (114 to 214 ms for a
burst of 100), this 0.1 ms. Shared by the HTTP tests and bench/ack_latency.py.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .signing import FORM, signed_headers


@dataclass
class Answer:
    """What became of one request of a burst."""

    status: int | None  # the HTTP status; None if no whole answer came
    seconds: float  # from the burst's start until the whole answer (or the failure)
    failure: str | None = None  # "connection refused", "reset", "no answer within 10 s", ...
    body: bytes = b""


def signed_request(
    url: str, body: str, *, secret: str, content_type: str = FORM, keep_alive: bool = False
) -> bytes:
    """The bytes of a signed POST of `body` to `url` (http://host:port/path), as Slack sends
    it. `keep_alive`: HTTP/1.1's default, the connection left open after the answer; else the
    request asks the server to close it."""
    parts = urlsplit(url)
    data = body.encode()
    headers = {
        "Host": parts.netloc,
        **signed_headers(body, secret=secret, content_type=content_type),
        "Content-Length": str(len(data)),
        "Connection": "keep-alive" if keep_alive else "close",
    }
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"POST {parts.path or '/'} HTTP/1.1\r\n{head}\r\n".encode() + data


@dataclass
class _Connection:
    index: int
    sock: socket.socket
    request: bytes
    connected: bool = False
    sent: int = 0
    received: bytearray = field(default_factory=bytearray)


def burst(
    url: str | Sequence[str],
    requests: list[bytes],
    *,
    timeout: float = 10.0,
    hold: bool = False,
) -> list[Answer]:
    """Open a connection for each of `requests` (from signed_request()) at once, send each as
    soon as its connection opens, and wait for every answer, at most `timeout` seconds from
    the start. `hold`: keep every connection open until every request has its answer (or the
    time is up), as clients that keep their connections alive do; else each is closed as soon
    as its answer is in. Several URLs (replicas behind a load balancer): the requests go to
    each in turn."""
    urls = [url] if isinstance(url, str) else list(url)
    addresses = [
        ((parts.hostname or "127.0.0.1"), (parts.port or 80))
        for parts in (urlsplit(u) for u in urls)
    ]
    answers: list[Answer | None] = [None] * len(requests)
    selector = selectors.DefaultSelector()
    held: list[socket.socket] = []
    start = time.monotonic()

    def finish(conn: _Connection, answer: Answer) -> None:
        answers[conn.index] = answer
        selector.unregister(conn.sock)
        if hold and answer.failure is None:
            held.append(conn.sock)
        else:
            conn.sock.close()

    def fail(conn: _Connection, why: str) -> None:
        finish(conn, Answer(status=None, seconds=time.monotonic() - start, failure=why))

    for index, request in enumerate(requests):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        code = sock.connect_ex(addresses[index % len(addresses)])
        conn = _Connection(index, sock, request)
        selector.register(sock, selectors.EVENT_WRITE, conn)
        if code not in (0, errno.EINPROGRESS):
            fail(conn, os.strerror(code).lower())
    try:
        while selector.get_map():
            left = start + timeout - time.monotonic()
            if left <= 0:
                break
            for key, _ in selector.select(timeout=left):
                conn = key.data
                if not conn.connected:
                    code = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if code:
                        fail(conn, os.strerror(code).lower())
                        continue
                    conn.connected = True
                if conn.sent < len(conn.request):
                    try:
                        conn.sent += conn.sock.send(conn.request[conn.sent :])
                    except OSError as exc:
                        fail(conn, (exc.strerror or type(exc).__name__).lower())
                        continue
                    if conn.sent == len(conn.request):
                        selector.modify(conn.sock, selectors.EVENT_READ, conn)
                    continue
                try:
                    chunk = conn.sock.recv(65536)
                except OSError as exc:
                    fail(conn, (exc.strerror or type(exc).__name__).lower())
                    continue
                conn.received += chunk
                answer = _whole_answer(bytes(conn.received), closed=not chunk)
                if answer is not None:
                    status, body = answer
                    seconds = time.monotonic() - start
                    finish(conn, Answer(status=status, seconds=seconds, body=body))
                elif not chunk:
                    fail(conn, "closed without an answer")
        for key in list(selector.get_map().values()):
            fail(key.data, f"no answer within {timeout:g} s")
    finally:
        selector.close()
        for sock in held:
            sock.close()
    return [a for a in answers if a is not None]


def _whole_answer(data: bytes, *, closed: bool) -> tuple[int, bytes] | None:
    """(status, body) once `data` holds a whole HTTP/1.1 answer: as long as its Content-Length
    says (waitress gives one to a WSGI app's answer in one piece), or whatever came before
    the server closed the connection (`closed`); None until then."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = (line.partition(":") for line in lines[1:])
    length = next((int(v) for k, _, v in fields if k.strip().lower() == "content-length"), None)
    if closed:
        return status, body
    if length is None or len(body) < length:
        return None
    return status, body[:length]
