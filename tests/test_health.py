"""Health, readiness and metrics over HTTP, on the running bot's port, with no signature."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.run import settings
from bot.run.health import Health, observe
from bot.run.metrics import status_bucket
from bot.slack.app import health_server
from bot.slack.notifier import web_client
from bot.track.ticker import Ticker
from bot.zequenze.api import CallRecord
from tests.conftest import Bot, eventually
from tests.fakes import BOT_TOKEN, slash_command_body
from tests.fakes.signing import TRUST
from tests.test_flow import request_and_confirm


def base(bot: Bot) -> str:
    return f"http://127.0.0.1:{bot.server.port}"


def get(bot: Bot, path: str) -> httpx.Response:
    return httpx.get(base(bot) + path, timeout=10, verify=TRUST)


def samples(bot: Bot) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = get(bot, "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_healthz_and_readyz_answer_200_on_a_running_bot(bot: Bot) -> None:
    health = get(bot, "/healthz")
    assert health.status_code == 200, health.text
    body = health.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert set(body["loops"]) == {"poller", "outbox", "sending", "recovery"}
    assert all(loop["status"] == "ok" for loop in body["loops"].values())
    ready = get(bot, "/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["slack"] == "ok" and ready.json()["api"] == "ok"


def test_a_stalled_loop_makes_healthz_503_naming_it(bot: Bot) -> None:
    # A round that never ends: the loop's last round is long ago.
    bot.runtime.outbox.last_round_at = time.monotonic() - 3600
    bot.runtime.outbox.stop()  # so no round moves it on meanwhile
    bot.runtime.outbox.join(10)
    response = get(bot, "/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing"
    assert body["loops"]["outbox"]["status"] == "stopped"
    assert body["problems"] == ["outbox: stopped"]
    assert get(bot, "/readyz").status_code == 503


def test_a_loop_behind_by_far_more_than_its_intervals_is_named() -> None:
    class Runtime:
        started = True
        api_calls = CallRecord()

        class store:
            @staticmethod
            def ping() -> None:
                pass

    hang = threading.Event()  # the first round hangs until the end
    poller = Ticker(name="poller", interval=0.1, job=lambda: hang.wait(30))
    poller.start()
    try:
        Runtime.loops = (poller,)  # type: ignore[attr-defined]
        health = Health(Runtime(), slack_accepted=lambda: True, stale_floor=0.5)  # type: ignore[arg-type]
        assert health.live()[0]
        poller.last_round_at = time.monotonic() - 10
        ok, body = health.live()
        assert not ok
        assert body["problems"] == ["poller: no round for 10 s (expected within 0.5 s)"]
    finally:
        poller.stop()
        hang.set()


def test_the_database_closed_makes_healthz_503(bot: Bot) -> None:
    bot.runtime.store.close()  # under the store's lock: no query is cut in half
    response = get(bot, "/healthz")
    assert response.status_code == 503
    assert response.json()["database"].startswith("not answering")
    assert response.json()["problems"][0].startswith("database: not answering")
    # The scrape still answers, without what the database would have said.
    assert get(bot, "/metrics").status_code == 200


def test_readyz_needs_the_api_answering_or_failing_only_lately(bot: Bot) -> None:
    calls = bot.runtime.api_calls
    calls.record("GET", "unreachable", 0.01)
    assert get(bot, "/readyz").status_code == 200  # failing a moment: being retried
    assert "failing for" in get(bot, "/readyz").json()["api"]
    calls.failing_since = time.monotonic() - 3600
    response = get(bot, "/readyz")
    assert response.status_code == 503
    assert any(p.startswith("api: failing for") for p in response.json()["problems"])
    assert get(bot, "/healthz").status_code == 200  # alive all the same: not restarted for it
    calls.record("GET", "ok", 0.01)
    assert get(bot, "/readyz").status_code == 200


def test_the_open_paths_need_no_signature_and_the_rest_stays_guarded(bot: Bot) -> None:
    unsigned = httpx.post(
        bot.url,
        content=slash_command_body(text="help", response_url=bot.slack.response_url("unsigned")),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert unsigned.status_code == 401
    assert get(bot, "/slack/events").status_code == 401
    assert get(bot, "/healthz/").status_code == 404
    assert get(bot, "/admin").status_code == 404
    assert httpx.post(base(bot) + "/healthz", content=b"", timeout=10).status_code == 405
    bot.wait_response(bot.command("help"))  # signed: as before


def test_metrics_parse_and_move_with_a_confirmed_flow(bot: Bot) -> None:
    before = samples(bot)
    assert before[("opsbot_requests_total", (("outcome", "confirmed"),))] == 0
    assert before[("opsbot_outbox_backlog", ())] == 0
    request_and_confirm(bot, "restart nginx on server-02 now")

    def moved() -> dict[Any, float] | None:
        now = samples(bot)
        created = now.get(("opsbot_api_calls_total", (("method", "POST"), ("result", "ok"))), 0)
        return now if created >= 1 else None

    after = eventually(moved, what="the API call counted")
    assert after[("opsbot_requests_total", (("outcome", "confirmed"),))] == 1
    assert after[("opsbot_api_call_seconds_count", (("method", "POST"),))] >= 1
    assert after[("opsbot_slack_calls_total", (("method", "chat.postMessage"),))] >= 1
    assert (
        sum(
            after[("opsbot_operations", (("status", bucket),))]
            for bucket in ("waiting", "running", "succeeded", "failed", "other")
        )
        == 1
    )
    for name in (
        "opsbot_outbox_oldest_seconds",
        "opsbot_poller_lag_seconds",
        "opsbot_unknown_outcomes",
        "opsbot_approvals_waiting",
    ):
        assert (name, ()) in after, name
    # No label carries a device name or a user id.
    labels = {value for _, pairs in after for _, value in pairs}
    assert not {"server-02", "U123"} & labels


def test_each_runtime_has_its_own_registry(bot: Bot) -> None:
    from prometheus_client import REGISTRY

    assert bot.runtime.metrics.registry is not REGISTRY
    assert REGISTRY.get_sample_value("opsbot_api_calls_total") is None


def test_status_words_fall_in_a_few_buckets() -> None:
    assert status_bucket("Scheduled") == "waiting"
    assert status_bucket("running") == "running"
    assert status_bucket("completed") == "succeeded"
    assert status_bucket("failed") == "failed"
    assert status_bucket("something new") == "other"


def test_socket_modes_listener_serves_the_same_paths(bot: Bot) -> None:
    server = health_server(host="127.0.0.1", port=0)
    client = web_client(token=BOT_TOKEN, base_url=bot.slack.api_url)
    client.auth_test()  # as Bolt does at start
    server.open(observe(bot.runtime, client))
    threading.Thread(target=server.serve, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.port}"
        assert httpx.get(url + "/healthz", timeout=10).status_code == 200
        assert httpx.get(url + "/readyz", timeout=10).status_code == 200
        assert "opsbot_outbox_backlog" in httpx.get(url + "/metrics", timeout=10).text
        assert httpx.get(url + "/slack/events", timeout=10).status_code == 404
    finally:
        server.close()


def test_the_health_port_setting(tmp_path: Path) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "ZEQUENZE_API_TOKEN": "t",
    }
    absent = tmp_path / "absent.env"
    assert settings.load(env, dotenv=absent).health_port is None
    assert settings.load({**env, "OPSBOT_HEALTH_PORT": "9102"}, dotenv=absent).health_port == 9102
    for bad in ("0", "70000", "nine", "91.5"):
        with pytest.raises(settings.SettingsError) as caught:
            settings.load({**env, "OPSBOT_HEALTH_PORT": bad}, dotenv=absent)
        assert "OPSBOT_HEALTH_PORT" in str(caught.value)
