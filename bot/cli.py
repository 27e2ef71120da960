"""`opsbot`: run the bot, try it in the terminal, run the API simulator, or check a parse."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot import grammar
from bot.model import Plan, Refusal, format_api_time
from bot.settings import SettingsError

log = logging.getLogger("opsbot")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    return args.func(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="opsbot",
        description="Slack chat-ops for Zequenze headless device operations: "
        "/ops restart nginx on server-02 at 14:00",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run the Slack bot (Socket Mode if SLACK_APP_TOKEN is set, else HTTP on PORT)",
        description="Run the Slack bot with the settings from the environment or .env "
        "(see the README). With SLACK_APP_TOKEN it connects over Socket Mode; without it, "
        "it serves HTTP on PORT (default 3000) at /slack/events.",
    )
    run.set_defaults(func=_run)

    demo = sub.add_parser(
        "demo",
        help="try the bot in the terminal against the built-in API simulator (no Slack needed)",
        description="Starts the API simulator and a console chat. Type what you would type "
        "after /ops, then confirm or cancel. With piped input, reads the lines, then waits "
        "(at most 60 s) for the operations it started to finish.",
    )
    demo.add_argument(
        "--tz", default="UTC", help="your time zone, e.g. Europe/Madrid (default UTC)"
    )
    demo.add_argument(
        "--failure-rate", type=float, default=0.0, help="share of operations that fail (0-1)"
    )
    demo.add_argument("--run-seconds", type=float, default=3.0, help="how long each operation runs")
    demo.set_defaults(func=_demo)

    sim = sub.add_parser(
        "simulator",
        help="serve the Zequenze API simulator on its own",
        description="The Zequenze headless-operation API over HTTP, for trying the bot or "
        "its client without the real API.",
    )
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8000)
    sim.add_argument("--token", default="sim-token", help="the Bearer token it accepts")
    sim.add_argument("--failure-rate", type=float, default=0.0)
    sim.add_argument("--run-seconds", type=float, default=3.0)
    sim.set_defaults(func=_simulator)

    backup = sub.add_parser(
        "backup",
        help="copy the bot's database to PATH, safely while the bot runs",
        description="Copies OPSBOT_DB (default opsbot.db) to PATH with SQLite's online backup: "
        "a consistent snapshot even while `opsbot run` is writing.",
    )
    backup.add_argument("path", metavar="PATH", help="where to write the copy")
    backup.set_defaults(func=_backup)

    parse = sub.add_parser(
        "parse",
        help="print what the bot would understand from TEXT, as JSON",
        description='Prints {"operations": [...], "notes": [...]} for TEXT; exit code 2 '
        "with the reason on stderr for text the bot refuses.",
    )
    parse.add_argument("text", metavar="TEXT", help='e.g. "restart nginx on server-02 at 14:00"')
    parse.add_argument("--tz", default="UTC", help="the requester's time zone (default UTC)")
    parse.add_argument("--now", help="fix the clock, ISO 8601 (default: now)")
    parse.set_defaults(func=_parse)
    return parser


def _parse(args: argparse.Namespace) -> int:
    try:
        now = _instant(args.now) if args.now else datetime.now(UTC).replace(microsecond=0)
        command = grammar.parse(args.text, tz=args.tz, now=now)
    except Refusal as refusal:
        print(str(refusal), file=sys.stderr)
        return 2
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if not isinstance(command, Plan):
        print(f"{args.text!r} is a {type(command).__name__}, not an operation.", file=sys.stderr)
        return 2
    result = {
        "operations": [
            {
                "device_name": op.device_name,
                "operation_type": op.operation_type,
                "scheduled_at": format_api_time(op.scheduled_at),
                "parameters": op.parameters,
            }
            for op in command.operations
        ],
        "notes": list(command.notes),
    }
    print(json.dumps(result, indent=2))
    return 0


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--now {text!r} is not ISO 8601, e.g. 2026-11-25T10:45:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _backup(args: argparse.Namespace) -> int:
    from bot.settings import read_dotenv
    from store import Store

    source = os.environ.get("OPSBOT_DB") or read_dotenv(".env").get("OPSBOT_DB") or "opsbot.db"
    if not Path(source).is_file():
        print(f"opsbot: no database at {source} (set OPSBOT_DB)", file=sys.stderr)
        return 2
    if Path(args.path).exists():
        print(f"opsbot: {args.path} exists already; choose a new file", file=sys.stderr)
        return 2
    store = Store(path=source)
    try:
        store.backup(args.path)
    finally:
        store.close()
    print(f"backed up {source} to {args.path}")
    return 0


def _simulator(args: argparse.Namespace) -> int:
    from bot.simulator import serve

    serve(
        host=args.host,
        port=args.port,
        token=args.token,
        inventory=None,
        failure_rate=args.failure_rate,
        run_seconds=args.run_seconds,
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from bot.console import ConsoleChat, ConsoleNotifier, Terminal
    from bot.runtime import Runtime
    from bot.simulator import Simulator

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    terminal = Terminal(out=sys.stdout, tz=args.tz)
    with (
        tempfile.TemporaryDirectory(prefix="opsbot-demo-") as tmp,
        Simulator(failure_rate=args.failure_rate, run_seconds=args.run_seconds) as simulator,
    ):
        runtime = Runtime(
            db_path=str(Path(tmp) / "demo.db"),
            api_url=simulator.url,
            api_token=simulator.token,
            poll_interval=0.5,
            notifier=ConsoleNotifier(terminal=terminal),
            channel_gap=0.0,  # a terminal has no rate limit
        ).start()
        try:
            chat = ConsoleChat(service=runtime.service, terminal=terminal, tz=args.tz)
            interactive = sys.stdin.isatty()
            chat.run(_prompted() if interactive else sys.stdin, interactive=interactive)
            if not interactive and chat.started:
                terminal.say("(waiting for the operations to finish…)")
                if not chat.wait_until_settled(timeout=60):
                    terminal.say("Some operations had not finished after 60 s.")
        finally:
            runtime.stop()
    return 0


def _prompted() -> Iterator[str]:
    while True:
        try:
            yield input("you> ")
        except (EOFError, KeyboardInterrupt):
            return


def _run(args: argparse.Namespace) -> int:
    from bot import settings as settings_module

    try:
        settings = settings_module.load()
    except SettingsError as exc:
        print(f"opsbot: {exc}", file=sys.stderr)
        return 2
    _configure_logging(settings.secrets())

    from bot.app import HttpServer, build_app, work_pool
    from bot.poller import PollTuning
    from bot.runtime import Runtime
    from bot.service import Tuning
    from bot.slack import SlackNotifier, web_client

    client = web_client(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    runtime = Runtime(
        db_path=settings.db_path,
        api_url=settings.zequenze_api_url,
        api_token=settings.zequenze_api_token,
        poll_interval=settings.poll_interval,
        notifier=SlackNotifier(client=client),
        channel_gap=settings.channel_gap,
        tuning=Tuning(reconcile_delay=timedelta(seconds=settings.reconcile_delay)),
        poll_tuning=PollTuning(outage_notice=settings.outage_notice),
    )
    work = work_pool()
    app = build_app(
        client=client,
        signing_secret=settings.slack_signing_secret,
        service=runtime.service,
        work=work,
    )
    runtime.start()
    stopping = threading.Event()
    if settings.socket_mode:
        from bot.app import socket_mode

        handler = socket_mode(app=app, app_token=settings.slack_app_token or "")
        handler.connect()
        log.info("opsbot is running in Socket Mode")
        stop_serving = handler.close
    else:
        server = HttpServer(
            app=app, signing_secret=settings.slack_signing_secret, port=settings.port
        )
        log.info("opsbot is listening on port %s at /slack/events", server.port)
        serving = threading.Thread(target=server.serve, name="http", daemon=True)
        serving.start()

        def stop_serving() -> None:
            server.close()
            serving.join(timeout=10)

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: stopping", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stopping.wait()
    stop_serving()  # no new requests
    work.shutdown(wait=True)  # confirmations being sent finish
    runtime.stop()  # loops end, the outbox is flushed, the database closed
    log.info("opsbot stopped")
    return 0


class _Redact(logging.Filter):
    """Last line of defence: a secret that reaches a log record is replaced before output."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(s in message for s in self._secrets):
            for secret in self._secrets:
                message = message.replace(secret, "[redacted]")
            record.msg, record.args = message, None
        return True


def _configure_logging(secrets: Sequence[str]) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_Redact(secrets))
    logging.basicConfig(level=logging.INFO, handlers=[handler])


if __name__ == "__main__":
    raise SystemExit(main())
