"""Service names (issue 19): one close to a service the site knows (the catalog's, and those
operations ran at the API) is asked about before the click, "did you mean nginx?", with the
request naming the known one, written for the person to type; it is never replaced. One like
none known is taken as typed, as before. Knowing them costs one bounded read of the store, then
what the API's answers teach."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.model import Plan
from bot.policy.config import load_config
from bot.understand.grammar import parse, with_name
from bot.understand.when import warm_up
from bot.zequenze.devices import DeviceBook
from store import Store
from tests import history
from tests.conftest import Bot, eventually
from tests.test_flow import all_text, confirm_button, request_and_confirm, thread_replies

NOW = datetime(2026, 11, 25, 10, 45, tzinfo=UTC)
POLICY = load_config(Path(__file__).resolve().parent.parent / "opsbot.example.toml")


def setup_module() -> None:
    warm_up()


def plan(typed: str) -> Plan:
    command = parse(typed, tz="UTC", now=NOW)
    assert isinstance(command, Plan)
    return command


def book(tmp_path: Path, *ran: tuple[str, str]) -> DeviceBook:
    """A book whose API has shown these (service, status) restarts on server-01."""
    devices = DeviceBook(store=Store(path=tmp_path / "d.db"), clock=lambda: NOW)
    devices.learn(
        {
            "device_name": "server-01",
            "operation_type": "restart_service",
            "status": status,
            "parameters": {"service_name": service, "verify_status": True},
        }
        for service, status in ran
    )
    return devices


def retyped(typed: str):
    def retype(name: str, instead: str) -> str | None:
        return with_name(typed, name=name, instead=instead, tz="UTC", now=NOW)

    return retype


def test_a_service_close_to_the_catalog_s_is_asked_about_never_replaced(tmp_path: Path) -> None:
    typed = "restart ngnix on server-02 at 14:00"
    spelled = book(tmp_path).spell(plan(typed), retype=retyped(typed))
    (op,) = spelled.operations
    assert op.parameters["service_name"] == "ngnix"  # as typed: a question, not a guess
    (note,) = spelled.notes
    assert "I have not seen a service called ngnix run here: did you mean nginx?" in note
    assert "For nginx, cancel this and type `/ops restart nginx on server-02 at 14:00`." in note


def test_a_dry_run_has_nothing_to_cancel(tmp_path: Path) -> None:
    typed = "restart ngnix on server-02"
    spelled = book(tmp_path).spell(plan(typed), retype=retyped(typed), dry_run=True)
    (note,) = spelled.notes
    assert note.endswith("For nginx, type `/ops restart nginx on server-02`.")


def test_a_service_like_none_known_is_taken_as_typed_without_a_word(tmp_path: Path) -> None:
    for typed in ("restart apache2 on server-02", "restart nginx on server-02"):
        assert book(tmp_path).spell(plan(typed), retype=retyped(typed)) == plan(typed)


def test_services_that_ran_at_the_api_are_known_those_that_failed_are_not(
    tmp_path: Path,
) -> None:
    devices = book(tmp_path, ("postgresql", "completed"), ("ngnx", "failed"))
    (note,) = devices.spell(plan("restart postgresq on server-01")).notes
    assert "did you mean postgresql? Check before you confirm." in note  # no retype given
    # A typo that ran once and failed teaches nothing: nginx is not asked about.
    assert devices.spell(plan("restart nginx on server-01")).notes == ()
    assert "did you mean nginx?" in devices.spell(plan("restart ngnx on server-01")).notes[0]
    # Learnt after the first question too (the poller's rounds, a list, a status answer);
    # what the API leaves out or writes otherwise is passed over.
    devices.learn(
        [
            {"status": "completed", "parameters": {"service_name": "orphan"}},
            {"operation_type": "restart_service", "status": "completed", "parameters": []},
            {
                "operation_type": "restart_service",
                "status": "completed",
                "parameters": {"service_name": 7},
            },
            {
                "device_name": "server-03",
                "operation_type": "restart_service",
                "status": "Completed",
                "parameters": {"service_name": "redis-server"},
            },
        ]
    )
    (note,) = devices.spell(plan("restart redis-sever on server-01")).notes
    assert "did you mean redis-server?" in note


def test_several_close_services_are_named_and_no_request_is_written(tmp_path: Path) -> None:
    devices = book(tmp_path, ("php8.1-fpm", "completed"), ("php8.2-fpm", "completed"))
    typed = "restart php8.3-fpm on server-01"
    (note,) = devices.spell(plan(typed), retype=retyped(typed)).notes
    assert "did you mean php8.2-fpm or php8.1-fpm? Check before you confirm." in note


def test_each_service_is_asked_about_once_and_the_device_notes_come_first(tmp_path: Path) -> None:
    devices = book(tmp_path)
    devices.learn([{"device_name": "server-01"}])
    notes = devices.spell(plan("restart ngnix on server-1, server-01")).notes
    assert len(notes) == 2
    assert "device called server-1" in notes[0]
    assert "service called ngnix" in notes[1]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("restart ngnix on server-02", "restart nginx on server-02"),
        (
            "/ops restart the ngnix service on web-01, web-02 in waves of 1",
            "restart the nginx service on web-01, web-02 in waves of 1",
        ),
        ("restart “ngnix” on ngnix tomorrow at 3am", "restart nginx on ngnix tomorrow at 3am"),
        ("restart apache, ngnix on server-02", "restart apache, nginx on server-02"),
        ("restart ngnix, nginx on server-02", None),  # one operation fewer: not the same
        # The request offered leaves the politeness out, as a refusal's example does.
        ("can you restart ngnix on server-02, thanks", "restart nginx on server-02"),
        (
            "could you please restart ngnix on server-02 at 14:00?",
            "restart nginx on server-02 at 14:00",
        ),
    ],
)
def test_the_request_offered_asks_the_same_but_for_the_service(
    typed: str, expected: str | None
) -> None:
    found = with_name(typed, name="ngnix", instead="nginx", tz="Europe/Madrid", now=NOW)
    if expected is None:
        assert found is None
        return
    assert found == expected
    asked = parse(typed, tz="Europe/Madrid", now=NOW)
    got = parse(found, tz="Europe/Madrid", now=NOW)
    assert isinstance(asked, Plan) and isinstance(got, Plan)
    assert [op.parameters["service_name"] for op in got.operations] == [
        "nginx" if op.parameters["service_name"] == "ngnix" else op.parameters["service_name"]
        for op in asked.operations
    ]
    assert [(op.device_name, op.scheduled_at) for op in got.operations] == [
        (op.device_name, op.scheduled_at) for op in asked.operations
    ]


def test_a_site_s_own_operation_knows_its_example_s_names(tmp_path: Path) -> None:
    devices = DeviceBook(
        store=Store(path=tmp_path / "d.db"), clock=lambda: NOW, catalog=POLICY.catalog
    )
    typed = "set Device.ManagementServer.PeriodicInformIntervl to 300 on cpe-0042"
    command = parse(typed, tz="UTC", now=NOW, catalog=POLICY.catalog, naming=POLICY.naming)
    assert isinstance(command, Plan)
    (note,) = devices.spell(command).notes
    assert "I have not seen a parameter called" in note
    assert "did you mean Device.ManagementServer.PeriodicInformInterval?" in note


# --- what knowing them costs ---------------------------------------------------------------


def _restarts(store: Store, count: int, service: str) -> None:
    """`count` restarts of `service` that completed long ago, after the history."""
    conn = store.db.conn
    with conn:
        conn.execute(
            "INSERT INTO requests (id, state, requester, surface, created_at, expires_at) "
            f"VALUES ('r_{service}', 'confirmed', 'U1', 'command', '{history.PAST}', "
            f"'{history.PAST}')"
        )
        conn.executemany(
            "INSERT INTO operations (request_id, seq, device_name, state, api_id, status, final, "
            "operation_type, parameters, scheduled_at, created_at, updated_at) VALUES "
            f"('r_{service}', ?, 'server-01', 'submitted', ?, 'completed', 1, 'restart_service', "
            f"?, '{history.PAST_API}', '{history.PAST}', '{history.PAST}')",
            [(n, f"{service}-{n}", f'{{"service_name": "{service}"}}') for n in range(count)],
        )


def test_the_services_that_ran_are_read_once_from_the_newest_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 10 and at 100 times the bound of history the store is read the same, once: the
    newest NAMES_READ (here 100, so the histories stay small); later questions read nothing."""
    monkeypatch.setattr("bot.zequenze.devices.NAMES_READ", 100)
    costs = []
    for size in (1_000, 10_000):
        store = Store(path=tmp_path / f"{size}.db")
        try:
            _restarts(store, 1, "rabbitmq-server")  # older than the bound: not read
            history.sent_history(store.db.conn, size)
            _restarts(store, 3, "postgresql")
            reads: list[tuple[int, list[tuple[str, Any]]]] = []
            read = store.succeeded_parameters

            def spied(*, within: int, read: Any = read, reads: Any = reads) -> Any:
                reads.append((within, read(within=within)))
                return reads[-1][1]

            monkeypatch.setattr(store, "succeeded_parameters", spied)
            devices = DeviceBook(store=store, clock=lambda: NOW)
            with history.Steps(store) as first:
                (note,) = devices.spell(plan("restart postgresq on server-01")).notes
            assert "did you mean postgresql?" in note
            with history.Steps(store) as again:
                assert devices.spell(plan("restart rabbitmq-servr on server-01")).notes == ()
            assert again.count == 0
            # One read, bounded by the bound in force, of the newest: the three postgresql
            # restarts among them, the older rabbitmq-server not.
            ((within, ran),) = reads
            assert within == 100 and len(ran) <= within
            services = [p.get("service_name") for _, p in ran]
            assert services.count("postgresql") == 3 and "rabbitmq-server" not in services
            costs.append(first.count)
        finally:
            store.close()
    assert costs[0] == costs[1], costs


# --- in Slack ------------------------------------------------------------------------------


def test_in_slack_ngnix_is_asked_about_and_the_request_offered_reads(bot: Bot) -> None:
    shown = bot.wait_response(bot.command("restart ngnix on server-02 at 14:00"))
    text = all_text(shown)
    assert "did you mean nginx?" in text
    assert "`/ops restart nginx on server-02 at 14:00`" in text
    assert "service_name=ngnix" in text  # what Confirm would send, as typed
    assert confirm_button(shown)  # still the person's to confirm
    offered = bot.wait_response(bot.command("restart nginx on server-02 at 14:00"))
    assert "did you mean" not in all_text(offered)
    dry = bot.wait_response(bot.command("plan restart ngnix on server-02"))
    assert "`/ops plan restart nginx on server-02`" in all_text(dry)


def test_in_slack_a_service_that_ran_is_known_then(bot: Bot) -> None:
    _, root = request_and_confirm(bot, "restart postgresql on server-01 now")
    eventually(
        lambda: any("is now *completed*" in r for r in thread_replies(bot, root)),
        what="the restart of postgresql",
    )
    shown = bot.wait_response(bot.command("restart postgresq on server-02 now"))
    assert "did you mean postgresql?" in all_text(shown)
    assert "`/ops restart postgresql on server-02 now`" in all_text(shown)
