"""The Slack app: Bolt wired to the service, served over HTTP (waitress) or Socket Mode."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltRequest
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse
from slack_sdk import WebClient
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import create_server

from bot.run.settings import HTTP_BACKLOG, HTTP_CONNECTIONS, HTTP_THREADS
from bot.service import OpsService
from bot.slack.guard import MAX_BODY, PARSED, WsgiApp, guarded_wsgi
from bot.slack.home import HomePublisher
from bot.slack.notifier import ChannelPoster, ZoneLookup
from bot.track.pacing import ChannelPacer
from handlers import Deps, register_all

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


# The work mostly waits: on the API (up to its 10 s timeout) or on Slack. Enough threads that
# a burst of commands is answered in one round of the API's latency rather than two (issue 10:
# 40 `/ops list` at once behind 32 threads waited 4 s): 64 covers 40 at once with room, and
# stays well under what the API client's pool holds (bot.zequenze.api.API_LIMITS), so no
# thread queues for a connection. Bounded: past 64, work queues instead of opening threads.
WORK_THREADS = 64


class Workers:
    """The pool the listeners hand their work to, after the ack. Bounded: beyond what it
    holds, work queues instead of opening more threads."""

    def __init__(self, *, work: int = WORK_THREADS) -> None:
        self.work = ThreadPoolExecutor(max_workers=work, thread_name_prefix="work")

    def shutdown(self) -> None:
        """Wait for the work to drain. Stop serving first (HttpServer.close, or Socket Mode's
        close, which waits for the listeners running): a listener that acked has handed its
        work on by then (an acked mention is never redelivered), and that work runs."""
        self.work.shutdown(wait=True)


def build_app(
    *,
    client: WebClient,
    signing_secret: str,
    service: OpsService,
    pacer: ChannelPacer,
    workers: Workers | None = None,
) -> App:
    """The Bolt app with the bot's listeners: bolt_app() then add_listeners() in one step. Pass
    `workers` to be able to drain them at shutdown."""
    workers = workers or Workers()
    app = bolt_app(client=client, signing_secret=signing_secret)
    add_listeners(app, service=service, pacer=pacer, workers=workers)
    return app


def bolt_app(*, client: WebClient, signing_secret: str) -> App:
    """Bolt alone, with no listeners yet. Bolt checks the bot token here, with auth.test: so
    `opsbot run` builds it before it opens the database, which the service needs."""
    app = App(
        client=client,
        signing_secret=signing_secret,
        # Listeners run in the thread that received the request, and Slack is answered when
        # the listener returns. Every listener here only checks, acks and hands its work to
        # the work pool (handlers.context.Deps.later), so it returns at once. Bolt's default
        # (False) runs each listener in an executor while the request thread polls for its
        # ack every 10 ms (slack_bolt/listener/thread_runner.py): an idle click took 12 ms
        # instead of 2, and at 100 clicks at once the handoffs and polls were a third of the
        # request threads' time. A listener must therefore never wait on Slack or the API
        # before returning: that goes in its work. Socket Mode runs listeners the same way,
        # in its client's threads, and sends the ack when the listener returns.
        process_before_response=True,
        raise_error_for_unhandled_request=False,
    )

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("unhandled error for %s: %r", body.get("type"), error)

    return app


def add_listeners(app: App, *, service: OpsService, pacer: ChannelPacer, workers: Workers) -> None:
    """The bot's listeners, on an app from bolt_app(), handing their work to `workers`; `pacer`
    is the outbox's, so that answers to mentions keep to the same pace per channel."""
    zones = ZoneLookup(client=app.client)
    deps = Deps(
        service=service,
        zones=zones,
        poster=ChannelPoster(client=app.client, pacer=pacer),
        work=workers.work,
        home=HomePublisher(client=app.client, service=service, zones=zones),
    )
    service.watchers.append(deps.home.request_changed)
    register_all(app, deps)


def bolt_wsgi(app: App) -> WsgiApp:
    """Bolt as a WSGI app behind guarded_wsgi, given the body the guard parsed (PARSED), so
    that it is parsed once. Bolt's own WSGI adapter (slack_bolt.adapter.wsgi) would parse it
    again: BoltRequest parses a text body in HTTP mode, and takes an already parsed one only
    in Socket Mode. So the request is built as Socket Mode's, from the dict, then made an HTTP
    request again, with its text: Bolt checks the signature of HTTP requests from that text
    (the guard has checked it first)."""

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        text, body = environ[PARSED]
        request = BoltRequest(
            body=body,
            query=environ.get("QUERY_STRING", ""),
            headers=WsgiHttpRequest(environ).get_headers(),
            mode="socket_mode",
        )
        request.mode, request.raw_body = "http", text
        answer = app.dispatch(request)
        response = WsgiHttpResponse(status=answer.status, headers=answer.headers, body=answer.body)
        start_response(response.status, response.get_headers())
        return response.get_body()

    return wsgi


class _Channel(HTTPChannel):
    """waitress's connection, without its busy loop.

    While a request's task runs, the thread running it sends what it writes itself (waitress
    sends as soon as there is a byte to send), holding the connection's buffer as it does.
    waitress's own writable() says yes all that time, and a socket is nearly always ready to
    write: the server's loop woke, found the buffer held, sent nothing, and went round again,
    holding the interpreter's lock between polls. At 100 requests at once that was up to a
    second of CPU (12,000 loops with nothing done), while the threads it waited for waited
    for the lock. So: nothing for the loop to write while the task's thread holds the buffer;
    it is woken when the task ends, as waitress always does."""

    def writable(self) -> bool:
        if self.requests and self.total_outbufs_len:
            if not self.outbuf_lock.acquire(blocking=False):
                return False
            self.outbuf_lock.release()
        return bool(super().writable())


class WsgiServer:
    """A WSGI app on waitress, a production WSGI server: Bolt's own `app.start()` drops
    connections under concurrency.

    `open_paths` (filled in later with open()): paths answered without the Slack signature
    check (health, readiness, metrics: GET only); every other path goes to `guarded`.

    `threads` answer requests; `connections` is how many connections it holds open at once
    (idle ones kept alive included): beyond it, it stops accepting, and a connection waits in
    the listen queue (`backlog` of them; past that the system refuses them) until one closes.
    Slack retries neither a slash command nor a click, so one kept waiting past 3 s is lost:
    see bot/run/settings.py for the defaults."""

    def __init__(
        self,
        *,
        guarded: WsgiApp,
        host: str = "0.0.0.0",
        port: int = 3000,
        threads: int = HTTP_THREADS,
        connections: int = HTTP_CONNECTIONS,
        backlog: int = HTTP_BACKLOG,
    ) -> None:
        self._open_paths: dict[str, WsgiApp] = {}
        open_paths = self._open_paths

        def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            serve = open_paths.get(environ.get("PATH_INFO", ""))
            return (serve or guarded)(environ, start_response)

        self._server = create_server(
            wsgi,
            host=host,
            port=port,
            threads=threads,
            connection_limit=connections,
            backlog=backlog,
            # poll(), not select(): select() cannot watch a descriptor numbered 1024 or more,
            # which a connection limit near a thousand reaches (the API's and Slack's
            # connections, the database and the log hold descriptors too).
            asyncore_use_poll=True,
            ident="opsbot",
            max_request_body_size=MAX_BODY,
        )
        self._server.channel_class = _Channel
        # Held while close() writes to the server's trigger (a pipe that wakes its loop), and
        # while serve() closes that pipe: see serve().
        self._trigger_lock = threading.Lock()
        self._closing = False

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    @property
    def limits(self) -> tuple[int, int, int]:
        """(threads, connections, backlog), as waitress holds them."""
        adj = self._server.adj
        return adj.threads, adj.connection_limit, adj.backlog

    def open(self, paths: Mapping[str, WsgiApp]) -> None:
        """Serve `paths` unguarded from now on."""
        self._open_paths.update(paths)

    def serve(self) -> None:
        """Blocks until close(); then waits for requests being answered to finish."""
        server = self._server
        server.run()
        server.task_dispatcher.shutdown(cancel_pending=False)
        # The trigger's pipe is closed here, last, and not by the loop: waitress's worker
        # threads write to it whenever they finish a request, and close() writes to it after
        # queueing _close_sockets, so a loop woken in between closed it under a writer (EBADF,
        # or a byte written into whatever reused the descriptor's number). By now the workers
        # are gone, and close() is done writing (it holds the lock while it does).
        with self._trigger_lock:
            self._closing = True
            if not server.task_dispatcher.threads:  # else one may still write: leave it open
                server.trigger.close()

    def close(self) -> None:
        with self._trigger_lock:
            if self._closing:
                return
            self._closing = True
            self._server.trigger.pull_trigger(self._close_sockets)

    def _close_sockets(self) -> None:
        """In the server's loop thread (closing sockets from another thread would pull them out
        from under its select() call): every connection and the listening socket; the trigger
        leaves the loop's map, open, so the loop ends."""
        server = self._server
        for dispatcher in list(server._map.values()):
            if dispatcher is not server and dispatcher is not server.trigger:
                dispatcher.close()
        # Not server.close(): that closes the trigger too.
        wasyncore.dispatcher.close(server)
        server.trigger.del_channel()


class HttpServer(WsgiServer):
    """Bolt behind the guard (bot.slack.guard) at EVENTS_PATH."""

    def __init__(
        self,
        *,
        app: App,
        signing_secret: str,
        host: str = "0.0.0.0",
        port: int = 3000,
        threads: int = HTTP_THREADS,
        connections: int = HTTP_CONNECTIONS,
        backlog: int = HTTP_BACKLOG,
    ) -> None:
        guarded = guarded_wsgi(bolt_wsgi(app), signing_secret=signing_secret, path=EVENTS_PATH)
        super().__init__(
            guarded=guarded,
            host=host,
            port=port,
            threads=threads,
            connections=connections,
            backlog=backlog,
        )


def _not_found(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
    return [b"Not found: this port serves /healthz, /readyz and /metrics\n"]


def health_server(*, host: str = "0.0.0.0", port: int) -> WsgiServer:
    """Socket Mode's listener (OPSBOT_HEALTH_PORT): only the open paths, once opened."""
    return WsgiServer(guarded=_not_found, host=host, port=port, threads=4)


def socket_mode(*, app: App, app_token: str, url: str | None = None) -> SocketModeHandler:
    """`url`: a websocket URL from apps.connections.open already asked for, so connecting
    does not ask again (it is a Tier 1 method). One that has expired meanwhile is no harm:
    the client's monitor asks for a new one when the first connection does not open."""
    handler = SocketModeHandler(app, app_token)
    handler.client.wss_uri = url
    return handler
