"""The audit trail: written with the changes it records, append-only, and `opsbot audit`."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.model import OperationSpec
from bot.run.audit import (
    SLACK_URL,
    parse_since,
    permalink,
    sentence,
    write_csv,
    write_json,
    write_text,
)
from bot.run.cli import main
from bot.zequenze.simulator.faults import Fault
from store import RequestRecord, Store
from tests.conftest import Bot, eventually
from tests.test_flow import confirm_button, request_and_confirm

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
ALICE = "U123"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "opsbot.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    opened = Store(path=db_path)
    yield opened
    opened.close()


def new_request(store: Store, *, now: datetime = T0, device: str = "server-02") -> RequestRecord:
    return store.create_request(
        specs=[
            OperationSpec(
                device_name=device,
                operation_type="reboot",
                scheduled_at=now + timedelta(hours=1),
                parameters={"force": False},
            )
        ],
        requester=ALICE,
        surface="command",
        text=f"reboot {device} in an hour",
        tz="UTC",
        immediate=False,
        notes=[],
        channel="C123",
        thread_ts=None,
        response_url="http://127.0.0.1:1/response",
        now=now,
        expires_at=now + timedelta(minutes=15),
    )


def events(store: Store, **kwargs: Any) -> list[str]:
    return [row["event"] for row in store.audit_rows(since=kwargs.get("since"))]


def sending(store: Store, *, now: datetime = T0) -> tuple[RequestRecord, int]:
    request = new_request(store, now=now)
    assert store.confirm(request.id, user=ALICE, now=now, run_at=None)
    op = request.operations[0]
    assert store.start_sending(op.id, now=now)
    return request, op.id


def note(request_id: str, kind: str = "status") -> dict[str, Any]:
    return {"request_id": request_id, "kind": kind}


# --- the store ------------------------------------------------------------------------------


def test_the_trail_refuses_update_and_delete(store: Store, db_path: Path) -> None:
    new_request(store)
    with sqlite3.connect(db_path) as other:
        for sql in ("UPDATE audit SET actor = 'someone else'", "DELETE FROM audit"):
            with pytest.raises(sqlite3.IntegrityError, match="the audit trail is append-only"):
                other.execute(sql)
    assert [row["actor"] for row in store.audit_rows(since=None)] == [ALICE]


def test_a_confirmed_operation_leaves_request_confirm_call_and_outcome(store: Store) -> None:
    request, op_id = sending(store)
    assert store.record_submitted(
        op_id,
        api_id="txn_1",
        status="scheduled",
        estimated_duration=60,
        now=T0,
        announce=note(request.id, "submitted"),
    )
    assert store.record_status(
        op_id, old="scheduled", new="running", now=T0, announce=note(request.id)
    )
    assert store.record_status(
        op_id, old="running", new="completed", now=T0, announce=note(request.id)
    )
    rows = list(store.audit_rows(since=None))
    # "running" is not there: only an outcome is, the steps are in status_changes.
    assert [r["event"] for r in rows] == ["requested", "confirmed", "api_created", "api_status"]
    requested, confirmed, created, final = rows
    assert requested["detail"]["text"] == "reboot server-02 in an hour"
    assert requested["detail"]["operations"][0]["device_name"] == "server-02"
    assert (requested["actor"], requested["channel"], requested["device_name"]) == (
        ALICE,
        "C123",
        "server-02",
    )
    assert (confirmed["actor"], confirmed["request_id"]) == (ALICE, request.id)
    assert (created["actor"], created["api_id"], created["device_name"]) == (
        "opsbot",
        "txn_1",
        "server-02",
    )
    assert created["detail"]["post"] == {
        "device_name": "server-02",
        "operation_type": "reboot",
        "scheduled_at": "2026-11-20T10:00:00Z",
        "parameters": {"force": False},
    }
    assert created["detail"]["answer"]["id"] == "txn_1"
    assert (final["api_id"], final["detail"]["new"]) == ("txn_1", "completed")


def test_a_change_that_loses_its_compare_and_set_writes_no_line(store: Store) -> None:
    request = new_request(store)
    assert store.end_request(request.id, to="cancelled", user=ALICE, now=T0)
    assert not store.end_request(request.id, to="expired", user=None, now=T0)
    assert not store.confirm(request.id, user=ALICE, now=T0, run_at=None)
    assert events(store) == ["requested", "cancelled"]


def test_cancel_and_expiry_say_who(store: Store) -> None:
    cancelled, expired = new_request(store), new_request(store)
    assert store.end_request(cancelled.id, to="cancelled", user=ALICE, now=T0)
    assert store.end_request(expired.id, to="expired", user=None, now=T0)
    rows = list(store.audit_rows(since=None))[2:]
    assert [(r["event"], r["actor"], r["request_id"]) for r in rows] == [
        ("cancelled", ALICE, cancelled.id),
        ("expired", "opsbot", expired.id),
    ]


def test_the_apis_refusal_keeps_the_call_and_its_answer(store: Store) -> None:
    request, op_id = sending(store)
    assert store.record_unsent(
        op_id,
        state="rejected",
        error="The API refused the request: scheduled_at: Bad time.",
        now=T0,
        announce=note(request.id, "unsent"),
        answer={"http_status": 400},
    )
    refused = list(store.audit_rows(since=None))[-1]
    assert refused["event"] == "api_refused"
    assert refused["detail"]["answer"] == {"http_status": 400}
    assert refused["detail"]["error"].endswith("Bad time.")
    assert refused["detail"]["post"]["device_name"] == "server-02"


def test_an_operation_given_up_before_its_call_is_not_an_api_refusal(store: Store) -> None:
    request, op_id = sending(store)
    assert store.record_unsent(
        op_id, state="rejected", error="too late", now=T0, announce=note(request.id, "unsent")
    )
    assert events(store)[-1] == "not_sent"


def test_unknown_outcomes_and_a_persons_answers(store: Store) -> None:
    request, op_id = sending(store)
    assert store.record_unsent(
        op_id,
        state="unknown",
        error="no answer",
        now=T0,
        announce=note(request.id, "unsent"),
        answer={"http_status": None},
    )
    assert store.send_again(
        op_id,
        user=ALICE,
        now=T0,
        run_at=None,
        watch_until=T0 + timedelta(minutes=10),
        announce=note(request.id, "sending_again"),
    )
    assert store.start_sending(op_id, now=T0)
    assert store.recover_after_crash(now=T0, error="stopped while sending") == 1
    assert store.drop_unknown(
        op_id,
        user=ALICE,
        now=T0,
        error="dropped",
        watch_until=T0 + timedelta(minutes=10),
        announce=note(request.id, "dropped"),
    )
    assert store.adopt_found(
        op_id,
        was="rejected",
        api_id="txn_9",
        status="scheduled",
        scheduled_at=T0,
        estimated_duration=None,
        end_watch=True,
        now=T0,
        announce=note(request.id, "found_after_drop"),
    )
    rows = list(store.audit_rows(since=None))[2:]
    assert [(r["event"], r["actor"]) for r in rows] == [
        ("api_unknown", "opsbot"),
        ("sent_again", ALICE),
        ("api_unknown", "opsbot"),
        ("dropped", ALICE),
        ("adopted", "opsbot"),
    ]
    assert rows[2]["detail"]["error"] == "stopped while sending"
    assert (rows[4]["api_id"], rows[4]["detail"]["was"]) == ("txn_9", "rejected")


def test_a_request_stopped_by_its_channel_is_audited(store: Store) -> None:
    request = new_request(store)
    assert store.confirm(request.id, user=ALICE, now=T0, run_at=None)
    stopped = store.stop_unposted(
        "C123", reason="not in channel", error="not_in_channel", now=T0, notice="private_x"
    )
    assert stopped == [request.id]
    last = list(store.audit_rows(since=None))[-1]
    assert (last["event"], last["request_id"], last["detail"]["error"]) == (
        "stopped",
        request.id,
        "not_in_channel",
    )


def test_since_starts_at_the_time_asked_and_pages_go_on(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("store.audit.AUDIT_PAGE", 2)
    for hour in range(5):
        new_request(store, now=T0 + timedelta(hours=hour))
    assert len(events(store)) == 5
    later = list(store.audit_rows(since=T0 + timedelta(hours=2)))
    assert [r["at"][:13] for r in later] == ["2026-11-20T11", "2026-11-20T12", "2026-11-20T13"]
    assert len(list(store.audit_rows(since=None, limit=3))) == 3
    assert list(store.audit_rows(since=T0 + timedelta(days=1))) == []


def test_a_line_written_with_an_earlier_clock_is_left_out_of_a_later_since(store: Store) -> None:
    new_request(store, now=T0 + timedelta(hours=1))
    new_request(store, now=T0)  # a clock stepped back between two writers
    assert len(list(store.audit_rows(since=T0 + timedelta(minutes=30)))) == 1


def test_facts_and_a_read_only_store(store: Store, tmp_path: Path) -> None:
    assert store.fact(SLACK_URL) is None
    store.set_fact(SLACK_URL, "https://a.slack.com/")
    store.set_fact(SLACK_URL, "https://b.slack.com/")
    assert store.fact(SLACK_URL) == "https://b.slack.com/"
    reader = Store(path=store.path, read_only=True)
    try:
        assert reader.fact(SLACK_URL) == "https://b.slack.com/"
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.set_fact(SLACK_URL, "x")
    finally:
        reader.close()
    with pytest.raises(sqlite3.OperationalError):
        Store(path=tmp_path / "missing.db", read_only=True)
    assert not (tmp_path / "missing.db").exists()


def test_permalink_is_slacks_documented_shape() -> None:
    url = "https://acme.slack.com/"
    assert permalink(url, "C123", "1700000000.000100") == (
        "https://acme.slack.com/archives/C123/p1700000000000100"
    )
    assert permalink(None, "C123", "1.2") is None
    assert permalink(url, "C123", None) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
        ("2026-11-20T10:00:00+01:00", datetime(2026, 11, 20, 9, tzinfo=UTC)),
        ("2026-11-20T09:00:00Z", datetime(2026, 11, 20, 9, tzinfo=UTC)),
        ("7d", T0 - timedelta(days=7)),
        ("24h", T0 - timedelta(hours=24)),
        ("30m", T0 - timedelta(minutes=30)),
    ],
)
def test_since_values(value: str, expected: datetime) -> None:
    assert parse_since(value, now=T0) == expected


@pytest.mark.parametrize("value", ["yesterday", "2026-11-20T10:00", "7 weeks", ""])
def test_since_refusals(value: str) -> None:
    with pytest.raises(ValueError):
        parse_since(value, now=T0)


# --- the command ----------------------------------------------------------------------------


@pytest.fixture
def trail(store: Store, db_path: Path, monkeypatch: pytest.MonkeyPatch) -> RequestRecord:
    """A database with a posted request, a refusal and the workspace's address; OPSBOT_DB
    points at it."""
    store.set_fact(SLACK_URL, "https://acme.slack.com/")
    store.record_audit(
        event="refused",
        actor=ALICE,
        now=T0 - timedelta(days=2),
        channel="C123",
        detail={"text": "reboot <!channel>", "reason": "not a device"},
    )
    request = new_request(store)
    assert store.confirm(request.id, user=ALICE, now=T0, run_at=None)
    (root,) = [e for e in store.pending_outbox() if e.request_id == request.id]
    assert store.root_posted(root.id, status_ts="1700000000.000100", now=T0)
    monkeypatch.setenv("OPSBOT_DB", str(db_path))
    return request


def printed(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["audit", *args]) == 0
    return capsys.readouterr().out


def test_audit_as_json_lines_with_permalinks(
    trail: RequestRecord, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [json.loads(line) for line in printed(capsys, "--format", "json").splitlines()]
    assert [line["event"] for line in lines] == ["refused", "requested", "confirmed"]
    assert "permalink" not in lines[0]  # a refusal has no message of its own
    assert lines[0]["detail"]["text"] == "reboot <!channel>"
    link = "https://acme.slack.com/archives/C123/p1700000000000100"
    assert [line.get("permalink") for line in lines[1:]] == [link, link]
    assert lines[1]["request_id"] == trail.id


def test_audit_as_csv(trail: RequestRecord, capsys: pytest.CaptureFixture[str]) -> None:
    rows = list(csv.DictReader(io.StringIO(printed(capsys, "--format", "csv"))))
    assert [r["event"] for r in rows] == ["refused", "requested", "confirmed"]
    assert rows[0]["permalink"] == ""
    assert rows[1]["permalink"].endswith("/archives/C123/p1700000000000100")
    assert json.loads(rows[1]["detail"])["surface"] == "command"


def test_audit_as_text_and_since(trail: RequestRecord, capsys: pytest.CaptureFixture[str]) -> None:
    out = printed(capsys, "--since", "2026-11-19")
    assert out.splitlines() == [
        f"2026-11-20 09:00:00 UTC  U123    asked in #C123 for {trail.id}: "
        '"reboot server-02 in an hour" (1 operation)',
        f"2026-11-20 09:00:00 UTC  U123    confirmed {trail.id}",
    ]
    assert printed(capsys, "--since", "2099-01-01T00:00:00Z") == ""


def row(event: str, detail: dict[str, Any], **columns: Any) -> dict[str, Any]:
    base = {"request_id": "r_1", "channel": "C1", "device_name": None, "api_id": None}
    return {**base, "event": event, "detail": detail, **columns}


POST = {"operation_type": "reboot", "scheduled_at": "2026-11-20T10:00:00Z"}


@pytest.mark.parametrize(
    ("line", "said"),
    [
        (
            row(
                "requested",
                {
                    "text": "reboot @web in waves of 4 now",
                    "operations": [{}] * 13,
                    "waves": [["web-01"]] * 4,
                },
            ),
            'asked in #C1 for r_1: "reboot @web in waves of 4 now" (13 operations, in 4 waves)',
        ),
        (
            row(
                "refused",
                {
                    "text": "reboot server-03",
                    "reason": "`server-03` is frozen by "
                    "<@U4> until <!date^1763632800^{time}|10:00 UTC>: patching.\nMore",
                },
                request_id=None,
            ),
            'was refused in #C1: "reboot server-03": server-03 is frozen by @U4 until '
            "Thu 20 Nov 10:00 UTC: patching.",
        ),
        (row("confirmed", {"approvals_needed": 2}), "confirmed r_1; it needs 2 approvals"),
        (row("approved", {"count": 1, "needed": 2}), "approved r_1 (1 of 2)"),
        (
            row(
                "api_created",
                {"post": POST, "answer": {"id": "txn_7"}},
                device_name="s-1",
                api_id="txn_7",
            ),
            "created txn_7, reboot on s-1 at 2026-11-20 10:00 UTC, for r_1",
        ),
        (
            row(
                "api_status",
                {"old": "running", "new": "failed", "error": "Timed out"},
                device_name="s-1",
                api_id="txn_7",
            ),
            "txn_7 on s-1: running → failed (r_1): Timed out",
        ),
        (
            row("waves_halted", {"wave": 1, "waves": 4, "failed": [5]}),
            "halted r_1 after wave 1 of 4: 1 operation failed",
        ),
        (
            row(
                "frozen",
                {
                    "devices": ["server-*"],
                    "until": "2026-11-20T11:00:00.000+00:00",
                    "reason": "patching",
                    "freeze": 1,
                },
                request_id=None,
            ),
            "froze server-* until 2026-11-20 11:00 UTC: patching",
        ),
        (
            row("moved", {"times": ["2026-11-28T21:00:00Z"]}),
            "moved r_1 into its maintenance window: 2026-11-28 21:00 UTC",
        ),
        (row("something_new", {"count": 3, "big": {"x": 1}}), "something new r_1: count=3"),
        (row("approved", {"count": "many"}), "approved r_1: count=many"),  # not this version's
    ],
)
def test_each_text_line_is_a_short_sentence(line: dict[str, Any], said: str) -> None:
    """Who did what to which request, and the facts a person looks for first; never the raw
    JSON, which --format json and csv keep whole."""
    assert sentence(line) == said


FAKE_LINE = "x\n2026-12-06 10:00:01 UTC  U0002   approved r_1 (2 of 2)\x1b[31m"


@pytest.mark.parametrize(
    "line",
    [
        row("refused", {"text": FAKE_LINE, "reason": "Not a command.\x1b[2J"}, request_id=None),
        row("requested", {"text": "reboot\rserver-01\u2028x\u202e", "operations": [{}]}),
        row("frozen", {"devices": ["srv\n*"], "reason": "a\tb\x07", "freeze": 1}),
        row("api_status", {"old": "a", "new": "b", "error": "x\x1b]0;t\x07"}, device_name="s\r1"),
    ],
)
def test_a_text_line_shows_typed_controls_and_never_breaks(line: dict[str, Any]) -> None:
    """Typed text is data in the text writer too: a line break, a carriage return, a tab, an
    escape or a direction mark in what was typed (the text, a reason, a device) is shown, not
    obeyed, so it can neither fake a second line nor send the terminal an escape. JSON and
    CSV keep what was typed as it was."""
    at = {"id": 1, "at": "2026-12-06T10:00:00Z", "actor": "U0\x1b1"}
    out = io.StringIO()
    assert write_text(out, [{**line, **at}]) == 1
    written = out.getvalue()
    assert written.endswith("\n") and written.count("\n") == 1
    assert not any(c in written[:-1] for c in "\r\t\x1b\x07\u2028\u202e")
    assert "U+001B" in written
    if line["event"] == "refused":
        assert "x⏎2026-12-06 10:00:01 UTC  U0002   approved r_1 (2 of 2)U+001B[31m" in written
    kept = io.StringIO()
    write_json(kept, [{**line, **at}])
    assert json.loads(kept.getvalue())["detail"] == line["detail"]
    kept = io.StringIO()
    write_csv(kept, [{**line, **at}])
    assert (
        json.loads(next(iter(csv.reader(io.StringIO(kept.getvalue()).readlines()[1:])))[-1])
        == line["detail"]
    )


def test_audit_refuses_a_bad_since_with_an_example(
    trail: RequestRecord, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "--since", "last tuesday"]) == 2
    err = capsys.readouterr().err
    assert err.startswith('opsbot: "last tuesday" is not a date or a time ago: write it like')
    assert err.count("\n") == 1


def test_audit_without_a_database_creates_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.db"
    monkeypatch.setenv("OPSBOT_DB", str(missing))
    assert main(["audit"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(missing) in err
    assert not missing.exists()


def test_audit_leaves_the_database_as_it_was(
    trail: RequestRecord, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = db_path.read_bytes()
    printed(capsys, "--format", "json")
    assert db_path.read_bytes() == before


# --- over the fake Slack and the API simulator ------------------------------------------------


def trail_of(bot: Bot, request_id: str) -> list[dict[str, Any]]:
    return [r for r in bot.runtime.store.audit_rows(since=None) if r["request_id"] == request_id]


def test_a_confirmed_reboot_end_to_end(bot: Bot) -> None:
    bot.simulator.run_seconds = 0.2
    shown, _ = request_and_confirm(bot, "reboot server-06 now")
    request_id = confirm_button(shown)["value"]
    rows = eventually(
        lambda: (t := trail_of(bot, request_id)) and t[-1]["event"] == "api_status" and t,
        what="the final status in the audit",
    )
    assert [r["event"] for r in rows] == ["requested", "confirmed", "api_created", "api_status"]
    (op,) = bot.simulator.operations()
    assert rows[2]["api_id"] == rows[3]["api_id"] == str(op["id"])
    assert rows[2]["detail"]["post"]["device_name"] == "server-06"
    assert rows[3]["detail"]["new"] == "completed"
    assert {r["channel"] for r in rows} == {"C123"}
    assert rows[0]["root_ts"] is not None  # the public message: a permalink can be built


def test_a_refusal_and_an_api_refusal_end_to_end(bot: Bot) -> None:
    bot.wait_response(bot.command("reboot <!channel>"))
    (refused,) = list(bot.runtime.store.audit_rows(since=None))
    assert (refused["event"], refused["actor"], refused["channel"]) == ("refused", ALICE, "C123")
    assert refused["detail"]["text"] == "reboot <!channel>"
    assert refused["detail"]["reason"]

    bot.simulator.faults.add(
        Fault(method="POST", kind="status", status=400, body='{"x": ["Bad."]}', times=1)
    )
    shown, _ = request_and_confirm(bot, "reboot server-06 now")
    rows = trail_of(bot, confirm_button(shown)["value"])
    assert [r["event"] for r in rows] == ["requested", "confirmed", "api_refused"]
    assert rows[2]["detail"]["answer"] == {"http_status": 400}
    assert "Bad." in rows[2]["detail"]["error"]
