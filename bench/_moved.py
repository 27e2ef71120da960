"""Today's module names in an older checkout, for a benchmark that runs one (--repo,
--baseline) beside this one: issue 18 moved bot/'s flat modules into packages, so once
`old_names_too()` is called, `from bot.track.outbox import OutboxSender` also finds an older
checkout's `bot/outbox.py`. Only for a checkout from before the moves (its bot/ has no
run/), and then first among the finders: the editable install's would otherwise answer
`bot.track` from this checkout and mix the two, and the one searching sys.path would load an
old package's modules a second time under their new names."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import sys
import types
from collections.abc import Sequence

# Each module's name today → its name before the moves (the metrics were in bot/health.py).
OLD_NAMES = {
    **{f"bot.understand.{m}": f"bot.{m}" for m in ("typed", "grammar", "when", "naming")},
    **{f"bot.understand.{m}": f"bot.{m}" for m in ("catalog", "suggestions", "waves")},
    "bot.understand.preflight": "bot.preflight",
    **{f"bot.zequenze.{m}": f"bot.{m}" for m in ("api", "devices", "simulator")},
    **{f"bot.track.{m}": f"bot.{m}" for m in ("sending", "poller", "reconcile", "outbox")},
    **{f"bot.track.{m}": f"bot.{m}" for m in ("pacing", "ticker", "backoff", "tuning")},
    **{f"bot.track.{m}": f"bot.{m}" for m in ("leadership", "halts")},
    **{f"bot.policy.{m}": f"bot.{m}" for m in ("clicks", "approvals", "outside")},
    **{f"bot.run.{m}": f"bot.{m}" for m in ("cli", "runtime", "settings", "health")},
    **{f"bot.run.{m}": f"bot.{m}" for m in ("failpoints", "audit")},
    "bot.run.metrics": "bot.health",
    "bot.slack.home_tab": "bot.home",
}
NEW_PACKAGES = {"bot.understand", "bot.zequenze", "bot.track", "bot.run"}


def _old_name(name: str) -> str | None:
    for new, old in OLD_NAMES.items():
        if name == new or name.startswith(new + "."):
            return old + name[len(new) :]
    return None


class _Alias(importlib.abc.Loader):
    def __init__(self, old: str | None) -> None:
        self._old = old

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        if self._old is None:  # a package the older checkout does not have: empty
            return types.ModuleType(spec.name)
        return importlib.import_module(self._old)

    def exec_module(self, module: types.ModuleType) -> None:
        pass  # the old module ran when it was imported under its own name


class _OldNames(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname in NEW_PACKAGES:
            return importlib.machinery.ModuleSpec(fullname, _Alias(None), is_package=True)
        old = _old_name(fullname)
        if old is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Alias(old))


def old_names_too() -> None:
    """Called once sys.path starts with the checkout to run."""
    found = importlib.machinery.PathFinder.find_spec("bot")
    folders = (found.submodule_search_locations or []) if found else []
    if any(os.path.isdir(os.path.join(folder, "run")) for folder in folders):
        return  # today's names are its own
    if not any(isinstance(finder, _OldNames) for finder in sys.meta_path):
        sys.meta_path.insert(0, _OldNames())
