"""Naming many devices over the fake Slack and the simulator: a group from the policy file,
and a request for 500 devices whose messages Slack takes."""

from __future__ import annotations

import json
from collections.abc import Callable

from bot.slack import metadata
from tests.conftest import Bot, eventually
from tests.test_flow import all_text, confirm_button, request_and_confirm

POLICY = """
[groups]
web = ["server-01..server-03", "db-01"]
"""


def test_a_group_is_shown_with_its_members_and_each_member_gets_its_operation(
    policy_bot: Callable[..., Bot],
) -> None:
    bot = policy_bot(POLICY)
    shown, root = request_and_confirm(bot, "reboot @web, server-08..10 at 23:00")
    text = all_text(shown)
    assert (
        "*reboot* on 7 devices: `server-01..server-03` (3), `db-01`, `server-08..server-10` (3)"
        in text
    )
    assert "@web is 4 devices: server-01..server-03, db-01." in text
    created = sorted(op["device_name"] for op in bot.simulator.operations())
    assert created == sorted(
        ["server-01", "server-02", "server-03", "db-01", "server-08", "server-09", "server-10"]
    )
    assert all(op["operation_type"] == "reboot" for op in bot.simulator.operations())
    public = bot.slack.message("C123", root)
    assert public is not None and "*reboot* on 7 devices" in all_text(public)


def test_a_bare_group_name_and_a_request_past_the_limit_are_refused_in_words(
    policy_bot: Callable[..., Bot],
) -> None:
    bot = policy_bot(POLICY + "[limits]\nmax_devices = 5\n")
    answer = bot.wait_response(bot.command("reboot web at 23:00"))
    assert '"web" is the name of a group, not taken as a device: write @web' in all_text(answer)
    answer = bot.wait_response(bot.command("reboot @web, server-10..server-11 at 23:00"))
    assert "That is 6 devices; one request can take at most 5." in all_text(answer)
    assert bot.simulator.operations() == []


def test_500_devices_go_to_the_api_and_their_messages_fit_in_slack(
    policy_bot: Callable[..., Bot],
) -> None:
    bot = policy_bot('[groups]\nfleet = ["host-001..host-500"]\n')
    bot.simulator.inventory = {f"host-{n:03d}" for n in range(1, 501)}
    shown = bot.wait_response(bot.command("update @fleet with openssl tomorrow at 23:00"))
    assert "`host-001..host-500` (500)" in all_text(shown)
    _, key = bot.click("ops_confirm", confirm_button(shown)["value"])
    assert "Confirmed" in bot.wait_response(key)["text"]
    # Not waiting for the 500 POSTs: at today's 55 a second (every POST wakes a poll round,
    # issue 10's "polling by need") that is 9 s; the message counts them from the first.
    public = eventually(
        lambda: next(
            (
                m
                for c in bot.slack.calls_to("chat.postMessage")
                if c.response.get("ok") and not c.args.get("thread_ts")
                if (m := bot.slack.message("C123", c.response["ts"]))
                and "*500 operations:*" in all_text(m)
            ),
            None,
        ),
        what="the public message to count the operations",
    )
    assert "…and 450 more." in all_text(public)
    # Its metadata counts all 500 and lists a few, within what Slack takes.
    payload = public["metadata"]["event_payload"]
    assert payload["total"] == 500 and sum(payload["counts"].values()) == 500
    assert payload["truncated"] is True
    assert 0 < len(payload["operations"]) <= metadata.OPERATIONS_SHOWN
    sent = [
        json.dumps(c.args["metadata"])
        for c in bot.slack.calls
        if c.method in ("chat.postMessage", "chat.update") and "metadata" in c.args
    ]
    assert sent and max(map(len, sent)) <= metadata.MAX_BYTES
    too_long = [
        c
        for c in bot.slack.calls
        if isinstance(c.response, dict)
        and c.response.get("error") in ("msg_blocks_too_long", "metadata_too_large")
    ]
    assert too_long == []
