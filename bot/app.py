"""The Slack app: Bolt wired to the service, served over HTTP (waitress) or Socket Mode."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from waitress import wasyncore
from waitress.server import create_server

from bot.guard import MAX_BODY, guarded_wsgi
from bot.service import OpsService
from bot.slack import ZoneLookup
from handlers import Deps, register_all

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


def build_app(
    *,
    client: WebClient,
    signing_secret: str,
    service: OpsService,
    work: ThreadPoolExecutor | None = None,
) -> App:
    """The Bolt app. Pass `work` (the pool handlers hand their work to after the ack) to be
    able to wait for it at shutdown."""
    app = App(
        client=client,
        signing_secret=signing_secret,
        process_before_response=False,  # ack first; the work goes on in the listener pool
        listener_executor=ThreadPoolExecutor(max_workers=16, thread_name_prefix="listener"),
        raise_error_for_unhandled_request=False,
    )

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("unhandled error for %s: %r", body.get("type"), error)

    deps = Deps(service=service, zones=ZoneLookup(client=client), work=work or work_pool())
    register_all(app, deps)
    return app


def work_pool() -> ThreadPoolExecutor:
    """Bounded: beyond 32 requests in flight, work queues instead of opening more threads."""
    return ThreadPoolExecutor(max_workers=32, thread_name_prefix="work")


class HttpServer:
    """Bolt on waitress, a production WSGI server: Bolt's own `app.start()` drops connections
    under concurrency."""

    def __init__(
        self,
        *,
        app: App,
        signing_secret: str,
        host: str = "0.0.0.0",
        port: int = 3000,
        threads: int = 16,
    ) -> None:
        wsgi = guarded_wsgi(
            SlackRequestHandler(app), signing_secret=signing_secret, path=EVENTS_PATH
        )
        self._server = create_server(
            wsgi,
            host=host,
            port=port,
            threads=threads,
            ident="opsbot",
            max_request_body_size=MAX_BODY,
        )

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    def serve(self) -> None:
        """Blocks until close(); then waits for requests being answered to finish."""
        self._server.run()
        self._server.task_dispatcher.shutdown(cancel_pending=False)

    def close(self) -> None:
        # Sockets are closed from the server's own loop thread: closing them from here would
        # pull them out from under its select() call.
        server = self._server
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))


def socket_mode(*, app: App, app_token: str) -> SocketModeHandler:
    return SocketModeHandler(app, app_token)
