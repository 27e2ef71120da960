"""Faults from the API and from Slack, injected over loopback. Each test checks what the API
holds and what Slack was sent: one operation per confirmed request, every status change
announced once, in order."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.track.poller import PollTuning
from bot.zequenze.simulator.endpoint import Simulator
from bot.zequenze.simulator.faults import Fault
from tests.conftest import Bot, eventually, start_bot, stop_bot
from tests.fakes import FakeSlack
from tests.test_flow import request_and_confirm, thread_replies

ORDER = ("scheduled as", "is now *running*", "is now *completed*")


def finished(bot: Bot, root_ts: str, *, count: int = 1) -> list[str]:
    return eventually(
        lambda: (
            (r := thread_replies(bot, root_ts))
            and sum("is now *completed*" in x or "is now *failed*" in x for x in r) >= count
            and r
        ),
        timeout=15,
        what=f"{count} operation(s) to finish",
    )


def assert_told_once_in_order(replies: list[str]) -> None:
    seen = [word for r in replies for word in ORDER if word in r]
    assert seen == [w for w in ORDER if w in seen], replies
    for word in seen:
        assert sum(word in r for r in replies) == 1, (word, replies)


@pytest.mark.parametrize(
    "fault",
    [
        # the API created it but the answer was lost: adopted, never sent twice
        Fault(method="POST", kind="status_after_work", status=500),
        Fault(method="POST", kind="hang_after_work", seconds=1.0),
    ],
)
def test_an_operation_created_despite_a_lost_answer_is_adopted_not_sent_twice(
    slack: FakeSlack, simulator: Simulator, tmp_path: Path, fault: Fault
) -> None:
    simulator.faults.add(fault)
    bot = start_bot(slack=slack, simulator=simulator, database=tmp_path / "f.db", api_timeout=0.5)
    try:
        _, root_ts = request_and_confirm(bot, "reboot server-01 now")
        replies = finished(bot, root_ts)
        assert len(simulator.operations()) == 1
        text = "\n".join(replies)
        assert "not sent again on a guess" in text
        assert "did create it" in text
        done = [r for r in replies if "completed" in r]
        assert len(done) == 1
    finally:
        stop_bot(bot)


def test_429_on_create_is_retried_after_its_delay_and_says_so(bot: Bot) -> None:
    bot.simulator.faults.add(
        Fault(method="POST", kind="status", status=429, headers={"Retry-After": "1"})
    )
    _, root_ts = request_and_confirm(bot, "reboot server-02 now")
    replies = finished(bot, root_ts)
    assert "rate-limiting" in replies[0] and "Trying again" in replies[0]
    assert len(bot.simulator.operations()) == 1
    assert_told_once_in_order(replies[1:])


def test_connection_refused_on_create_is_retried(
    slack: FakeSlack, simulator: Simulator, tmp_path: Path
) -> None:
    bot = start_bot(slack=slack, simulator=simulator, database=tmp_path / "r.db")
    try:
        port = simulator._server.server_address[1]  # noqa: SLF001 - restart on the same port
        simulator.stop()
        shown = bot.wait_response(bot.command("reboot server-03 now"))
        from tests.test_flow import confirm_button

        bot.click("ops_confirm", confirm_button(shown)["value"])
        eventually(
            lambda: any(
                "Could not reach" in r
                for c in slack.calls_to("chat.postMessage")
                for r in [c.args.get("text", "")]
            ),
            what="the thread to say the API could not be reached",
        )
        again = Simulator(port=port, run_seconds=0.3, token=simulator.token).start()
        try:
            eventually(lambda: len(again.operations()) == 1, timeout=15, what="the retry")
        finally:
            again.stop()
    finally:
        stop_bot(bot)


@pytest.mark.parametrize(
    "fault",
    [
        Fault(method="GET", kind="latency", seconds=0.3, times=5),
        Fault(method="GET", kind="status", status=503, times=6),
        Fault(method="GET", kind="reset", times=6),
        Fault(method="GET", kind="hang", seconds=1.0, times=3),
        Fault(method="GET", kind="html", times=4),
        Fault(method="GET", kind="missing_results", times=4),
    ],
)
def test_polling_survives_get_faults_and_announces_each_change_once(
    slack: FakeSlack, simulator: Simulator, tmp_path: Path, fault: Fault
) -> None:
    simulator.run_seconds = 1.0
    bot = start_bot(slack=slack, simulator=simulator, database=tmp_path / "g.db", api_timeout=0.5)
    try:
        _, root_ts = request_and_confirm(bot, "restart nginx on server-04 now")
        simulator.faults.add(fault)
        replies = finished(bot, root_ts)
        assert_told_once_in_order(replies)
        assert len(simulator.operations()) == 1
    finally:
        stop_bot(bot)


def test_an_invented_status_is_announced_and_polling_goes_on(bot: Bot) -> None:
    bot.simulator.run_seconds = 2.0  # time to arm the fault before the run ends
    _, root_ts = request_and_confirm(bot, "reboot server-05 now")
    eventually(lambda: any("scheduled as" in r for r in thread_replies(bot, root_ts)), what="sent")
    bot.simulator.faults.add(Fault(method="GET", kind="unknown_status", status_value="paused"))
    replies = finished(bot, root_ts)
    assert sum("is now *paused*" in r for r in replies) == 1
    assert "completed" in replies[-1]


def test_an_outage_is_told_once_and_its_end_too(
    slack: FakeSlack, simulator: Simulator, tmp_path: Path
) -> None:
    simulator.run_seconds = 2.5
    bot = start_bot(
        slack=slack,
        simulator=simulator,
        database=tmp_path / "o.db",
        poll_tuning=PollTuning(max_backoff=0.3, outage_notice=0.6),
    )
    try:
        _, root_ts = request_and_confirm(bot, "reboot server-06 now")
        eventually(lambda: any("scheduled" in r for r in thread_replies(bot, root_ts)), what="x")
        simulator.faults.add(Fault(method="GET", kind="status", status=503, times=None))
        eventually(
            lambda: any("Could not check" in r for r in thread_replies(bot, root_ts)),
            what="the outage notice",
        )
        simulator.faults.clear()
        finished(bot, root_ts)
        # Told in the check that found it back, after the status it found: wait for both.
        replies = eventually(
            lambda: (
                (r := thread_replies(bot, root_ts))
                and any("Contact with the API is back" in x for x in r)
                and r
            ),
            what="the end of the outage to be told",
        )
        assert sum("Could not check" in r for r in replies) == 1
        assert sum("Contact with the API is back" in r for r in replies) == 1
        assert len(simulator.operations()) == 1
    finally:
        stop_bot(bot)


def test_running_far_longer_than_expected_is_warned_once(
    slack: FakeSlack, simulator: Simulator, tmp_path: Path
) -> None:
    simulator.run_seconds = 2.0
    bot = start_bot(
        slack=slack,
        simulator=simulator,
        database=tmp_path / "w.db",
        poll_tuning=PollTuning(overdue_factor=0.0, overdue_grace=0.5),
    )
    try:
        _, root_ts = request_and_confirm(bot, "reboot server-07 now")
        replies = finished(bot, root_ts)
        assert sum("much longer than expected" in r for r in replies) == 1
    finally:
        stop_bot(bot)


def test_slack_429_and_5xx_delay_messages_but_lose_none(bot: Bot) -> None:
    bot.slack.fail("chat.postMessage", status=429, retry_after=1, times=2)
    bot.slack.fail("chat.update", status=503, times=2)
    # Running past the public message's two refusals, so that there is an edit to refuse.
    bot.simulator.run_seconds = 3.0
    _, root_ts = request_and_confirm(bot, "reboot server-08 now")
    replies = finished(bot, root_ts)
    assert_told_once_in_order(replies)
    # The public message ends showing the end, as Slack holds it: edited once Slack takes
    # edits again, or (a loaded machine posting it late, past the finish) posted so already.
    eventually(
        lambda: "all finished" in str(bot.slack.message("C123", root_ts)),
        what="the status message, as Slack holds it, to show the end",
    )
    updates = bot.slack.calls_to("chat.update")
    assert not updates or updates[-1].status == 200
    posted = [c for c in bot.slack.calls_to("chat.postMessage") if c.status == 200]
    assert sum(not c.args.get("thread_ts") for c in posted) == 1  # one public message


def test_while_slack_is_down_messages_wait_and_go_out_in_order(bot: Bot) -> None:
    bot.simulator.run_seconds = 1.0
    _, root_ts = request_and_confirm(bot, "reboot server-09 now")
    bot.slack.down = True
    # The bot, not just the API, has seen it finish: its announcements now wait in the outbox.
    eventually(
        lambda: bot.runtime.store.db["operations"].count_where("final = 1") == 1,
        what="the bot to record the finish while Slack is down",
        timeout=15,
    )
    assert bot.runtime.store.pending_outbox()  # announcements are waiting, not lost
    bot.slack.down = False
    replies = finished(bot, root_ts)
    assert_told_once_in_order(replies)


def within_pace(moments: list[float], *, gap: float, burst: int) -> bool:
    """Whether posts at these moments keep to a bucket of `burst` refilled one per `gap`
    seconds (a few milliseconds of timing noise allowed)."""
    tokens, last = float(burst), moments[0] if moments else 0.0
    for moment in moments:
        tokens = min(float(burst), tokens + (moment - last) / gap)
        last = moment
        if tokens < 1.0 - 0.02:
            return False
        tokens -= 1.0
    return True


def test_every_post_into_a_channel_is_paced_roots_and_mention_answers_included(
    slack: FakeSlack, simulator: Simulator, tmp_path: Path
) -> None:
    # Slack's own numbers at twice its speed: the fake takes 2 posts a second with a burst of
    # 3, and the bot paces itself as in production, one per gap with a burst of 2.
    slack.post_rate = 2.0
    bot = start_bot(slack=slack, simulator=simulator, database=tmp_path / "p.db", channel_gap=0.5)
    try:
        # Two requests of one device each: every step of each is a reply in its thread.
        _, first_ts = request_and_confirm(bot, "reboot server-10 now")
        _, second_ts = request_and_confirm(bot, "reboot server-11 now")
        for n in range(3):
            bot.mention("help", ts=f"1700000200.00000{n}", thread_ts=None)
        finished(bot, first_ts)
        finished(bot, second_ts)
        eventually(
            lambda: (
                len(
                    [
                        c
                        for c in slack.calls_to("chat.postMessage")
                        if "*What I can do*" in c.args.get("text", "")
                    ]
                )
                == 3
            ),
            what="the three answers to the mentions",
        )
        posts = [c.at for c in slack.calls_to("chat.postMessage") if c.args["channel"] == "C123"]
        # Two public messages, two "scheduled", two "completed" and three answers, at least.
        assert len(posts) >= 8
        assert within_pace(posts, gap=0.5, burst=2), [
            round(b - a, 3) for a, b in zip(posts, posts[1:], strict=False)
        ]
        assert not within_pace(posts, gap=0.5, burst=1)  # the test can tell: bursts did happen
    finally:
        stop_bot(bot)
