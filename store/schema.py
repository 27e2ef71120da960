"""The database schema, in one place, as versioned migrations.

Each migration runs once, in order, and is recorded in `_sqlite_migrations`; an older file is
upgraded in place when the bot opens it. Never edit a migration that has shipped: add one.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlite_utils import Database, Migrations

MIGRATIONS = Migrations("opsbot")


@MIGRATIONS(name="0001_initial")
def initial(db: Database) -> None:
    db["requests"].create(
        {
            "id": str,
            "state": str,  # pending → confirming → confirmed | cancelled | expired
            "requester": str,
            "confirmed_by": str,
            "surface": str,  # command | mention | modal | console
            "text": str,
            "tz": str,
            "immediate": int,
            "notes": str,  # JSON list
            "channel": str,
            "thread_ts": str,  # the thread the request came from, if any
            "status_ts": str,  # our public message that carries the live status
            "response_url": str,
            "created_at": str,
            "expires_at": str,
            "confirmed_at": str,
        },
        pk="id",
        not_null={"state", "requester", "surface", "created_at"},
    )
    db["operations"].create(
        {
            "id": int,
            "request_id": str,
            "seq": int,
            "device_name": str,
            "operation_type": str,
            "parameters": str,  # JSON object
            "scheduled_at": str,  # API format, UTC
            # draft → new → sending → submitted | rejected | unknown
            "state": str,
            "api_id": str,
            "status": str,  # the API's own status word, as it said it
            "final": int,
            "estimated_duration": int,
            "error": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        foreign_keys=[("request_id", "requests", "id")],
        not_null={"request_id", "state", "device_name", "operation_type"},
    )
    db["operations"].create_index(["request_id", "seq"], unique=True)
    db["operations"].create_index(["api_id"], unique=True)
    db["operations"].create_index(["state", "final"])
    db["status_changes"].create(
        {"id": int, "operation_id": int, "old_status": str, "new_status": str, "at": str},
        pk="id",
        foreign_keys=[("operation_id", "operations", "id")],
    )
    # Outbox: every announcement is written in the same transaction as the change it announces,
    # and a sender delivers them in order, so a crash can delay a message but never lose it.
    db["outbox"].create(
        {
            "id": int,
            "request_id": str,
            "kind": str,
            "data": str,  # JSON object
            "created_at": str,
            "delivered_at": str,
            "attempts": int,
            "last_error": str,
        },
        pk="id",
        foreign_keys=[("request_id", "requests", "id")],
        defaults={"attempts": 0},
    )
    db["outbox"].create_index(["delivered_at", "id"])


@MIGRATIONS(name="0002_recovery")
def recovery(db: Database) -> None:
    operations = db["operations"]
    # How often sending was tried, and not before when again (429, API unreachable).
    operations.add_column("send_attempts", int, not_null_default=0)
    operations.add_column("next_send_at", str)
    # The poller's view of its checks: failing since when, whether the thread was told.
    operations.add_column("check_failing_since", str)
    operations.add_column("outage_announced", int, not_null_default=0)
    operations.add_column("running_since", str)
    operations.add_column("overdue_warned", int, not_null_default=0)
    operations.add_column("unknown_since", str)
    # The public status message is re-rendered when the request changed since it was last shown.
    db["requests"].add_column("root_version", int, not_null_default=0)
    db["requests"].add_column("root_shown", int, not_null_default=0)
    # Slack redelivers events (X-Slack-Retry-Num, Socket Mode retries): each is handled once.
    db["seen_events"].create({"key": str, "at": str}, pk="key")


@MIGRATIONS(name="0003_delivery")
def delivery(db: Database) -> None:
    # A message Slack will never accept (the bot left the channel, the thread is gone) is given
    # up rather than retried for ever; it stays in the table as a record of what was not said.
    db["outbox"].add_column("given_up_at", str)
    # A status message that can no longer be edited (deleted, channel gone) is left alone.
    db["requests"].add_column("root_given_up_at", str)


@MIGRATIONS(name="0004_confirm_without_slack")
def confirm_without_slack(db: Database) -> None:
    # A click confirms in one step now; the public message is the request's first outbox
    # message. A confirmation left half-way by an older version goes back to pending, and its
    # requester is told, as that version's recovery would have done.
    half_way = [row[0] for row in db.execute("SELECT id FROM requests WHERE state = 'confirming'")]
    db.execute(
        "UPDATE requests SET state = 'pending', confirmed_by = NULL, confirmed_at = NULL "
        "WHERE state = 'confirming'"
    )
    db["outbox"].insert_all(
        {
            "request_id": request_id,
            "kind": "private_confirm_interrupted",
            "data": "{}",
            "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "attempts": 0,
        }
        for request_id in half_way
    )
    # When Slack first answered the public message (posted, or a passing failure): the
    # operations wait for that answer, so that "not in channel" can still stop them.
    db["requests"].add_column("root_tried_at", str)
    # An unknown outcome is settled by the API's list or by a person: when the requester was
    # asked (Send again / Drop), who answered, and until when the first attempt is still
    # looked for.
    db["operations"].add_column("asked_at", str)
    db["operations"].add_column("answered_by", str)
    db["operations"].add_column("watch_original_until", str)
    # A request for now sent again runs when sent again: the times its earlier attempts were
    # for (a JSON list), by which they are still recognised in the API's list.
    db["operations"].add_column("earlier_times", str)
    # Channels that turned the bot away: a request there waits for Slack's answer to its own
    # public message before anything is sent, however long that takes, until the bot posts
    # there again (it was invited back).
    db["refused_channels"].create({"channel": str, "reason": str, "since": str}, pk="channel")
    # Device names the API has shown, keyed by their lower-case form: a request's names are
    # spelled as the API spells them, and a name it never showed is flagged.
    db["devices"].create({"key": str, "name": str, "seen_at": str}, pk="key")
    # What the loops ask on every pass, indexed so that it costs what is pending, not what has
    # piled up over months (a full scan of 200,000 requests took 31 ms under the store lock):
    # status messages to re-render, messages to deliver (given-up ones stay in the table),
    # operations still watched, requests whose public message has not gone out, and whether
    # a request already has a message of a kind (its summary, its notice).
    db.execute(
        "CREATE INDEX idx_requests_stale_roots ON requests (id) "
        "WHERE root_version > root_shown AND status_ts IS NOT NULL AND root_given_up_at IS NULL"
    )
    db.execute("DROP INDEX idx_outbox_delivered_at_id")  # it counted given-up messages too
    db.execute(
        "CREATE INDEX idx_outbox_pending ON outbox (id) "
        "WHERE delivered_at IS NULL AND given_up_at IS NULL"
    )
    db.execute("CREATE INDEX idx_outbox_request_kind ON outbox (request_id, kind)")
    db.execute(
        "CREATE INDEX idx_operations_watched ON operations (watch_original_until) "
        "WHERE watch_original_until IS NOT NULL"
    )
    db.execute(
        "CREATE INDEX idx_requests_unposted ON requests (channel) "
        "WHERE status_ts IS NULL AND state = 'confirmed'"
    )
    db.execute("CREATE INDEX idx_operations_state ON operations (state, request_id)")


@MIGRATIONS(name="0005_policy")
def policy(db: Database) -> None:
    # A request that needs other people's approval waits in state "approving" after its
    # requester's confirm: who may approve (a JSON list of user and group ids; null: anyone
    # allowed to request), how many distinct approvals it needs, and until when.
    requests = db["requests"]
    requests.add_column("approvals_needed", int, not_null_default=0)
    requests.add_column("approvers", str)
    requests.add_column("approval_expires_at", str)
    requests.add_column("policy", str)  # JSON: the verdict shown at confirmation (rule, windows)
    db.execute(
        "CREATE INDEX idx_requests_approving ON requests (approval_expires_at) "
        "WHERE state = 'approving'"
    )
    # A request waiting for approval has its public message too: a channel that refuses the
    # bot stops it like a confirmed one.
    db.execute("DROP INDEX idx_requests_unposted")
    db.execute(
        "CREATE INDEX idx_requests_unposted ON requests (channel) "
        "WHERE status_ts IS NULL AND state IN ('confirmed', 'approving')"
    )
    db["approvals"].create(
        {"request_id": str, "user": str, "verdict": str, "at": str},
        pk=("request_id", "user"),  # one voice per person: an approver cannot count twice
        foreign_keys=[("request_id", "requests", "id")],
    )
    # Freezes stop new requests for matching devices (null: all) and hold what is not yet sent.
    db["freezes"].create(
        {
            "id": int,
            "devices": str,  # JSON list of globs, or null for every device
            "reason": str,
            "frozen_by": str,
            "channel": str,
            "created_at": str,
            "until": str,  # null: until lifted
            "lifted_at": str,
            "lifted_by": str,
        },
        pk="id",
    )
    # Freezes that ran out stay unlifted: the active ones are found by their end, not by
    # reading every freeze ever made.
    db.execute("CREATE INDEX idx_freezes_active ON freezes (until) WHERE lifted_at IS NULL")
    # An operation due to be sent while a freeze covers its device waits: since when (its
    # thread is told once), until the freeze ends.
    db["operations"].add_column("held_since", str)
    # The audit trail: append-only, enforced by the database itself.
    db["audit"].create(
        {
            "id": int,
            "at": str,
            "event": str,  # requested, refused, confirmed, approved, rejected, expired, frozen, …
            "actor": str,  # a Slack user id, or "opsbot"
            "channel": str,
            "request_id": str,
            "device_name": str,
            "api_id": str,
            "detail": str,  # JSON object
        },
        pk="id",
    )
    db.execute("CREATE INDEX idx_audit_at ON audit (at)")
    for verb in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER audit_no_{verb.lower()} BEFORE {verb} ON audit "
            f"BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END"
        )
    # Facts learnt at start (the workspace's URL, for permalinks in the audit).
    db["facts"].create({"key": str, "value": str}, pk="key")


@MIGRATIONS(name="0006_polling")
def polling(db: Database) -> None:
    # Polling by need: each operation still followed carries when it is next asked about,
    # computed by the poller after each look from its status, its time, its expected duration
    # and its failed looks; the loop asks only the ones due and sleeps until the next. NULL:
    # not yet placed in the schedule (just submitted, or from before this migration): the
    # poller places it without asking the API. The failed looks in a row replace the
    # in-memory backoff, so a restart keeps the schedule and the spacing of retries.
    operations = db["operations"]
    operations.add_column("next_check_at", str)
    operations.add_column("check_failures", int, not_null_default=0)
    # The loop asks "what is due by now, soonest first" and "when is the next one" several
    # times a minute: both are answered from this index, whatever the history holds.
    db.execute(
        "CREATE INDEX idx_operations_next_check ON operations (next_check_at) "
        "WHERE state = 'submitted' AND final = 0"
    )


@MIGRATIONS(name="0007_waves")
def waves(db: Database) -> None:
    # A request in waves: each operation's wave (from 1; NULL: not in waves). An operation of
    # a later wave waits in state 'waiting', which the sender never reads, until its wave is
    # released ('new', scheduled for then) in the transaction that saw the wave before it end
    # with no failure. Stopped after a halt, it ends in state 'stopped' (final, never sent).
    db["operations"].add_column("wave", int)
    # The request's side: the size asked (NULL: one wave after the canary), whether a canary
    # goes first, how many waves in all (0: not in waves), the wave released last (0: none
    # yet), and where the waves stand: 'going', 'halted' (a wave failed: Continue or Stop),
    # 'stopped'; with when it halted and who stopped it.
    requests = db["requests"]
    requests.add_column("wave_size", int)
    requests.add_column("canary", int, not_null_default=0)
    requests.add_column("waves", int, not_null_default=0)
    requests.add_column("wave", int, not_null_default=0)
    requests.add_column("wave_state", str)
    requests.add_column("halted_at", str)
    requests.add_column("stopped_by", str)
    # Each final status asks whether its wave has ended: the operations of one wave of one
    # request, whatever its size. The halted requests are found without reading the others.
    db.execute("CREATE INDEX idx_operations_wave ON operations (request_id, wave)")
    # "Has this request an unfinished operation?", asked on every status change.
    db.execute("CREATE INDEX idx_operations_unfinished ON operations (request_id, final)")
    db.execute("CREATE INDEX idx_requests_halted ON requests (id) WHERE wave_state = 'halted'")


@MIGRATIONS(name="0008_home")
def home(db: Database) -> None:
    # The Home tab, built on every open from the store: a person's own requests (waiting for
    # their confirmation, their operations in flight) found by requester, not by reading every
    # request; and what is scheduled next across the fleet, by time, among the operations not
    # yet ended (the ended ones pile up for ever and are never read for it).
    db.execute("CREATE INDEX idx_requests_requester ON requests (requester, state)")
    db.execute("CREATE INDEX idx_operations_scheduled ON operations (scheduled_at) WHERE final = 0")


# The status word an operation sent to the API is counted under, as the metrics group it.
_WORD = "lower(trim(coalesce({row}.status, '')))"


@MIGRATIONS(name="0009_costs")
def costs(db: Database) -> None:
    # What a /metrics scrape reads, kept by the database itself as rows change, in the same
    # transaction, whatever writes them: the operations sent to the API by their last status
    # word, and the audit trail's lines by event. A scrape then reads a few rows rather than
    # grouping every operation ever sent and every audit line (about 2 s and, on the first
    # scrape after a start, 9 to 15 s under the store's lock at a million operations).
    db["operation_statuses"].create({"word": str, "operations": int}, pk="word")
    db.execute(
        f"INSERT INTO operation_statuses (word, operations) SELECT {_WORD.format(row='o')}, "
        "count(*) FROM operations o WHERE o.api_id IS NOT NULL GROUP BY 1"
    )
    old, new = _WORD.format(row="OLD"), _WORD.format(row="NEW")
    count_new = (
        f"INSERT INTO operation_statuses (word, operations) SELECT {new}, 1 "
        "WHERE NEW.api_id IS NOT NULL "
        "ON CONFLICT (word) DO UPDATE SET operations = operations + 1;"
    )
    uncount_old = (
        f"UPDATE operation_statuses SET operations = operations - 1 WHERE word = {old} "
        "AND OLD.api_id IS NOT NULL;"
    )
    db.execute(
        f"CREATE TRIGGER operation_statuses_insert AFTER INSERT ON operations BEGIN {count_new} END"
    )
    db.execute(
        "CREATE TRIGGER operation_statuses_update AFTER UPDATE OF api_id, status ON operations "
        f"WHEN (OLD.api_id IS NULL) <> (NEW.api_id IS NULL) OR {old} <> {new} "
        f"BEGIN {uncount_old} {count_new} END"
    )
    db.execute(
        "CREATE TRIGGER operation_statuses_delete AFTER DELETE ON operations "
        f"BEGIN {uncount_old} END"
    )
    db["audit_events"].create({"event": str, "lines": int}, pk="event")
    db.execute(
        "INSERT INTO audit_events (event, lines) "
        "SELECT coalesce(event, ''), count(*) FROM audit GROUP BY 1"
    )
    db.execute(
        "CREATE TRIGGER audit_events_count AFTER INSERT ON audit BEGIN "
        "INSERT INTO audit_events (event, lines) VALUES (coalesce(NEW.event, ''), 1) "
        "ON CONFLICT (event) DO UPDATE SET lines = lines + 1; END"
    )
    # The Home tab reads what is unfinished, never a person's history. Requests waiting for
    # their requester's click, by expiry: a search from now on skips the ones never clicked
    # (0010's sending loop expires them; those from before it stayed pending). Operations not
    # yet ended that are more than drafts (the drafts of requests never clicked, or
    # cancelled, stay unfinished for ever), by time: a
    # person's operations in flight and the fleet's next 24 hours are both found in it, and
    # the drafts of requests waiting for approval through their own index.
    db.execute("DROP INDEX idx_requests_requester")
    db.execute("CREATE INDEX idx_requests_pending ON requests (expires_at) WHERE state = 'pending'")
    db.execute("DROP INDEX idx_operations_scheduled")
    db.execute(
        "CREATE INDEX idx_operations_live ON operations (scheduled_at) "
        "WHERE final = 0 AND state <> 'draft'"
    )


@MIGRATIONS(name="0010_judged_when_acting")
def judged_when_acting(db: Database) -> None:
    # Requests nobody clicked expire in the store when their time is up (the sending loop asks
    # every second), found by 0009's idx_requests_pending. The freeze an operation waits for:
    # when it ends (lifted, or run out) is when the operation may go, so the time it was held
    # never counts as lateness, and a freeze that ended while the bot was down is not mistaken
    # for one that ends now.
    db["operations"].add_column("held_by", int)
    # Operations kept outside a window that blocks, waiting for a person's Move or Drop: the
    # sending loop ends those nobody answered in time, found here by when they were kept.
    db.execute(
        "CREATE INDEX idx_operations_outside ON operations (updated_at) WHERE state = 'outside'"
    )


# A message still to deliver (the outbox's partial indexes repeat it word for word).
_WAITING = "delivered_at IS NULL AND given_up_at IS NULL"
# The conversation of an outbox message ({o}: its row; r: its request), as it stands: the
# requester in private, or the request's public thread (before the request's public message
# is posted, the request's id stands in for it); and the channel of a public one.
_THREAD = (
    "CASE WHEN substr({o}.kind, 1, 7) = 'private' THEN 'private:' || {o}.request_id "
    "ELSE 'thread:' || coalesce(r.channel, '') || ':' "
    "|| coalesce(r.thread_ts, r.status_ts, {o}.request_id) END"
)
_CHANNEL = "CASE WHEN substr({o}.kind, 1, 7) = 'private' THEN NULL ELSE coalesce(r.channel, '') END"


@MIGRATIONS(name="0011_outbox_by_channel")
def outbox_by_channel(db: Database) -> None:
    # The outbox asks several times a second what may go out now. It read every waiting
    # message, with its request, to learn its thread and channel before asking whether the
    # channel had a turn: its cost grew with what waited in a paced channel (384 ms of CPU a
    # second at 200). Each message now carries its channel (NULL: private, not paced) and its
    # thread, kept by the database as messages are written and as a request's public message
    # is posted (its thread's name then changes), so that a pass reads, per channel with a
    # turn, only the next messages of that channel.
    outbox = db["outbox"]
    outbox.add_column("channel", str)
    outbox.add_column("thread", str)
    lane = "(channel, thread) = (SELECT {channel}, {thread} FROM requests r WHERE r.id = {id})"
    of_row = {"channel": _CHANNEL.format(o="outbox"), "thread": _THREAD.format(o="outbox")}
    db.execute(
        f"UPDATE outbox SET {lane.format(**of_row, id='outbox.request_id')} WHERE {_WAITING}"
    )
    db.execute(
        "CREATE TRIGGER outbox_thread_written AFTER INSERT ON outbox BEGIN "
        f"UPDATE outbox SET {lane.format(**of_row, id='NEW.request_id')} WHERE id = NEW.id; END"
    )
    db.execute(
        "CREATE TRIGGER outbox_thread_posted AFTER UPDATE OF channel, thread_ts, status_ts "
        "ON requests BEGIN UPDATE outbox SET thread = (SELECT "
        f"{of_row['thread']} FROM requests r WHERE r.id = NEW.id) "
        f"WHERE request_id = NEW.id AND channel IS NOT NULL AND {_WAITING}; END"
    )
    # Per channel (private ones under NULL), a request's public message first, then oldest
    # first: the order they go out in; and per thread, oldest first: whether a message is
    # the next of its thread.
    db.execute(
        f"CREATE INDEX idx_outbox_channels ON outbox (channel, kind <> 'root', id) WHERE {_WAITING}"
    )
    db.execute(f"CREATE INDEX idx_outbox_threads ON outbox (thread, id) WHERE {_WAITING}")
    # The status messages to edit, in the order they are edited when edits are rationed:
    # finished requests first, then the one shown longest ago. Whether a request has an
    # operation still open is taken each time it changes (every change its message shows
    # counts in root_version), when shown by the real clock (julianday): the edits were
    # ordered by reading every stale request's operations on every pass.
    requests = db["requests"]
    requests.add_column("root_open", int, not_null_default=1)
    requests.add_column("root_shown_at", float)
    stale = "root_version > root_shown AND status_ts IS NOT NULL AND root_given_up_at IS NULL"
    open_ = "EXISTS (SELECT 1 FROM operations o WHERE o.request_id = {id} AND o.final = 0)"
    db.execute(f"UPDATE requests SET root_open = {open_.format(id='requests.id')} WHERE {stale}")
    db.execute(
        "CREATE TRIGGER requests_root_open AFTER UPDATE OF root_version ON requests BEGIN "
        f"UPDATE requests SET root_open = {open_.format(id='NEW.id')} WHERE id = NEW.id; END"
    )
    db.execute("DROP INDEX idx_requests_stale_roots")
    db.execute(
        "CREATE INDEX idx_requests_stale_roots ON requests (root_open, root_shown_at) "
        f"WHERE {stale}"
    )
    # A public message Slack took answers for the requests waiting in its channel whose own
    # message has not been tried (store.root_posted): found among those alone, not among every
    # public message still queued there (a thousand, in a busy channel, on every post).
    db.execute(
        "CREATE INDEX idx_requests_untried ON requests (channel) WHERE status_ts IS NULL "
        "AND root_tried_at IS NULL AND state IN ('confirmed', 'approving')"
    )


@MIGRATIONS(name="0012_leases")
def leases(db: Database) -> None:
    # Which replica runs the background work (sending, polling, recovery, the outbox): the one
    # holding the lease, renewed every few seconds. `term` grows at every change of holder, so
    # a holder can tell it was replaced even if it got the lease back later.
    db["leases"].create(
        {"name": str, "holder": str, "term": int, "expires_at": str, "taken_at": str},
        pk="name",
        not_null={"holder", "term", "expires_at", "taken_at"},
    )


@MIGRATIONS(name="0013_channel_turns")
def channel_turns(db: Database) -> None:
    # Each channel's turns to post (and the workspace's to edit), shared by the replicas of
    # one database: Slack counts a channel's posts whichever process makes them.
    db["channel_turns"].create(
        {"key": str, "tokens": float, "filled_at": float, "held_until": float},
        pk="key",
        not_null={"tokens", "filled_at", "held_until"},
    )


def migrate(db: Database) -> None:
    MIGRATIONS.apply(db)
