"""Freezes: an admin stops work on some devices (or all) for a while, with a reason.

`freeze [devices] [for 2h | until <time>] <reason>` and `unfreeze [devices]`, read here into
plain values; the store keeps them, the service refuses new requests they cover, and the
sender holds what is not yet sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot import say
from bot.answers import Frozen, Refused
from bot.model import Refusal, format_api_time
from bot.policy.rules import Policy, matches
from bot.ports import GroupsUnavailable
from bot.understand.catalog import DEFAULT_CATALOG
from bot.understand.courtesy import without_courtesy
from bot.understand.naming import GROUP_SIGIL, is_group
from bot.understand.tokens import MAX_TEXT, with_unread
from bot.understand.typed import invisible, plain, unquoted, unread
from bot.understand.when import UnreadableTime, resolve, says_which_day_or_zone
from bot.zequenze.api import ApiError, ZequenzeClient
from store import Freeze, Store, is_final

MAX_FREEZE = timedelta(days=30)
# The most words a time after `until` takes: "next friday 18 december 2026 at 14:00 CET" is 7.
UNTIL_WORDS = 10
# One or more amounts with their units ("2h", "2 hours", "1d 2h", "2h30m"). A unit must not run
# on into letters: "2months" is no unit it knows, never 2 minutes, and "2 hours" is not 2 h
# followed by a reason starting "ours".
_UNIT_WORD = r"(?:minutes?|mins?|m|hours?|hrs?|h|days?|d)(?![a-z])"
_DURATION = re.compile(rf"(?:[0-9]+\s*{_UNIT_WORD}\s*)+", re.ASCII | re.IGNORECASE)
_DURATION_PART = re.compile(rf"([0-9]+)\s*({_UNIT_WORD})", re.ASCII | re.IGNORECASE)
_UNIT = {"m": 60, "h": 3600, "d": 86400}
_SEPARATORS = frozenset({",", "and"})
# A word names a device (or a glob of them) only if it could not be the start of a reason:
# names in a fleet carry digits, dashes or dots (server-01, db-0?, web.eu); "freeze release
# day" is a freeze of everything, with a reason.
_DEVICE_LIKE = re.compile(r"[A-Za-z0-9._*?\[\]-]*[0-9._*?\[-][A-Za-z0-9._*?\[\]-]*")


@dataclass(frozen=True, kw_only=True)
class FreezeOrder:
    devices: tuple[str, ...] | None  # globs and groups (`@db`) as typed; None: every device
    until: datetime | None  # None: until lifted
    reason: str


def read_freeze(args: str, *, tz: str, now: datetime) -> FreezeOrder:
    """The words after `freeze`. Raises Refusal, with an example, for what cannot be read."""
    words = _words(args)
    cut = next((i for i, w in enumerate(words) if w.lower() in ("for", "until")), None)
    if cut is not None:
        devices, rest = words[:cut], words[cut:]
        until, reason = _read_end(rest, tz=tz, now=now)
    else:
        n = 0
        while n < len(words) and (
            _DEVICE_LIKE.fullmatch(unquoted(words[n]))
            or is_group(unquoted(words[n]))
            or (n and words[n].lower() in _SEPARATORS)
        ):
            n += 1
        devices, until, reason = words[:n], None, " ".join(words[n:])
    names = _names(devices)
    reason = _sentence(reason)
    if not reason:
        raise Refusal(say.policy.FREEZE_NEEDS_REASON, example=say.policy.FREEZE_EXAMPLE)
    return FreezeOrder(devices=names, until=until, reason=reason)


def read_unfreeze(args: str) -> tuple[str, ...] | None:
    """The devices after `unfreeze`; None: every freeze."""
    return _names(_words(args))


def with_groups(
    names: tuple[str, ...] | None, groups: Mapping[str, tuple[str, ...]], *, example: str
) -> tuple[str, ...] | None:
    """The names with each group (`@db`) replaced by its members, as the policy file in force
    defines them: a freeze holds device names and globs, which the store's claim checks too.
    Raises Refusal for a group the file does not define."""
    if names is None or not any(is_group(name) for name in names):
        return names
    resolved: list[str] = []
    for name in names:
        if not is_group(name):
            resolved.append(name)
            continue
        members = groups.get(name[len(GROUP_SIGIL) :].lower())
        if members is None:
            known = [f"{GROUP_SIGIL}{group}" for group in groups]
            raise Refusal(say.grammar.unknown_group(name, known), example=example)
        resolved.extend(members)
    return tuple(dict.fromkeys(resolved))


def covering(freezes: Sequence[Freeze], device_name: str) -> Freeze | None:
    """The first active freeze that covers this device."""
    return next((f for f in freezes if matches(device_name, f.devices)), None)


def lifted_by(freezes: Sequence[Freeze], devices: tuple[str, ...] | None) -> list[Freeze]:
    """Which freezes an `unfreeze` lifts: all, or those naming one of these globs."""
    if devices is None:
        return list(freezes)
    wanted = {d.lower() for d in devices}
    return [f for f in freezes if f.devices and wanted & {d.lower() for d in f.devices}]


def _words(args: str) -> list[str]:
    """The words, as the grammar reads a command's (bot/understand/typed.py): invisible
    characters and over-long text refused, non-breaking spaces read as spaces."""
    char = invisible(args)
    if char is not None:
        raise Refusal(say.grammar.control_character(ord(char)), example=say.policy.FREEZE_EXAMPLE)
    if len(args.strip()) > MAX_TEXT:
        raise Refusal(
            say.grammar.too_long(len(args.strip()), MAX_TEXT), example=say.policy.FREEZE_EXAMPLE
        )
    words = plain(args).replace(",", " , ").split()
    # The thanks after it (`…, thanks`), as a command's: read past, never the reason nor a
    # device. The politeness before `freeze` was read past by the service; a `?` stays, as a
    # glob's (`unfreeze db-0?`) or the reason's. The keyword in front keeps the start as is.
    return without_courtesy(["freeze", *words], DEFAULT_CATALOG, question=False)[1:]


def _sentence(text: str) -> str:
    """A reason's words as written: a comma after the word before it ("db, web upgrade", not
    "db , web upgrade"), none left at either end."""
    return " ".join(text.split()).replace(" , ", ", ").strip(" ,")


def _names(words: Sequence[str]) -> tuple[str, ...] | None:
    names = tuple(unquoted(w) for w in words if w.lower() not in _SEPARATORS)
    for name in names:
        if is_group(name):
            continue  # a group's name is checked against the policy file's groups
        if not (
            _DEVICE_LIKE.fullmatch(name) or (name.isascii() and name.replace("-", "").isalnum())
        ):
            reason = with_unread(say.policy.freeze_bad_device(name), [name], frozenset())
            raise Refusal(reason, example=say.policy.FREEZE_EXAMPLE)
    return names or None


def _read_end(words: list[str], *, tz: str, now: datetime) -> tuple[datetime, str]:
    """`for 2h <reason>` or `until <time> <reason>`: the end, and the reason after it."""
    keyword, rest = words[0].lower(), words[1:]
    odd = unread(rest[0]) if rest else []
    if odd:  # "for ２h", "until １８:００": named, as the grammar names them
        reason = say.policy.FREEZE_BAD_DURATION if keyword == "for" else say.policy.FREEZE_BAD_UNTIL
        raise Refusal(with_unread(reason, rest[:1], frozenset()), example=say.policy.FREEZE_EXAMPLE)
    if keyword == "for":
        joined = " ".join(rest)
        match = _DURATION.match(joined)
        if not match:
            raise Refusal(say.policy.FREEZE_BAD_DURATION, example=say.policy.FREEZE_EXAMPLE)
        # Whole seconds compared before a timedelta is made: "9999999999 days" is too long,
        # not an OverflowError.
        seconds = sum(
            int(amount) * _UNIT[unit[0].lower()]
            for amount, unit in _DURATION_PART.findall(match.group(0))
        )
        if not seconds:
            raise Refusal(say.policy.FREEZE_NO_LENGTH, example=say.policy.FREEZE_EXAMPLE)
        if seconds > MAX_FREEZE.total_seconds():
            raise Refusal(
                say.policy.freeze_too_long(match.group(0).strip(), MAX_FREEZE.days),
                example=say.policy.FREEZE_EXAMPLE,
            )
        return now + timedelta(seconds=seconds), joined[match.end() :]
    # The longest run of words that reads as a time, of a time's length at most (each run is
    # read afresh: a whole long reason would cost seconds); what follows is the reason.
    refused: tuple[int, Refusal] | None = None  # the longest run read as a time, but refused
    for n in range(min(len(rest), UNTIL_WORDS), 0, -1):
        try:
            when = resolve(" ".join(rest[:n]), tz=tz, now=now)
        except UnreadableTime:
            continue
        except Refusal as refusal:
            refused = refused or (n, refusal)
            continue
        if refused and any(says_which_day_or_zone(w) for w in rest[n : refused[0]]):
            # "until 14:00 BST patching" in December: BST was refused (out of season), and
            # "14:00" alone would read in the admin's zone, an hour off, with "BST" taken
            # for the reason. A day or a zone dropped from the end is refused, not guessed.
            raise Refusal(refused[1].reason, example=say.policy.FREEZE_EXAMPLE)
        if when.immediate or when.at <= now:
            break
        if when.at - now > MAX_FREEZE:
            raise Refusal(
                say.policy.freeze_too_long(" ".join(rest[:n]), MAX_FREEZE.days),
                example=say.policy.FREEZE_EXAMPLE,
            )
        return when.at, " ".join(rest[n:])
    raise Refusal(say.policy.FREEZE_BAD_UNTIL, example=say.policy.FREEZE_EXAMPLE)


# A freeze lists what the API already holds for its devices (it cannot stop those), looked
# for among the newest operations, as a pre-flight is.
FREEZE_SEARCH = 500
FREEZE_HELD_SHOWN = 20
SEARCH_PAGE = 100


class FreezeDesk:
    """`/ops freeze` and `/ops unfreeze`, for admins."""

    def __init__(
        self,
        *,
        store: Store,
        api: ZequenzeClient,
        policy: Policy,
        clock: Callable[[], datetime],
        on_change: Callable[[], None],
    ) -> None:
        self._store = store
        self._api = api
        self._policy = policy
        self._clock = clock
        self._on_change = on_change  # held operations may go when a freeze is lifted

    def order(
        self, word: str, args: str, *, user: str, channel: str | None, tz: str
    ) -> Frozen | Refused:
        """`freeze [devices] [for 2h | until <time>] <reason>` or `unfreeze [devices]`, by an
        admin: new requests for those devices are refused, and what is not yet sent waits."""
        try:
            if not self._policy.is_admin(user):
                admins = self._policy.config.access.admins
                return Refused(reason=say.policy.not_admin(admins), example="", markup=True)
        except GroupsUnavailable as exc:
            return Refused(reason=say.policy.groups_unavailable(exc.reason), example="")
        now = self._clock()
        groups = self._policy.config.groups  # the policy file in force says what @db is
        if word == "unfreeze":
            try:
                typed = read_unfreeze(args)
                devices = with_groups(typed, groups, example=say.policy.UNFREEZE_EXAMPLE)
            except Refusal as refusal:
                return Refused(reason=refusal.reason, example=say.policy.UNFREEZE_EXAMPLE)
            active = self._store.active_freezes(now=now)
            lifted = self._store.lift_freezes(
                [f.id for f in lifted_by(active, devices)], by=user, now=now
            )
            if not lifted:
                shown = None if typed is None else [f"`{say.common.escape(d)}`" for d in typed]
                reason = say.policy.nothing_frozen(shown)
                return Refused(reason=reason, example=say.policy.UNFREEZE_EXAMPLE, markup=True)
            self._on_change()  # held operations may go now
            return Frozen(lifted=tuple(lifted))
        try:
            order = read_freeze(args, tz=tz, now=now)
            devices = with_groups(order.devices, groups, example=say.policy.FREEZE_EXAMPLE)
        except Refusal as refusal:
            return Refused(reason=refusal.reason, example=refusal.example)
        freeze = self._store.add_freeze(
            devices=devices,
            reason=order.reason,
            by=user,
            channel=channel,
            now=now,
            until=order.until,
        )
        try:
            held = self._api.find_newest(
                lambda item: (
                    not is_final(str(item.get("status") or ""))
                    and covering([freeze], str(item.get("device_name") or "")) is not None
                ),
                want=FREEZE_HELD_SHOWN,
                within=FREEZE_SEARCH,
                page_size=SEARCH_PAGE,
            )
        except ApiError as exc:
            return Frozen(freeze=freeze, held_unknown=exc.message, held=self._in_flight(freeze))
        return Frozen(freeze=freeze, held=(*self._in_flight(freeze), *held.items))

    def _in_flight(self, freeze: Freeze) -> tuple[dict[str, Any], ...]:
        """Create calls on their way to the API as the freeze came: too late to hold, and
        not yet in its list."""
        return tuple(
            {
                "id": op.api_id or say.policy.NO_ID_YET,
                "device_name": op.device_name,
                "operation_type": op.operation_type,
                "scheduled_at": format_api_time(op.scheduled_at),
                "status": say.policy.BEING_SENT,
            }
            for op in self._store.operations_in_state("sending")
            if covering([freeze], op.device_name) is not None
        )
