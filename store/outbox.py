"""The outbox: what the bot has to say in Slack, kept with the change it tells, sent by its
loop.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from store.base import (
    BOT_ACTOR,
    StoreBase,
    _now_text,
    null_safe_equal,
    shown_at,
)
from store.records import (
    ROOT,
    UNSENT,
    OutboxEvent,
)

_TO_DELIVER = "o.delivered_at IS NULL AND o.given_up_at IS NULL"


_TO_DELIVER_ROW = "delivered_at IS NULL AND given_up_at IS NULL"


# A message's channel and thread are kept in its row by the database (migration 0011).
_EVENTS = "SELECT o.* FROM outbox o"


class Outbox(StoreBase):
    def enqueue(self, announce: dict[str, Any], *, now: datetime) -> None:
        with self.engine.write() as tx:
            self._enqueue(tx, announce, now)

    def pending_outbox(self, *, limit: int = 200) -> list[OutboxEvent]:
        """Everything still to deliver, oldest first."""
        return self._events(
            f"{_EVENTS}{self.dialect.indexed_by('idx_outbox_pending')} WHERE {_TO_DELIVER} "
            "ORDER BY o.id LIMIT ?",
            [limit],
        )

    def waiting_channels(self) -> list[str]:
        """The channels a public message waits to be posted in. Skipped through from one
        channel to the next in an index: the cost is a step or two per channel, however many
        messages wait in each."""
        with self.engine.read() as tx:
            return [
                row["channel"]
                for row in tx.rows(
                    "WITH RECURSIVE lanes(channel) AS (SELECT min(channel) FROM outbox "
                    f"WHERE channel IS NOT NULL AND {_TO_DELIVER_ROW} UNION ALL "
                    "SELECT (SELECT min(channel) FROM outbox WHERE channel > lanes.channel "
                    f"AND {_TO_DELIVER_ROW}) FROM lanes WHERE lanes.channel IS NOT NULL) "
                    "SELECT channel FROM lanes WHERE channel IS NOT NULL"
                )
            ]

    def next_in_each_thread(
        self, channel: str | None, *, limit: int = 200, skip: Collection[str] = ()
    ) -> list[OutboxEvent]:
        """What may go out next into `channel` (None: the requesters' private messages): the
        oldest event still to deliver of each of its threads, a request's public message
        first (the first sign in public that the request was confirmed), then oldest first;
        at most `limit`, and none of the threads in `skip` (those waiting after a failure).
        A thread whose messages cannot go out holds up only itself, however many it has
        waiting, and a channel only itself: the cost is the messages read up to the `limit`
        (and past the skipped threads' ones), not what waits."""
        d = self.dialect
        into, into_params = null_safe_equal("o.channel", channel)
        return self._events(
            # o.channel is one value here (NULL or not): its NULLs' order does not matter.
            f"{_EVENTS}{d.indexed_by('idx_outbox_channels')} WHERE {into} AND {_TO_DELIVER} "
            f"AND o.thread NOT IN ({d.json_texts('?')}) AND NOT EXISTS (SELECT 1 "
            f"FROM outbox p{d.indexed_by('idx_outbox_threads')} WHERE p.thread = o.thread "
            "AND p.id < o.id AND p.delivered_at IS NULL AND p.given_up_at IS NULL) "
            f"ORDER BY o.channel, o.kind <> '{ROOT}', o.id LIMIT ?",
            [*into_params, json.dumps(list(skip)), limit],
        )

    def _events(self, sql: str, params: Sequence[Any]) -> list[OutboxEvent]:
        with self.engine.read() as tx:
            return [
                OutboxEvent(
                    id=r["id"],
                    request_id=r["request_id"],
                    kind=r["kind"],
                    data=json.loads(r["data"]),
                    attempts=r["attempts"],
                    thread=r["thread"],
                    channel=r["channel"],
                )
                for r in tx.rows(sql, params)
            ]

    def root_version(self, request_id: str) -> int:
        """How many changes its public message has to show: read before rendering it."""
        with self.engine.read() as tx:
            version = tx.value("SELECT root_version FROM requests WHERE id = ?", [request_id])
        return version or 0

    def root_posted(
        self,
        event_id: int,
        *,
        status_ts: str,
        now: datetime,
        version: int = 0,
        covers: int | None = None,
    ) -> bool:
        """The request's public message is in the channel: its thread is known from now on.
        `version`: the root_version it was rendered at (read before): nothing to edit until
        the request changes again.

        `covers`: the newest outbox event when this post was tried (`newest_event_id()`, read
        before the call to Slack). Slack took a post in the channel after every request whose
        public message was queued by then had been confirmed: that answers, for each of them
        still waiting there, whether the bot may post in the channel, as its own message would
        have, and its operations need not wait for their own (paced) message any more. A
        request confirmed after the post was tried waits for a later one: a refusal since then
        can still stop it."""
        with self.engine.write() as tx:
            if not self._cas(
                tx,
                "UPDATE outbox SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL "
                "AND given_up_at IS NULL",
                [_now_text(now), event_id],
            ):
                return False
            tx.execute(
                "UPDATE requests SET status_ts = ?, root_tried_at = coalesce(root_tried_at, ?), "
                f"root_shown = {self.dialect.greatest('root_shown', '?')}, root_shown_at = ? "
                "WHERE id = (SELECT request_id FROM outbox WHERE id = ?)",
                [status_ts, _now_text(now), version, shown_at(), event_id],
            )
            if covers is not None:
                # Those still waiting in the channel, not answered for yet (their index), each
                # confirmed before the post was tried: its public message queued by then. Ids
                # order the confirmations exactly; the clock has whole seconds.
                tx.execute(
                    f"UPDATE requests{self.dialect.indexed_by('idx_requests_untried')} "
                    "SET root_tried_at = ? "
                    "WHERE channel = "
                    "(SELECT r.channel FROM requests r JOIN outbox o ON o.request_id = r.id "
                    "WHERE o.id = ?) AND status_ts IS NULL "
                    "AND state IN ('confirmed', 'approving') AND root_tried_at IS NULL "
                    "AND EXISTS (SELECT 1 FROM outbox q WHERE q.request_id = requests.id "
                    "AND q.kind = ? AND q.id <= ?)",
                    [_now_text(now), event_id, ROOT, covers],
                )
            # The bot posts there again: it was invited back.
            tx.execute(
                "DELETE FROM refused_channels WHERE channel = "
                "(SELECT r.channel FROM requests r JOIN outbox o ON o.request_id = r.id "
                "WHERE o.id = ?)",
                [event_id],
            )
            return True

    def root_tried(self, request_id: str, *, now: datetime) -> None:
        """Slack answered the public message with a passing failure (rate limit, outage): the
        operations need not wait for it any more."""
        with self.engine.write() as tx:
            tx.execute(
                "UPDATE requests SET root_tried_at = coalesce(root_tried_at, ?) WHERE id = ?",
                [_now_text(now), request_id],
            )

    def stop_unposted(
        self,
        channel: str,
        *,
        reason: str,
        error: str,
        now: datetime,
        notice: str,
        only: str | None = None,
    ) -> list[str]:
        """Slack will never post in `channel` (the bot is not in it, it is gone or archived):
        the channel is remembered as refusing, and every confirmed request there whose public
        message has not gone out and none of whose operations has been sent stops here. Its
        public message is given up, its operations are not sent (`reason` says why), and its
        requester is told, with a `notice`, all in one transaction. Returns those stopped.

        `only`: a request whose public message was queued before a refusal already known:
        that one alone is looked at, and the channel is not marked again (the bot may have
        posted there since)."""
        one = "AND r.id = ? " if only is not None else ""
        with self.engine.write() as tx:
            stopped = [
                row["id"]
                for row in tx.rows(
                    "SELECT r.id FROM requests r WHERE r.channel = ? "
                    "AND r.state IN ('confirmed', 'approving') "
                    f"AND r.status_ts IS NULL {one}AND NOT EXISTS "
                    "(SELECT 1 FROM operations o WHERE o.request_id = r.id "
                    # Back in 'new' on a person's Send again: its first attempt may have gone.
                    # A request waiting for approval has only drafts. A later wave's
                    # operations wait in 'waiting'; one kept outside its window in 'outside'.
                    f"AND (o.state NOT IN {UNSENT} OR o.answered_by IS NOT NULL))",
                    [channel, *([only] if only is not None else [])],
                )
            ]
            if only is None:
                tx.execute(
                    "INSERT INTO refused_channels (channel, reason, since) VALUES (?, ?, ?) "
                    "ON CONFLICT (channel) DO UPDATE SET reason = excluded.reason",
                    [channel, reason, _now_text(now)],
                )
            for request_id in stopped:
                tx.execute(
                    "UPDATE outbox SET given_up_at = ?, last_error = ? WHERE request_id = ? "
                    "AND kind = ? AND delivered_at IS NULL AND given_up_at IS NULL",
                    [_now_text(now), error[:500], request_id, ROOT],
                )
                tx.execute(
                    "UPDATE requests SET root_tried_at = coalesce(root_tried_at, ?) WHERE id = ?",
                    [_now_text(now), request_id],
                )
                tx.execute(
                    "UPDATE operations SET state = 'rejected', final = 1, error = ?, "
                    f"updated_at = ? WHERE request_id = ? AND state IN {UNSENT}",
                    [reason, _now_text(now), request_id],
                )
                # Nobody can approve a message that was never posted.
                tx.execute(
                    "UPDATE requests SET state = 'expired' WHERE id = ? AND state = 'approving'",
                    [request_id],
                )
                self._audit_request(
                    tx,
                    request_id,
                    event="stopped",
                    actor=BOT_ACTOR,
                    now=now,
                    detail={"reason": reason, "error": error},
                )
                self._enqueue(tx, {"request_id": request_id, "kind": notice, "reason": reason}, now)
            return stopped

    def give_up_delivery(
        self,
        event_id: int,
        *,
        error: str,
        now: datetime,
        notice: dict[str, Any] | None = None,
    ) -> bool:
        """Never to be tried again: Slack will not take it. `notice`, an announcement for the
        requester, is queued in the same transaction, once per request and kind however many
        events are given up."""
        with self.engine.write() as tx:
            if not self._cas(
                tx,
                "UPDATE outbox SET given_up_at = ?, last_error = ? "
                "WHERE id = ? AND delivered_at IS NULL AND given_up_at IS NULL",
                [_now_text(now), error[:500], event_id],
            ):
                return False
            if notice is not None and not tx.value(
                "SELECT 1 FROM outbox WHERE request_id = ? AND kind = ?",
                [notice["request_id"], notice["kind"]],
            ):
                self._enqueue(tx, notice, now)
            return True

    def newest_event_id(self) -> int:
        with self.engine.read() as tx:
            return tx.value("SELECT coalesce(max(id), 0) FROM outbox")

    def mark_delivered(self, event_id: int, *, now: datetime) -> bool:
        with self.engine.write() as tx:
            return self._cas(
                tx,
                "UPDATE outbox SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL "
                "AND given_up_at IS NULL",
                [_now_text(now), event_id],
            )

    def stale_roots(
        self, *, limit: int = 1000, skip: Collection[str] = ()
    ) -> list[tuple[str, int, bool]]:
        """Requests whose public message is older than their state, in the order they are
        edited when edits are rationed: finished requests first (the end of a request is what
        its readers wait for), then the one shown longest ago (or the first few by id would
        take every turn). (id, version to show, finished), at most `limit`, none of `skip`
        (those shown too recently, or waiting after a failure): read from an index in that
        order, so the cost is what is read, not how many wait."""
        with self.engine.read() as tx:
            return [
                (r["id"], r["root_version"], not r["root_open"])
                for r in tx.rows(
                    "SELECT id, root_version, root_open FROM requests "
                    "WHERE root_version > root_shown AND status_ts IS NOT NULL "
                    "AND root_given_up_at IS NULL "
                    f"AND id NOT IN ({self.dialect.json_texts('?')}) "
                    # Never shown (NULL) first, as SQLite orders them.
                    "ORDER BY root_open, root_shown_at NULLS FIRST LIMIT ?",
                    [json.dumps(list(skip)), limit],
                )
            ]

    def give_up_root(self, request_id: str, *, now: datetime) -> None:
        """The public status message can no longer be edited (deleted, channel gone): stop."""
        with self.engine.write() as tx:
            tx.execute(
                "UPDATE requests SET root_given_up_at = coalesce(root_given_up_at, ?) WHERE id = ?",
                [_now_text(now), request_id],
            )

    def root_shown(self, request_id: str, *, version: int) -> None:
        with self.engine.write() as tx:
            tx.execute(
                f"UPDATE requests SET root_shown = {self.dialect.greatest('root_shown', '?')}, "
                "root_shown_at = ? WHERE id = ?",
                [version, shown_at(), request_id],
            )

    def mark_attempt_started(self, event_id: int) -> bool:
        """Counted before sending: after a crash mid-send, attempts > 0 says the message may
        have gone out, so the sender checks before sending it again. False: not to be sent
        by this process (another replica took the background lease over, `_fenced`)."""
        fence, fence_params = self._fenced()
        with self.engine.write() as tx:
            return self._cas(
                tx,
                "UPDATE outbox SET attempts = attempts + 1 WHERE id = ?" + fence,
                [event_id, *fence_params],
            )

    def mark_attempt_failed(self, event_id: int, *, error: str, landed: bool = True) -> None:
        """`landed` False: Slack said the message was not posted (a 429), so this try does not
        count as one that may have gone out."""
        with self.engine.write() as tx:
            tx.execute(
                "UPDATE outbox SET last_error = ?, attempts = attempts - ? WHERE id = ?",
                [error[:500], int(not landed), event_id],
            )
