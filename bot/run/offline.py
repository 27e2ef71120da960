"""`opsbot parse` and `opsbot check-config`: a command read, or the policy file checked, as the
bot would, without Slack or the API."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime

from bot import say
from bot.model import Plan, Refusal
from bot.run.failures import fail
from bot.run.settings import SettingsError
from bot.understand import grammar


def parse_command(args: argparse.Namespace) -> int:
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
        return fail(say.terminal.settings_refused(exc.problems))
    try:
        policy = load_config(path) if path else OPEN_POLICY
    except ConfigError as exc:
        return fail(say.policy.config_refused(exc.problems))
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


def check_config_command(args: argparse.Namespace) -> int:
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
        return fail(say.terminal.settings_refused(exc.problems))
    if not path:
        return fail(say.policy.config_no_path(), code=2)
    try:
        policy = load_config(path)
    except ConfigError as exc:
        return fail(say.policy.config_refused(exc.problems))
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
