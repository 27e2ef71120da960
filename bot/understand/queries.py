"""The commands that ask rather than act: `list` (a page, a device), `status <id>`, and the
words of cancelling, which the API cannot do."""

from __future__ import annotations

import re

from bot import say
from bot.model import ListQuery, Refusal, StatusQuery
from bot.understand.names import check_device_name
from bot.understand.typed import unquoted

MAX_OPERATION_ID = 64
MAX_LIST_PAGE = 1_000_000  # 20 million operations: a bound on the offset asked of the API
PAGE_WORD = "page"  # list page 2
# The API has no way to cancel a scheduled operation; these get a sentence saying so.
CANCEL_WORDS = frozenset({"cancel", "abort", "delete", "unschedule", "remove", "revoke", "undo"})

_OPERATION_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_OPERATION_ID}}}")


def read_list(args: list[str]) -> ListQuery:
    """`list`, `list page 2`, `list server-01`."""
    if not args:
        return ListQuery()
    if args[0].lower() == PAGE_WORD:
        return ListQuery(page=_page_number(args[1:]))
    device = unquoted(args[0])
    problem = check_device_name(device)
    if problem:
        raise Refusal(problem, example=say.grammar.EXAMPLE_LIST)
    if len(args) > 1 and args[1].lower() == PAGE_WORD:
        raise Refusal(say.grammar.list_device_page(device), example=say.grammar.EXAMPLE_LIST_PAGE)
    if len(args) > 1:
        raise Refusal(say.grammar.list_extra(" ".join(args[1:])), example=say.grammar.EXAMPLE_LIST)
    return ListQuery(device_name=device)


def cancel_refusal(word: str, args: list[str]) -> Refusal:
    """The API cannot cancel a scheduled operation: say so, and what can be done instead."""
    written = unquoted(args[0]) if len(args) == 1 else ""
    typed = written if _OPERATION_ID.fullmatch(written) else None
    example = f"status {typed}" if typed else say.grammar.EXAMPLE_STATUS
    return Refusal(say.grammar.cannot_cancel(word.lower(), typed), example=example)


def _page_number(args: list[str]) -> int:
    if not args:
        raise Refusal(say.grammar.list_page_missing(), example=say.grammar.EXAMPLE_LIST_PAGE)
    word = args[0]
    digits = word.lstrip("0")
    if not (word.isascii() and word.isdigit()) or not digits:
        raise Refusal(
            say.grammar.list_page_not_a_number(word), example=say.grammar.EXAMPLE_LIST_PAGE
        )
    if len(digits) > len(str(MAX_LIST_PAGE)) or int(digits) > MAX_LIST_PAGE:
        raise Refusal(
            say.grammar.list_page_too_far(MAX_LIST_PAGE), example=say.grammar.EXAMPLE_LIST_PAGE
        )
    if len(args) > 1:
        raise Refusal(
            say.grammar.list_page_extra(" ".join(args[1:])), example=say.grammar.EXAMPLE_LIST_PAGE
        )
    return int(digits)


def read_status(args: list[str]) -> StatusQuery:
    if not args:
        raise Refusal(say.grammar.status_missing(), example=say.grammar.EXAMPLE_STATUS)
    operation_id = unquoted(args[0])
    if not _OPERATION_ID.fullmatch(operation_id):
        raise Refusal(
            say.grammar.status_bad_id(args[0], MAX_OPERATION_ID), example=say.grammar.EXAMPLE_STATUS
        )
    if len(args) > 1:
        raise Refusal(
            say.grammar.status_extra(" ".join(args[1:])), example=say.grammar.EXAMPLE_STATUS
        )
    return StatusQuery(operation_id=operation_id)
