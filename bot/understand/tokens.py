"""The typed text cut into words and commas, before any of it is read: its length bounded and
its invisible characters refused; and, whatever a command is refused for, the characters
outside plain text that its words hold, told with the reason."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot import say
from bot.model import Refusal
from bot.understand.typed import invisible, is_quoted, plain, unread

# Room for 50 devices of 63 characters each, yet a bound: nobody types more by hand (more
# devices are named by ranges and groups, and bounded by the policy's [limits]).
MAX_TEXT = 4000

TOKEN = re.compile(r'"[^"]*"|“[^”]*”|,|[^\s,]+')


def tokenize(raw: str, *, example: str) -> list[str]:
    """Words and commas; refuses invisible characters and over-long text."""
    char = invisible(raw)
    if char is not None:
        raise Refusal(say.grammar.control_character(ord(char)), example=example)
    stripped = plain(raw).strip()
    if len(stripped) > MAX_TEXT:
        raise Refusal(say.grammar.too_long(len(stripped), MAX_TEXT), example=example)
    return TOKEN.findall(stripped)


def with_unread(reason: str, words: Sequence[str], value_words: frozenset[str]) -> str:
    """The reason, and the characters outside plain text in `words` that it does not name
    yet: whatever a command is refused for, they are told, as they may look like plain ones
    (a Cyrillic "о", an en dash) and be why. A quoted word, or the word after one of
    `value_words`, is a value, where any character is read."""
    chars = [
        c
        for i, word in enumerate(words)
        if not is_quoted(word) and not (i and words[i - 1].lower() in value_words)
        for c in unread(word)
    ]
    untold = [c for c in dict.fromkeys(chars) if f"U+{ord(c):04X}" not in reason]
    return f"{reason} {say.grammar.unread_characters(untold)}" if untold else reason
