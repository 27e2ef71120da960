"""`opsbot`: run the bot, try it in the terminal, run the API simulator, or check a parse.

Every failure a person can cause or meet (a setting, a path, Slack refusing a token or being
unreachable) ends the command with one sentence naming the problem, never a traceback, and
never a token.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import signal
import sqlite3
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO
from urllib.parse import urlsplit

from pythonjsonlogger.json import JsonFormatter

from bot import say
from bot.model import Plan, Refusal
from bot.run.settings import DEFAULT_DB, Settings, SettingsError
from bot.understand import grammar
from bot.understand.when import zone_for

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.policy.config import PolicyConfig
    from bot.run.runtime import Runtime
    from bot.slack.app import HttpServer, Workers, WsgiServer
    from bot.slack.notifier import BotClient
    from store.lock import DatabaseLock

log = logging.getLogger("opsbot")

DEMO_WAIT = 60  # seconds the demo waits, after piped input, for its operations to end
API_CHECK_TIMEOUT = 5.0  # seconds; an API slower than this at start is warned about


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130  # Ctrl-C during start-up: the person asked to stop, no traceback wanted


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
        "(see docs/running.md). With SLACK_APP_TOKEN it connects over Socket Mode; without it, "
        "it serves HTTP on PORT (default 3000) at /slack/events. First it checks every "
        "setting, the Slack tokens, the control API's token, that no other opsbot runs on "
        "the same OPSBOT_DB, and the port, and stops with one line if one is wrong.",
    )
    run.set_defaults(func=_run)

    demo = sub.add_parser(
        "demo",
        help="try the bot in the terminal against the built-in API simulator (no Slack needed)",
        description="Starts the API simulator and a console chat. Type what you would type "
        "after /ops, then confirm or cancel; `as U0002 approve` types a line as someone else. "
        "With piped input, reads the lines, then waits "
        f"(at most {DEMO_WAIT} s) for the operations it started to finish.",
    )
    demo.add_argument(
        "--tz",
        type=_zone,
        default="UTC",
        help="your time zone, e.g. Europe/Madrid (default: %(default)s)",
    )
    demo.add_argument(
        "--config",
        metavar="FILE",
        help="a policy file to apply, checked as `opsbot check-config` does (default: none, "
        "everyone may do everything)",
    )
    demo.add_argument(
        "--group",
        metavar="S…=U…,U…",
        type=_group,
        action="append",
        default=[],
        help="a user group's members, as Slack would tell them, e.g. S0DBA=U0002,U0003; "
        "repeatable, and in place of the group's members in the policy file's [demo] table. "
        "A group the policy names and neither gives is unknown, and refused",
    )
    demo.add_argument(
        "--as",
        dest="user",
        metavar="U…",
        type=_user,
        help="who you are, a Slack user id like U0001 (default: [demo] user's in the policy "
        'file, else "you")',
    )
    demo.add_argument(
        "--channel",
        metavar="C…",
        type=_channel,
        help="the channel you type in, like C0001 (default: [demo] channel's, else the first "
        "the policy allows requests in, else console)",
    )
    demo.add_argument(
        "--fail",
        metavar="DEVICE",
        type=_device,
        action="append",
        default=[],
        help="a device whose operations fail in the simulator, to see a request in waves halt; "
        "repeatable, in place of [demo] fail's",
    )
    demo.add_argument(
        "--db",
        metavar="PATH",
        help="keep the demo's database in this SQLite file (created if missing; a second "
        "demo goes on with what it holds), for `opsbot audit --db PATH` afterwards "
        "(default: a temporary one, gone when the demo ends)",
    )
    _simulation_arguments(demo)
    demo.set_defaults(func=_demo)

    sim = sub.add_parser(
        "simulator",
        help="serve the Zequenze API simulator on its own",
        description="The Zequenze headless-operation API over HTTP, for trying the bot or "
        "its client without the real API. Ctrl-C stops it.",
    )
    sim.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default: %(default)s)"
    )
    sim.add_argument(
        "--port",
        type=_port,
        default=8000,
        help="the port to listen on; 0 picks a free one (default: %(default)s)",
    )
    sim.add_argument(
        "--token", default="sim-token", help="the Bearer token it accepts (default: %(default)s)"
    )
    _simulation_arguments(sim)
    sim.set_defaults(func=_simulator)

    backup = sub.add_parser(
        "backup",
        help="copy the bot's database to PATH, safely while the bot runs",
        description=f"Copies OPSBOT_DB (default {DEFAULT_DB}) to PATH with SQLite's online "
        "backup: a consistent snapshot even while `opsbot run` is writing. A bot on "
        "PostgreSQL (OPSBOT_DATABASE_URL) is backed up with pg_dump instead.",
    )
    backup.add_argument("path", metavar="PATH", help="where to write the copy (a new file)")
    backup.set_defaults(func=_backup)

    migrate = sub.add_parser(
        "migrate",
        help="bring the database's schema up to date, and name what was applied",
        description="Applies the schema migrations the database has not had yet: "
        "PostgreSQL's at OPSBOT_DATABASE_URL when it is set (under a lock, so that replicas "
        "starting together migrate once), else the SQLite file --db, OPSBOT_DB or "
        f"{DEFAULT_DB} (created if missing). A database already up to date is left as it is.",
    )
    migrate.add_argument(
        "--db",
        metavar="PATH",
        help="the SQLite file to migrate, whatever OPSBOT_DATABASE_URL says (default: "
        f"OPSBOT_DB's, else {DEFAULT_DB})",
    )
    migrate.set_defaults(func=_migrate)

    copy_db = sub.add_parser(
        "copy-db",
        help="copy the SQLite database, every row, into a new PostgreSQL database",
        description="Copies every request, operation, wave, approval, freeze, outbox message, "
        "audit line and the rest of the SQLite file --db, OPSBOT_DB or "
        f"{DEFAULT_DB} into the PostgreSQL database --to (migrated first; it must hold no "
        "opsbot data), in one transaction, ids kept; then counts every table on both sides "
        "and prints the counts. Stop the bot first: a running one is refused, since what it "
        "did after the copy would not be in PostgreSQL. The file is only read. Then set "
        "OPSBOT_DATABASE_URL to the same URL and start the bot.",
    )
    copy_db.add_argument(
        "--to",
        metavar="URL",
        required=True,
        help="the PostgreSQL database, like postgresql://opsbot@db.example.com/opsbot; its "
        "password may be left out and given in PGPASSWORD, away from the process list",
    )
    copy_db.add_argument(
        "--db",
        metavar="PATH",
        help=f"the SQLite file to copy (default: OPSBOT_DB's, else {DEFAULT_DB})",
    )
    copy_db.set_defaults(func=_copy_db)

    audit = sub.add_parser(
        "audit",
        help="print the audit trail: requests, refusals, confirmations, API calls and answers",
        description="Prints the audit trail of the PostgreSQL database at "
        f"OPSBOT_DATABASE_URL when it is set, else of OPSBOT_DB (default {DEFAULT_DB}), oldest "
        "first, without changing the database (safe while the bot runs). JSON and CSV lines "
        "carry the Slack permalink of their request where there is one.",
    )
    audit.add_argument(
        "--since",
        metavar="WHEN",
        help="only lines from then on: 2026-11-20 (from midnight UTC), an ISO time with its "
        "zone (2026-11-20T09:00:00+01:00), or a time ago (7d, 24h, 30m)",
    )
    audit.add_argument(
        "--format",
        choices=("text", "json", "csv"),
        default="text",
        help="text: a short sentence each (who did what to which request); json: one JSON "
        "object per line, every detail; csv: a header and a row each (default: %(default)s)",
    )
    audit.add_argument(
        "--db",
        metavar="PATH",
        help="the SQLite file to read, whatever OPSBOT_DATABASE_URL says, e.g. the one "
        f"`opsbot demo --db PATH` kept (default: OPSBOT_DB's, else {DEFAULT_DB})",
    )
    audit.set_defaults(func=_audit)

    parse = sub.add_parser(
        "parse",
        help="print what the bot would understand from TEXT, as JSON",
        description='Prints {"operations": [...], "notes": [...]} for TEXT; exit code 2 '
        "with the reason on stderr for text the bot refuses.",
    )
    parse.add_argument("text", metavar="TEXT", help='e.g. "restart nginx on server-02 at 14:00"')
    parse.add_argument(
        "--tz",
        type=_zone,
        default="UTC",
        help="the requester's time zone (default: %(default)s)",
    )
    parse.add_argument(
        "--now",
        type=_instant,
        help="fix the clock: ISO 8601 with Z or an offset, e.g. 2026-11-25T10:45:00Z "
        "(default: the current time)",
    )
    parse.add_argument(
        "--config",
        metavar="FILE",
        help="read the operations, groups and limits of this policy file "
        "(default: OPSBOT_CONFIG's, if set; else the built-in operations, no groups)",
    )
    parse.set_defaults(func=_parse)

    check = sub.add_parser(
        "check-config",
        help="check a policy file (default: OPSBOT_CONFIG) and name every mistake",
        description="Reads the policy file and names the line or key of every mistake; "
        "exit code 0 when it is valid, 1 when it is not. `opsbot run` checks it the same "
        "way and refuses to start on a file that is not valid.",
    )
    check.add_argument(
        "path", metavar="PATH", nargs="?", help="the file (default: OPSBOT_CONFIG's)"
    )
    check.set_defaults(func=_check_config)
    return parser


def _simulation_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--failure-rate",
        type=_share,
        default=0.0,
        help="the share of operations that fail, from 0 to 1 (default: %(default)s)",
    )
    parser.add_argument(
        "--run-seconds",
        type=_seconds,
        default=3.0,
        help="how long each operation runs once started, in seconds (default: %(default)s)",
    )


# Argument types: argparse turns their ArgumentTypeError into "opsbot X: error: ..." and exit 2.


def _zone(value: str) -> str:
    try:
        zone_for(value)
    except ValueError:
        raise argparse.ArgumentTypeError(say.time.unknown_zone(value)) from None
    return value


def _share(value: str) -> float:
    return _from_zero(value, to=1.0, refusal=say.terminal.not_a_share)


def _seconds(value: str) -> float:
    return _from_zero(value, to=math.inf, refusal=say.terminal.not_seconds)


def _from_zero(value: str, *, to: float, refusal: Callable[[str], str]) -> float:
    """A finite number from 0 to `to`, or the refusal naming what was given."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and 0 <= number <= to):
        raise argparse.ArgumentTypeError(refusal(value))
    return number


def _group(value: str) -> tuple[str, tuple[str, ...]]:
    """`S0DBA=U0002,U0003`: a user group and its members, for the demo's StaticGroups."""
    from bot.console.chat import person

    group, _, listed = value.partition("=")
    members = tuple(person(m.strip()) or "" for m in listed.split(","))
    if not re.fullmatch(r"S[A-Z0-9]+", group.strip()) or not all(members):
        raise argparse.ArgumentTypeError(say.terminal.demo_bad_group(value))
    return group.strip(), members


def _user(value: str) -> str:
    from bot.console.chat import SLACK_USER

    if not SLACK_USER.fullmatch(value.upper()):
        raise argparse.ArgumentTypeError(say.terminal.demo_bad_user(value))
    return value.upper()


def _channel(value: str) -> str:
    if not re.fullmatch(r"[CGD][A-Z0-9]+", value.upper()):
        raise argparse.ArgumentTypeError(say.terminal.demo_bad_channel(value))
    return value.upper()


def _device(value: str) -> str:
    problem = grammar.check_device_name(value)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value


def _port(value: str) -> int:
    if not value.isdigit() or int(value) > 65535:
        raise argparse.ArgumentTypeError(say.terminal.not_a_port(value))
    return int(value)


def _instant(value: str) -> datetime:
    # Not model.parse_api_time: that one reads a time without a zone as UTC, as the API means
    # it, while a person's --now without a zone is ambiguous and refused.
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(say.terminal.now_not_iso(value)) from None
    if moment.utcoffset() is None:
        raise argparse.ArgumentTypeError(say.terminal.now_without_zone(value))
    return moment


# ---------------------------------------------------------------------------- parse


def _parse(args: argparse.Namespace) -> int:
    from bot.policy.config import OPEN_POLICY, ConfigError, load_config
    from bot.run.settings import read_dotenv

    now = args.now or datetime.now(UTC).replace(microsecond=0)
    try:
        # As `check-config` finds the file: ranges and groups can be tried offline.
        path = (
            args.config
            or os.environ.get("OPSBOT_CONFIG")
            or read_dotenv(".env").get("OPSBOT_CONFIG")
        )
    except SettingsError as exc:
        return _fail(say.terminal.settings_refused(exc.problems))
    try:
        policy = load_config(path) if path else OPEN_POLICY
    except ConfigError as exc:
        return _fail(say.policy.config_refused(exc.problems))
    try:
        command = grammar.parse(
            args.text, tz=args.tz, now=now, catalog=policy.catalog, naming=policy.naming
        )
    except Refusal as refusal:
        print(str(refusal), file=sys.stderr)
        return 2
    if not isinstance(command, Plan):
        keywords = [kind.keyword for kind in policy.catalog.kinds]
        print(say.terminal.parse_not_an_operation(args.text, keywords), file=sys.stderr)
        return 2
    result = {
        "operations": [op.to_api() for op in command.operations],
        "notes": list(command.notes),
    }
    if command.waves is not None:  # beside the operations, as they will go
        result = {"operations": result["operations"], "waves": command.waves, **result}
    print(json.dumps(result, indent=2))
    return 0


# ---------------------------------------------------------------------------- check-config


def _check_config(args: argparse.Namespace) -> int:
    from bot.policy.config import ConfigError, load_config
    from bot.policy.tables.demo import DemoSetup
    from bot.run.settings import read_dotenv
    from bot.understand.catalog import DEFAULT_CATALOG
    from bot.understand.naming import DEFAULT_LIMITS

    try:
        path = (
            args.path or os.environ.get("OPSBOT_CONFIG") or read_dotenv(".env").get("OPSBOT_CONFIG")
        )
    except SettingsError as exc:
        return _fail(say.terminal.settings_refused(exc.problems))
    if not path:
        return _fail(say.policy.config_no_path(), code=2)
    try:
        policy = load_config(path)
    except ConfigError as exc:
        return _fail(say.policy.config_refused(exc.problems))
    built_in = {kind.keyword: kind for kind in DEFAULT_CATALOG.kinds}
    kinds = policy.catalog.kinds
    print(
        say.policy.config_valid(
            path,
            rules=len(policy.rules),
            windows=len(policy.windows),
            types=len(kinds),
            added=[k.keyword for k in kinds if k.keyword not in built_in],
            replaced=[k.keyword for k in kinds if built_in.get(k.keyword, k) != k],
            groups=len(policy.groups),
            # told only when the file sets it: the default is the one docs/policy.md gives
            max_devices=policy.limits.max_devices if policy.limits != DEFAULT_LIMITS else None,
            demo=policy.demo != DemoSetup(),
        )
    )
    return 0


# ---------------------------------------------------------------------------- backup


def _database_path() -> str:
    """OPSBOT_DB as `opsbot run` finds it: the environment, then .env, then the default.
    Raises SettingsError for an unreadable .env."""
    from bot.run.settings import read_dotenv

    return os.environ.get("OPSBOT_DB") or read_dotenv(".env").get("OPSBOT_DB") or DEFAULT_DB


def _backup(args: argparse.Namespace) -> int:
    from store import Store

    try:
        url = _database_url()
        source = _database_path()
    except SettingsError as exc:
        return _fail(say.terminal.settings_refused(exc.problems))
    if url:
        from bot.run.settings import redact_url

        return _fail(say.terminal.backup_use_pg_dump(redact_url(url)), code=2)
    if not Path(source).is_file():
        return _fail(say.terminal.backup_no_database(source), code=2)
    if Path(args.path).exists():
        return _fail(say.terminal.backup_target_exists(args.path), code=2)
    try:
        store = Store(path=source)
    except sqlite3.Error as exc:
        return _fail(say.terminal.backup_source_unreadable(source, str(exc)))
    try:
        store.backup(args.path)
    except (sqlite3.Error, OSError) as exc:
        return _fail(say.terminal.backup_failed(args.path, _path_problem(args.path, exc)))
    finally:
        store.close()
    print(say.terminal.backed_up(source, args.path))
    return 0


# ---------------------------------------------------------------------------- migrate


def _database_url() -> str | None:
    """OPSBOT_DATABASE_URL as `opsbot run` finds it (the environment, then .env), or None.
    Raises SettingsError for an unreadable .env or a value that is not a PostgreSQL URL."""
    from bot.run.settings import check_database_url, read_dotenv

    url = (
        os.environ.get("OPSBOT_DATABASE_URL") or read_dotenv(".env").get("OPSBOT_DATABASE_URL")
    ) or None
    if url and (problem := check_database_url(url.strip())):
        raise SettingsError(problem)
    return url.strip() if url else None


def _migrate(args: argparse.Namespace) -> int:
    try:
        url = None if args.db else _database_url()
        path = args.db or _database_path()
    except SettingsError as exc:
        return _fail(say.terminal.settings_refused(exc.problems))
    if url:
        return _migrate_postgres(url)
    from sqlite_utils import Database

    from store.schema import MIGRATIONS, migrate

    try:
        db = Database(sqlite3.connect(path, timeout=10.0))
        try:
            pending = [m.name for m in MIGRATIONS.pending(db)]
            migrate(db)
            latest = MIGRATIONS.applied(db)[-1].name
        finally:
            db.close()
    except sqlite3.Error as exc:
        return _fail(say.terminal.migrate_failed(path, str(exc), "OPSBOT_DB"))
    print(say.terminal.migrated(path, pending, latest))
    return 0


def _migrate_postgres(url: str) -> int:
    import psycopg

    from bot.run.settings import redact_url
    from store.schema_postgres import MIGRATIONS, migrate_postgres

    shown = redact_url(url)
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            applied = migrate_postgres(conn)
    except psycopg.Error as exc:
        return _fail(
            say.terminal.migrate_failed(shown, _postgres_reason(exc, url), "OPSBOT_DATABASE_URL")
        )
    print(say.terminal.migrated(shown, applied, MIGRATIONS[-1][0]))
    return 0


def _postgres_reason(exc: Exception, url: str) -> str:
    """psycopg's first line about a failure. libpq's words name the host and the user, not
    the password; should they quote the URL, its password is taken out all the same."""
    reason = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    if password := urlsplit(url).password:
        reason = reason.replace(password, "***")
    return reason


# ---------------------------------------------------------------------------- copy-db


def _copy_db(args: argparse.Namespace) -> int:
    import psycopg

    from bot.run.settings import check_database_url, redact_url
    from store import copy

    url = args.to.strip()
    if problem := check_database_url(url, name="--to"):
        return _fail(problem, code=2)
    try:
        path = args.db or _database_path()
    except SettingsError as exc:
        return _fail(say.terminal.settings_refused(exc.problems))
    shown = redact_url(url)
    try:
        done = copy.copy_to_postgres(path, url)
    except copy.SourceMissing:
        return _fail(say.terminal.copy_no_database(path), code=2)
    except copy.SourceNotOpsbot as exc:
        return _fail(say.terminal.copy_not_opsbot(path, exc.reason), code=2)
    except copy.SourceBehind as exc:
        return _fail(say.terminal.copy_source_behind(path, exc.schema, exc.latest))
    except copy.SourceInUse as exc:
        return _fail(say.terminal.copy_source_in_use(path, exc.pid))
    except copy.TargetNotEmpty as exc:
        return _fail(say.terminal.copy_target_not_empty(shown, exc.tables))
    except copy.CountsDiffer as exc:
        return _fail(say.terminal.copy_counts_differ(exc.table, exc.source, exc.target))
    except sqlite3.Error as exc:
        return _fail(say.terminal.copy_source_unreadable(path, str(exc)))
    except psycopg.Error as exc:
        return _fail(say.terminal.copy_failed(shown, _postgres_reason(exc, url)))
    print(say.terminal.copied(path, shown, done.counts, done.seconds))
    return 0


# ---------------------------------------------------------------------------- audit


def _audit(args: argparse.Namespace) -> int:
    from bot.run import audit
    from store import Store

    since: datetime | None = None
    if args.since is not None:
        try:
            since = audit.parse_since(args.since, now=datetime.now(UTC))
        except (ValueError, OverflowError):
            return _fail(say.terminal.audit_bad_since(args.since), code=2)
    try:
        url = None if args.db else _database_url()
        path = args.db or _database_path()
    except SettingsError as exc:
        return _fail(say.terminal.settings_refused(exc.problems))
    if url:
        return _audit_postgres(args, url, since)
    # Looked for first: opening a missing file read-only fails, but with SQLite's vaguest
    # words ("unable to open database file").
    if not Path(path).is_file():
        return _fail(say.terminal.backup_no_database(path))
    try:
        store = Store(path=path, read_only=True)
        try:
            rows = store.audit_rows(since=since)
            items = audit.lines(rows, workspace_url=store.fact(audit.SLACK_URL))
            count = audit.WRITERS[args.format](sys.stdout, items)
        finally:
            store.close()
    except sqlite3.Error as exc:
        return _fail(say.terminal.audit_unreadable(path, str(exc)))
    except BrokenPipeError:
        # `opsbot audit | head`: the reader has what it wanted. Python would complain again
        # when it flushes stdout at exit, so stdout goes nowhere from here.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if count == 0 and args.format == "text":
        print(say.terminal.audit_empty(args.since), file=sys.stderr)
    return 0


def _audit_postgres(args: argparse.Namespace, url: str, since: datetime | None) -> int:
    """The audit trail read from PostgreSQL, in read-only transactions (safe while replicas
    run; the schema is not brought up to date by a look)."""
    import psycopg

    from bot.run import audit
    from bot.run.settings import redact_url
    from store import Store, StoreUnavailable

    shown = redact_url(url)
    try:
        store = Store(url=url, read_only=True)
        try:
            rows = store.audit_rows(since=since)
            items = audit.lines(rows, workspace_url=store.fact(audit.SLACK_URL))
            count = audit.WRITERS[args.format](sys.stdout, items)
        finally:
            store.close()
    except (psycopg.Error, StoreUnavailable) as exc:
        reason = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        if password := urlsplit(url).password:
            reason = reason.replace(password, "***")
        return _fail(say.terminal.audit_unreadable(shown, reason, "OPSBOT_DATABASE_URL"))
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if count == 0 and args.format == "text":
        print(say.terminal.audit_empty(args.since), file=sys.stderr)
    return 0


def _path_problem(path: str, exc: Exception) -> str:
    """SQLite says only "unable to open database file": name the usual causes when it is one."""
    if Path(path).is_dir():
        return say.terminal.IS_A_FOLDER
    folder = Path(path).parent
    return str(exc) if folder.is_dir() else say.terminal.folder_missing(str(folder))


# ---------------------------------------------------------------------------- simulator


def _simulator(args: argparse.Namespace) -> int:
    from bot.zequenze.simulator.endpoint import serve

    try:
        serve(
            host=args.host,
            port=args.port,
            token=args.token,
            inventory=None,
            failure_rate=args.failure_rate,
            run_seconds=args.run_seconds,
        )
    except OSError as exc:
        return _fail(
            say.terminal.port_unavailable(args.port, exc.strerror or str(exc), setting="--port")
        )
    return 0


# ---------------------------------------------------------------------------- demo


def _demo(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from bot.console.chat import ConsoleChat, ConsoleNotifier
    from bot.console.setup import cast, demo_devices
    from bot.console.terminal import Terminal
    from bot.policy.config import OPEN_POLICY, ConfigError, load_config
    from bot.policy.groups import StaticGroups
    from bot.run.runtime import Runtime
    from bot.zequenze.simulator.endpoint import DEFAULT_INVENTORY, Simulator
    from store.lock import DatabaseInUse, DatabaseLock

    # First, before anything starts: a file that is not valid is refused as `opsbot run`
    # and `check-config` refuse it, every problem named.
    try:
        policy = load_config(args.config) if args.config else OPEN_POLICY
    except ConfigError as exc:
        return _fail(say.policy.config_refused(exc.problems))
    setup = cast(policy, user=args.user, channel=args.channel, groups=args.group, fail=args.fail)
    interactive = sys.stdin.isatty()
    with ExitStack() as stack:
        if args.db:
            # One demo at a time on a kept database, as one bot: two would take each other's
            # operations in hand.
            try:
                stack.callback(DatabaseLock(db_path=args.db).release)
            except DatabaseInUse as exc:
                return _fail(say.terminal.demo_database_in_use(args.db, exc.pid))
            except OSError as exc:
                reason = _path_problem(args.db, exc)
                return _fail(say.terminal.demo_database_unusable(args.db, reason))
        if interactive:
            from prompt_toolkit.patch_stdout import patch_stdout

            # First, before the terminal and the log keep a reference to sys.stdout and
            # sys.stderr: what the bot's threads print then goes above the prompt, which is
            # drawn again below it with the line being typed.
            stack.enter_context(patch_stdout())
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        terminal = Terminal(out=sys.stdout, tz=args.tz)
        database = args.db or str(
            Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="opsbot-demo-")))
            / "demo.db"
        )
        simulator = Simulator(
            inventory=demo_devices(DEFAULT_INVENTORY, policy, fail=setup.fail),
            failure_rate=args.failure_rate,
            run_seconds=args.run_seconds,
        )
        simulator.failing = set(setup.fail)
        try:
            # A kept database's operations are the API's too: the simulator, new, is told
            # them, so that their ids are never given again and those unfinished go on.
            simulator.remember(_sent_before(database))
            stack.enter_context(simulator)
            runtime = Runtime(
                database=database,
                api_url=simulator.url,
                api_token=simulator.token,
                poll_interval=0.5,
                notifier=ConsoleNotifier(terminal=terminal, user=setup.user, channel=setup.channel),
                channel_gap=0.0,  # a terminal has no rate limit
                config=policy,
                groups=StaticGroups(setup.groups),
            ).start()
        except sqlite3.Error as exc:
            reason = _path_problem(database, exc)
            return _fail(say.terminal.demo_database_unusable(database, reason))
        try:
            chat = ConsoleChat(
                service=runtime.service,
                terminal=terminal,
                tz=args.tz,
                devices=sorted(simulator.inventory),
                groups=setup.groups,
                user=setup.user,
                channel=setup.channel,
                failing=setup.fail,
                database=args.db,
            )
            chat.run(_prompted() if interactive else sys.stdin, interactive=interactive)
            # A person who quits is not kept waiting; piped lines are followed to their end.
            chat.end(wait=0 if interactive else DEMO_WAIT)
        finally:
            runtime.stop()
    return 0


def _sent_before(database: str) -> list[dict]:
    """The operations a kept demo database sent to its simulator, as the API shows them."""
    from store import Store

    if not Path(database).is_file():
        return []
    store = Store.open(database)
    try:
        return [
            {
                "id": op.api_id,
                "device_name": op.device_name,
                "operation_type": op.operation_type,
                "status": op.status,
                "scheduled_at": op.scheduled_at,
                "parameters": op.parameters,
                "error": op.error,
            }
            for op in store.operations_sent()
        ]
    finally:
        store.close()


def _prompted() -> Iterator[str]:
    from prompt_toolkit import PromptSession

    session: PromptSession[str] = PromptSession("you> ")
    while True:
        try:
            yield session.prompt()
        except (EOFError, KeyboardInterrupt):
            return


# ---------------------------------------------------------------------------- run


def _run(args: argparse.Namespace) -> int:
    from bot.run import settings as settings_module

    try:
        settings = settings_module.load()
    except SettingsError as exc:
        return _fail(say.terminal.settings_refused(exc.problems), code=2)
    redact = _Redactor(secrets=settings.secrets())
    _configure_logging(redact, fmt=settings.log_format)
    # Bolt's App() also takes SLACK_BOT_TOKEN from the environment, and warns on every start
    # that it is unused beside the client that holds it: the settings hold it now.
    os.environ.pop("SLACK_BOT_TOKEN", None)

    try:
        ready = _checked(settings)
    except _Refused as refused:
        return _fail(redact(str(refused)))
    # However the rest ends (stopped, or a start that fails after all), the lock goes, and
    # with it its file: nothing is left beside the database.
    try:
        return _serve(settings, ready, redact)
    finally:
        if ready.lock is not None:
            ready.lock.release()


def _serve(settings: Settings, ready: _Ready, redact: _Redactor) -> int:
    """The bot, from its database opened to its stop."""
    if settings.database_url:
        return _serve_postgres(settings, ready, redact)
    try:
        runtime = _runtime(settings, ready, database=settings.db_path)
    except sqlite3.Error as exc:
        reason = _path_problem(settings.db_path, exc)
        return _fail(redact(say.terminal.database_unusable(settings.db_path, reason)))
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


def _serve_postgres(settings: Settings, ready: _Ready, redact: _Redactor) -> int:
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
        return _fail(redact(say.terminal.database_url_unusable(shown, reason)))
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
        raise _Refused(say.terminal.database_unusable(path, _path_problem(path, exc))) from None
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


def _fail(message: str, *, code: int = 1) -> int:
    print(say.terminal.cli_error(message), file=sys.stderr)
    return code


# ---------------------------------------------------------------------------- logging


class _Redactor:
    """Replaces each secret in a text. Secrets shorter than 6 characters are left alone:
    replacing them would mangle ordinary words and prove nothing. A secret is also looked for
    as a JSON string writes it (a quote or a backslash escaped, anything past ASCII as
    `\\uXXXX`), so a JSON line cannot carry one past it in its escaped form."""

    def __init__(self, *, secrets: Sequence[str]) -> None:
        kept = [s for s in secrets if len(s) >= 6]
        escaped = [json.dumps(s)[1:-1] for s in kept]
        # Longest first: a secret inside another is replaced after the one that holds it.
        self._secrets = sorted(set(kept) | set(escaped), key=len, reverse=True)

    def __call__(self, line: str) -> str:
        for secret in self._secrets:
            line = line.replace(secret, "[redacted]")
        return line


class _RedactingFormatter(logging.Formatter):
    """Last line of defence: a secret that reaches a log record is replaced in the finished
    text, so the message, its arguments, and a traceback's frames and exception text added
    by `log.exception` are all covered."""

    def __init__(self, fmt: str, *, redact: _Redactor) -> None:
        super().__init__(fmt)
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))


class _RedactingJsonFormatter(JsonFormatter):
    """One JSON object a line: time (ISO 8601, UTC), level, logger, message, and any ids the
    call passed in `extra` (request_id, operation_id, api_id); a traceback is `exc_info`, a
    stack `stack_info`. Redacted as the text is: in the finished line, so every field is."""

    def __init__(self, *, redact: _Redactor) -> None:
        super().__init__(
            ["levelname", "name", "message"],
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
        )
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))


def _log_handler(
    redact: _Redactor, stream: TextIO | None = None, *, fmt: str = "text"
) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    formatter: logging.Formatter
    if fmt == "json":
        formatter = _RedactingJsonFormatter(redact=redact)
    else:
        formatter = _RedactingFormatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s", redact=redact
        )
    handler.setFormatter(formatter)
    return handler


def _configure_logging(redact: _Redactor, *, fmt: str = "text") -> None:
    logging.basicConfig(level=logging.INFO, handlers=[_log_handler(redact, fmt=fmt)])
    # A line per request at INFO: 4,000 a minute when 1,000 operations are being followed.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


if __name__ == "__main__":
    raise SystemExit(main())
