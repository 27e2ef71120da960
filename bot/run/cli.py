"""`opsbot`: run the bot, try it in the terminal, run the API simulator, or check a parse.

Every failure a person can cause or meet (a setting, a path, Slack refusing a token or being
unreachable) ends the command with one sentence naming the problem, never a traceback, and
never a token.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Sequence
from datetime import datetime

from bot import say
from bot.run.database_commands import (
    audit_command,
    backup_command,
    copy_db_command,
    migrate_command,
)
from bot.run.demo import DEMO_WAIT, demo_command, simulator_command
from bot.run.offline import check_config_command, parse_command
from bot.run.serve import run_command
from bot.run.settings import DEFAULT_DB
from bot.understand.names import check_device_name
from bot.understand.when import zone_for


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
    run.set_defaults(func=run_command)

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
    demo.set_defaults(func=demo_command)

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
    sim.set_defaults(func=simulator_command)

    backup = sub.add_parser(
        "backup",
        help="copy the bot's database to PATH, safely while the bot runs",
        description=f"Copies OPSBOT_DB (default {DEFAULT_DB}) to PATH with SQLite's online "
        "backup: a consistent snapshot even while `opsbot run` is writing. A bot on "
        "PostgreSQL (OPSBOT_DATABASE_URL) is backed up with pg_dump instead.",
    )
    backup.add_argument("path", metavar="PATH", help="where to write the copy (a new file)")
    backup.set_defaults(func=backup_command)

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
    migrate.set_defaults(func=migrate_command)

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
    copy_db.set_defaults(func=copy_db_command)

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
    audit.set_defaults(func=audit_command)

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
    parse.set_defaults(func=parse_command)

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
    check.set_defaults(func=check_config_command)
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
    problem = check_device_name(value)
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


if __name__ == "__main__":
    raise SystemExit(main())
