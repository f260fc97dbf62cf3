"""One ingest at a time per embedded store: an advisory lock file in the store dir.

The kernel drops an flock when its process dies (even by SIGKILL), so a lock file left
behind by a killed ingest never blocks the next run; only a live holder does.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rag.errors import StoreError

LOCK_NAME = ".newsqa-ingest.lock"


@contextmanager
def ingest_lock(store_dir: Path) -> Iterator[Path]:
    """Holds the store's ingest lock; raises StoreError when another live process has it."""
    path = Path(store_dir) / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:  # closing it (also on error) releases the lock
        _acquire(handle, path)
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield path


def _acquire(handle, path: Path) -> None:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        pid = handle.read().strip() or "unknown"
        raise StoreError(f"another ingest is running (pid {pid}) on the store at "
                         f"{path.parent}: wait for it to finish, or stop it, then run "
                         "`newsqa ingest` again") from None
