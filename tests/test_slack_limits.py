"""Against a fake Slack that behaves like Slack: one channel's posts limited (429 beyond a
burst), a 503 after the message was stored, messages too long refused, a slow users.info.

A confirmed click never waits on Slack: it answers once the store says confirmed, and the
operations go to the API whatever Slack is doing. Nothing is posted twice, and a 429 in one
channel holds up that channel alone."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from slack_sdk import WebClient

from bot import say
from bot.slack.notifier import Zone, ZoneLookup
from bot.track.tuning import Tuning
from bot.zequenze.simulator.endpoint import Simulator
from bot.zequenze.simulator.faults import Fault
from tests.conftest import FAST_RECOVERY, Bot, eventually, start_bot, stop_bot
from tests.fakes import BOT_TOKEN, FakeSlack
from tests.test_flow import all_text, confirm_button, sent, thread_replies


def confirmation(bot: Bot, typed: str, *, channel: str = "C123", user: str = "U123") -> str:
    """Proposes `typed`; returns the request id from the Confirm button."""
    return confirm_button(bot.wait_response(bot.command(typed, channel=channel, user=user)))[
        "value"
    ]


def roots_in(slack: FakeSlack, channel: str) -> list[str]:
    return [
        c.response["ts"]
        for c in slack.calls_to("chat.postMessage")
        if c.args["channel"] == channel and not c.args.get("thread_ts") and c.response.get("ok")
    ]


def test_the_click_is_answered_before_any_operation_is_sent(bot: Bot) -> None:
    """Ten devices, the API taking a second per create call: the click does not wait for
    them (it used to, one after another: a 5 to 10 s click)."""
    answered = threading.Event()  # the API answers no create call before the click's answer
    bot.simulator.faults.add(
        Fault(method="POST", kind="latency", seconds=30, until=answered, times=10)
    )
    devices = ", ".join(f"server-{n:02d}" for n in range(1, 11))
    request_id = confirmation(bot, f"reboot {devices} now")
    _, key = bot.click("ops_confirm", request_id)
    assert "Confirmed" in bot.wait_response(key)["text"]
    assert bot.simulator.operations() == []  # every create call still under way, or to come
    answered.set()
    sent(bot, request_id)
    assert len(bot.simulator.operations()) == 10


def test_twelve_people_confirming_at_once_in_one_channel_lose_no_click(bot: Bot) -> None:
    """Twelve public messages into one channel at once is four times Slack's burst: they go
    out at the channel's pace (the fake refuses any post beyond it, and none was), and every
    request reaches the API."""
    users = [f"U{n:03d}" for n in range(12)]
    for user in users:
        bot.slack.set_user(user, tz="UTC")
    requests = [
        confirmation(bot, f"reboot server-{n + 1:02d} now", user=u) for n, u in enumerate(users)
    ]
    answers: list[str] = []
    clicks = [
        threading.Thread(
            target=lambda r=r, u=u: answers.append(
                bot.wait_response(bot.click("ops_confirm", r, user=u)[1])["text"]
            )
        )
        for r, u in zip(requests, users, strict=True)
    ]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join(timeout=20)
    assert len(answers) == 12 and all("Confirmed" in a for a in answers), answers
    eventually(lambda: len(bot.simulator.operations()) == 12, what="twelve operations")
    eventually(lambda: len(roots_in(bot.slack, "C123")) == 12, what="twelve public messages")
    assert bot.slack.rate_limited == 0


def test_slack_rate_limiting_the_public_message_does_not_hold_the_operations(bot: Bot) -> None:
    bot.slack.fail("chat.postMessage", status=429, retry_after=60, times=1)
    request_id = confirmation(bot, "reboot server-01 now")
    _, key = bot.click("ops_confirm", request_id)
    assert "Confirmed" in bot.wait_response(key)["text"]
    # Slack said "not now", not "never": the operation goes at once, and the message waits
    # the minute Slack asked for.
    eventually(lambda: len(bot.simulator.operations()) == 1, what="the operation")
    assert roots_in(bot.slack, "C123") == []
    assert len(bot.slack.calls_to("chat.postMessage")) == 1  # tried once, then held


def test_slack_down_does_not_hold_the_operations_past_the_root_wait(
    slack: FakeSlack, simulator: Simulator, tmp_path: Path
) -> None:
    tuning = Tuning(**{**FAST_RECOVERY.__dict__, "root_wait": timedelta(seconds=0.5)})
    bot = start_bot(slack=slack, simulator=simulator, database=tmp_path / "d.db", tuning=tuning)
    try:
        request_id = confirmation(bot, "reboot server-02 now")
        slack.fail("chat.postMessage", status=503, delay=3.0, times=None)  # hanging, then 503
        _, key = bot.click("ops_confirm", request_id)
        assert "Confirmed" in bot.wait_response(key)["text"]
        eventually(lambda: len(simulator.operations()) == 1, what="the operation, Slack or not")
        slack.clear_faults()
    finally:
        stop_bot(bot)


def test_a_429_in_one_channel_holds_up_that_channel_alone(bot: Bot) -> None:
    """With one channel answering 429 and Retry-After: 5, an unrelated channel's replies
    took 16.5 s: slack_sdk slept inside the one outbox thread."""
    held = confirmation(bot, "reboot server-03 in 1 hour", channel="CHELD")
    bot.slack.fail("chat.postMessage", status=429, retry_after=60, times=None, channel="CHELD")
    bot.click("ops_confirm", held)
    eventually(
        lambda: any(c.args["channel"] == "CHELD" for c in bot.slack.calls_to("chat.postMessage")),
        what="the held channel's first try",
    )
    other = confirmation(bot, "reboot server-04 now", channel="COTHER")
    bot.click("ops_confirm", other)
    (root,) = eventually(lambda: roots_in(bot.slack, "COTHER"), what="the other channel's post")
    eventually(
        lambda: any("is now *completed*" in r for r in thread_replies(bot, root)),
        what="the other channel's whole story",
    )
    tries = [c for c in bot.slack.calls_to("chat.postMessage") if c.args["channel"] == "CHELD"]
    assert len(tries) == 1  # still waiting out its minute: not tried again, not holding COTHER
    bot.slack.clear_faults()


def stored(slack: FakeSlack, channel: str, *, thread: str | None = None) -> list[dict]:
    """The messages Slack holds (whatever it answered when they were posted)."""
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[])
    if thread is None:
        return client.conversations_history(channel=channel, include_all_metadata=True)["messages"]
    return client.conversations_replies(channel=channel, ts=thread)["messages"][1:]


def test_a_503_after_slack_stored_the_message_posts_it_once(bot: Bot) -> None:
    """slack_sdk's retry handlers re-sent it inside one call: the public message posted twice
    left an orphan saying "sending to the API…" for ever. Now the outbox looks before it
    posts again, for the public message and for a thread reply alike."""
    bot.slack.fail("chat.postMessage", status=503, after_store=True, times=2)
    request_id = confirmation(bot, "reboot server-05 now")
    bot.click("ops_confirm", request_id)
    (root,) = eventually(lambda: stored(bot.slack, "C123"), what="the public message")
    eventually(
        lambda: any(
            "is now *completed*" in m["text"] for m in stored(bot.slack, "C123", thread=root["ts"])
        ),
        what="the story in the thread",
    )
    assert len(stored(bot.slack, "C123")) == 1, "the public message was posted twice"
    replies = [m["text"] for m in stored(bot.slack, "C123", thread=root["ts"])]
    assert sum("scheduled as" in r for r in replies) == 1, replies
    assert len([c for c in bot.slack.calls_to("chat.postMessage") if c.status == 503]) == 2
    request = bot.runtime.store.get_request(request_id)
    assert request is not None and request.status_ts == root["ts"]  # no orphan


def test_the_largest_legal_request_is_taken_by_slack_all_the_way(bot: Bot) -> None:
    """`update <50 devices> with <100 packages>` built 123,199 characters of confirmation;
    the fake refuses more than 13,000 as Slack does (msg_blocks_too_long)."""
    devices = ", ".join(f"server-{n:02d}" for n in range(1, 21))
    devices += ", " + ", ".join(f"workstation-{n:02d}" for n in range(1, 11))
    packages = ", ".join(f"security-update-{n:03d}" for n in range(100))
    key = bot.command(f"update {devices} with {packages} now")
    shown = bot.wait_response(key)
    request_id = confirm_button(shown)["value"]
    _, click = bot.click("ops_confirm", request_id)
    assert "Confirmed" in bot.wait_response(click)["text"]
    sent(bot, request_id)
    (root,) = eventually(lambda: roots_in(bot.slack, "C123"), what="the public message")
    # A request of several: its thread tells the end, its public message every step.
    eventually(
        lambda: any(r.startswith("🏁 All 30 finished") for r in thread_replies(bot, root)),
        timeout=20,
        what="the end of all thirty",
    )
    eventually(
        lambda: any(
            "all finished" in all_text(c.args) and c.status == 200
            for c in bot.slack.calls_to("chat.update")
        ),
        what="the public message to show the end",
    )
    refused = [
        c
        for c in bot.slack.calls
        if isinstance(c.response, dict) and c.response.get("error") == "msg_blocks_too_long"
    ]
    assert refused == []
    assert "*Parameters (all 30 devices):*" in all_text(shown)


def test_a_users_info_slower_than_the_timeout_is_utc_this_once(slack: FakeSlack) -> None:
    lookup = ZoneLookup(
        client=WebClient(token=BOT_TOKEN, base_url=slack.api_url, timeout=1, retry_handlers=[])
    )
    slack.fail("users.info", delay=1.5)
    assert lookup("U123") == Zone(tz="UTC", note=say.track.TZ_UNAVAILABLE)
    assert lookup("U123") == Zone(tz="America/Los_Angeles")


def test_a_channel_the_bot_is_not_in_stops_every_request_waiting_there(
    slack: FakeSlack, simulator: Simulator, tmp_path: Path
) -> None:
    """Twelve confirmations at once in a channel that refuses the bot, its posts paced at two
    a second: the last public messages wait their turns longer than the operations wait for
    them (2 s here). The first refusal stops every request there of which nothing was sent,
    the channel is remembered as refusing, and each requester is told why."""
    slack.post_rate = 4.0
    bot = start_bot(slack=slack, simulator=simulator, database=tmp_path / "n.db", channel_gap=0.5)
    try:
        slack.fail("chat.postMessage", error="not_in_channel", times=None, channel="CNOT")
        users = [f"U{n:03d}" for n in range(12)]
        keys: list[str] = []
        requests: list[str] = []
        for n, user in enumerate(users):
            slack.set_user(user, tz="UTC")
            keys.append(bot.command(f"reboot server-{n + 1:02d} now", channel="CNOT", user=user))
            requests.append(confirm_button(bot.wait_response(keys[-1]))["value"])
        clicks = [
            threading.Thread(target=bot.click, args=("ops_confirm", r), kwargs={"user": u})
            for r, u in zip(requests, users, strict=True)
        ]
        for click in clicks:
            click.start()
        for click in clicks:
            click.join(timeout=20)
        for key in keys:
            told = bot.wait_response(key, count=2)
            assert "Nothing was sent" in told["text"] and "/invite @opsbot" in told["text"]
        for request_id in requests:
            sent(bot, request_id)
        assert simulator.operations() == []
    finally:
        stop_bot(bot)
