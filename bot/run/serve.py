"""`opsbot run`: the Slack bot, from its start-up checks (the policy file, the Slack tokens, the
control API, the database's lock, the port) to its stop on a signal, each stage drained in
turn."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bot import say
from bot.run.failures import fail, path_problem
from bot.run.logs import Redactor, configure_logging
from bot.run.settings import Settings, SettingsError

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.policy.config import PolicyConfig
    from bot.run.runtime import Runtime
    from bot.slack.app import HttpServer, Workers, WsgiServer
    from bot.slack.notifier import BotClient
    from store.lock import DatabaseLock

log = logging.getLogger("opsbot")

API_CHECK_TIMEOUT = 5.0  # seconds; an API slower than this at start is warned about


def run_command(args: argparse.Namespace) -> int:
    from bot.run import settings as settings_module

    try:
        settings = settings_module.load()
    except SettingsError as exc:
        return fail(say.terminal.settings_refused(exc.problems), code=2)
    redact = Redactor(secrets=settings.secrets())
    configure_logging(redact, fmt=settings.log_format)
    # Bolt's App() also takes SLACK_BOT_TOKEN from the environment, and warns on every start
    # that it is unused beside the client that holds it: the settings hold it now.
    os.environ.pop("SLACK_BOT_TOKEN", None)

    try:
        ready = _checked(settings)
    except _Refused as refused:
        return fail(redact(str(refused)))
    # However the rest ends (stopped, or a start that fails after all), the lock goes, and
    # with it its file: nothing is left beside the database.
    try:
        return _serve(settings, ready, redact)
    finally:
        if ready.lock is not None:
            ready.lock.release()


def _serve(settings: Settings, ready: _Ready, redact: Redactor) -> int:
    """The bot, from its database opened to its stop."""
    if settings.database_url:
        return _serve_postgres(settings, ready, redact)
    try:
        runtime = _runtime(settings, ready, database=settings.db_path)
    except sqlite3.Error as exc:
        reason = path_problem(settings.db_path, exc)
        return fail(redact(say.terminal.database_unusable(settings.db_path, reason)))
    return _serve_runtime(runtime, settings, ready)


def _runtime(settings: Settings, ready: _Ready, *, database: str) -> Runtime:
    from bot.run.runtime import Runtime
    from bot.slack.groups import GroupMembers
    from bot.slack.notifier import SlackNotifier
    from bot.track.poller import PollTuning
    from bot.track.tuning import Tuning

    return Runtime(
        database=database,
        api_url=settings.zequenze_api_url,
        api_token=settings.zequenze_api_token,
        poll_interval=settings.poll_interval,
        notifier=SlackNotifier(client=ready.app.client),
        channel_gap=settings.channel_gap,
        tuning=Tuning(
            reconcile_delay=timedelta(seconds=settings.reconcile_delay),
            ask_after=timedelta(seconds=settings.ask_after),
        ),
        poll_tuning=PollTuning(outage_notice=settings.outage_notice),
        config=ready.policy,
        groups=GroupMembers(client=ready.app.client),
    )


def _serve_postgres(settings: Settings, ready: _Ready, redact: Redactor) -> int:
    """The bot on PostgreSQL: no file lock (replicas share the database, and lead by its
    lease); the schema brought up to date first, under the migrations' lock."""
    import psycopg

    from bot.run.settings import redact_url
    from store import StoreUnavailable

    url = settings.database_url or ""
    shown = redact_url(url)
    try:
        runtime = _runtime(settings, ready, database=url)
    except (psycopg.Error, StoreUnavailable) as exc:
        reason = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        return fail(redact(say.terminal.database_url_unusable(shown, reason)))
    log.info("opsbot keeps its state in PostgreSQL at %s", shown)
    return _serve_runtime(runtime, settings, ready)


def _serve_runtime(runtime: Runtime, settings: Settings, ready: _Ready) -> int:
    """The bot, from its runtime assembled to its stop."""
    from bot.slack.app import add_listeners, socket_mode

    if ready.workspace_url:
        # Kept in the database, so that `opsbot audit` can build permalinks offline.
        from bot.run.audit import SLACK_URL

        runtime.store.set_fact(SLACK_URL, ready.workspace_url)
    # Before the bot says it is ready: a SIGTERM that follows at once must stop it cleanly,
    # not kill it half-way with the default action.
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: stopping", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    add_listeners(ready.app, service=runtime.service, pacer=runtime.pacer, workers=ready.workers)
    runtime.start()
    # /healthz, /readyz and /metrics: on PORT, or in Socket Mode on OPSBOT_HEALTH_PORT if set.
    from bot.run.health import observe

    server = ready.server or ready.health_server
    if server is not None:
        server.open(observe(runtime, ready.app.client))

    stop_serving: Callable[[], None]
    if ready.server is None:
        app_token = settings.slack_app_token or ""
        handler = socket_mode(app=ready.app, app_token=app_token, url=ready.socket_url)
        handler.connect()
        log.info("opsbot is running in Socket Mode")
        stop_serving = handler.close
        if server is not None:
            log.info("opsbot serves /healthz, /readyz and /metrics on port %s", server.port)
            stop_serving = _serving(server, then=handler.close)
    else:
        assert server is not None
        threads, connections, backlog = server.limits
        log.info(
            "opsbot is listening on port %s at /slack/events "
            "(%s threads, up to %s connections open, %s more waiting)",
            server.port,
            threads,
            connections,
            backlog,
        )
        stop_serving = _serving(server)

    stopping.wait()
    _shut_down(stop_serving=stop_serving, drain=ready.workers.shutdown, runtime=runtime)
    log.info("opsbot stopped")
    return 0


def _serving(server: WsgiServer, *, then: Callable[[], None] | None = None) -> Callable[[], None]:
    """Serve in a thread; returns what stops it (and then calls `then`)."""
    serving = threading.Thread(target=server.serve, name="http", daemon=True)
    serving.start()

    def close_http() -> None:
        server.close()
        serving.join(timeout=10)
        if then is not None:
            then()

    return close_http


class _Refused(Exception):
    """A start-up check failed; the message is the one line the command ends with."""


@dataclass(frozen=True, kw_only=True)
class _Ready:
    """What the checks leave ready: Bolt (the bot token checked), the lock on the database,
    and either the HTTP server bound to its port or a Socket Mode URL asked for."""

    app: App
    workers: Workers
    lock: DatabaseLock | None  # None on PostgreSQL
    server: HttpServer | None
    socket_url: str
    health_server: WsgiServer | None  # Socket Mode's, with OPSBOT_HEALTH_PORT
    policy: PolicyConfig
    workspace_url: str | None  # from Bolt's auth.test: the audit's permalinks start with it


def _checked(settings: Settings) -> _Ready:
    """Every check that can fail, before the database is opened: a failed start leaves no
    database behind, and a second bot never runs recovery under the first one's feet."""
    from slack_bolt.error import BoltError
    from slack_sdk.errors import SlackApiError

    from bot.slack.app import Workers, bolt_app
    from bot.slack.notifier import web_client
    from store.lock import DatabaseInUse, DatabaseLock

    policy = _policy(settings)
    client = web_client(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    workers = Workers()
    try:
        with _slack_quiet():
            app = bolt_app(  # Bolt checks SLACK_BOT_TOKEN here, with auth.test
                client=client, signing_secret=settings.slack_signing_secret
            )
    except (BoltError, SlackApiError, OSError) as exc:
        raise _Refused(
            _slack_failure(exc, token_name="SLACK_BOT_TOKEN", settings=settings)
        ) from None

    _check_api(settings)

    if settings.database_url:  # replicas share it: no lock, the lease decides who leads
        return _listening(
            settings, client=client, app=app, workers=workers, lock=None, policy=policy
        )
    path = settings.db_path
    if Path(path).is_dir():  # before its lock file lands beside the folder
        raise _Refused(say.terminal.database_unusable(path, say.terminal.IS_A_FOLDER))
    try:
        lock = DatabaseLock(db_path=path)
    except DatabaseInUse as exc:
        raise _Refused(say.terminal.database_in_use(path, exc.pid)) from None
    except OSError as exc:
        raise _Refused(say.terminal.database_unusable(path, path_problem(path, exc))) from None
    try:
        return _listening(
            settings, client=client, app=app, workers=workers, lock=lock, policy=policy
        )
    except BaseException:
        lock.release()  # a start that fails leaves no lock file behind
        raise


def _listening(
    settings: Settings,
    *,
    client: BotClient,
    app: App,
    workers: Workers,
    lock: DatabaseLock | None,
    policy: PolicyConfig,
) -> _Ready:
    """The Socket Mode URL or the HTTP port, asked for with the database's lock held: a second
    bot on this database is told so, whatever else."""
    from slack_sdk.errors import SlackApiError

    from bot.slack.app import HttpServer, health_server

    if settings.socket_mode:
        try:
            with _slack_quiet():
                opened = client.apps_connections_open(app_token=settings.slack_app_token or "")
        except (SlackApiError, OSError) as exc:
            failure = _slack_failure(exc, token_name="SLACK_APP_TOKEN", settings=settings)
            raise _Refused(failure) from None
        socket_url = str(opened["url"])
        health = None
        if settings.health_port is not None:
            try:
                health = health_server(port=settings.health_port)
            except OSError as exc:
                reason = exc.strerror or str(exc)
                raise _Refused(
                    say.terminal.port_unavailable(
                        settings.health_port, reason, setting="OPSBOT_HEALTH_PORT"
                    )
                ) from None
        return _Ready(
            app=app,
            workers=workers,
            lock=lock,
            server=None,
            socket_url=socket_url,
            health_server=health,
            policy=policy,
            workspace_url=client.workspace_url,
        )
    try:
        server = HttpServer(
            app=app,
            signing_secret=settings.slack_signing_secret,
            port=settings.port,
            threads=settings.http_threads,
            connections=settings.http_connections,
            backlog=settings.http_backlog,
        )
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise _Refused(
            say.terminal.port_unavailable(settings.port, reason, setting="PORT")
        ) from None
    return _Ready(
        app=app,
        workers=workers,
        lock=lock,
        server=server,
        socket_url="",
        health_server=None,
        policy=policy,
        workspace_url=client.workspace_url,
    )


def _policy(settings: Settings) -> PolicyConfig:
    """The policy file, first of all: a mistake in it is told before any network call, in
    the words `opsbot check-config` uses."""
    from bot.policy.config import OPEN_POLICY, ConfigError, load_config

    if settings.config_path is None:
        return OPEN_POLICY
    try:
        return load_config(settings.config_path)
    except ConfigError as exc:
        raise _Refused(say.policy.config_refused(exc.problems)) from None


def _check_api(settings: Settings) -> None:
    """One GET of the operations list. A token refused, or an address that is not the API,
    stops the start (_Refused); an API that is down or failing is only warned about: it may
    well be back before anyone asks for an operation."""
    from bot.run.settings import DEFAULT_ZEQUENZE_API_URL
    from bot.zequenze.api import ApiError, ZequenzeClient

    url = settings.zequenze_api_url
    api = ZequenzeClient(
        base_url=url, token=settings.zequenze_api_token, timeout=API_CHECK_TIMEOUT, retries=0
    )
    try:
        api.check()
    except ApiError as exc:
        status = exc.status
        if status in (401, 403):
            raise _Refused(say.terminal.api_token_refused(url, status)) from None
        if status is not None and status < 500 and status != 429:
            answer = (
                f"HTTP {status}" if status >= 400 else say.terminal.api_answer_not_a_list(status)
            )
            raise _Refused(
                say.terminal.api_not_there(url, answer, example=DEFAULT_ZEQUENZE_API_URL)
            ) from None
        cause = exc.__cause__  # the network's own words: "[Errno 111] Connection refused"
        reason = f"HTTP {status}" if status else str(cause or "") or exc.message
        log.warning(say.terminal.api_unchecked(url, reason))
    finally:
        api.close()


@contextmanager
def _slack_quiet() -> Iterator[None]:
    """slack_sdk logs every failed try of a call; during a start-up check that would only
    repeat, line by line, the one line the failed check ends the command with."""
    sdk = logging.getLogger("slack_sdk")
    level = sdk.level
    sdk.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        sdk.setLevel(level)


def _shut_down(
    *, stop_serving: Callable[[], None], drain: Callable[[], None], runtime: Runtime
) -> None:
    """In the order work flows through the bot, so each stage's last work still has the
    next stage to go to."""
    # First, or a request arriving during the drain would start work that nothing waits for.
    stop_serving()
    # Before the runtime: a confirmation being handled writes to the store and wakes the
    # outbox, and cut off mid-way it would be left for the next start to reconcile.
    drain()
    # Last: its final outbox flush then also carries what the drained work announced.
    runtime.stop()


def _slack_failure(exc: BaseException, *, token_name: str, settings: Settings) -> str:
    from slack_sdk.errors import SlackApiError

    from bot.slack.notifier import CREDENTIAL_ERRORS

    # Bolt wraps auth.test's refusal in a BoltError; the SlackApiError inside has the code.
    api_error = exc if isinstance(exc, SlackApiError) else exc.__context__
    if isinstance(api_error, SlackApiError):
        response = api_error.response
        error = str(response.get("error") or f"HTTP {response.status_code}")
        if error in CREDENTIAL_ERRORS:
            return say.terminal.slack_token_refused(token_name, error)
        return say.terminal.slack_startup_error(error)
    if isinstance(exc, OSError):
        reason = getattr(exc, "reason", None) or exc.strerror or exc
        return say.terminal.slack_unreachable(settings.slack_api_url, str(reason))
    return say.terminal.slack_check_failed(token_name, str(exc))
