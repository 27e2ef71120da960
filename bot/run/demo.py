"""`opsbot demo`: the bot in the terminal against the built-in API simulator, no Slack needed;
and `opsbot simulator`, the simulator on its own."""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bot import say
from bot.run.failures import fail, path_problem

DEMO_WAIT = 60  # seconds the demo waits, after piped input, for its operations to end


def simulator_command(args: argparse.Namespace) -> int:
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
        return fail(
            say.terminal.port_unavailable(args.port, exc.strerror or str(exc), setting="--port")
        )
    return 0


# ---------------------------------------------------------------------------- demo


def demo_command(args: argparse.Namespace) -> int:
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
        return fail(say.policy.config_refused(exc.problems))
    setup = cast(policy, user=args.user, channel=args.channel, groups=args.group, fail=args.fail)
    interactive = sys.stdin.isatty()
    with ExitStack() as stack:
        if args.db:
            # One demo at a time on a kept database, as one bot: two would take each other's
            # operations in hand.
            try:
                stack.callback(DatabaseLock(db_path=args.db).release)
            except DatabaseInUse as exc:
                return fail(say.terminal.demo_database_in_use(args.db, exc.pid))
            except OSError as exc:
                reason = path_problem(args.db, exc)
                return fail(say.terminal.demo_database_unusable(args.db, reason))
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
            reason = path_problem(database, exc)
            return fail(say.terminal.demo_database_unusable(database, reason))
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
