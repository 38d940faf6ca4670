"""One crawl (or digest build) at a time per data directory, across processes: a file lock."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from aggregator.errors import Busy


@contextmanager
def crawl_lock(data_path: Path, *, wait: float = 0.0) -> Iterator[int]:
    """Hold the data directory's crawl lock; waits up to `wait` seconds, then raises Busy naming the holder.

    Yields the lock file's descriptor: a crawl's child process inherits it and locks it too, so the lock stays taken
    until the child has exited, even if this process is killed first.
    """
    data_path.mkdir(parents=True, exist_ok=True)
    path = data_path / "crawl.lock"
    with open(path, "a+") as handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    raise Busy(f"busy: a crawl is already running ({holder}; lock {path})") from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
        handle.flush()
        try:
            yield handle.fileno()
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
