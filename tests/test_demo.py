"""`opsbot demo` as a person uses it: on a terminal, typing while the bot's threads print.

The demo runs on a pseudo-terminal and its output is read through pyte, a VT100 emulator, so
the assertions are about the screen a person sees, not about the bytes that draw it. pyte
also answers the cursor-position requests a line editor sends, as a real terminal does.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyte
import pytest

from bot.run.cli import main

ROOT = Path(__file__).resolve().parent.parent
ROWS, COLS = 200, 120  # tall enough that nothing scrolls off the screen during a test


class _Screen(pyte.Screen):
    def __init__(self, columns: int, lines: int, *, answer: Callable[[str], None]) -> None:
        super().__init__(columns, lines)
        self._answer = answer

    def write_process_input(self, data: str) -> None:
        self._answer(data)  # the terminal's answers (cursor position) go back to the program


class DemoOnTerminal:
    """`python -m bot demo ARGS` with a pseudo-terminal as its stdin, stdout and stderr."""

    def __init__(self, *args: str, rows: int = ROWS, cols: int = COLS) -> None:
        self._master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "demo", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=ROOT,
            env={**os.environ, "TERM": "xterm", "PYTHONPATH": str(ROOT)},
            start_new_session=True,
        )
        os.close(slave)
        self.screen = _Screen(cols, rows, answer=self.type)
        self._stream = pyte.ByteStream(self.screen)
        self.closed = False

    def type(self, keys: str) -> None:
        os.write(self._master, keys.encode())

    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.screen.display if line.strip()]

    def _read(self, until: float) -> None:
        ready, _, _ = select.select([self._master], [], [], max(0.0, until - time.monotonic()))
        if not ready:
            return
        try:
            data = os.read(self._master, 65536)
        except OSError:  # EIO: the demo has exited and closed its side
            data = b""
        if data:
            # pyte stops drawing at a variation selector (the one in ▶️ and ⚠️), dropping the
            # rest of the line; a terminal shows the emoji and the line whole.
            self._stream.feed(data.replace("\ufe0f".encode(), b""))
        else:
            self.closed = True

    def wait_for(
        self, check: Callable[[list[str]], bool], *, what: str, timeout: float = 10
    ) -> None:
        """Read the output until the screen passes `check`; if it never does, fail showing it."""
        deadline = time.monotonic() + timeout
        while not check(self.lines()):
            if self.closed or time.monotonic() > deadline:
                shown = "\n".join(self.lines())
                raise AssertionError(f"waiting for {what}; the screen shows:\n{shown}")
            self._read(min(deadline, time.monotonic() + 0.1))

    def answer(self, typed: str, words: str, *, timeout: float = 10) -> None:
        """Type a line, then read until `words` is on one more line than before it."""
        before = sum(words in line for line in self.lines())
        self.type(typed + "\r")
        self.wait_for(
            lambda lines: sum(words in line for line in lines) > before,
            what=f"{words!r} after {typed!r}",
            timeout=timeout,
        )

    def showing(self, words: str, *, timeout: float = 10) -> None:
        self.wait_for(
            lambda lines: any(words in line for line in lines), what=words, timeout=timeout
        )

    def wait_for_exit(self, *, timeout: float = 10) -> int:
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self._read(deadline)
        return self.process.wait(timeout=max(0.1, deadline - time.monotonic()))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self._master)


@pytest.fixture
def demo_on_terminal() -> Iterator[Callable[..., DemoOnTerminal]]:
    started: list[DemoOnTerminal] = []

    def start(*args: str, rows: int = ROWS, cols: int = COLS) -> DemoOnTerminal:
        started.append(DemoOnTerminal(*args, rows=rows, cols=cols))
        return started[-1]

    yield start
    for demo in started:
        demo.close()


def test_updates_print_above_the_prompt_and_leave_the_half_typed_line_intact(
    demo_on_terminal: Callable[..., DemoOnTerminal],
) -> None:
    demo = demo_on_terminal("--run-seconds", "1.5")  # time to type before it completes
    demo.showing("you>")
    demo.type("reboot server-01 now\r")
    demo.showing("Please confirm")
    demo.type("confirm\r")
    demo.showing("scheduled as txn_1001")
    demo.type("restart ngi")
    demo.showing("restart ngi")
    assert not [line for line in demo.lines() if "is now completed" in line], "typed too late"
    # An update printed while the line is half typed, and the prompt drawn again below it.
    demo.wait_for(
        lambda lines: (
            any("txn_1001 on server-01 is now completed" in line for line in lines)
            and lines[-1] == "you> restart ngi"
        ),
        what="the update, with the prompt and the half-typed line below it",
    )
    lines = demo.lines()
    [update] = [line for line in lines if "is now completed" in line]
    assert update.startswith("  ↳ ")  # on a line of its own, not after the typed text
    assert not [line for line in lines if "you>" in line and "↳" in line]

    demo.type("nx on server-02 now\r")
    demo.showing("You asked: restart nginx on server-02 now")  # understood whole
    assert not [line for line in demo.lines() if "don't know" in line]
    demo.type("cancel\r")
    demo.showing("Cancelled")
    demo.type("quit\r")
    assert demo.wait_for_exit() == 0


@pytest.mark.parametrize("key", ["quit\r", "\x04", "\x03"], ids=["quit", "ctrl-d", "ctrl-c"])
def test_quitting_names_what_is_unfinished_and_sums_up_the_failures(
    demo_on_terminal: Callable[..., DemoOnTerminal], key: str
) -> None:
    demo = demo_on_terminal("--run-seconds", "0.2", "--failure-rate", "1")
    demo.showing("you>")
    demo.type("reboot server-01 now\r")
    demo.showing("You asked: reboot server-01 now")
    demo.type("confirm\r")
    demo.showing("txn_1001 on server-01 is now failed")
    demo.type("reboot server-02 in 2 hours\r")
    demo.showing("You asked: reboot server-02 in 2 hours")
    demo.type("confirm\r")
    demo.showing("scheduled as txn_1002")
    demo.type(key)
    assert demo.wait_for_exit() == 0
    lines = demo.lines()
    ending = lines[lines.index("Not finished when the demo ended:") :]
    assert ending[1].startswith("  server-02 · txn_1002 · scheduled · ")
    assert "Those sent stay scheduled in the simulator" in ending[2]
    assert ending[-1] == "1 of 2 operations failed: server-01 (txn_1001)."


def test_piped_input_ends_on_the_requests_last_line() -> None:
    """Piped, the demo prints each request's live summary as a line of its own; the final
    counts come before the thread's last line (`🏁 …`), which ends the output, as a person
    reading from the top expects."""
    done = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--run-seconds", "0.3"],
        input="reboot server-01, server-02 now\nconfirm\n",
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.rstrip("\n").splitlines()
    assert lines[-1] == "  ↳ 🏁 Both finished: 2 completed."
    summaries = [n for n, line in enumerate(lines) if line.endswith("2 operations: ✅ 2 completed")]
    assert len(summaries) == 1 and summaries[0] < len(lines) - 1, done.stdout


def test_the_walkthrough_from_a_fresh_clone_to_an_audit_export(
    demo_on_terminal: Callable[..., DemoOnTerminal],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """docs/demo.md's walk, line by line as a newcomer types it: the example policy file as it
    is, an approval by two others, a window move, a freeze by an admin, a wave halt, and the
    audit trail of it all read from the database the demo kept."""
    db = tmp_path / "demo.db"
    demo = demo_on_terminal(
        "--config", "opsbot.example.toml", "--db", str(db), "--run-seconds", "0.3",
        rows=600, cols=200,
    )  # fmt: skip
    demo.showing("you>")
    greeting = "\n".join(demo.lines())
    assert "You are U0001, typing in #C0001" in greeting
    assert "server-01..server-20" in greeting and "…20" not in greeting
    for typed, words in [
        ("reboot server-01 now", "this needs 2 approvals from @U0002 or @S0DBA (never you)"),
        ("confirm", "(It waits for 2 approvals by others: type as U0002 approve, then as U0003"),
        ("as U0002 approve", "@U0002 approved (1 of 2); waiting for 1 more."),
        ("as U0003 approve", "txn_1001 on server-01 is now completed"),
        ("reboot cpe-0042 at 12:00", "(type confirm, cancel or move)"),
        ("move", "cpe-0042: in its maintenance window"),
        ("confirm", "cpe-0042: scheduled as txn_1002"),
        ("as U0004 freeze server-* for 1h patching", "@U0004 froze server-* until"),
        ("reboot server-03 now", "server-03 is frozen by @U0004"),
        ("as U0004 unfreeze server-*", "@U0004 lifted the freeze on server-*"),
        ("reboot @web in waves of 4 now", "Wave 1: web-01..web-04 (4)"),
        ("confirm", "Wave 1 of 4 failed, so the request is halted."),
        ("continue", "🏁 All 13 finished: 12 completed and 1 did not (web-03)."),
    ]:
        demo.answer(typed, words)
    demo.type("quit\r")
    assert demo.wait_for_exit() == 0
    ending = "\n".join(demo.lines()).split("you> quit", 1)[1]
    assert "cpe-0042 · txn_1002 · scheduled" in ending  # moved to its next window
    assert re.search(r"\n1 of 15 operations failed: web-03 \(txn_\d+\)\.$", ending), ending

    assert main(["audit", "--db", str(db)]) == 0
    trail = capsys.readouterr().out
    for said in (
        "U0003   approved r_",
        "U0001   moved r_",
        "U0004   froze server-* until",
        'U0001   was refused in #C0001: "reboot server-03 now": server-03 is frozen',
        "opsbot  halted r_",
        "U0001   continued r_",
    ):
        assert said in trail, said
    assert "{" not in trail
