"""The site's policy file (`OPSBOT_CONFIG`, TOML) as plain values.

Without a file the bot is open: anyone, anywhere, the requester's confirm is enough, and the
built-in catalog of operations.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import string
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from difflib import get_close_matches
from pathlib import Path
from zoneinfo import available_timezones

from bot.policy.windows import Schedule, UnreadableSchedule, parse_schedule
from bot.ports import is_group as is_user_group
from bot.understand.catalog import (
    BUILT_IN_COMMANDS,
    DEFAULT_CATALOG,
    FIELD_KINDS,
    VALUE_TYPES,
    Catalog,
    OperationKind,
    ParamField,
)
from bot.understand.grammar import MAX_DEVICE_NAME, check_device_name
from bot.understand.naming import (
    CEILING_DEVICES,
    CEILING_OPERATIONS,
    DEFAULT_LIMITS,
    GROUP_SIGIL,
    OPERATIONS_PER_DEVICE,
    BadRange,
    Limits,
    Naming,
    group_name_problem,
    is_group,
    is_range,
    read_range,
)
from bot.understand.when import zone_for

APPROVAL_NONE = "none"
APPROVAL_PEER = "peer"
OUTSIDE_WARN = "warn"
OUTSIDE_APPROVE = "approve"
OUTSIDE_BLOCK = "block"
DEFAULT_EXPIRES = timedelta(hours=1)


class ConfigError(Exception):
    """A policy file that cannot be used: every problem, each naming its line or key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, kw_only=True)
class Access:
    # None: anywhere / everyone. Ids are Slack's immutable ones: C…/G… channels, U…/W… users,
    # S… user groups.
    channels: tuple[str, ...] | None = None
    requesters: tuple[str, ...] | None = None
    admins: tuple[str, ...] = ()  # may freeze and unfreeze; empty: nobody


@dataclass(frozen=True, kw_only=True)
class Rule:
    """`[[rules]]`: the first rule matching an operation decides its approval."""

    operations: tuple[str, ...] | None = None  # operation types; None: all
    # Globs on device_name (fnmatch, case-insensitive), a group's members in its place; None: all
    devices: tuple[str, ...] | None = None
    written: tuple[str, ...] | None = None  # the patterns as the file has them (`@db`), for people
    requesters: tuple[str, ...] | None = None  # only these may request what this rule covers
    approval: str = APPROVAL_NONE  # "none" | "peer"
    approvers: tuple[str, ...] | None = None  # None with "peer": anyone allowed to request
    approvals: int = 1  # distinct approvers needed, never the requester
    expires: timedelta = DEFAULT_EXPIRES
    line: int = 0  # where it is in the file, for messages and the audit


@dataclass(frozen=True, kw_only=True)
class Window:
    """`[[windows]]`: when the matching devices may be worked on."""

    devices: tuple[str, ...] | None = None  # globs, a group's members in its place; None: all
    written: tuple[str, ...] | None = None  # the patterns as the file has them (`@db`), for people
    when: Schedule
    tz: str = "UTC"
    outside: str = OUTSIDE_WARN  # "warn" | "approve" | "block"
    line: int = 0


@dataclass(frozen=True, kw_only=True)
class DemoSetup:
    """`[demo]`: who is who in `opsbot demo`, where there is no Slack to say it. The bot itself
    (`opsbot run`) checks the table as it checks the rest of the file, and uses none of it."""

    channel: str | None = None  # the channel the person at the terminal types in
    user: str | None = None  # who the person at the terminal is (U… or W…)
    # User groups' members, as Slack's usergroups.users.list would give them: S… → U…, W…
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    fail: tuple[str, ...] = ()  # devices whose operations fail in the demo's simulator


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

MAX_EXPIRES = timedelta(days=7)
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]+$")
PERSON_ID = re.compile(r"^[UWS][A-Z0-9]+$")
USER_ID = re.compile(r"^[UW][A-Z0-9]+$")
USER_GROUP_ID = re.compile(r"^S[A-Z0-9]+$")
KEYWORD = re.compile(r"^[a-z][a-z0-9_-]*$")
OPERATION_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")

SECTIONS = ("access", "rules", "windows", "operations", "groups", "limits", "demo")
LIMIT_KEYS = ("max_devices", "max_operations")
DEMO_KEYS = ("channel", "user", "groups", "fail")
ACCESS_KEYS = ("channels", "requesters", "admins")
RULE_KEYS = ("operations", "devices", "requesters", "approval", "approvers", "approvals", "expires")
WINDOW_KEYS = ("devices", "when", "tz", "outside")
OPERATION_KEYS = ("keyword", "type", "label", "syntax", "example", "fixed", "parameters")
PARAMETER_KEYS = ("name", "label", "kind", "required", "default", "placeholder", "word", "type")
FIELD_DEFAULTS: dict[str, object] = {"flag": False, "name_list": []}


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


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\[\]#=]+?)\s*(\]\]?)\s*(?:#.*)?$")


class _Lines:
    """Where tables and keys are in the text: tomllib gives no lines for them, so a light
    scan finds the headers, and a key's line within its table. A key it cannot find (an
    inline table, a dotted key) is placed at its table's header instead."""

    def __init__(self, text: str) -> None:
        self._lines = text.splitlines()
        self._headers: list[tuple[int, str]] = []
        for number, line in enumerate(self._lines, start=1):
            found = _HEADER.match(line)
            if found and len(found[1]) == len(found[3]):
                name = ".".join(p.strip().strip("\"'") for p in found[2].split("."))
                self._headers.append((number, name))

    def table(self, name: str, index: int = 0, *, after: int = 0, within: str = "") -> int:
        """The line of the `index`-th `[name]`/`[[name]]` header after line `after` (and
        before the next `[within]` header, for tables nested in an array); 0 if not found."""
        seen = 0
        for number, header in self._headers:
            if number <= after:
                continue
            if within and header == within:
                break
            if header == name:
                if seen == index:
                    return number
                seen += 1
        return 0

    def key(self, key: str, *, table: int) -> int:
        """The line of `key = …` in the table whose header is on line `table` (0: the top,
        before any header); 0 if not found."""
        end = next((n for n, _ in self._headers if n > table), len(self._lines) + 1)
        pattern = re.compile(rf"^\s*(?:{re.escape(key)}|\"{re.escape(key)}\")\s*[=.]")
        for number in range(table + 1, end):
            if pattern.match(self._lines[number - 1]):
                return number
        return 0


@dataclass(frozen=True, kw_only=True)
class _Table:
    data: dict[str, object]
    where: str  # "[access]", "[[rules]] #2"
    line: int  # its header's line; 0 if not found


class _Reader:
    """Reads the parsed TOML, noting every problem and going on, so one run names them all."""

    def __init__(self, *, text: str, source: str) -> None:
        self._source = source
        self._text = text
        self._lines = _Lines(text)
        self._problems: list[tuple[int, str]] = []  # (line, message)
        # `[groups]` as read (name → members), and every name it gives, read or not: a rule or
        # window naming a group is read after them.
        self._groups_read: Mapping[str, tuple[str, ...]] = {}
        self._group_names: list[str] = []

    # -- the whole file

    def policy(self, data: dict[str, object]) -> PolicyConfig:
        for key in data:
            if key not in SECTIONS:
                line = self._lines.table(key) or self._lines.key(key, table=0)
                what = f"section [{key}]" if isinstance(data[key], dict | list) else f'key "{key}"'
                self._say("", line, f"unknown {what}{_did_you_mean(key, SECTIONS)}")
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

    def _array(self, data: dict[str, object], name: str, one: str) -> list[_Table]:
        value = data.get(name)
        if value is None:
            return []
        line = self._lines.table(name) or self._lines.key(name, table=0)
        if not isinstance(value, list):
            self._say("", line, f"write each {one} as its own [[{name}]] table, not [{name}]")
            return []
        tables = []
        for index, entry in enumerate(value):
            where = f"[[{name}]] #{index + 1}"
            if not isinstance(entry, dict):
                self._say(
                    where, line, f"each {one} must be a table, [[{name}]], not {_shown(entry)}"
                )
                continue
            tables.append(_Table(data=entry, where=where, line=self._lines.table(name, index)))
        return tables

    # -- sections

    def _access(self, value: object) -> Access:
        if value is None:
            return Access()
        if not isinstance(value, dict):
            line = self._lines.table("access") or self._lines.key("access", table=0)
            self._say("", line, "access must be one table, [access]")
            return Access()
        table = _Table(data=value, where="[access]", line=self._lines.table("access"))
        self._unknown_keys(table, ACCESS_KEYS)
        return Access(
            channels=self._ids(table, "channels", person=False),
            requesters=self._ids(table, "requesters", person=True),
            admins=self._ids(table, "admins", person=True, may_be_empty=True) or (),
        )

    def _rule(self, table: _Table, index: int, catalog: Catalog) -> Rule | None:
        before = len(self._problems)
        self._unknown_keys(table, RULE_KEYS)
        operations = self._strings(table, "operations", what="operation types")
        for name in operations or ():
            if catalog.by_type(name) is None:
                kind = catalog.by_keyword(name)
                hint = (
                    f': "{name}" is how people type it; its type is "{kind.operation_type}"'
                    if kind
                    else _did_you_mean(name, [k.operation_type for k in catalog.kinds])
                    or "; the types are "
                    + ", ".join(f'"{k.operation_type}"' for k in catalog.kinds)
                )
                self._say_key(table, "operations", f'there is no operation type "{name}"{hint}')
        devices, written = self._patterns(table, "devices")
        requesters = self._ids(table, "requesters", person=True)
        approval = self._choice(table, "approval", (APPROVAL_NONE, APPROVAL_PEER), APPROVAL_NONE)
        approvers = self._ids(table, "approvers", person=True, may_be_empty=True)
        if approvers == () and approval == APPROVAL_PEER:
            self._say_key(
                table,
                "approvers",
                "approvers is empty, so nobody could approve: list who may, or leave the key "
                "out to let anyone allowed to request approve",
            )
        approvals = self._count(table, "approvals")
        # Only people can be counted: a group may hold any number of them.
        people = (
            set(approvers or ()) if not any(is_user_group(a) for a in approvers or ()) else None
        )
        if people and len(people) < approvals:
            self._say_key(
                table,
                "approvals",
                f"{approvals} approvals are needed but only {len(people)} approvers are listed",
            )
        expires = self._expires(table)
        if table.data.get("approval", APPROVAL_NONE) == APPROVAL_NONE:
            # Written for a peer approval that was never asked for: the rule would let the
            # requester's confirm suffice, which is surely not what its author meant.
            for key in ("approvers", "approvals", "expires"):
                if key in table.data:
                    self._say_key(
                        table,
                        key,
                        f'{key} only counts with approval = "peer"; add that line, or remove {key}',
                    )
        if len(self._problems) > before:
            return None
        return Rule(
            operations=operations,
            devices=devices,
            written=written,
            requesters=requesters,
            approval=approval,
            approvers=approvers,
            approvals=approvals,
            expires=expires,
            line=table.line,
        )

    def _window(self, table: _Table, index: int) -> Window | None:
        before = len(self._problems)
        self._unknown_keys(table, WINDOW_KEYS)
        devices, written = self._patterns(table, "devices")
        schedule = None
        when = self._string(table, "when", required=True)
        if when is not None:
            try:
                schedule = parse_schedule(when)
            except UnreadableSchedule as exc:
                self._say_key(table, "when", f"when: {exc}")
        tz = self._string(table, "tz") or "UTC"
        if "tz" in table.data and isinstance(table.data["tz"], str):
            try:
                zone_for(tz)
            except ValueError:
                self._say_key(table, "tz", _unknown_zone(tz))
        outside = self._choice(
            table, "outside", (OUTSIDE_WARN, OUTSIDE_APPROVE, OUTSIDE_BLOCK), OUTSIDE_WARN
        )
        if schedule is None or len(self._problems) > before:
            return None
        return Window(
            devices=devices,
            written=written,
            when=schedule,
            tz=tz,
            outside=outside,
            line=table.line,
        )

    # -- naming many devices

    def _demo(self, value: object) -> DemoSetup:
        if value is None:
            return DemoSetup()
        line = self._lines.table("demo") or self._lines.key("demo", table=0)
        if not isinstance(value, dict):
            self._say("", line, "demo must be one table, [demo]")
            return DemoSetup()
        table = _Table(data=value, where="[demo]", line=line)
        self._unknown_keys(table, DEMO_KEYS)
        channel = self._string(table, "channel")
        if channel is not None and not CHANNEL_ID.match(channel):
            self._say_key(table, "channel", f'"{channel}" is not a channel id (C…, G… or D…)')
        user = self._string(table, "user")
        if user is not None and not USER_ID.match(user):
            self._say_key(table, "user", f'"{user}" is not a user id (U… or W…), like "U0001"')
        groups: dict[str, tuple[str, ...]] = {}
        given = value.get("groups")
        if given is not None and not isinstance(given, dict):
            self._say_key(
                table,
                "groups",
                "groups must be a table of user groups and their members, like "
                f'{{ S0DBA = ["U0002", "U0003"] }}, not {_shown(given)}',
            )
        for group, members in (given if isinstance(given, dict) else {}).items():
            if not USER_GROUP_ID.match(group):
                self._say_key(table, "groups", f'"{group}" is not a user group id (S…)')
            elif not isinstance(members, list) or not all(
                isinstance(m, str) and USER_ID.match(m) for m in members
            ):
                self._say_key(
                    table,
                    "groups",
                    f'{group} must list user ids (U… or W…), like ["U0002", "U0003"], '
                    f"not {_shown(members)}",
                )
            else:
                groups[group] = tuple(dict.fromkeys(members))
        fail = self._strings(table, "fail", what="device names") or ()
        for name in fail:
            if problem := check_device_name(name):
                self._say_key(table, "fail", f"fail: {problem}")
        return DemoSetup(channel=channel, user=user, groups=groups, fail=fail)

    def _limits(self, value: object) -> Limits:
        if value is None:
            return DEFAULT_LIMITS
        if not isinstance(value, dict):
            line = self._lines.table("limits") or self._lines.key("limits", table=0)
            self._say("", line, "limits must be one table, [limits]")
            return DEFAULT_LIMITS
        table = _Table(data=value, where="[limits]", line=self._lines.table("limits"))
        self._unknown_keys(table, LIMIT_KEYS)
        devices = self._bound(table, "max_devices", DEFAULT_LIMITS.max_devices, CEILING_DEVICES)
        operations = self._bound(
            table, "max_operations", devices * OPERATIONS_PER_DEVICE, CEILING_OPERATIONS
        )
        if operations < devices:
            self._say_key(
                table,
                "max_operations",
                f"max_operations ({operations:,}) is below max_devices ({devices:,}): a request "
                f"on {devices:,} devices makes at least {devices:,} operations",
            )
        return Limits(max_devices=devices, max_operations=min(operations, CEILING_OPERATIONS))

    def _bound(self, table: _Table, key: str, default: int, ceiling: int) -> int:
        value = table.data.get(key)
        if value is None:
            return min(default, ceiling)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= ceiling:
            self._say_key(
                table,
                key,
                f"{key} must be a whole number from 1 to {ceiling:,}, not {_shown(value)}",
            )
            return min(default, ceiling)
        return value

    def _groups(self, value: object, limits: Limits) -> dict[str, tuple[str, ...]]:
        if value is None:
            return {}
        line = self._lines.table("groups") or self._lines.key("groups", table=0)
        if not isinstance(value, dict):
            self._say("", line, 'groups must be one table, [groups], like web = ["web-01..web-12"]')
            return {}
        table = _Table(data=value, where="[groups]", line=self._lines.table("groups"))
        groups: dict[str, tuple[str, ...]] = {}
        written: dict[str, str] = {}  # lower case → as written, for messages
        for name, members in value.items():
            problem = group_name_problem(name)
            if problem:
                self._say_key(table, name, problem)
                continue
            if name.lower() in written:
                self._say_key(
                    table,
                    name,
                    f'group "{name}" is group "{written[name.lower()]}" again: names are '
                    "compared ignoring case",
                )
                continue
            written[name.lower()] = name
            self._group_names.append(name.lower())
            devices = self._members(table, name, members, limits)
            if devices is not None:
                groups[name.lower()] = devices
        # A bare word that is a group's name is refused in a command ("did you mean @web?"):
        # a device of that name could then never be named alone, so the file may not do it.
        for lowered, name in written.items():
            owner = next((g for g, d in groups.items() if lowered in {n.lower() for n in d}), None)
            if owner is not None:
                self._say_key(
                    table,
                    name,
                    f'group "{name}" has the name of a device (in group "{written[owner]}"): '
                    f"name the group otherwise, or that device could not be named alone",
                )
        return groups

    def _members(
        self, table: _Table, name: str, members: object, limits: Limits
    ) -> tuple[str, ...] | None:
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            self._say_key(
                table,
                name,
                f'group "{name}" must be a list of device names and ranges in quotes, like '
                f'["web-01..web-12", "lb-01"], not {_shown(members)}',
            )
            return None
        if not members:
            self._say_key(table, name, f'group "{name}" is empty: list its devices')
            return None
        before = len(self._problems)
        devices: dict[str, str] = {}  # lower case → as first written
        for member in members:
            problem = self._member_problem(member, limits)
            if problem:
                self._say_key(table, name, f'group "{name}": {problem.rstrip(".")}')
                continue
            expanded = read_range(member).names() if is_range(member) else [member]
            for device in expanded:
                devices.setdefault(device.lower(), device)
            if len(devices) > limits.max_devices:
                break
        if len(devices) > limits.max_devices:
            self._say_key(
                table,
                name,
                f'group "{name}" has more than {limits.max_devices:,} devices, more than a '
                "request may name ([limits] max_devices), so it could never be used",
            )
        if len(self._problems) > before:
            return None
        return tuple(devices.values())

    def _member_problem(self, member: str, limits: Limits) -> str | None:
        if is_group(member):
            return (
                f'"{member}" is a group: a group lists devices and ranges, not other groups '
                f"(list {member}'s devices here instead)"
            )
        if not is_range(member):
            return check_device_name(member)
        try:
            found = read_range(member)
        except BadRange as error:
            return error.reason
        if found.count > limits.max_devices:
            return (
                f'"{member}" is {found.count:,} devices, more than a request may name '
                f"([limits] max_devices is {limits.max_devices:,})"
            )
        return check_device_name(found.name(found.first)) or check_device_name(
            found.name(found.last)
        )

    # -- the catalog

    def _catalog(self, value: object) -> Catalog:
        if value is None:
            return DEFAULT_CATALOG
        tables = self._array({"operations": value}, "operations", "operation")
        kinds: list[OperationKind] = []
        for index, table in enumerate(tables):
            kind = self._operation(table, index)
            if kind is None:
                continue
            for earlier in kinds:
                if earlier.keyword == kind.keyword:
                    self._say_key(
                        table, "keyword", f'keyword "{kind.keyword}" is already used above'
                    )
                elif earlier.operation_type == kind.operation_type:
                    self._say_key(
                        table, "type", f'type "{kind.operation_type}" is already used above'
                    )
            kinds.append(kind)
        site = {kind.keyword: kind for kind in kinds}
        # A site's keyword replaces the built-in one in place; new keywords come after.
        merged = [site.pop(k.keyword, k) for k in DEFAULT_CATALOG.kinds]
        merged.extend(site.values())
        for kind, table in zip(kinds, tables, strict=False):
            clash = next(
                (
                    k
                    for k in DEFAULT_CATALOG.kinds
                    if k.operation_type == kind.operation_type and k.keyword != kind.keyword
                ),
                None,
            )
            if clash is not None:
                self._say_key(
                    table,
                    "type",
                    f'type "{kind.operation_type}" is the built-in "{clash.keyword}" '
                    f'operation\'s: to replace it, use keyword = "{clash.keyword}"',
                )
        if self._problems:
            return DEFAULT_CATALOG
        try:
            return Catalog(kinds=tuple(merged))
        except ValueError as exc:
            line = self._lines.table("operations")
            self._say("[[operations]]", line, f"the operations do not fit together: {exc}")
            return DEFAULT_CATALOG

    def _operation(self, table: _Table, index: int) -> OperationKind | None:
        before = len(self._problems)
        self._unknown_keys(table, OPERATION_KEYS)
        keyword = self._string(table, "keyword", required=True)
        if keyword is not None:
            if keyword in BUILT_IN_COMMANDS:
                self._say_key(table, "keyword", f'"{keyword}" is one of the bot\'s own words')
            elif not KEYWORD.match(keyword):
                self._say_key(
                    table,
                    "keyword",
                    f'keyword "{keyword}" must be one lower-case word, like "set"',
                )
        operation_type = self._string(table, "type", required=True)
        if operation_type is not None and not OPERATION_TYPE.match(operation_type):
            self._say_key(
                table, "type", f'type "{operation_type}" must be one word, as the API names it'
            )
        label = self._string(table, "label", required=True)
        syntax = self._string(table, "syntax", required=True)
        example = self._string(table, "example", required=True)
        fixed = table.data.get("fixed", {})
        if not isinstance(fixed, dict):
            self._say_key(
                table,
                "fixed",
                f"fixed must be a table, like {{ force = true }}, not {_shown(fixed)}",
            )
            fixed = {}
        fields = tuple(
            field
            for number, param in enumerate(self._parameters(table, index))
            if (field := self._parameter(param, number)) is not None
        )
        if len(self._problems) > before:
            return None
        return OperationKind(
            keyword=keyword or "",
            operation_type=operation_type or "",
            label=label or "",
            syntax=syntax or "",
            example=example or "",
            fields=fields,
            fixed=dict(fixed),
        )

    def _parameters(self, table: _Table, index: int) -> list[_Table]:
        value = table.data.get("parameters", [])
        if not isinstance(value, list) or not all(isinstance(p, dict) for p in value):
            self._say_key(
                table,
                "parameters",
                "write each parameter as its own [[operations.parameters]] table",
            )
            return []
        return [
            _Table(
                data=entry,
                where=f"{table.where} parameter #{number + 1}",
                line=self._lines.table(
                    "operations.parameters", number, after=table.line, within="operations"
                )
                or table.line,
            )
            for number, entry in enumerate(value)
        ]

    def _parameter(self, table: _Table, number: int) -> ParamField | None:
        before = len(self._problems)
        self._unknown_keys(table, PARAMETER_KEYS)
        name = self._string(table, "name", required=True)
        if name is not None and not PARAMETER_NAME.match(name):
            self._say_key(table, "name", f'name "{name}" must be one word of letters, digits and _')
        label = self._string(table, "label", required=True)
        kinds = tuple(sorted(FIELD_KINDS))
        kind = self._choice(table, "kind", kinds, "", required=True)
        required = table.data.get("required", False)
        if not isinstance(required, bool):
            self._say_key(
                table, "required", f"required must be true or false, not {_shown(required)}"
            )
        placeholder = self._string(table, "placeholder") or ""
        word = self._string(table, "word") or ""
        if word and (word != word.lower() or len(word.split()) != 1):
            self._say_key(table, "word", f'word "{word}" must be one lower-case word')
        if kind and kind != "name" and not word and "word" not in table.data:
            self._say_key(
                table, "word", f'a "{kind}" parameter needs a word, the one typed before it'
            )
        value_type = ""
        if kind == "value":
            value_type = self._choice(table, "type", tuple(sorted(VALUE_TYPES)), "", required=True)
        elif "type" in table.data:
            self._say_key(table, "type", 'type only applies to kind = "value"')
        default = table.data.get("default", FIELD_DEFAULTS.get(kind))
        if "default" in table.data and kind and not _fits(default, kind, value_type):
            self._say_key(
                table, "default", f"default {_shown(default)} does not fit a {kind} parameter"
            )
        if len(self._problems) > before or not kind:
            return None
        return ParamField(
            name=name or "",
            label=label or "",
            kind=kind,
            required=bool(required),
            default=default,
            placeholder=placeholder,
            word=word,
            value_type=value_type,
        )

    # -- values

    def _unknown_keys(self, table: _Table, allowed: Sequence[str]) -> None:
        for key in table.data:
            if key not in allowed:
                hint = _did_you_mean(key, allowed) or "; the keys here are " + ", ".join(allowed)
                self._say_key(table, key, f'unknown key "{key}"{hint}')

    def _string(self, table: _Table, key: str, *, required: bool = False) -> str | None:
        value = table.data.get(key)
        if value is None:
            if required:
                self._say(table.where, table.line, f"{key} is missing")
            return None
        if not isinstance(value, str) or not value.strip():
            self._say_key(table, key, f"{key} must be a text in quotes, not {_shown(value)}")
            return None
        return value

    def _choice(
        self,
        table: _Table,
        key: str,
        choices: Sequence[str],
        default: str,
        *,
        required: bool = False,
    ) -> str:
        value = table.data.get(key)
        if value is None:
            if required:
                self._say(table.where, table.line, f"{key} is missing ({_or(choices)})")
            return default
        if value not in choices:
            self._say_key(table, key, f"{key} must be {_or(choices)}, not {_shown(value)}")
            return default
        return str(value)

    def _strings(self, table: _Table, key: str, *, what: str) -> tuple[str, ...] | None:
        """A list of texts; None when absent (which means "all")."""
        value = table.data.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self._say_key(
                table,
                key,
                f'{key} must be a list of {what} in quotes, like ["…"], not {_shown(value)}',
            )
            return None
        return tuple(value)

    def _ids(
        self, table: _Table, key: str, *, person: bool, may_be_empty: bool = False
    ) -> tuple[str, ...] | None:
        what = "user and user group ids" if person else "channel ids"
        ids = self._strings(table, key, what=what)
        if ids is None:
            return None
        if not ids and not may_be_empty:
            nobody = "nobody" if person else "nowhere"
            self._say_key(
                table, key, f"{key} is empty, which allows {nobody}: leave the key out to allow all"
            )
        shape, kinds, named = (
            (PERSON_ID, "a user (U…, W…) or user group (S…) id", "their profile's ⋮ menu")
            if person
            else (CHANNEL_ID, "a channel id (C…, G… or D…)", "the channel's details")
        )
        for value in ids:
            if shape.match(value):
                continue
            # Real ids hold digits: "general" is a channel's name, not "GENERAL" lower-cased.
            if shape.match(value.upper()) and any(c.isdigit() for c in value):
                hint = f'Slack ids are upper case: "{value.upper()}"'
            else:
                hint = f"use the id, not a name: Slack shows it in {named}"
            self._say_key(table, key, f'"{value}" is not {kinds}; {hint}')
        return ids

    def _patterns(
        self, table: _Table, key: str
    ) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
        """Device patterns: the globs to match (each group, `@db`, replaced by its members,
        which are device names), and the patterns as written. A pattern that could never
        match a device name is refused: it would silently leave out what it was meant for (a
        rule's approval, a window)."""
        globs = self._strings(table, key, what="device name patterns")
        if globs is None:
            return None, None
        if not globs:
            self._say_key(
                table, key, f"{key} is empty, which matches no device: leave the key out for all"
            )
        resolved: list[str] = []
        for glob in globs:
            if is_group(glob):
                members, problem = self._group_named(glob)
                resolved.extend(members)
            else:
                resolved.append(glob)
                problem = _pattern_problem(glob)
            if problem:
                self._say_key(table, key, f"{key}: {problem}")
        return tuple(dict.fromkeys(resolved)), globs

    def _group_named(self, word: str) -> tuple[tuple[str, ...], str]:
        """The members of the group `word` names (`@db`), or why it names none."""
        name = word[len(GROUP_SIGIL) :].lower()
        if name in self._groups_read:
            return self._groups_read[name], ""
        if name in self._group_names:
            return (), ""  # [groups] says what is wrong with it
        groups = [f"{GROUP_SIGIL}{g}" for g in self._group_names]
        like = groups[0] if groups else f"{GROUP_SIGIL}db"
        if not name:
            return (), (
                f'"{word}" names no group: write a group\'s name after the @, like "{like}"'
            )
        if group_name_problem(name) is not None:
            return (), (
                f'"{word}" names no group: a group is named whole, like "{like}", '
                "never by a pattern"
            )
        if not groups:
            return (), (
                f'"{word}" names a group, but there is no [groups] section to define it: add '
                f'one, like [groups] {name} = ["{name}-01..{name}-03"]'
            )
        close = get_close_matches(f"{GROUP_SIGIL}{name}", groups, n=1, cutoff=0.6)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        shown = _and([f'"{g}"' for g in groups])
        return (), f'there is no group "{word}" in [groups]{hint}; the groups are {shown}'

    def _count(self, table: _Table, key: str) -> int:
        value = table.data.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self._say_key(
                table, key, f"{key} must be a whole number, 1 or more, not {_shown(value)}"
            )
            return 1
        return value

    def _expires(self, table: _Table) -> timedelta:
        value = table.data.get("expires")
        if value is None:
            return DEFAULT_EXPIRES
        found = DURATION.match(value.strip().lower()) if isinstance(value, str) else None
        days, hours, minutes = (int(g or 0) for g in found.groups()) if found else (0, 0, 0)
        length = timedelta(days=days, hours=hours, minutes=minutes)
        if not found or not value.strip():
            problem = (
                f'expires must be a time like "30m", "1h", "2h30m" or "1d", not {_shown(value)}'
            )
        elif not length:
            problem = "expires must be longer than 0"
        elif length > MAX_EXPIRES:
            problem = f'expires may be at most 7 days ("7d"), not {_shown(value)}'
        else:
            return length
        self._say_key(table, "expires", problem)
        return DEFAULT_EXPIRES

    # -- saying it

    def _say_key(self, table: _Table, key: str, message: str) -> None:
        line = self._lines.key(key, table=table.line) if table.line else 0
        self._say(table.where, line or table.line, message)

    def _say(self, where: str, line: int, message: str) -> None:
        place = where or (f"line {line}" if line else "")
        if where and line:
            place += f" (line {line})"
        self._problems.append((line, f"{self._source}: {place}: {message}"))


def _fits(value: object, kind: str, value_type: str) -> bool:
    if kind == "flag":
        return isinstance(value, bool)
    if kind == "duration":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if kind == "name_list":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "name":
        return isinstance(value, str)
    return {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
    }.get(value_type, True)


def _pattern_problem(glob: str) -> str:
    """Why `glob` is no device pattern, or can never match a device name; "" if it can."""
    if not glob.strip():
        return f'"{glob}" is empty: a pattern needs at least one character, like "server-*"'
    position = 0
    while (opening := glob.find("[", position)) != -1:
        # fnmatch reads "[" without its "]" as a plain "[": surely a typo in a device pattern.
        closing = glob.find(
            "]", opening + 2 if glob[opening + 1 : opening + 2] != "!" else opening + 3
        )
        if closing == -1:
            return f'"{glob}" has a "[" without its "]": write a set like "db-0[1-3]"'
        position = closing + 1
    _, why = match_example(glob)
    return f'"{glob}" can never match a device name: {why}' if why else ""


# What a device name may hold (grammar.check_device_name), as `matches` compares names: in
# lower case. In an example, digits come first: the words a device may not be called (`now`,
# `at`) have none.
_NAME_CHARS = string.digits + string.ascii_lowercase + "._-"
_NAME_ENDS = frozenset(string.digits + string.ascii_lowercase)
_WILDCARDS = frozenset("*?[")


def match_example(glob: str) -> tuple[str, str]:
    """A device name `glob` matches, and ""; or "" and why no device name can match it, with
    the fix. By hand: fnmatch offers no way to ask whether a pattern can match anything.

    Each piece of the pattern but `*` stands for one character, so a name exists exactly when
    each such piece allows a character a device name holds, the first and the last (unless
    `*`) allow a letter or a digit, and the shortest such name is short enough. A pattern with
    no wildcard is checked as the name it is (a word the grammar reads, like `now`, is none)."""
    pieces = _pieces(glob)
    if not pieces:
        return "", 'it is empty: a pattern needs at least one character, like "server-*"'
    chosen: list[str] = []  # one character per piece; "" for `*`
    outside: list[str] = []  # characters a device name never holds
    empty_sets: list[str] = []
    for piece in pieces:
        if piece == "*":
            chosen.append("")
            continue
        fits = _name_characters(piece)
        if fits:
            chosen.append(fits[0])
        elif piece.startswith("[") and len(piece) > 1:
            empty_sets.append(piece)
        else:
            outside.append(piece)
    if outside:
        return "", _bad_characters(glob, list(dict.fromkeys(outside)))
    if empty_sets:
        return "", (
            f'the set "{empty_sets[0]}" holds no character a device name may hold (letters, '
            'digits, ".", "_" and "-"): put one in it'
        )
    bad_start = pieces[0] != "*" and not _NAME_ENDS.intersection(_name_characters(pieces[0]))
    bad_end = pieces[-1] != "*" and not _NAME_ENDS.intersection(_name_characters(pieces[-1]))
    if bad_start or bad_end:
        which = " and ".join(w for w, bad in (("start", bad_start), ("end", bad_end)) if bad)
        fixed = f"{'*' if bad_start else ''}{glob}{'*' if bad_end else ''}"
        return "", (
            f"device names {which} with a letter or a digit; {which} it with one, or with "
            f'"*" ("{fixed}")'
        )
    # Where the name's first (last) character comes from a `*`, a digit; else the piece's own.
    if pieces[0] == "*" and (len(pieces) == 1 or chosen[1] not in _NAME_ENDS):
        chosen[0] = "0"
    if pieces[-1] == "*" and len(pieces) > 1 and chosen[-2] not in _NAME_ENDS:
        chosen[-1] = "0"
    example = "".join(chosen)
    if len(example) > MAX_DEVICE_NAME:
        return "", (
            f"it needs at least {len(example)} characters, and a device name has at most "
            f"{MAX_DEVICE_NAME}: shorten it"
        )
    if not _WILDCARDS.intersection(glob) and check_device_name(glob) is not None:
        return "", "it is a word the bot reads as part of a command, so no device can be named so"
    return example, ""


def _pieces(glob: str) -> list[str]:
    """`glob` as fnmatch reads it: `*` (runs of them as one), `?`, a set `[…]`, or one
    character (a `[` without its `]` is one)."""
    pieces: list[str] = []
    at = 0
    while at < len(glob):
        end = at + 1
        if glob[at] == "[":
            inner = at + 1 + (glob[at + 1 : at + 2] == "!")
            inner += glob[inner : inner + 1] == "]"
            closing = glob.find("]", inner)
            if closing != -1:
                end = closing + 1
        if not (glob[at] == "*" and pieces and pieces[-1] == "*"):
            pieces.append(glob[at:end])
        at = end
    return pieces


def _name_characters(piece: str) -> list[str]:
    """The characters of a device name that one piece of a pattern (not `*`) matches."""
    return [c for c in _NAME_CHARS if fnmatch.fnmatchcase(c, piece.lower())]


def _bad_characters(glob: str, characters: Sequence[str]) -> str:
    shown = _and([_character(c) for c in characters])
    said = f'a device name holds only letters, digits, ".", "_" and "-", not {shown}'
    # "server-01 " or "a b": most likely spaces where separate quotes were meant.
    parts = glob.replace(",", " ").split()
    if parts != [glob] and parts and all(not _pattern_problem(p) for p in parts):
        if len(parts) == 1:
            return f'{said}; did you mean "{parts[0]}"?'
        quoted = ", ".join(f'"{p}"' for p in parts)
        return f"{said}; give each pattern its own quotes: {quoted}"
    return f"{said}; remove {'it' if len(characters) == 1 else 'them'}"


def _character(c: str) -> str:
    if c == " ":
        return "a space"
    if c.isprintable() and not c.isspace():
        return f'"{c}"'
    return f"U+{ord(c):04X}"


def _unknown_zone(tz: str) -> str:
    zones = available_timezones()
    same = [z for z in zones if z.lower() == tz.lower()]
    close = same or get_close_matches(tz, sorted(zones), n=3, cutoff=0.6)
    hint = f" (did you mean {_or([f'{z}' for z in close])}?)" if close else ""
    return f'tz: there is no time zone "{tz}"{hint}; use a name like "Europe/Madrid", or "UTC"'


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = get_close_matches(word, choices, n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _and(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _or(words: Sequence[str]) -> str:
    quoted = [f'"{w}"' for w in words]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _shown(value: object) -> str:
    """A value as it was written in TOML, near enough."""
    if isinstance(value, dict):
        return "a table"
    try:
        return json.dumps(value, ensure_ascii=False)
    except TypeError:
        return str(value)
