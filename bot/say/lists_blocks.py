"""The answers to list and status, in Block Kit."""

from __future__ import annotations

from typing import Any

from bot import say
from bot.answers import (
    OperationList,
)
from bot.model import parse_api_time
from bot.say.common_blocks import (
    DETAIL_ERROR_SHOWN,
    MAX_BLOCKS,
    NAME_SHOWN,
    PARAMETERS_SHOWN,
    Blocks,
    context,
    device_code,
    escaped,
    fit,
    fit_lines,
    kind_shown,
    parameters_text,
    section,
    slack_time,
    status_icon,
)

# --- lists and status ----------------------------------------------------------------------


def operation_list(listing: OperationList, *, device: str | None) -> Blocks:
    """A page of the newest operations with the total and the way to the next page; or one
    device's newest, saying how far back they were searched for."""
    items, total, size = listing.items, listing.total, listing.page_size
    name = escaped(device, NAME_SHOWN) if device else None
    first = (listing.page - 1) * size + 1
    if not items:
        if name is not None and listing.searched is not None:
            return fit([section(say.lists.list_device_none(name, listing.searched, total))])
        if name is None and total and listing.page > 1:
            return fit([section(say.lists.list_past_the_end(listing.page, total, size))])
        return fit([section(say.lists.list_empty(name))])
    if name is not None and listing.searched is not None:
        found, searched = len(items), listing.searched
        heading = (
            say.lists.list_device_newest(found, name, searched, total)
            if found >= size
            else say.lists.list_device_found(found, name, searched, total)
        )
    elif name is not None:
        heading = say.lists.list_heading(len(items), name)
    elif listing.page == 1 and len(items) >= total:
        heading = say.lists.list_heading(total, None)
    elif listing.page == 1:
        heading = say.lists.list_newest(len(items), total)
    else:
        heading = say.lists.list_page_heading(first, first + len(items) - 1, total)
    shown, rest = fit_lines([listed(item) for item in items], MAX_BLOCKS - 3)
    blocks: Blocks = [section(heading)]
    blocks.extend(section(chunk) for chunk in shown)
    if rest:
        blocks.append(context(say.track.and_more(rest)))
    following = total - (first - 1 + len(items))
    if name is None and following > 0:
        pages = -(-total // size)
        blocks.append(
            context(say.lists.list_next_page(listing.page + 1, min(size, following), pages))
        )
    return fit(blocks)


def listed(item: dict[str, Any]) -> str:
    status = str(item.get("status") or "?")
    when = parse_api_time(item.get("scheduled_at"))
    return (
        f"{status_icon(status)} `{escaped(item.get('id', '?'), NAME_SHOWN)}` "
        f"{device_code(str(item.get('device_name', '?')))} "
        f"{kind_shown(item.get('operation_type', '?'), item.get('parameters'))} — "
        f"*{escaped(status, NAME_SHOWN)}*" + (f" · {slack_time(when)}" if when else "")
    )


def operation_detail(item: dict[str, Any]) -> Blocks:
    params = item.get("parameters") if isinstance(item.get("parameters"), dict) else {}
    lines = [listed(item)]
    if params:
        lines.append(say.lists.DETAIL_PARAMETERS + parameters_text(params, limit=PARAMETERS_SHOWN))
    created = parse_api_time(item.get("created_at"))
    if created:
        lines.append(say.lists.DETAIL_CREATED + slack_time(created))
    blocks = [section("\n".join(lines))]
    if item.get("error"):
        blocks.append(section(say.lists.DETAIL_ERROR + escaped(item["error"], DETAIL_ERROR_SHOWN)))
    return fit(blocks)
