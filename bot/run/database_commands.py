"""The database's commands: `opsbot backup`, `opsbot migrate`, `opsbot copy-db` (SQLite to
PostgreSQL) and `opsbot audit` (the audit trail exported), each finding the database as
`opsbot run` does."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bot import say
from bot.run.failures import fail, path_problem
from bot.run.settings import DEFAULT_DB, SettingsError

if TYPE_CHECKING:
    from store import Store


def _database_path() -> str:
    """OPSBOT_DB as `opsbot run` finds it: the environment, then .env, then the default.
    Raises SettingsError for an unreadable .env."""
    from bot.run.settings import read_dotenv

    return os.environ.get("OPSBOT_DB") or read_dotenv(".env").get("OPSBOT_DB") or DEFAULT_DB


def backup_command(args: argparse.Namespace) -> int:
    from store import Store

    try:
        url = _database_url()
        source = _database_path()
    except SettingsError as exc:
        return fail(say.terminal.settings_refused(exc.problems))
    if url:
        from bot.run.settings import redact_url

        return fail(say.terminal.backup_use_pg_dump(redact_url(url)), code=2)
    if not Path(source).is_file():
        return fail(say.terminal.backup_no_database(source), code=2)
    if Path(args.path).exists():
        return fail(say.terminal.backup_target_exists(args.path), code=2)
    try:
        store = Store(path=source)
    except sqlite3.Error as exc:
        return fail(say.terminal.backup_source_unreadable(source, str(exc)))
    try:
        store.backup(args.path)
    except (sqlite3.Error, OSError) as exc:
        return fail(say.terminal.backup_failed(args.path, path_problem(args.path, exc)))
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


def migrate_command(args: argparse.Namespace) -> int:
    try:
        url = None if args.db else _database_url()
        path = args.db or _database_path()
    except SettingsError as exc:
        return fail(say.terminal.settings_refused(exc.problems))
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
        return fail(say.terminal.migrate_failed(path, str(exc), "OPSBOT_DB"))
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
        return fail(
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


def copy_db_command(args: argparse.Namespace) -> int:
    import psycopg

    from bot.run.settings import check_database_url, redact_url
    from store import copy

    url = args.to.strip()
    if problem := check_database_url(url, name="--to"):
        return fail(problem, code=2)
    try:
        path = args.db or _database_path()
    except SettingsError as exc:
        return fail(say.terminal.settings_refused(exc.problems))
    shown = redact_url(url)
    try:
        done = copy.copy_to_postgres(path, url)
    except copy.SourceMissing:
        return fail(say.terminal.copy_no_database(path), code=2)
    except copy.SourceNotOpsbot as exc:
        return fail(say.terminal.copy_not_opsbot(path, exc.reason), code=2)
    except copy.SourceBehind as exc:
        return fail(say.terminal.copy_source_behind(path, exc.schema, exc.latest))
    except copy.SourceInUse as exc:
        return fail(say.terminal.copy_source_in_use(path, exc.pid))
    except copy.TargetNotEmpty as exc:
        return fail(say.terminal.copy_target_not_empty(shown, exc.tables))
    except copy.CountsDiffer as exc:
        return fail(say.terminal.copy_counts_differ(exc.table, exc.source, exc.target))
    except sqlite3.Error as exc:
        return fail(say.terminal.copy_source_unreadable(path, str(exc)))
    except psycopg.Error as exc:
        return fail(say.terminal.copy_failed(shown, _postgres_reason(exc, url)))
    print(say.terminal.copied(path, shown, done.counts, done.seconds))
    return 0


# ---------------------------------------------------------------------------- audit


def audit_command(args: argparse.Namespace) -> int:
    from bot.run import audit
    from store import Store

    since: datetime | None = None
    if args.since is not None:
        try:
            since = audit.parse_since(args.since, now=datetime.now(UTC))
        except (ValueError, OverflowError):
            return fail(say.terminal.audit_bad_since(args.since), code=2)
    try:
        url = None if args.db else _database_url()
        path = args.db or _database_path()
    except SettingsError as exc:
        return fail(say.terminal.settings_refused(exc.problems))
    if url:
        return _audit_postgres(args, url, since)
    # Looked for first: opening a missing file read-only fails, but with SQLite's vaguest
    # words ("unable to open database file").
    if not Path(path).is_file():
        return fail(say.terminal.backup_no_database(path))
    try:
        return _write_audit(Store(path=path, read_only=True), args, since)
    except sqlite3.Error as exc:
        return fail(say.terminal.audit_unreadable(path, str(exc)))


def _write_audit(store: Store, args: argparse.Namespace, since: datetime | None) -> int:
    """The audit trail from `store`, written in the format asked for; the store is closed."""
    from bot.run import audit

    try:
        try:
            rows = store.audit_rows(since=since)
            items = audit.lines(rows, workspace_url=store.fact(audit.SLACK_URL))
            count = audit.WRITERS[args.format](sys.stdout, items)
        finally:
            store.close()
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

    from bot.run.settings import redact_url
    from store import Store, StoreUnavailable

    shown = redact_url(url)
    try:
        return _write_audit(Store(url=url, read_only=True), args, since)
    except (psycopg.Error, StoreUnavailable) as exc:
        reason = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        if password := urlsplit(url).password:
            reason = reason.replace(password, "***")
        return fail(say.terminal.audit_unreadable(shown, reason, "OPSBOT_DATABASE_URL"))
