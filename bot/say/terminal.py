"""The opsbot command in a terminal (plain text, not mrkdwn): settings and start-up checks,
backup and audit, `parse`, and the demo.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.say.common import or_list, plural, quote

# --- the opsbot command, in a terminal (plain text, not mrkdwn) -----------------------------


def cli_error(message: str) -> str:
    return f"opsbot: {message}"


def setting_not_set(name: str) -> str:
    return f"{name} is not set."


def setting_wrong_prefix(name: str, prefix: str, hint: str) -> str:
    return f"{name} should start with {prefix!r}: {hint}"


BOT_TOKEN_HINT = "check you copied the Bot User OAuth Token."
APP_TOKEN_HINT = "an app-level token with connections:write."


def setting_not_url(name: str, example: str) -> str:
    return f"{name} must be an http(s) URL, like {example}."


def setting_not_database_url(name: str, example: str) -> str:
    return f"{name} must be a PostgreSQL URL, like {example}."


def setting_not_number(name: str, raw: str, *, whole: bool) -> str:
    return f"{name} must be a {'whole ' if whole else ''}number, not {raw!r}."


def setting_out_of_range(name: str, raw: str, low: float, high: float) -> str:
    return f"{name} must be between {low:g} and {high:g}, not {raw}."


def setting_not_choice(name: str, raw: str, choices: Sequence[str]) -> str:
    quoted = [repr(c) for c in choices]
    allowed = ", ".join(quoted[:-1]) + f" or {quoted[-1]}" if len(quoted) > 1 else quoted[0]
    return f"{name} must be {allowed}, not {raw!r}."


def dotenv_bad_line(path: str, number: int) -> str:
    return f"{path}: line {number} is not KEY=value."


def settings_refused(problems: Sequence[str]) -> str:
    """Every problem found, so one fix-and-retry round is enough."""
    if len(problems) == 1:
        return f"{problems[0]} See Settings in docs/running.md."
    listed = "\n".join(f"  - {problem}" for problem in problems)
    return f"{len(problems)} settings need fixing (see Settings in docs/running.md):\n{listed}"


def folder_missing(folder: str) -> str:
    return f"the folder {folder} does not exist"


IS_A_FOLDER = "it is a folder, not a file"


def database_unusable(path: str, reason: str) -> str:
    return (
        f"cannot open the database OPSBOT_DB={path} ({reason}). Check that its folder exists "
        "and that opsbot may write there, or set OPSBOT_DB to another file."
    )


def database_url_unusable(url: str, reason: str) -> str:
    """`url` without its password (bot.run.settings.redact_url)."""
    return (
        f"cannot open the database OPSBOT_DATABASE_URL={url} ({reason}). Check that PostgreSQL "
        "is running and answers there, and the user, password and database name in the URL."
    )


def slack_token_refused(name: str, error: str) -> str:
    where = (
        "Create a new one under Basic Information → App-Level Tokens (scope connections:write)."
        if name == "SLACK_APP_TOKEN"
        else "Copy the Bot User OAuth Token (xoxb-…) again from the app's Install App page, "
        "and check that the app is still installed in the workspace."
    )
    return f"Slack refused {name} ({error}). {where}"


def slack_startup_error(error: str) -> str:
    return (
        f"Slack answered {error} when opsbot started. Try again in a minute; if it goes on, "
        "check https://status.slack.com."
    )


def slack_check_failed(name: str, reason: str) -> str:
    return f"checking {name} with Slack failed ({reason}). Check the Slack settings."


def slack_unreachable(url: str, reason: str) -> str:
    return (
        f"could not reach Slack at {url} ({reason}). Check the network and any proxy, "
        "and SLACK_API_URL if you set it."
    )


def port_unavailable(port: int, reason: str, *, setting: str) -> str:
    return (
        f"cannot listen on port {port} ({reason}). Stop whatever uses it, or set {setting} to "
        "a free port."
    )


def database_in_use(path: str, pid: int | None) -> str:
    who = f"another opsbot (process {pid})" if pid else "another opsbot"
    return (
        f"{who} is already running with OPSBOT_DB={path}; two would take each other's work "
        "in hand. Stop that one first, or set OPSBOT_DB to another file."
    )


def api_token_refused(url: str, status: int) -> str:
    allowed = ", and that it may list and create headless operations" if status == 403 else ""
    return (
        f"the control API at {url} refused ZEQUENZE_API_TOKEN (HTTP {status}). "
        f"Check the token{allowed}."
    )


def api_not_there(url: str, answer: str, *, example: str) -> str:
    return (
        f"ZEQUENZE_API_URL={url} does not look like the control API: asked for its operations, "
        f"it answered {answer}. Set ZEQUENZE_API_URL to the API's base, e.g. {example}"
    )


def api_answer_not_a_list(status: int) -> str:
    return f"HTTP {status} without the list of operations"


def api_unchecked(url: str, reason: str) -> str:
    return (
        f"could not check the control API at {url} ({reason}); starting anyway. "
        "Check ZEQUENZE_API_URL and the network if this goes on."
    )


def backup_no_database(path: str) -> str:
    return f"no database at {path} (set OPSBOT_DB)."


def audit_bad_since(value: str) -> str:
    return (
        f"{quote(value)} is not a date or a time ago: write it like 2026-11-20 (from midnight "
        "UTC), 2026-11-20T09:00:00+01:00, 7d or 24h."
    )


def audit_unreadable(path: str, reason: str, setting: str = "OPSBOT_DB") -> str:
    return f"cannot read the audit trail in {path} ({reason}). Check {setting}."


AUDIT_EMPTY = "No audit lines"  # followed by " since <time>" or "."


def audit_empty(since: str | None) -> str:
    return f"{AUDIT_EMPTY} since {since}." if since else f"{AUDIT_EMPTY}."


def backup_target_exists(path: str) -> str:
    return f"{path} exists already; choose a new file."


def backup_source_unreadable(path: str, reason: str) -> str:
    return f"cannot read the database {path} ({reason}). Check OPSBOT_DB."


def backup_failed(path: str, reason: str) -> str:
    return (
        f"could not write a backup to {path} ({reason}). Check that its folder exists and "
        "that you may write there."
    )


def backup_use_pg_dump(url: str) -> str:
    """`url` without its password (bot.run.settings.redact_url)."""
    return (
        f"opsbot backup copies a SQLite file, and this bot keeps its state in PostgreSQL "
        f"(OPSBOT_DATABASE_URL={url}). Back that up with PostgreSQL's own tools, safely while "
        f"the bot runs: pg_dump --format=custom --file=opsbot.dump '{url}' (give the password "
        "in PGPASSWORD or ~/.pgpass), or your provider's snapshots."
    )


def backed_up(source: str, target: str) -> str:
    return f"backed up {source} to {target}"


def migrated(database: str, applied: Sequence[str], latest: str) -> str:
    """What `opsbot migrate` did to `database` (a path, or a URL without its password)."""
    if not applied:
        return f"{database} is up to date (schema {latest}); nothing to apply."
    listed = "\n".join(f"  {name}" for name in applied)
    return f"migrated {database} to schema {latest}, applying {len(applied)}:\n{listed}"


def migrate_failed(database: str, reason: str, setting: str) -> str:
    return f"could not migrate {database} ({reason}). Check {setting}."


def copy_no_database(path: str) -> str:
    return f"no database at {path} (set OPSBOT_DB or give --db)."


def copy_not_opsbot(path: str, reason: str) -> str:
    return f"{path} is not an opsbot database ({reason}). Check OPSBOT_DB or --db."


def copy_source_behind(path: str, schema: str, latest: str) -> str:
    return (
        f"{path} is at schema {schema}, older than this opsbot's {latest}: bring it up to "
        f"date first with `opsbot migrate --db {path}`, then copy it."
    )


def copy_source_in_use(path: str, pid: int | None) -> str:
    who = f"process {pid}" if pid else "another process"
    return (
        f"{path} is in use by opsbot ({who}): stop it first, then copy (what it does after "
        "the copy would not reach PostgreSQL)."
    )


def copy_target_not_empty(database: str, tables: Sequence[str]) -> str:
    return (
        f"{database} already holds opsbot data ({', '.join(tables)}); nothing was copied. "
        "copy-db fills only a new, empty database: create one (e.g. `createdb opsbot`) and "
        "give its URL to --to."
    )


def copy_counts_differ(table: str, source: int, target: int) -> str:
    return (
        f"the copy was rolled back: {table} has {source} rows in the file but {target} in "
        "PostgreSQL after the copy. Nothing was copied; please report this."
    )


def copy_source_unreadable(path: str, reason: str) -> str:
    return f"cannot read {path} ({reason}); nothing was copied. Check OPSBOT_DB or --db."


def copy_failed(database: str, reason: str) -> str:
    return f"could not copy to {database} ({reason}); nothing was copied. Check --to."


def copied(source: str, database: str, counts: Sequence[tuple[str, int]], seconds: float) -> str:
    """What `opsbot copy-db` copied, table by table, as counted on both sides."""
    width = max(len(table) for table, _ in counts)
    listed = "\n".join(f"  {table:<{width}}  {rows:>9}" for table, rows in counts)
    total = sum(n for _, n in counts)
    return (
        f"copied {source} to {database}, counted on both sides:\n{listed}\n"
        f"{total} rows in {seconds:.1f} s. Point the bot at it with OPSBOT_DATABASE_URL; "
        f"{source} is left as it was."
    )


def parse_not_an_operation(typed: str, keywords: Sequence[str]) -> str:
    return (
        f"{quote(typed)} is a question for the bot, not an operation: parse only explains "
        f"operations ({or_list(list(keywords))}). list, status and help are answered by the "
        "bot itself: type them after /ops in Slack, or try them in opsbot demo."
    )


def now_not_iso(value: str) -> str:
    return f"{quote(value)} is not ISO 8601: write it like 2026-11-25T10:45:00Z."


def now_without_zone(value: str) -> str:
    return (
        f"{quote(value)} has no time zone: add Z for UTC or an offset, like "
        "2026-11-25T10:45:00Z or 2026-11-25T11:45:00+01:00."
    )


def not_a_share(value: str) -> str:
    return f"{quote(value)} is not a share: give a number from 0 to 1, like 0.3."


def not_seconds(value: str) -> str:
    return f"{quote(value)} is not a number of seconds: give 0 or more, like 3."


def not_a_port(value: str) -> str:
    return f"{quote(value)} is not a port: give a whole number from 0 to 65535 (0: any free one)."


def demo_greeting(devices: str) -> str:
    return (
        "Type what you would type after /ops, e.g.: restart nginx on server-02 now\n"
        "then confirm or cancel (the newest request; confirm r_… or cancel r_… names one).\n"
        "Also: list, status txn_1001, help, ? (this text), quit.\n"
        f"Devices in the simulator: {devices}.\n"
        "(/ops alone opens a form in Slack only; here, type the whole request.)"
    )


def demo_policy(*, source: str, you: str, channel: str, approver: str) -> str:
    """The greeting's part for `--config`: who types, where, and the policy's words."""
    who = quote(you) if not you[:1].isupper() else you  # "you", or a Slack id
    return (
        f"Policy: {source}. You are {who}, typing in #{channel}; start a line with as and "
        f"someone's id to type it as them, e.g. as {approver} approve.\n"
        "Also: plan <request> (a dry run: nothing recorded), approve or reject (the newest "
        "request waiting for approval; approve r_… names one), move (into the maintenance "
        "window a confirmation offers)."
    )


def demo_groups(known: Mapping[str, Sequence[str]], unknown: Sequence[str]) -> str:
    """The user groups of the demo: no Slack to ask, only [demo] and --group."""
    lines = []
    if known:
        listed = "; ".join(f"{group} = {', '.join(users)}" for group, users in known.items())
        lines.append(f"User groups (from [demo] and --group): {listed}.")
    if unknown:
        example = f"--group {unknown[0]}=U0002,U0003"
        lines.append(
            f"Unknown here, as there is no Slack to ask: {', '.join(unknown)}. A rule naming "
            f"them refuses; give their members with {example}."
        )
    return "\n".join(lines)


DEMO_EVERY_OPERATION = "every operation"
ANYONE_WHO_MAY_REQUEST = "anyone allowed to request"


def demo_rules(lines: Sequence[str]) -> str:
    listed = "\n".join(f"  {line}" for line in lines)
    return f"Rules (the first that matches decides; the requester never approves):\n{listed}"


def demo_rule(
    operations: str,
    devices: str,
    *,
    requesters: str | None,
    needed: int = 0,
    approvers: str | None = None,
    examples: Sequence[str] = (),
) -> str:
    """One `[[rules]]` in the greeting: who may ask, how many approve, and how to be them."""
    asked = f", requested by {requesters} only" if requesters else ""
    if not needed:
        return f"{operations} on {devices}{asked}: no approval"
    typed = f": {', then '.join(examples)}" if examples else ""
    by = approvers or ANYONE_WHO_MAY_REQUEST
    return f"{operations} on {devices}{asked}: {plural(needed, 'approval')} by {by}{typed}"


def demo_windows(lines: Sequence[str]) -> str:
    listed = "\n".join(f"  {line}" for line in lines)
    return f"Maintenance windows:\n{listed}"


def demo_window(*, devices: str, when: str, tz: str, outside: str, examples: Sequence[str]) -> str:
    """One `[[windows]]` in the greeting, and what a request outside it meets."""
    met = {
        "warn": "a warning, and move (the confirmation's button) moves it into the next one",
        "approve": f"1 approval by {ANYONE_WHO_MAY_REQUEST}"
        + (f": {examples[0]}" if examples else ""),
        "block": "a refusal",
    }.get(outside, outside)
    return f"{devices}: {when} {tz}; outside it, {met}"


def demo_admins(admins: str, *, admin: str | None, you_are_one: bool) -> str:
    """Who may freeze, and a freeze to type: as one of them, or as yourself if you are."""
    if you_are_one:
        return (
            f"Freeze and unfreeze: {admins} (you are one), e.g. freeze server-* for 1h "
            "patching, then unfreeze server-*"
        )
    if admin is None:
        return f"Freeze and unfreeze: {admins} only."
    return (
        f"Freeze and unfreeze: {admins} only, e.g. as {admin} freeze server-* for 1h patching, "
        f"then as {admin} unfreeze server-*"
    )


def demo_halt_example(target: str) -> str:
    return f"reboot {target} in waves of 4 now"


def demo_failing(devices: Sequence[str], *, example: str | None) -> str:
    """`[demo] fail` or --fail: which devices fail, and a request that halts on one."""
    listed = ", ".join(devices)
    if example is None:
        return f"Operations on {listed} fail in the simulator."
    return (
        f"Operations on {listed} fail in the simulator: {example} halts after the wave that "
        "holds one; then continue or stop."
    )


def demo_database(path: str) -> str:
    return (
        f"Kept in {path} after the demo: opsbot audit --db {path} says what happened "
        "(--format json or csv for every detail)."
    )


def demo_as(person: str, typed: str) -> str:
    return f"as {person} {typed}"


def demo_approval_hint(people: Sequence[str]) -> str:
    """After a confirm that waits for others: how to be them, as many as it needs."""
    if len(people) <= 1:
        approver = people[0] if people else "U0002"
        return (
            f"(It waits for someone else's approval: type as {approver} approve, or "
            f"as {approver} reject.)"
        )
    approvals = ", then ".join(demo_as(p, "approve") for p in people)
    return (
        f"(It waits for {plural(len(people), 'approval')} by others: type {approvals}; "
        f"or {demo_as(people[0], 'reject')}.)"
    )


DEMO_TEXT_SHOWN = 60  # characters of a request's text said beside its id


def demo_request(request_id: str, text: str) -> str:
    """`r_3f2a9c01b7e4 (reboot server-01 now)`: a request as the demo names it."""
    short = text if len(text) <= DEMO_TEXT_SHOWN else text[: DEMO_TEXT_SHOWN - 1] + "…"
    return f"{request_id} ({short})" if short else request_id


def demo_confirmed(request: str) -> str:
    return f"Confirmed {request}."


def demo_cancelled(request: str) -> str:
    return f"Cancelled {request}: nothing was sent to the API."


def demo_also_waiting(requests: Sequence[str]) -> str:
    """A request proposed while others wait: in Slack each has its own buttons."""
    return (
        f"Also waiting for your confirmation: {', '.join(requests)}. confirm or cancel answers "
        "the newest, this one; confirm r_… or cancel r_… names one."
    )


def demo_still_waiting(requests: Sequence[str]) -> str:
    return (
        f"Still waiting for your confirmation: {', '.join(requests)} (confirm or cancel "
        "answers the newest)."
    )


def demo_not_waiting(typed: str, requests: Sequence[str]) -> str:
    return (
        f"{quote(typed)} is not waiting for your confirmation: nothing was done. Waiting: "
        f"{', '.join(requests)}."
    )


def demo_unconfirmed(requests: Sequence[str]) -> str:
    """At the end: what was proposed and never confirmed, so never sent."""
    return f"Never confirmed, so never sent: {', '.join(requests)}."


def demo_not_a_user(word: str, *, you: str) -> str:
    return (
        f"{quote(word)} is not a Slack user id (U… or W…, like U0002), nor {you}: "
        "nothing was done. For example: as U0002 approve"
    )


def demo_bad_group(value: str) -> str:
    return (
        f"{quote(value)} is not a user group with its members: give an S… id, =, and U… or "
        "W… ids separated by commas, like S0DBA=U0002,U0003."
    )


def demo_bad_user(value: str) -> str:
    return f"{quote(value)} is not a Slack user id: give U… or W…, like U0001."


def demo_bad_channel(value: str) -> str:
    return f"{quote(value)} is not a Slack channel id: give C…, G… or D…, like C0001."


def demo_database_unusable(path: str, reason: str) -> str:
    return (
        f"cannot keep the demo's database in {path} ({reason}). Check that its folder exists "
        "and that you may write there, or give --db another file."
    )


def demo_database_in_use(path: str, pid: int | None) -> str:
    who = f"another opsbot (process {pid})" if pid else "another opsbot"
    return f"{who} is using {path}; stop it first, or give --db another file."


DEMO_AS_NOTHING = "Say what they type after their id, e.g. as U0002 approve"
DEMO_NOTHING_PENDING = "Nothing is waiting for confirmation. Type a request first."
DEMO_NOTHING_TO_APPROVE = (
    "Nothing is waiting for approval: a request that needs it waits once its requester "
    "has typed confirm."
)
DEMO_NO_QUESTION = "No question is waiting for an answer."
DEMO_WAITING = "(waiting for the operations to finish…)"


def demo_unfinished(lines: Sequence[str], *, waited: int | None, kept: str | None = None) -> str:
    """`waited`: the seconds the demo waited at most, after piped input; None if you quit.
    `kept`: the database kept with --db, where a next demo takes them up again."""
    why = (
        f" (it waits at most {waited} s, and not for what cannot finish by then)"
        if waited is not None
        else ""
    )
    listed = "\n".join(f"  {line}" for line in lines)
    after = (
        f"They are kept in {kept}: a demo started again with --db {kept} follows them on."
        if kept
        else "Those sent stay scheduled in the simulator, which is stopping now: nothing "
        "tracks them further."
    )
    return f"Not finished when the demo ended{why}:\n{listed}\n{after}"


def demo_operation(*, device: str, api_id: str | None, status: str, when: str) -> str:
    return f"{device} · {api_id or 'not sent yet'} · {status} · {when}"


def demo_failed(*, device: str, api_id: str | None) -> str:
    return f"{device} ({api_id or 'not scheduled'})"


def demo_failures(failed: Sequence[str], *, total: int) -> str:
    return f"{len(failed)} of {plural(total, 'operation')} failed: {', '.join(failed)}."
