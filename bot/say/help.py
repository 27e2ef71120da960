"""Help: the whole of it, built from the operations a person may request. Always mrkdwn."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.say.common import escape, plural
from bot.say.grammar import EXAMPLE_WAVES

if TYPE_CHECKING:
    from bot.understand.catalog import OperationKind


# --- help ---


def help_text(kinds: Sequence[OperationKind], *, max_devices: int, admin: bool = False) -> str:
    """The `/ops help` answer: what this person may request, and how many devices at once (the
    policy's `[limits]`). Slack mrkdwn, with `&`, `<` and `>` escaped."""
    if not kinds:
        return escape(
            "The policy lets you request no operation; `list` and `status` still work for you."
        )
    lines = ["*What I can do* (type it after `/ops`)"]
    for kind in kinds:
        lines.append(f"• {kind.label}: `{kind.syntax}`")
        lines.append(f"    e.g. `{kind.example}`")
    lines += [
        "",
        "*Devices*: one or more names separated by commas or “and”, "
        "e.g. `server-01, server-02 and server-03`; a range, `server-01..server-20` or "
        "`server-08..10`, names every device between; `@web` names the policy file's group "
        f"web (not “all”). One request names at most {plural(max_devices, 'device')}.",
        "*Waves*: `in waves of 10` (or `10 at a time`) sends 10 devices at a time, each wave "
        "once the one before has ended with no failure; `with a canary` sends one device "
        "alone first. A failure holds the rest until you click Continue or Stop, "
        f"e.g. `{EXAMPLE_WAVES}`.",
        *_help_values(kinds),
        "",
        "*When* (optional; without it the operation starts now). "
        "Times are in your time zone unless you name one:",
        "`now`  `at 14:00`  `at 3pm`  `at 9:30pm`  `at noon`  `at midnight`",
        "`today at 17:30`  `tomorrow at 3am`  `14:00 tomorrow`  `on saturday at 23:00`",
        "`on 20 jan at 09:30`  `on YYYY-MM-DD at 09:30`",
        "`in 30 minutes`  `in 2 hours`  `in 90 min`  `in 1h`  `in 2 days`",
        "`at 16:00 Europe/Berlin`  `2pm UTC`  `at 09:00 America/New_York`",
        "An abbreviation with several meanings (CST, IST, BST…) is read as your region uses it, "
        "or refused with the choices: `at 16:00 America/Chicago` always works.",
        "A time of day that has already passed today means tomorrow. "
        "Say am or pm with a bare hour (at 9am, at 9pm), or use 24-hour time (at 21:00).",
        "",
        "*Other commands*",
        "• `list`: the newest operations (`list page 2`: the next ones); "
        "`list <device>`: those of one device",
        "• `status <operation id>`: where one operation is",
        "• `plan <command>`: what the command would do (approvals, windows, conflicts), "
        "with nothing recorded or sent",
        *(
            [
                "• `freeze [devices] [for 2h | until 18:00] <reason>`: stop new requests for "
                "them and hold what is not sent yet; `unfreeze [devices]` lifts it. A device "
                "here has a digit, `-` or `.` (`server-01`, `db-*`) or is a group (`@db`), "
                "unless `for` or `until` follows: `freeze web upgrade` freezes every device, "
                "for “web upgrade”",
            ]
            if admin
            else []
        ),
        "• `help`: this text",
        "The API cannot cancel a scheduled operation: check everything before you click "
        "Confirm (until then, Cancel drops the request).",
    ]
    return escape("\n".join(lines))


def _help_values(kinds: Sequence[OperationKind]) -> list[str]:
    """How values are written, for a catalog that has "value" fields (none by default)."""
    types = {f.value_type for k in kinds for f in k.fields if f.kind == "value"}
    if not types:
        return []
    lines = ["", "*Values*: one word or number after its word, e.g. `to 300`."]
    if "string" in types:
        lines.append('A value with spaces or commas goes between quotes: `to "two words"`.')
    if "boolean" in types:
        lines.append("A yes-or-no value is `true` or `false` (or `yes`, `no`); not on or off.")
    return lines
