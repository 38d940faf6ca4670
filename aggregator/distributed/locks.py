"""PostgreSQL advisory locks: one scheduler leads, one worker at a time crawls a host. The server drops a lock
when the connection holding it closes, so a killed process never leaves one behind."""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, text
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)
# Two-key advisory locks (namespace, key), apart from the one-key migration lock (store.database).
LEADER_NAMESPACE = 0x61676773  # "aggs": the scheduler's lead
HOST_NAMESPACE = 0x61676768  # "aggh": one key per host name
LEADER_KEY = 1


def host_key(host: str) -> int:
    """A host name as a signed 32-bit lock key (two hosts sharing one only make one wait for the other)."""
    value = zlib.crc32(host.lower().encode("utf-8"))
    return value - (1 << 32) if value >= 1 << 31 else value


def _try(conn: Connection, namespace: int, key: int) -> bool:
    return bool(conn.execute(text("SELECT pg_try_advisory_lock(:ns, :key)"), {"ns": namespace, "key": key}).scalar())


def _unlock(conn: Connection, namespace: int, key: int) -> None:
    conn.execute(text("SELECT pg_advisory_unlock(:ns, :key)"), {"ns": namespace, "key": key})


def holds_lead(conn: Connection) -> bool:
    """Whether this connection still holds the scheduler's lead (False once the server has restarted)."""
    query = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = :ns AND objid = :key "
        "AND objsubid = 2 AND pid = pg_backend_pid() AND granted"
    )
    return bool(conn.execute(query, {"ns": LEADER_NAMESPACE, "key": LEADER_KEY}).scalar())


@contextmanager
def leadership(engine: Engine, stop: threading.Event, *, poll: float = 2.0) -> Iterator[Connection | None]:
    """Wait for the scheduler's lead and hold it for the block; yields the connection holding it (None when
    `stop` was set while waiting). A second scheduler logs once that it waits, then takes over when the leader
    is gone."""
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        waited = False
        while not _try(conn, LEADER_NAMESPACE, LEADER_KEY):
            if not waited:
                log.warning("scheduler: another scheduler leads this database; waiting to take over")
                waited = True
            if stop.wait(poll):
                yield None
                return
        log.warning("scheduler: leading%s", " (took over)" if waited else "")
        try:
            yield conn
        finally:
            try:
                _unlock(conn, LEADER_NAMESPACE, LEADER_KEY)
            except Exception:  # the connection is gone, and the lock with it
                pass


@contextmanager
def host_locks(engine: Engine, hosts: list[str]) -> Iterator[bool]:
    """Try to lock every host of a batch, without waiting; yields True when all were taken (held for the block),
    False when another worker holds one (nothing is held then)."""
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        keys = sorted({host_key(h) for h in hosts})
        taken: list[int] = []
        for key in keys:
            if not _try(conn, HOST_NAMESPACE, key):
                break
            taken.append(key)
        try:
            yield len(taken) == len(keys)
        finally:
            for key in taken:
                _unlock(conn, HOST_NAMESPACE, key)
