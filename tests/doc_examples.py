"""What the cog blocks in README.md and docs/*.md call: each runs an `opsbot …` command the page
shows and writes the command and its output into the page, so that `cog --check`
(tests/test_docs.py) fails the suite when the output changes. Regenerate with ./scripts/docs.

Every command runs as a real process (`python -m bot`, the same as `opsbot`), in an empty
folder holding only the files it is given (no .env, no opsbot.db of the developer's), with the
OPSBOT_* and Slack settings taken out of its environment and the terminal 80 columns wide, so
the output is the same on every machine. A page's example pins its own clock (`--now`) where
the output would depend on it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cog  # the module cog provides to the code it runs

ROOT = Path(__file__).resolve().parent.parent
# Files of the repository a command may name, copied into its folder under the same name.
SHARED = ("opsbot.example.toml",)


def _environment() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OPSBOT_", "SLACK_", "ZEQUENZE_")) and key not in ("PORT", "TZ")
    }
    # argparse wraps its help to the terminal's width; Python's own colours stay off.
    env.update(COLUMNS="80", LINES="24", NO_COLOR="1", PYTHON_COLORS="0", TZ="UTC")
    return env


def run(command: str, *, stdin: str | None = None, files: dict[str, str] | None = None) -> str:
    """The command's output (stdout, then stderr), with `$ command` before it, and a last line
    `(exit code N)` when it is not 0."""
    words = shlex.split(command)
    if words[0] != "opsbot":
        raise ValueError(f"an example runs opsbot, not {words[0]!r}")
    with tempfile.TemporaryDirectory(prefix="opsbot-docs-") as folder:
        for name in SHARED:
            shutil.copy(ROOT / name, Path(folder) / name)
        for name, text in (files or {}).items():
            (Path(folder) / name).write_text(text, encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-m", "bot", *words[1:]],
            cwd=folder,
            env=_environment(),
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=120,
        )
    if stdin is None:
        shown = f"$ {command}"
    else:
        if "'" in stdin:
            raise ValueError("an example's input is shown between single quotes: it has none")
        typed = stdin.replace("\\", "\\\\").replace("\n", "\\n")
        shown = f"$ printf '{typed}' | {command}"
    out = done.stdout + done.stderr
    lines = [shown, *out.rstrip("\n").splitlines()]
    if done.returncode != 0:
        lines.append(f"(exit code {done.returncode})")
    return "\n".join(line.rstrip() for line in lines)


def show(*commands: str, stdin: str | None = None, files: dict[str, str] | None = None) -> None:
    """Writes each command and its output into the page, in one fenced block."""
    cog.outl("```console")
    cog.outl("\n\n".join(run(command, stdin=stdin, files=files) for command in commands))
    cog.outl("```")


def show_file(name: str, text: str, lang: str = "toml") -> None:
    """Writes a file an example uses into the page, as the command will see it."""
    cog.outl(f"```{lang}")
    cog.outl(text.rstrip("\n"))
    cog.outl("```")


def metadata_types() -> None:
    """The event types the bot's messages carry, and when (bot/slack/metadata.py)."""
    from bot.slack import metadata

    cog.outl("| event type | posted when |")
    cog.outl("| --- | --- |")
    for event_type, when in metadata.EVENT_TYPES.items():
        cog.outl(f"| `{event_type}` | {when} |")


def metadata_example(which: str) -> None:
    """The metadata the bot builds for a sample request of three devices, one failed and one
    running: its public message's (`request`), or its thread's line telling the failure
    (`failed`); written as the JSON sent."""
    import json

    from bot.slack import metadata
    from store import OutboxEvent
    from tests.test_metadata import operation, request

    ops = [
        operation(
            n,
            request_id="r_7f3a9c",
            device_name=f"server-0{n - 40}",
            api_id=f"txn_10{n - 40:02d}",
            status=status,
            final=status != "running",
            error=error,
        )
        for n, status, error in (
            (41, "completed", None),
            (42, "failed", "Package openssl not found in repository"),
            (43, "running", None),
        )
    ]
    sample = request(
        ops,
        id="r_7f3a9c",
        requester="U0ALICE",
        confirmed_by="U0ALICE",
        text="update server-01..03 with openssl at 14:00",
        channel="C0OPS",
    )
    if which == "request":
        built = metadata.request_metadata(sample)
    else:
        event = OutboxEvent(
            id=318,
            request_id=sample.id,
            kind="status",
            data={"operation_id": 42, "old": "running", "new": "failed", "error": ops[1].error},
            attempts=0,
            thread=sample.id,
        )
        built = metadata.line_metadata(event, sample)
    cog.outl("```json")
    cog.outl(json.dumps(built, indent=2, ensure_ascii=False))
    cog.outl("```")


# The folders whose modules the tree names one by one; under the others, folders only.
MODULES_NAMED = ("bot", "handlers", "store")
TREE = ("bot", "handlers", "store", "tests", "bench", "scripts", "docs")
# What the folders without modules named hold, in words.
SAID = {
    "tests/": "the suite: real parts over loopback (conftest.py assembles them)",
    "tests/data/": "",
    "tests/data/slack/": "Slack's manifest schema, with its licence",
    "tests/fakes/": "the fake Slack Web API and Socket Mode server, request signing",
    "bench/": "the benchmarks (bench/README.md)",
    "scripts/": "setup, demo, test, docs",
    "docs/": "these pages",
}


def _files() -> list[str]:
    """The repository's files as a commit would hold them: tracked, or new and not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", *TREE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [name for name in listed.stdout.splitlines() if (ROOT / name).exists()]


def tree() -> None:
    """Writes the repository's folders into the page, and the modules of the code's folders."""
    folders: dict[str, list[str]] = {}
    for name in _files():
        path = Path(name)
        for parent in reversed(path.parents[:-1]):
            folders.setdefault(parent.as_posix() + "/", [])
        if path.suffix == ".py" and path.stem != "__init__":
            folders[path.parent.as_posix() + "/"].append(path.stem)
    order = {top: index for index, top in enumerate(TREE)}
    rows = sorted(folders, key=lambda folder: (order[folder.split("/")[0]], folder))
    width = max(len(folder) for folder in rows) + 2
    cog.outl("```text")
    for folder in rows:
        if folder.split("/")[0] in MODULES_NAMED:
            words = " ".join(sorted(folders[folder]))
        else:
            words = SAID.get(folder, "")
        cog.outl(_wrapped(folder.ljust(width), words, width))
    cog.outl("```")


def _wrapped(first: str, words: str, indent: int, columns: int = 96) -> str:
    lines, line = [], first
    for word in words.split():
        if len(line) + len(word) + 1 > columns and line.strip() != first.strip():
            lines.append(line.rstrip())
            line = " " * indent
        line += word + " "
    lines.append(line.rstrip())
    return "\n".join(lines)
