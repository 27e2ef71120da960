"""Faults from the API and from Slack, injected over loopback. Each test checks what the API
holds and what Slack was sent: one operation per confirmed request, every status change
announced once, in order."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.poller import PollTuning
from bot.simulator import Fault, Simulator
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
    ("fault", "then"),
    [
        # the API created it but the answer was lost: adopted, never sent twice
        (Fault(method="POST", kind="status_after_work", status=500), "did create it"),
        (Fault(method="POST", kind="hang_after_work", seconds=1.0), "did create it"),
        # the API failed before creating it: its list surely lacks it, so it is sent again
        (Fault(method="POST", kind="status", status=502), "no record of it"),
        (Fault(method="POST", kind="reset"), "no record of it"),
        (Fault(method="POST", kind="html", status=503), "no record of it"),
    ],
)
def test_unknown_outcome_is_reconciled_before_any_retry(
    slack: FakeSlack, simulator: Simulator, tmp_path: Path, fault: Fault, then: str
) -> None:
    simulator.faults.add(fault)
    bot = start_bot(slack=slack, simulator=simulator, db_path=tmp_path / "f.db", api_timeout=0.5)
    try:
        _, root_ts = request_and_confirm(bot, "reboot server-01 now")
        replies = finished(bot, root_ts)
        assert len(simulator.operations()) == 1
        text = "\n".join(replies)
        assert "Checking the API's list" in text
        assert then in text
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
    bot = start_bot(slack=slack, simulator=simulator, db_path=tmp_path / "r.db")
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
    bot = start_bot(slack=slack, simulator=simulator, db_path=tmp_path / "g.db", api_timeout=0.5)
    try:
        _, root_ts = request_and_confirm(bot, "restart nginx on server-04 now")
        simulator.faults.add(fault)
        replies = finished(bot, root_ts)
        assert_told_once_in_order(replies)
        assert len(simulator.operations()) == 1
    finally:
        stop_bot(bot)


def test_an_invented_status_is_announced_and_polling_goes_on(bot: Bot) -> None:
    bot.simulator.run_seconds = 1.0
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
        db_path=tmp_path / "o.db",
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
        replies = finished(bot, root_ts)
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
        db_path=tmp_path / "w.db",
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
    _, root_ts = request_and_confirm(bot, "reboot server-08 now")
    replies = finished(bot, root_ts)
    assert_told_once_in_order(replies)
    last = bot.slack.calls_to("chat.update")[-1]
    assert last.status == 200 and "all finished" in str(last.args)


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


def test_posts_into_one_channel_are_paced(
    slack: FakeSlack, simulator: Simulator, tmp_path: Path
) -> None:
    bot = start_bot(slack=slack, simulator=simulator, db_path=tmp_path / "p.db", channel_gap=1.0)
    try:
        _, root_ts = request_and_confirm(bot, "reboot server-10, server-11 now")
        finished(bot, root_ts, count=2)
        posts = [c for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts")]
        gaps = [b.at - a.at for a, b in zip(posts, posts[1:], strict=False)]
        assert len(posts) >= 4 and min(gaps) >= 0.95, gaps  # 2 sent + 2 finished, at least
    finally:
        stop_bot(bot)
