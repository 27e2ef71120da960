"""The answers to list and status: their headings, pages and labels."""

from __future__ import annotations

from bot.say.common import plural


def list_empty(device: str | None) -> str:
    return f"No scheduled operations for `{device}`." if device else "No scheduled operations."


def list_heading(total: int, device: str | None) -> str:
    """The whole list fits: `total` is how many are shown."""
    where = f" for `{device}`" if device else ""
    return f"*{plural(total, 'operation')}{where}*, newest first:"


def list_newest(shown: int, total: int) -> str:
    return f"*The newest {shown} of {plural(total, 'operation')}*:"


def list_page_heading(first: int, last: int, total: int) -> str:
    return f"*Operations {first:,}–{last:,} of {total:,}*, newest first:"


def list_next_page(page: int, count: int, pages: int) -> str:
    return f"`/ops list page {page:,}` shows the next {count} ({pages:,} pages in all)."


def list_past_the_end(page: int, total: int, page_size: int) -> str:
    pages = -(-total // page_size)
    held = "1 operation makes" if total == 1 else f"the {total:,} operations make"
    return (
        f"There is no page {page:,}: {held} "
        f"{plural(pages, 'page')} of {page_size}. `/ops list page {pages:,}` shows the oldest."
    )


def list_device_found(found: int, device: str, searched: int, total: int) -> str:
    """Some of `device`'s operations among the newest `searched` (fewer than `total`)."""
    return (
        f"*{found} for `{device}` among the newest {searched:,} of {plural(total, 'operation')}*, "
        "newest first:"
    )


def list_device_newest(found: int, device: str, searched: int, total: int) -> str:
    """As many of `device`'s as one list shows, found among the newest `searched`."""
    return (
        f"*The newest {found} for `{device}`*, found among the newest {searched:,} of "
        f"{plural(total, 'operation')}:"
    )


def list_device_none(device: str, searched: int, total: int) -> str:
    return (
        f"No operations for `{device}` among the newest {searched:,} of "
        f"{plural(total, 'operation')}."
    )


# Labels of `/ops status`'s answer.
DETAIL_PARAMETERS = "Parameters: "
DETAIL_CREATED = "Created "
DETAIL_ERROR = "Error: "
