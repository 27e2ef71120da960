"""The politeness around a request (`please`, `can you`, `hey opsbot,`, `thanks`, `thank
you!`, the `?` of a question), read past and never refused, and where the request itself
lies among the words."""

from __future__ import annotations

from bot.understand.catalog import Catalog
from bot.understand.tokens import TOKEN
from bot.understand.typed import invisible, is_quoted

# Politeness around a request, as people type it ("please restart nginx on web-01", "can you
# reboot web-02 at 14:00?", "…, thanks"): read past, never refused. Only whole words, only
# before the operation or after the request; the closing ones are never names either
# (RESERVED), so "reboot web-01, thanks" cannot reboot a machine called "thanks".
GREETINGS = frozenset({"hey", "hi", "hello"})
BOT_NAMES = frozenset({"opsbot", "bot"})  # "hey opsbot, …"
PLEASE = frozenset({"please", "pls", "plz", "kindly"})
ASKING = frozenset({"can", "could", "would", "will"})  # "can you …", "could u …"
YOU = frozenset({"you", "u"})
THANKS = frozenset({"please", "pls", "plz", "thanks", "thx", "cheers"})
THANK = "thank"  # "thank you"
COURTESY_WORDS = THANKS | {THANK}  # never names
COURTESY_ENDS = "!."  # "thanks!", "please."
SLASH_COMMAND = "/ops"  # "/ops reboot web-01", typed out
QUESTION_MARK = "?"  # "can you reboot web-02?", "reboot web-02?"


def without_courtesy(tokens: list[str], catalog: Catalog, *, question: bool = True) -> list[str]:
    """The words of the request without a leading `/ops` and the politeness around it:
    `please`, `kindly`, `can you`, `hey opsbot,` before it; `please`, `thanks`, `thank you!`
    (and a comma before them) after it, and the `?` that ends it (`can you reboot web-01?`,
    `please reboot web-01?`: a request asked, proposed and confirmed by a click) unless
    `question` is False (a freeze's glob, `unfreeze db-0?`)."""
    start, end, last = _courtesy(tokens, catalog, question=question)
    words = tokens[start:end]
    if last is not None:
        words[-1] = last
    return words


def request_start(text: str, catalog: Catalog) -> int:
    """Where in `text` the request begins, past the politeness before it (`please plan
    reboot …`: at `plan`). A character read nowhere there keeps it: the whole text is read."""
    spans = [(m.start(), m.group()) for m in TOKEN.finditer(text)]
    start, _, _ = _courtesy([word for _, word in spans], catalog)
    if start >= len(spans) or invisible(text[: spans[start][0]]) is not None:
        return 0
    return spans[start][0]


def _courtesy(
    tokens: list[str], catalog: Catalog, *, question: bool = True
) -> tuple[int, int, str | None]:
    """Where the request lies among the words: its first word, the one after its last, and
    that last word without the question's `?` if one was taken off (else None).

    Only whole words are taken, and never a word that is read as something there: the
    operation's keyword, or a value, which is read as typed (`label web-01 as please`)."""
    # The slash command typed out (the console, a pasted line): read past here, once, so
    # `/ops plan …` and `/ops freeze …` start where `plan …` and `freeze …` do.
    start = 1 if tokens and tokens[0].lower() == SLASH_COMMAND else 0
    while start < len(tokens) and catalog.by_keyword(tokens[start]) is None:
        word = tokens[start].lower()
        after = tokens[start + 1].lower() if start + 1 < len(tokens) else ""
        if word in GREETINGS:
            start += 2 if after in BOT_NAMES else 1
        elif word in PLEASE or (word == "," and start):
            start += 1
        elif word in ASKING and after in YOU:
            start += 2
        else:
            break
    values = {f.word for k in catalog.kinds for f in k.fields if f.kind == "value"}

    def a_value(at: int) -> bool:
        return at > start and tokens[at - 1].lower() in values

    end, last = len(tokens), None
    while end > start and not a_value(end - 1):
        word = tokens[end - 1] if last is None else last
        if question and word.endswith(QUESTION_MARK) and not is_quoted(word):
            last = word.rstrip(QUESTION_MARK) or None
            if last is None:  # "?" on its own
                end -= 1
            continue
        bare = word.lower().rstrip(COURTESY_ENDS)
        if bare in THANKS:
            end -= 1
        elif bare in YOU and end - 2 >= start and tokens[end - 2].lower() == THANK:
            if a_value(end - 2):
                break
            end -= 2
        else:
            break
        last = None
        if end > start and tokens[end - 1] == ",":
            end -= 1
    return start, end, last
