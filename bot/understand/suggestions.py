"""Suggestions: the examples a refusal offers are the person's own text, mended in one place.

Typed back, an example must do what the person meant: the words of their line stay as they
typed them (devices, options, waves, the time) and one edit is made where the grammar found
what was wrong; the result is read before it is offered. A line that holds several requests
is refused here, with the command to type for each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from bot import say
from bot.model import Command, Plan, Refusal
from bot.understand.catalog import Catalog
from bot.understand.typed import unquoted

PLAN_WORD = "plan"  # plan reboot server-01: shown, never recorded or sent


class Word(str):
    """A word as typed, knowing its place in the text. A suggestion is the person's text with
    one edit at such a place (a comma, "on" or "with" put in, a value or time phrase put
    right), so every other word (devices, options, waves, the time) stays as they typed it."""

    place: int


def placed(tokens: list[str]) -> list[str]:
    """The words, each knowing its place (a Plan holds them as plain strings again)."""
    words: list[str] = []
    for place, token in enumerate(tokens):
        word = Word(token)
        word.place = place
        words.append(word)
    return words


@dataclass(frozen=True, kw_only=True)
class Fix:
    """One edit of the typed text: `drop` taken out and `new` put where the first of them was,
    or before `at`, or after `after`, or at the end."""

    drop: tuple[str, ...] = ()
    at: str | None = None
    after: str | None = None
    new: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Reading:
    """The text being read (its words, "/ops" left out) and what a suggestion is read with."""

    typed: tuple[str, ...]
    catalog: Catalog
    # `text` read as this text is (the same zone, moment, catalog and groups); `suggest`
    # False reads it making no suggestion of its own, so checking one never checks another
    parse: Callable[[str, bool], Command]
    suggest: bool

    def reads(self, text: str) -> Plan | None:
        """The request `text` makes, None if it is refused or is no request."""
        try:
            result = self.parse(text, False)
        except Refusal:
            return None
        return result if isinstance(result, Plan) else None

    def mended(self, fix: Fix | None) -> str | None:
        """The typed text with `fix` made, if that is a request that reads; else None.

        Checked by reading it, so an example typed back is never refused; what it asks for
        is the person's own words with one mend (tests/test_suggestions.py holds the corpus).
        """
        if fix is None or not self.suggest:
            return None
        text = _edited(self.typed, fix)
        return text if text is not None and self.reads(text) is not None else None


def renamed(reading: Reading, asked: Plan, *, field: str, name: str, instead: str) -> str | None:
    """The typed text with the name `name` (of parameter `field`) written `instead`, when
    that asks for exactly what `asked` (the text's request) asks but for that name: one word
    changed, read back and compared, never a guess. None when it cannot be sure (`restart
    ngnix, nginx` would make one operation fewer)."""
    wanted = replace(
        asked,
        operations=tuple(
            replace(op, parameters={**op.parameters, field: instead})
            if op.parameters.get(field) == name
            else op
            for op in asked.operations
        ),
        notes=(),
    )
    for word in reading.typed:
        if unquoted(word) != name:
            continue
        mended = reading.mended(Fix(drop=(word,), new=(instead,)))
        got = reading.reads(mended) if mended else None
        if got is not None and replace(got, notes=()) == wanted:
            return mended
    return None


def _edited(typed: Sequence[str], fix: Fix) -> str | None:
    marks = [*fix.drop, *[w for w in (fix.at, fix.after) if w is not None]]
    if not all(isinstance(w, Word) for w in marks):
        return None  # a word put together while reading: its place is not known
    gone = {w.place for w in fix.drop if isinstance(w, Word)}
    if gone:
        where = min(gone)
    elif isinstance(fix.at, Word):
        where = fix.at.place
    elif isinstance(fix.after, Word):
        where = fix.after.place + 1
    else:
        where = len(typed)
    words = [str(w) for i, w in enumerate(typed) if i < where and i not in gone]
    words += fix.new
    words += [str(w) for i, w in enumerate(typed) if i >= where and i not in gone]
    return spaced(words)


def next_to(first: str, second: str) -> bool:
    """Were the two words typed one right after the other?"""
    return isinstance(first, Word) and isinstance(second, Word) and second.place == first.place + 1


def spaced(words: Sequence[str]) -> str:
    """Words as typed: spaces between them, none before a comma."""
    out = ""
    for word in words:
        out += word if not out or word == "," else f" {word}"
    return out


# --- several requests in one line ---

# Words between two requests in one line: "restart nginx on web-01 and reboot web-02",
# "reboot web-01; then update web-02 with curl".
JOINERS = frozenset({",", ";", "and", "then", "also", "plus", "afterwards"})
SENTENCE_ENDS = (";", ".")
MAX_REQUESTS_SHOWN = 10


def refuse_several(reading: Reading) -> None:
    """Refuses a line that holds several requests, with the command to type for each.

    Refused, not taken as one request with both: a request is one operation type, so its
    confirmation shows one kind of change, the policy rule, window and approvals that decide
    it are that type's, and Confirm, Approve or Stop act on all of it. A line mixing a
    restart and a reboot would need one confirmation saying two things and two verdicts
    under one click; typing two requests keeps each of them simple to read and to judge.
    """
    parts, joined = _requests_in(reading.typed, reading.catalog)
    if len(parts) < 2:
        return
    texts = [spaced(part) for part in parts]
    # "reboot web-01 update web-02 with curl": with no word between them, only if each part
    # is a request of its own ("restart update on web-01" restarts a service "update").
    if not joined and not all(reading.reads(text) for text in texts):
        return
    first = reading.catalog.by_keyword(_keyword_of(parts[0], reading.catalog))
    general = first.example if first else reading.catalog.kinds[0].example
    if len(parts) > MAX_REQUESTS_SHOWN:
        reason = say.grammar.several_requests_too_many(len(parts), MAX_REQUESTS_SHOWN)
        raise Refusal(reason, example=general)
    timed: list[bool] = []
    for part, text in zip(parts, texts, strict=True):
        try:
            result = reading.parse(text, reading.suggest)
        except Refusal as refused:
            reason = say.grammar.several_requests_part(len(parts), text, refused.reason)
            raise Refusal(reason, example=refused.example) from None
        # each part begins with an operation's keyword, so it is a Plan
        immediate = not isinstance(result, Plan) or result.immediate
        timed.append(not immediate or any(w.lower() == "now" for w in part))
    # A time written once may be meant for all or for one: not a guess to make for them.
    if any(timed) and not all(timed):
        raise Refusal(say.grammar.several_requests_times(len(parts)), example=general)
    raise SeveralRequests(say.grammar.several_requests(texts), commands=tuple(texts))


class SeveralRequests(Refusal):
    """A line with several requests: `commands` are what to type instead, one per request,
    each read as its part of the line was. The reason shows them; there is no one example."""

    def __init__(self, reason: str, *, commands: tuple[str, ...]) -> None:
        super().__init__(reason, example="")
        self.commands = commands


def as_plan(refusal: Refusal, catalog: Catalog) -> Refusal:
    """The refusal of `plan <command>` with its commands written as plans too: typed back,
    they show a plan, as asked, rather than make a request."""
    if isinstance(refusal, SeveralRequests):
        commands = tuple(f"{PLAN_WORD} {command}" for command in refusal.commands)
        return SeveralRequests(say.grammar.several_requests(commands), commands=commands)
    flags = _flags(catalog)
    first = refusal.example.split(" ", 1)[0].lower()
    if catalog.by_keyword(first) is None and first not in flags:
        return refusal  # `help`, `list page 2`, or already `plan …`
    return Refusal(refusal.reason, example=f"{PLAN_WORD} {refusal.example}")


def _flags(catalog: Catalog) -> set[str]:
    return {f.word for k in catalog.kinds for f in k.fields if f.kind == "flag"}


def _keyword_of(part: Sequence[str], catalog: Catalog) -> str:
    return next((w for w in part if catalog.by_keyword(w) is not None), "")


def _requests_in(typed: Sequence[str], catalog: Catalog) -> tuple[list[list[str]], bool]:
    """The line cut before each operation keyword that begins a request, and whether a word
    (`and`, `then`, `;` …) joins them. A keyword right after a value's or a list's word is a
    value (`label web-01 as reboot`), and flags before a keyword go with it (`force reboot`)."""
    flags = _flags(catalog)
    takes_a_word = catalog.words() - flags
    starts: list[int] = []
    for i in range(1, len(typed)):
        if catalog.by_keyword(typed[i]) is None:
            continue
        start = i
        while start > 0 and typed[start - 1].lower() in flags:
            start -= 1
        if start == 0 or typed[start - 1].lower() in takes_a_word:
            continue  # the line's own keyword, or a value: `label web-01 as reboot`
        if start < i and not _joins(typed[start - 1]):
            start = i  # `reboot web-01 force reboot web-02`: force is the first one's, as read
        starts.append(start)
    parts: list[list[str]] = []
    joined = False
    for begin, end in zip([0, *starts], [*starts, len(typed)], strict=True):
        part = [str(w) for w in typed[begin:end]]
        while end < len(typed) and part and _joins(part[-1]):  # the words before the next
            last = part.pop()
            if last.lower() not in JOINERS:
                part.append(last[:-1])  # "web-01;"
            joined = True
        parts.append(part)
    return parts, joined


def _joins(word: str) -> bool:
    """Does `word` end a request before another: `and`, `then`, `;`, or a name with `;`/`.`?"""
    return word.lower() in JOINERS or (len(word) > 1 and word.endswith(SENTENCE_ENDS))
