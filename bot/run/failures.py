"""How a command ends on a failure a person can cause or meet: one sentence naming the
problem, never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

from bot import say


def fail(message: str, *, code: int = 1) -> int:
    print(say.terminal.cli_error(message), file=sys.stderr)
    return code


def path_problem(path: str, exc: Exception) -> str:
    """SQLite says only "unable to open database file": name the usual causes when it is one."""
    if Path(path).is_dir():
        return say.terminal.IS_A_FOLDER
    folder = Path(path).parent
    return str(exc) if folder.is_dir() else say.terminal.folder_missing(str(folder))
