"""A throwaway PostgreSQL for the tests, from the machine's own binaries.

One server per pytest-xdist worker (tests/conftest.py starts it once, on first use, and stops
it at the end), each test in a database of its own made by pytest-postgresql's
`DatabaseJanitor` (made ahead and dropped after, beside the tests). The server itself is run
by hand: pytest-postgresql's `postgresql_proc` runs `initdb` and `pg_ctl` as the current
user, and both refuse to run as root, which is how CI runs. Here, as root, they run as the
`postgres` user (`runuser`), in a folder it owns.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pytest_postgresql.janitor import DatabaseJanitor

from store.schema_postgres import migrate_postgres

USER = "opsbot"  # the cluster's superuser; trust authentication, on loopback only
# A test server, not a durable one: nothing need survive a crash of the machine.
FAST = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
INSTALL_HINT = "apt-get install postgresql"


class PostgresMissing(Exception):
    """No PostgreSQL server binaries on this machine (or none this user may run)."""


def find_bindir() -> Path:
    """Where `initdb`, `pg_ctl` and `postgres` are: OPSBOT_TEST_PG_BINDIR if set (another
    version, or none at all), else `pg_config --bindir` (Debian's /usr/bin/pg_config answers
    for the newest installed), else the newest /usr/lib/postgresql/*/bin. Raises
    PostgresMissing."""
    candidates: list[Path] = []
    if chosen := os.environ.get("OPSBOT_TEST_PG_BINDIR"):
        candidates.append(Path(chosen))
    elif pg_config := shutil.which("pg_config"):
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            candidates.append(Path(out.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    versions = [] if chosen else glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(
        (Path(d) for d in versions), key=lambda d: _version(d.parent.name), reverse=True
    )
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise PostgresMissing(
        "no PostgreSQL server found (initdb, pg_ctl, postgres in `pg_config --bindir` or "
        f"/usr/lib/postgresql/*/bin); to run these tests: {INSTALL_HINT}"
    )


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """A PostgreSQL cluster in a temporary folder, on 127.0.0.1 and a free port, with its
    Unix socket in its data folder. `stop()` and `start()` again keep the port and the data
    (a test can take the database away and give it back)."""

    def __init__(self, bindir: Path, *, ahead: bool = False) -> None:
        """`ahead`: each database made before it is asked for, and dropped after, by a thread
        beside the tests (not for a benchmark: nothing is to run beside what it times)."""
        self.bindir = bindir
        self.ahead = ahead
        self.host = "127.0.0.1"
        self.user = USER
        self.port = _free_port()
        # Root runs the server as `postgres`, which must reach the folder: /tmp's mkdtemp is
        # 0700 and root's, so it is opened up and handed over.
        self._as_root = os.geteuid() == 0
        self.base = Path(tempfile.mkdtemp(prefix="opsbot-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self._names = itertools.count(1)
        # One thread beside the tests makes each test's database ahead and drops it after.
        self._behind = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-databases")
        self._spares: dict[str | None, Future[str]] = {}
        if self._as_root:
            self.base.chmod(0o755)
            try:
                shutil.chown(self.base, user="postgres", group="postgres")
            except LookupError as exc:
                raise PostgresMissing(
                    f"running as root, but there is no `postgres` user to run the server as; "
                    f"{INSTALL_HINT} creates it"
                ) from exc

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / tool), *args]
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    def _checked(self, tool: str, *args: str) -> None:
        done = self._run(tool, *args)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{tool} {' '.join(args)} failed ({done.returncode}):\n"
                f"{done.stdout}{done.stderr}{log}"
            )

    def init(self) -> None:
        self._checked(
            "initdb",
            "-D",
            str(self.data),
            "--locale=C",
            "-E",
            "UTF8",
            "-A",
            "trust",
            "-U",
            self.user,
            "--no-sync",  # a throwaway cluster: initdb's own fsyncs cost more than it does
        )
        settings = {
            "listen_addresses": f"'{self.host}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.data}'",
            "max_connections": "200",  # replica tests: several bots, each with its pool
            **FAST,
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("".join(f"{key} = {value}\n" for key, value in settings.items()))

    def start(self) -> None:
        self._checked("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast`: as a clean shutdown; `immediate`: as if the machine died."""
        self._checked("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    @property
    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status").returncode == 0

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    def janitor(self, dbname: str, *, template: str | None = None) -> DatabaseJanitor:
        return DatabaseJanitor(
            user=self.user,
            host=self.host,
            port=self.port,
            dbname=dbname,
            template_dbname=template,
            connection_timeout=10,
        )

    @contextmanager
    def database(self, *, template: str | None = None) -> Iterator[str]:
        """A new, empty database (or a copy of `template`), dropped afterwards: its URL."""
        if not self.running:  # a test that stopped the server and failed before starting it
            self.start()
        name = self._take(template) if self.ahead else self._make(template)
        try:
            yield self.url(name)
        finally:
            if self.ahead:
                self._behind.submit(self._drop_quietly, name)
            else:
                self.janitor(name).drop()

    def _take(self, template: str | None) -> str:
        """A database made from `template` while the test before ran (the next one is begun
        at once, behind this test), else made now: creating one takes some 100 ms, dropping
        one some 40, which the tests need not wait for."""
        spare = self._spares.pop(template, None)
        self._spares[template] = self._behind.submit(self._make, template)
        if spare is not None:
            try:
                return spare.result()
            except Exception:  # made while a test had the server stopped: made again
                pass
        return self._make(template)

    def _make(self, template: str | None) -> str:
        name = f"test_{os.getpid()}_{next(self._names)}"
        self.janitor(name, template=template).init()
        return name

    def _drop_quietly(self, name: str) -> None:
        with contextlib.suppress(Exception):  # the server stopped by a test: it goes anyway
            self.janitor(name).drop()

    def close(self) -> None:
        self._behind.shutdown(cancel_futures=True)
        try:
            if self.running:
                self.stop("immediate")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


@contextmanager
def throwaway_server() -> Iterator[PostgresServer]:
    """A new cluster, started; stopped and removed afterwards. Raises PostgresMissing."""
    server = PostgresServer(find_bindir())
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.close()


def required() -> bool:
    """On CI (`CI` set, as CI services do, or `.ci/run`'s OPSBOT_REQUIRE_POSTGRES) a missing
    PostgreSQL fails the run: the tests that need it must run there."""
    flags = (os.environ.get("CI", ""), os.environ.get("OPSBOT_REQUIRE_POSTGRES", ""))
    return any(flag.lower() not in ("", "0", "false", "no") for flag in flags)


# ---------------------------------------------------------------------------- fixtures
# (made known to every test by tests/conftest.py's pytest_plugins)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """pytest shows a skip raised by a fixture at each test's own line, a line per test in
    the summary: the tests skipped for want of PostgreSQL are shown at this file instead,
    where the reason is, so that they fold into one line."""
    report = yield
    if (
        report.skipped
        and isinstance(report.longrepr, tuple)
        and INSTALL_HINT in str(report.longrepr[2])
    ):
        report.longrepr = (__file__, None, report.longrepr[2])
    return report


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """This worker's server, started on first use (about a second) and stopped at the end.
    Without PostgreSQL the tests that use it are skipped, with one line saying how to get it;
    on CI they fail instead."""
    try:
        server = PostgresServer(find_bindir(), ahead=True)
    except PostgresMissing as exc:
        if required():
            pytest.fail(f"{exc} (CI runs these tests: they may not be skipped)", pytrace=False)
        pytest.skip(str(exc))
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    """A new, empty database for this test (no schema): its URL."""
    with pg_server.database() as url:
        yield url


@pytest.fixture(scope="session")
def _pg_migrated_template(pg_server: PostgresServer) -> str:
    name = "opsbot_migrated"
    pg_server.janitor(name).init()
    with psycopg.connect(pg_server.url(name)) as conn:
        migrate_postgres(conn)
    return name


@pytest.fixture
def pg_migrated_url(pg_server: PostgresServer, _pg_migrated_template: str) -> Iterator[str]:
    """A new database for this test with the schema up to date (a copy of one migrated once
    per worker, cheaper than migrating each): its URL."""
    with pg_server.database(template=_pg_migrated_template) as url:
        yield url
