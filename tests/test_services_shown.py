"""The service of each restart, wherever operations are listed (issue 19): `/ops list` (and
the demo's), the Home tab and the thread's lines, so that a failed nginx and a failed apache
on one device are told apart. What the API or a person wrote is data: escaped for mrkdwn."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from bot.answers import Listed, OperationList
from bot.console.terminal import Terminal
from bot.say import track_blocks
from bot.say.lists_blocks import listed
from tests.conftest import Bot, eventually
from tests.test_flow import all_text, request_and_confirm, thread_replies
from tests.test_home import ask_and_confirm, home_text, open_home

pytestmark = pytest.mark.xdist_group("ports")

NOW = datetime(2026, 11, 25, 10, 45, tzinfo=UTC)


def restart(n: int, service: object, status: str = "failed") -> dict[str, Any]:
    return {
        "id": f"txn_{n}",
        "device_name": "server-02",
        "operation_type": "restart_service",
        "status": status,
        "scheduled_at": "2026-11-25T10:00:00Z",
        "parameters": {"service_name": service, "verify_status": True},
    }


def test_a_listed_restart_names_its_service_as_data() -> None:
    assert "`server-02` restart_service nginx — *failed*" in listed(restart(1, "nginx"))
    shown = listed(restart(2, "<!channel>*x*"))
    assert "restart_service &lt;!channel&gt;*x* — *failed*" in shown
    assert "<!channel>" not in shown
    # Another kind, or a restart whose answer names no service, reads as before.
    assert "`server-02` restart_service — *failed*" in listed(restart(3, None))
    reboot = {**restart(4, "nginx"), "operation_type": "reboot"}
    assert "`server-02` reboot — *failed*" in listed(reboot)


def test_the_demo_lists_the_service_of_each_restart() -> None:
    listing = OperationList(items=[restart(2, "apache"), restart(1, "nginx")], total=2)
    reply = track_blocks.answer(Listed(listing=listing, device=None), now=NOW)
    for block in reply.message["blocks"]:
        Block.parse(block).validate_json()
    out = io.StringIO()
    Terminal(out=out, tz="UTC").show(reply.message)
    assert "server-02 restart_service apache — failed" in out.getvalue()
    assert "server-02 restart_service nginx — failed" in out.getvalue()


def test_a_failed_nginx_and_a_failed_apache_on_one_device_are_told_apart(bot: Bot) -> None:
    bot.simulator.failing = {"server-02"}
    _, root = request_and_confirm(bot, "restart nginx, apache on server-02 now")
    finished = eventually(
        lambda: [r for r in thread_replies(bot, root) if r.startswith("🏁")],
        what="the request's last line",
    )
    replies = "\n".join(thread_replies(bot, root))
    assert "on `server-02` (nginx) is now *failed*" in replies
    assert "on `server-02` (apache) is now *failed*" in replies
    assert "did not (`server-02` (nginx), `server-02` (apache))" in finished[0]

    listing = all_text(bot.wait_response(bot.command("list server-02")))
    assert "`server-02` restart_service nginx — *failed*" in listing
    assert "`server-02` restart_service apache — *failed*" in listing

    ask_and_confirm(bot, "restart nginx, apache on server-03 in 2 hours", user="U123")
    home = home_text(open_home(bot, "U123"))
    assert "`server-03` · restart_service nginx" in home
    assert "`server-03` · restart_service apache" in home
