"""The device patterns of `[[rules]]` and `[[windows]]` (`devices = ["web-*", "@db"]`): each
group replaced by its members, and a pattern that could never match a device name refused."""

from __future__ import annotations

import fnmatch
import string
from collections.abc import Sequence
from difflib import get_close_matches

from bot.policy.tables.reader import Table, TableReader
from bot.understand.names import MAX_DEVICE_NAME, check_device_name
from bot.understand.naming import GROUP_SIGIL, group_name_problem, is_group


class DevicePatterns(TableReader):
    def _patterns(
        self, table: Table, key: str
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


# What a device name may hold (names.check_device_name), as `matches` compares names: in
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


def _and(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
