"""One bot per database: an OS lock on a file beside it, held for the life of the process.

`flock` rather than a pid file: the kernel drops the lock when the process ends however it
ends (kill -9, a crash, a power cut), so a stale lock never stops a start. The file goes with
the lock when the bot lets go of it (a stop, or a start that fails after taking it): removed
while still locked, then closed. A process that opened the file just before and locks it just
after then holds a lock on a file no one else sees; so whoever takes the lock checks that the
file it locked is still the one at the path, and tries again if not. Only a process that ends
without letting go (kill -9) leaves the file, which the next start reuses.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class DatabaseInUse(Exception):
    """Another process holds the lock; `pid` is the one it wrote, when it could be read."""

    def __init__(self, *, path: Path, pid: int | None) -> None:
        super().__init__(f"{path} is locked by process {pid or 'unknown'}")
        self.path = path
        self.pid = pid


class DatabaseLock:
    """Held from construction until release() or the end of the process.

    Raises DatabaseInUse if another process holds it, OSError if the lock file cannot be
    opened (its folder is missing, no permission)."""

    def __init__(self, *, db_path: str | Path) -> None:
        self.path = lock_path(db_path)
        while True:
            fd = self._locked()
            if fd is not None:
                break
        # Who holds it, for the message the next one prints; the lock is what counts.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd: int | None = fd

    def _locked(self) -> int | None:
        """The locked file's descriptor; None if the file was removed (by the holder letting
        go) between opening and locking it."""
        # Not inherited by child processes (Python opens files non-inheritable), so a child
        # cannot keep the lock after the bot ends.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise DatabaseInUse(path=self.path, pid=pid) from None
        except BaseException:
            os.close(fd)
            raise
        if not _same_file(fd, self.path):
            os.close(fd)
            return None
        return fd

    def release(self) -> None:
        """Lets go: the file is removed while still locked, then closed (which releases the
        lock), so that nothing is left behind."""
        if self._fd is not None:
            # Only our own file: one removed by hand meanwhile may have been replaced by
            # another process's, which is not ours to remove.
            if _same_file(self._fd, self.path):
                os.unlink(self.path)
            os.close(self._fd)  # closing the last descriptor releases the lock
            self._fd = None


def lock_path(db_path: str | Path) -> Path:
    return Path(f"{db_path}.lock")


def _same_file(fd: int, path: Path) -> bool:
    """Whether `path` is still the file open as `fd`."""
    try:
        there = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (there.st_dev, there.st_ino) == (held.st_dev, held.st_ino)


def _read_pid(fd: int) -> int | None:
    try:
        written = os.pread(fd, 32, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(written) if written.isdigit() else None
