"""The policy file: every mistake named with its line or key, the example valid, and
`opsbot check-config` / `opsbot run` saying so in words."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.model import Plan, Refusal
from bot.policy.config import OPEN_POLICY, ConfigError, load_config, read_config
from bot.policy.rules import matches
from bot.policy.tables.rules import APPROVAL_PEER
from bot.policy.tables.windows import OUTSIDE_APPROVE
from bot.run.cli import main
from bot.understand import grammar
from bot.understand.catalog import DEFAULT_CATALOG
from bot.understand.grammar import parse

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "opsbot.example.toml"
NOW = datetime(2026, 11, 25, 10, 45, tzinfo=UTC)

SET_OPERATION = """
[[operations]]
keyword = "set"
type = "set"
label = "Set a parameter"
syntax = "set <parameter> to <value> on <devices>"
example = "set Device.X to 1 on cpe-1"
"""
PARAMETER = '[[operations.parameters]]\nname = "v"\nlabel = "V"\n'
VALUE = PARAMETER + 'kind = "value"\nword = "to"\n'


def problems(toml: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        read_config(toml, source="opsbot.toml")
    return caught.value.problems


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        # TOML syntax: tomllib's own words and place.
        ('[access]\nchannels = ["C1"\n', "opsbot.toml: this is not valid TOML"),
        ("[access]\nchannels = = 1\n", "(at line 2, column"),
        # Unknown sections and keys, with near misses named.
        ("[acces]\n", 'opsbot.toml: line 1: unknown section [acces] (did you mean "access"?)'),
        ('colour = "blue"\n', 'opsbot.toml: line 1: unknown key "colour"'),
        ('[[acess]]\nx = 1\n', 'line 1: unknown section [acess] (did you mean "access"?)'),
        ('[access]\nadmin = ["U1"]\n',
         '[access] (line 2): unknown key "admin" (did you mean "admins"?)'),
        ('[[rules]]\napproval = "none"\ncolour = 1\n',
         '[[rules]] #1 (line 3): unknown key "colour"; the keys here are'),
        ('[[windows]]\nwhen = "daily 01:00-02:00"\nzone = "UTC"\n',
         '[[windows]] #1 (line 3): unknown key "zone"'),
        # Shapes of sections.
        ("[[access]]\n", "access must be one table, [access]"),
        ('[rules]\napproval = "peer"\n', "line 1: write each rule as its own [[rules]] table"),
        ("rules = [1]\n", "each rule must be a table, [[rules]], not 1"),
        # Types.
        ('[access]\nchannels = "C0001"\n',
         '[access] (line 2): channels must be a list of channel ids in quotes, like ["…"], '
         'not "C0001"'),
        ("[access]\nrequesters = [1]\n", "requesters must be a list of user and user group ids"),
        ('[[rules]]\ndevices = "server-*"\n', "devices must be a list of device name patterns"),
        ("[[windows]]\nwhen = 5\n", "[[windows]] #1 (line 2): when must be a text in quotes"),
        # Slack ids.
        ('[access]\nchannels = ["general"]\n',
         '"general" is not a channel id (C…, G… or D…); use the id, not a name'),
        ('[access]\nchannels = ["c0001"]\n', 'Slack ids are upper case: "C0001"'),
        ('[access]\nchannels = ["U0001"]\n', '"U0001" is not a channel id'),
        ('[access]\nadmins = ["@bob"]\n', '"@bob" is not a user (U…, W…) or user group (S…) id'),
        ('[[rules]]\napproval = "peer"\napprovers = ["C0001"]\n',
         '[[rules]] #1 (line 3): "C0001" is not a user'),
        ("[access]\nchannels = []\n", "channels is empty, which allows nowhere"),
        ("[access]\nrequesters = []\n", "requesters is empty, which allows nobody"),
        # Globs.
        ('[[rules]]\ndevices = ["db-[12"]\n',
         '[[rules]] #1 (line 2): devices: "db-[12" has a "[" without its "]"'),
        ('[[rules]]\ndevices = [""]\n', '"" is empty: a pattern needs at least one character'),
        ('[[windows]]\nwhen = "daily 01:00-02:00"\ndevices = []\n',
         "devices is empty, which matches no device"),
        # Rules' values.
        ('\n[[rules]]\napproval = "none"\n\n[[rules]]\napproval = "peers"\n',
         '[[rules]] #2 (line 6): approval must be "none" or "peer", not "peers"'),
        ('[[rules]]\napproval = "peer"\napprovals = 0\n',
         "[[rules]] #1 (line 3): approvals must be a whole number, 1 or more, not 0"),
        ('[[rules]]\napprovals = 1.5\n', "approvals must be a whole number, 1 or more, not 1.5"),
        ('[[rules]]\napproval = "peer"\napprovers = ["U1", "U2"]\napprovals = 3\n',
         "3 approvals are needed but only 2 approvers are listed"),
        ('[[rules]]\napproval = "peer"\napprovers = []\n',
         "[[rules]] #1 (line 3): approvers is empty, so nobody could approve"),
        ('[[rules]]\nexpires = "2 hours"\n',
         '[[rules]] #1 (line 2): expires must be a time like "30m", "1h", "2h30m" or "1d", '
         'not "2 hours"'),
        ("[[rules]]\nexpires = 3600\n", "not 3600"),
        ('[[rules]]\nexpires = "0m"\n', "expires must be longer than 0"),
        ('[[rules]]\nexpires = "8d"\n', 'expires may be at most 7 days ("7d"), not "8d"'),
        ('[[rules]]\noperations = ["rebot"]\n',
         'there is no operation type "rebot" (did you mean "reboot"?)'),
        ('[[rules]]\noperations = ["restart"]\n',
         '"restart" is how people type it; its type is "restart_service"'),
        # Windows.
        ('[[windows]]\ntz = "UTC"\n', "[[windows]] #1 (line 1): when is missing"),
        ('[[windows]]\nwhen = "sat 25:00-sun 06:00"\n',
         '[[windows]] #1 (line 2): when: "25:00" is not a time of day'),
        ('[[windows]]\nwhen = "weekends"\n', 'when: I can\'t read "weekends" as a weekly'),
        ('[[windows]]\nwhen = "daily 01:00-02:00"\ntz = "Europe/Madird"\n',
         '[[windows]] #1 (line 3): tz: there is no time zone "Europe/Madird" '
         '(did you mean "Europe/Madrid"'),
        ('[[windows]]\nwhen = "daily 01:00-02:00"\ntz = "europe/madrid"\n',
         '(did you mean "Europe/Madrid"?)'),
        ('[[windows]]\nwhen = "daily 01:00-02:00"\noutside = "deny"\n',
         '[[windows]] #1 (line 3): outside must be "warn", "approve" or "block", not "deny"'),
        # Operations.
        ('[operations]\nkeyword = "set"\n', "write each operation as its own [[operations]] table"),
        ('[[operations]]\nkeyword = "set"\n', "[[operations]] #1 (line 1): type is missing"),
        (SET_OPERATION.replace('= "set"\ntype', '= "Set"\ntype'),
         '[[operations]] #1 (line 3): keyword "Set" must be one lower-case word'),
        (SET_OPERATION.replace('keyword = "set"', 'keyword = "help"'),
         '"help" is one of the bot\'s own words'),
        (SET_OPERATION.replace('type = "set"', 'type = "reboot"'),
         'type "reboot" is the built-in "reboot" operation\'s: to replace it, '
         'use keyword = "reboot"'),
        (SET_OPERATION + SET_OPERATION,
         '[[operations]] #2 (line 10): keyword "set" is already used above'),
        (SET_OPERATION + "colour = 1\n", '[[operations]] #1 (line 8): unknown key "colour"'),
        (SET_OPERATION + "fixed = 1\n", "fixed must be a table"),
        (SET_OPERATION + VALUE + 'type = "int"\n',
         '[[operations]] #1 parameter #1 (line 13): type must be "boolean", "integer", '
         '"number" or "string", not "int"'),
        (SET_OPERATION + VALUE, "[[operations]] #1 parameter #1 (line 8): type is missing"),
        (SET_OPERATION + PARAMETER + 'kind = "knob"\n',
         'kind must be "duration", "flag", "name", "name_list" or "value", not "knob"'),
        (SET_OPERATION + PARAMETER + 'kind = "flag"\n', 'a "flag" parameter needs a word'),
        (SET_OPERATION + PARAMETER + 'kind = "flag"\nword = "f"\ntype = "string"\n',
         'type only applies to kind = "value"'),
        (SET_OPERATION + VALUE + 'type = "integer"\ndefault = "x"\n',
         'default "x" does not fit a value parameter'),
        (SET_OPERATION + PARAMETER.replace('"v"', '"my value"') + 'kind = "name"\n',
         'name "my value" must be one word'),
        (SET_OPERATION + 'parameters = "value"\n',
         "write each parameter as its own [[operations.parameters]] table"),
        (SET_OPERATION + PARAMETER + 'kind = "name"\n' + PARAMETER.replace('"v"', '"w"')
         + 'kind = "name"\n',
         "the operations do not fit together: set: at most one name field"),
    ],
)  # fmt: skip
def test_each_mistake_is_named_with_its_place(toml: str, expected: str) -> None:
    found = problems(toml)
    assert any(expected in problem for problem in found), found
    assert all(problem.startswith("opsbot.toml: ") for problem in found)


def test_every_problem_is_named_at_once_in_the_file_s_order() -> None:
    found = problems(
        '[access]\nchannels = ["general"]\n\n[[rules]]\napproval = "peers"\n'
        '[[windows]]\nwhen = "x"\noutside = "deny"\n'
    )
    assert len(found) == 4
    lines = [int(p.split("(line ")[1].split(")")[0]) for p in found]
    assert lines == sorted(lines) == [2, 5, 7, 8]


def test_the_example_is_valid_and_shows_every_key() -> None:
    policy = load_config(EXAMPLE)
    assert policy.source == str(EXAMPLE)
    assert policy.access.channels == ("C0001",)
    assert policy.access.admins == ("S0LEADS",)
    first = policy.rules[0]
    assert first.approval == APPROVAL_PEER and first.approvals == 2
    assert first.expires == timedelta(hours=2) and first.line > 0
    assert policy.windows[0].outside == OUTSIDE_APPROVE and policy.windows[0].tz == "Europe/Madrid"
    assert [kind.keyword for kind in policy.catalog.kinds] == ["restart", "reboot", "update", "set"]
    set_kind = policy.catalog.by_keyword("set")
    assert set_kind is not None
    assert "set Device.ManagementServer.PeriodicInformInterval to 300 on cpe-0042" in (
        set_kind.example
    )
    value = next(f for f in set_kind.fields if f.name == "value")
    assert (value.kind, value.word, value.value_type) == ("value", "to", "integer")
    text = EXAMPLE.read_text()
    for key in ("channels", "requesters", "admins", "operations", "devices", "approval",
                "approvers", "approvals", "expires", "when", "tz", "outside", "keyword",
                "type", "label", "syntax", "example", "fixed", "name", "kind", "required",
                "default", "placeholder", "word"):  # fmt: skip
        assert f"\n{key} = " in text, key


@pytest.mark.parametrize(
    ("patterns", "name", "covered"),
    [
        (None, "anything", True),
        (("server-*",), "server-01", True),
        (("server-*",), "SERVER-01", True),
        (("Server-*",), "server-01", True),
        (("db-0?",), "db-01", True),
        (("db-0?",), "db-010", False),
        (("db-0[1-3]",), "db-04", False),
        (("web-*", "db-*"), "db-9", True),
    ],
)
def test_device_patterns_ignore_case(
    patterns: tuple[str, ...] | None, name: str, covered: bool
) -> None:
    assert matches(name, patterns) is covered


def test_a_site_keyword_replaces_the_built_in_one_in_place() -> None:
    policy = read_config(
        SET_OPERATION.replace('"set"', '"reboot"', 2).replace("Set a parameter", "Reboot"),
        source="site.toml",
    )
    kinds = policy.catalog.kinds
    assert [k.keyword for k in kinds] == ["restart", "reboot", "update"]
    assert kinds[1].label == "Reboot" and kinds[1] != DEFAULT_CATALOG.kinds[1]


def test_an_empty_file_is_the_open_policy_with_the_built_in_catalog() -> None:
    policy = read_config("", source="empty.toml")
    assert policy.catalog is DEFAULT_CATALOG
    assert (policy.access, policy.rules, policy.windows) == (
        OPEN_POLICY.access,
        (),
        (),
    )


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: d / "missing.toml", "missing.toml: there is no such file."),
        (lambda d: d, "this is a folder, not a file."),
        (lambda d: _write(d / "latin.toml", b"a = '\xe9'\n"), "is not UTF-8 text"),
    ],
)
def test_a_file_that_cannot_be_read_is_one_sentence(make, expected: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(make(tmp_path))
    assert len(caught.value.problems) == 1
    assert expected in caught.value.problems[0]


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


# ---------------------------------------------------------------------- check-config


def test_check_config_accepts_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(EXAMPLE)]) == 0
    out = capsys.readouterr()
    assert out.err == ""
    assert out.out == (
        f"{EXAMPLE} is valid: 2 rules, 2 windows, 4 operation types (set added), "
        "2 groups of devices; its [demo] table is read by opsbot demo only.\n"
    )


@pytest.mark.parametrize("key", ['approvers = ["U0002"]', "approvals = 2", 'expires = "1h"'])
def test_approval_keys_without_a_peer_approval_are_refused(key: str) -> None:
    # Otherwise the rule means "no approval" while its author meant one.
    with pytest.raises(ConfigError) as refused:
        read_config(f'[[rules]]\ndevices = ["prod-*"]\n{key}\n', source="opsbot.toml")
    assert 'only counts with approval = "peer"' in str(refused.value)


def test_check_config_names_every_problem_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "opsbot.toml"
    path.write_text('[[rules]]\napproval = "peers"\nexpires = "soon"\n')
    assert main(["check-config", str(path)]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert "2 problems" in out.err
    assert f'{path}: [[rules]] #1 (line 2): approval must be "none" or "peer"' in out.err
    assert f"{path}: [[rules]] #1 (line 3): expires must be" in out.err


def test_check_config_reads_opsbot_config_when_no_path_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPSBOT_CONFIG", str(tmp_path / "nowhere.toml"))
    assert main(["check-config"]) == 1
    assert "nowhere.toml: there is no such file." in capsys.readouterr().err
    monkeypatch.delenv("OPSBOT_CONFIG")
    monkeypatch.chdir(tmp_path)  # no .env here either
    assert main(["check-config"]) == 2
    assert "OPSBOT_CONFIG" in capsys.readouterr().err


def opsbot(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "ZEQUENZE_", "OPSBOT_")) and k != "PORT"
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**inherited, "PYTHONPATH": str(ROOT), **env},
    )


def test_check_config_and_run_refuse_a_broken_file_in_the_same_words(tmp_path: Path) -> None:
    path = tmp_path / "opsbot.toml"
    path.write_text('[access]\nchannels = ["C1"\n')  # not even TOML
    checked = opsbot("check-config", str(path), env={}, cwd=tmp_path)
    assert checked.returncode == 1
    assert "Traceback" not in checked.stderr
    assert checked.stderr.startswith(f"opsbot: {path}: this is not valid TOML")
    # The config is read before Slack or the API are asked anything: nothing listens here.
    ran = opsbot(
        "run",
        env={
            "OPSBOT_CONFIG": str(path),
            "SLACK_BOT_TOKEN": "xoxb-not-used",
            "SLACK_SIGNING_SECRET": "secret",
            "ZEQUENZE_API_TOKEN": "token",
            "SLACK_API_URL": "http://127.0.0.1:9/api/",
            "ZEQUENZE_API_URL": "http://127.0.0.1:9/api/v1",
            "OPSBOT_DB": str(tmp_path / "opsbot.db"),
        },
        cwd=tmp_path,
    )
    assert ran.returncode == 1
    assert "Traceback" not in ran.stderr
    assert ran.stderr.strip().endswith(checked.stderr.strip())
    assert not (tmp_path / "opsbot.db").exists()


def test_the_example_s_set_phrase_reads_with_the_example_s_catalog() -> None:
    policy = load_config(EXAMPLE)
    set_kind = policy.catalog.by_keyword("set")
    assert set_kind is not None
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    plan = grammar.parse(set_kind.example, tz="UTC", now=now, catalog=policy.catalog)
    assert isinstance(plan, Plan) and plan.immediate
    (spec,) = plan.operations
    assert (spec.device_name, spec.operation_type) == ("cpe-0042", "set")
    assert spec.parameters == {
        "parameter_name": "Device.ManagementServer.PeriodicInformInterval",
        "value": 300,
    }


# ---------------------------------------------------------------------- groups and limits


def test_groups_expand_their_ranges_once_each_in_the_files_order() -> None:
    config = read_config(
        '[groups]\nWeb = ["web-01..web-03", "lb-01", "WEB-02"]\ndb = ["db-1..db-2"]\n',
        source="opsbot.toml",
    )
    assert config.groups == {
        "web": ("web-01", "web-02", "web-03", "lb-01"),
        "db": ("db-1", "db-2"),
    }
    assert config.naming.groups is config.groups
    assert OPEN_POLICY.groups == {}


def test_limits_and_their_defaults() -> None:
    assert (OPEN_POLICY.limits.max_devices, OPEN_POLICY.limits.max_operations) == (500, 1000)
    config = read_config("[limits]\nmax_devices = 2000\n", source="opsbot.toml")
    assert (config.limits.max_devices, config.limits.max_operations) == (2000, 4000)
    config = read_config("[limits]\nmax_devices = 20\nmax_operations = 20\n", source="opsbot.toml")
    assert (config.limits.max_devices, config.limits.max_operations) == (20, 20)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            'groups = ["web-01"]\n',
            "opsbot.toml: line 1: groups must be one table, [groups], "
            'like web = ["web-01..web-12"]',
        ),
        (
            '[groups]\n"@web" = ["web-01"]\n',
            'opsbot.toml: [groups] (line 2): group "@web" is written without its "@": '
            "web = […], then typed @web",
        ),
        (
            '[groups]\n"web servers" = ["web-01"]\n',
            '[groups] (line 2): group "web servers" must be one word of letters, digits, "-" '
            'and "_", starting with a letter, at most 63 characters',
        ),
        (
            '[groups]\n"web-*" = ["web-01"]\n',
            '[groups] (line 2): group "web-*" must be one word of letters',
        ),
        (
            '[groups]\nweb = ["web-01"]\nWEB = ["web-02"]\n',
            '[groups] (line 3): group "WEB" is group "web" again: names are compared ignoring case',
        ),
        ("[groups]\nweb = []\n", '[groups] (line 2): group "web" is empty: list its devices'),
        (
            '[groups]\nweb = "web-01..web-12"\n',
            '[groups] (line 2): group "web" must be a list of device names and ranges in quotes, '
            'like ["web-01..web-12", "lb-01"], not "web-01..web-12"',
        ),
        # members: device names and ranges, checked as a request's are
        (
            '[groups]\nweb = ["web-12..web-01"]\n',
            '[groups] (line 2): group "web": "web-12..web-01" counts down; write a range from '
            "the lower number to the higher",
        ),
        (
            '[groups]\nweb = ["web-01..db-05"]\n',
            '[groups] (line 2): group "web": "web-01..db-05" is not a range: "web-01" and '
            '"db-05" differ before the number',
        ),
        (
            '[groups]\nweb = ["web 01"]\n',
            '[groups] (line 2): group "web": "web 01" can\'t be a device name',
        ),
        (
            '[groups]\nweb = ["web-*"]\n',
            '[groups] (line 2): group "web": "web-*" can\'t be a device name',
        ),
        # no nesting: a group lists devices
        (
            '[groups]\ndb = ["db-01"]\nall-db = ["@db", "db-09"]\n',
            '[groups] (line 3): group "all-db": "@db" is a group: a group lists devices and '
            "ranges, not other groups (list @db's devices here instead)",
        ),
        # a group named like one of the devices: that device could never be named alone
        (
            '[groups]\nweb = ["web-01..web-03"]\nweb-02 = ["lb-01"]\n',
            '[groups] (line 3): group "web-02" has the name of a device (in group "web"): name '
            "the group otherwise, or that device could not be named alone",
        ),
        # too many devices to be used
        (
            '[limits]\nmax_devices = 10\n[groups]\nweb = ["web-01..web-11"]\n',
            '[groups] (line 4): group "web": "web-01..web-11" is 11 devices, more than a request '
            "may name ([limits] max_devices is 10)",
        ),
        (
            '[limits]\nmax_devices = 10\n[groups]\nweb = ["web-01..web-06", "db-01..db-05"]\n',
            '[groups] (line 4): group "web" has more than 10 devices, more than a request may '
            "name ([limits] max_devices), so it could never be used",
        ),
        (
            '[groups]\nweb = ["h1..h100000000000000000000"]\n',
            '"h1..h100000000000000000000" is 100,000,000,000,000,000,000 devices',
        ),
        # limits
        (
            "[limits]\nmax_devices = 0\n",
            "[limits] (line 2): max_devices must be a whole number from 1 to 10,000, not 0",
        ),
        (
            '[limits]\nmax_devices = "500"\n',
            '[limits] (line 2): max_devices must be a whole number from 1 to 10,000, not "500"',
        ),
        (
            "[limits]\nmax_operations = 30000\n",
            "[limits] (line 2): max_operations must be a whole number from 1 to 20,000, not 30000",
        ),
        (
            "[limits]\nmax_devices = 500\nmax_operations = 100\n",
            "[limits] (line 3): max_operations (100) is below max_devices (500): a request on "
            "500 devices makes at least 500 operations",
        ),
        ("[limits]\nmax_device = 5\n", '[limits] (line 2): unknown key "max_device" (did you mean'),
        ("[limit]\n", 'unknown section [limit] (did you mean "limits"?)'),
    ],
)
def test_groups_and_limits_mistakes_are_named(toml: str, expected: str) -> None:
    found = problems(toml)
    assert any(expected in problem for problem in found), found


def test_a_file_with_groups_lets_requests_name_them() -> None:
    config = read_config(
        '[limits]\nmax_devices = 5\n[groups]\nweb = ["web-01..web-03"]\n', source="opsbot.toml"
    )
    plan = parse("reboot @web, lb-01", tz="UTC", now=NOW, naming=config.naming)
    assert isinstance(plan, Plan)
    assert [op.device_name for op in plan.operations] == ["web-01", "web-02", "web-03", "lb-01"]
    with pytest.raises(Refusal, match="That is 6 devices; one request can take at most 5"):
        parse("reboot @web, lb-01..lb-03", tz="UTC", now=NOW, naming=config.naming)
