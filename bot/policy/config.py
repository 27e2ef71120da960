"""The site's policy file (`OPSBOT_CONFIG`, TOML) as plain values.

Without a file the bot is open: anyone, anywhere, the requester's confirm is enough, and the
built-in catalog of operations. Each table of the file has its own reader, with the values it
gives, in bot/policy/tables/.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.policy.tables.access import Access, AccessTable
from bot.policy.tables.demo import DemoSetup, DemoTable
from bot.policy.tables.groups import GroupsTable
from bot.policy.tables.limits import LimitsTable
from bot.policy.tables.operations import OperationsTable
from bot.policy.tables.reader import did_you_mean
from bot.policy.tables.rules import Rule, RulesTable
from bot.policy.tables.windows import Window, WindowsTable
from bot.understand.catalog import DEFAULT_CATALOG, Catalog
from bot.understand.naming import DEFAULT_LIMITS, Limits, Naming


class ConfigError(Exception):
    """A policy file that cannot be used: every problem, each naming its line or key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, kw_only=True)
class PolicyConfig:
    access: Access = field(default_factory=Access)
    rules: tuple[Rule, ...] = ()
    windows: tuple[Window, ...] = ()
    catalog: Catalog = DEFAULT_CATALOG
    # `[groups]`: each group's name (lower case, typed `@web`) → its devices, ranges expanded,
    # each once, in the file's order.
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    limits: Limits = DEFAULT_LIMITS
    demo: DemoSetup = field(default_factory=DemoSetup)
    source: str = ""  # the file it came from; "" for the built-in open policy
    # Of the file's text: a request judged under another policy is judged again, never
    # confirmed on the old one's word (a restart with a stricter file, say).
    fingerprint: str = ""

    @property
    def naming(self) -> Naming:
        """What a request may name besides single devices, and how many: for the grammar."""
        return Naming(groups=self.groups, limits=self.limits)


OPEN_POLICY = PolicyConfig()


# ---------------------------------------------------------------------------- reading

SECTIONS = ("access", "rules", "windows", "operations", "groups", "limits", "demo")


def load_config(path: str | Path) -> PolicyConfig:
    """The policy in the TOML file at `path`; ConfigError naming every problem found."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{source}: there is no such file."]) from None
    except IsADirectoryError:
        raise ConfigError([f"{source}: this is a folder, not a file."]) from None
    except OSError as exc:
        raise ConfigError([f"{source}: cannot be read: {exc.strerror or exc}."]) from None
    try:
        content = raw.decode("utf-8-sig")  # an editor's byte-order mark is no mistake
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [f"{source}: is not UTF-8 text (byte {exc.start + 1} is not), so not TOML."]
        ) from None
    return read_config(content, source=source)


def read_config(text: str, *, source: str) -> PolicyConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already says where: "(at line 3, column 10)".
        raise ConfigError([f"{source}: this is not valid TOML: {exc}"]) from None
    return _Reader(text=text, source=source).policy(data)


class _Reader(
    AccessTable, RulesTable, WindowsTable, OperationsTable, GroupsTable, LimitsTable, DemoTable
):
    """Reads the parsed TOML, noting every problem and going on, so one run names them all."""

    # -- the whole file

    def policy(self, data: dict[str, object]) -> PolicyConfig:
        for key in data:
            if key not in SECTIONS:
                line = self._lines.table(key) or self._lines.key(key, table=0)
                what = f"section [{key}]" if isinstance(data[key], dict | list) else f'key "{key}"'
                self._say("", line, f"unknown {what}{did_you_mean(key, SECTIONS)}")
        catalog = self._catalog(data.get("operations"))
        limits = self._limits(data.get("limits"))
        groups = self._groups(data.get("groups"), limits)
        self._groups_read = groups
        access = self._access(data.get("access"))
        rules = tuple(
            rule
            for index, table in enumerate(self._array(data, "rules", "rule"))
            if (rule := self._rule(table, index, catalog)) is not None
        )
        windows = tuple(
            window
            for index, table in enumerate(self._array(data, "windows", "window"))
            if (window := self._window(table, index)) is not None
        )
        demo = self._demo(data.get("demo"))
        if self._problems:
            # In the file's order, as someone fixing them goes through it.
            ordered = sorted(self._problems, key=lambda problem: problem[0])
            raise ConfigError([message for _, message in ordered])
        return PolicyConfig(
            access=access,
            rules=rules,
            windows=windows,
            catalog=catalog,
            groups=groups,
            limits=limits,
            demo=demo,
            source=self._source,
            fingerprint=hashlib.sha256(self._text.encode()).hexdigest()[:16],
        )
