"""What a person typed, before any reading: which characters the bot reads, which it reads as
their plain twins, and which it names in a refusal.

Commands are plain text: names, times, numbers and options are ASCII letters, digits and
punctuation. Keyboards change some of what is typed on their own, and two of those changes
are read as what was meant, because they can mean nothing else:

- A non-breaking space (Option-Space on a Mac, some phone keyboards after a number) is a
  space: no word of a command can hold one, so it can only be separating words.
- Quotes around a single name, straight or typographic (`“server-01”`, `‘nginx’`,
  `"curl"`), are quoting it: no name can contain a quote, so they cannot be part of it. This
  is decided where a name is read (see `unquoted`), never for the whole text: around a value
  the quotes keep their meaning (`as "on"` is the value on, not the word before devices).

Nothing else is mended. A dash (`–` may be a minus, a range or a pause), an ellipsis, an
emoji, full-width digits or another script is named in the refusal (`U+2013`), since a guess
could act on the wrong device. Invisible characters (controls, zero-width and direction
marks, lone surrogates) are refused before anything is read: they make a command look
different from what it is.
"""

from __future__ import annotations

import unicodedata

# Spaces that do not break a line: read as a space.
NON_BREAKING_SPACES = "\u00a0\u2007\u202f"
_PLAIN_SPACES = str.maketrans(dict.fromkeys(NON_BREAKING_SPACES, " "))
# Quotation marks, straight and typographic, as keyboards and autocorrect type them (English,
# German „…“, Swedish ”…”, French «…», and their single forms).
QUOTES = frozenset("\"'“”„‟‘’‚‛«»‹›")
ALLOWED_WHITESPACE = frozenset("\t\n\r")
# Invisible characters: controls (Cc), format marks (Cf: zero-width spaces, direction
# overrides, soft hyphens) and lone surrogates (Cs: no text can hold one; SQLite refuses it).
_INVISIBLE = frozenset({"Cc", "Cf", "Cs"})


def plain(typed: str) -> str:
    """The text with its non-breaking spaces read as spaces."""
    return typed.translate(_PLAIN_SPACES)


def invisible(typed: str) -> str | None:
    """The first invisible character in the text (a tab or a line break is not), or None."""
    return next(
        (c for c in typed if unicodedata.category(c) in _INVISIBLE and c not in ALLOWED_WHITESPACE),
        None,
    )


def unquoted(word: str) -> str:
    """`word` without the quotes around it when it is one quoted word; else as it is.

    Only a word with a quotation mark at each end and none inside, no space and no comma,
    is unquoted: `“two words”` stays as typed and is refused as a name, with its quotes named.
    """
    inside = word[1:-1]
    if len(word) < 3 or word[0] not in QUOTES or word[-1] not in QUOTES:
        return word
    if any(c in QUOTES or c == "," or c.isspace() for c in inside):
        return word
    return inside


def is_quoted(word: str) -> bool:
    """Does this word of a command begin and end with a quotation mark (a value in quotes)?"""
    return len(word) >= 2 and word[0] in QUOTES and word[-1] in QUOTES


def unread(typed: str) -> list[str]:
    """The characters of `typed` outside plain text, each once, in order: what no name, time,
    number or option of a command is written with."""
    return [
        c
        for c in dict.fromkeys(typed)
        if not (" " <= c <= "~") and c not in ALLOWED_WHITESPACE and not c.isspace()
    ]


def shows_itself(char: str) -> bool:
    """Can the character be shown between quotes (a letter, digit, symbol or punctuation), or
    only by its code (a mark that joins the character before it, a space, an invisible one)?"""
    return unicodedata.category(char)[0] in "LNPS"


def whole_number(written: str, *, at_most: int) -> int | None:
    """The number `written` in plain digits, if it is at most `at_most`; None for anything
    else. Its digits are counted before it is read: past 4,300 digits Python refuses to read
    a number (ValueError), and SQLite holds none past 64 bits (OverflowError)."""
    if not (written.isascii() and written.isdigit()):
        return None
    digits = written.lstrip("0") or "0"
    if len(digits) > len(str(at_most)) or int(digits) > at_most:
        return None
    return int(digits)


# Characters that break or steer a line of text: invisible ones, and the line and paragraph
# separators some viewers break a line at.
_LINE_STEERING = _INVISIBLE | {"Zl", "Zp"}
LINE_BREAK_SHOWN = "⏎"


def visible(text: str) -> str:
    """The text on one line, each character that would break or steer it shown instead: a
    line break as ⏎, any other control, format mark or separator by its code (`U+001B`), so
    that what was typed can neither fake a second line nor send a terminal an escape."""
    if not any(unicodedata.category(c) in _LINE_STEERING for c in text):
        return text
    return "".join(
        LINE_BREAK_SHOWN
        if c == "\n"
        else f"U+{ord(c):04X}"
        if unicodedata.category(c) in _LINE_STEERING
        else c
        for c in text
    )


def storable(typed: str) -> str:
    """The text with each lone surrogate written as its escape (`\\ud800`): what was typed,
    kept where UTF-8 goes (SQLite, `opsbot audit`'s output), which cannot hold one."""
    return typed.encode("utf-8", "backslashreplace").decode("utf-8")
