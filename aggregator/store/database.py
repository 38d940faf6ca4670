"""Open the database (SQLite by default, PostgreSQL for scale) and bring its schema to the latest migration."""

from __future__ import annotations

import fcntl
import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from sqlalchemy import URL, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from aggregator.errors import StorageError

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
# pg_advisory_lock key that every process migrating this project's schema takes ("aggr" in ASCII).
MIGRATION_LOCK_KEY = 0x61676772
ERROR_LINE_CHARS = 300


def error_line(exc: BaseException) -> str:
    """One short line for a database error: the driver's own message, without the SQL or its parameters.

    SQLAlchemy's str() of a statement error appends the statement, every bound value (a whole article) and a
    link; the driver's exception (`.orig`) says what went wrong, and its first line is enough.
    """
    orig = getattr(exc, "orig", None)
    cause = orig if isinstance(orig, BaseException) else exc
    lines = str(cause).strip().splitlines()
    message = " ".join(lines[0].split()) if lines else ""
    if cause is exc and message.startswith("(") and ") " in message:
        message = message.split(") ", 1)[1]  # "(driver.Error) message" from an error without .orig
    line = f"{type(cause).__name__}: {message}" if message else type(cause).__name__
    return line if len(line) <= ERROR_LINE_CHARS else line[: ERROR_LINE_CHARS - 1] + "…"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets searches and exports read while a crawl writes; the busy timeout makes writers queue
    # instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    _use_wal(cursor)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MB: the FTS index and the dedupe lookups stay in memory
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def _use_wal(cursor: Any) -> None:
    """Switch a database to WAL once. The switch needs the file to itself and SQLite does not wait for that (no
    busy handler): processes opening a fresh database at once retry for a while instead of failing."""
    if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return  # the common case: set once, kept in the file
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _json(value: Any) -> str:
    """JSON columns (tag explanations, digests) as compact UTF-8, by orjson: the crawl stores three explanations
    per item, and the standard library's encoder made it the costliest step of storing a tag (5.5 µs a row,
    orjson 0.7). NaN and infinity become null, which PostgreSQL's JSON type accepts and json.dumps's NaN is not."""
    return orjson.dumps(value, default=_tuple_as_list, option=_JSON_OPTIONS).decode()


def _tuple_as_list(value: Any) -> Any:
    # NamedTuples, as the standard library writes them: orjson takes plain tuples only.
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def make_engine(url: str) -> Engine:
    """Create an engine for `url`; SQLite gets its directory created and the pragmas above."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StorageError(f"storage: not a database URL: {url!r}") from exc
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        # psycopg 3 is the driver we ship; plain postgresql:// would look for psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(parsed)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            json_serializer=_json,
            json_deserializer=orjson.loads,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(parsed, pool_pre_ping=True, json_serializer=_json, json_deserializer=orjson.loads)


def sqlite_file(url: URL) -> Path | None:
    """The file behind a SQLite URL (plain or `file:` URI form), or None for an in-memory database."""
    database = url.database or ""
    uri = str(url.query.get("uri", "")).lower() in ("true", "1")
    if uri and database.startswith("file:"):
        if url.query.get("mode") == "memory":
            return None
        database = urlsplit(database).path if database.startswith("file://") else database[len("file:") :]
    if not database or database == ":memory:":
        return None
    return Path(database).expanduser()


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Hold the schema's migration lock, so that processes opening a fresh database at once migrate it one by one.

    PostgreSQL: a session advisory lock on a connection of its own (the migration runs on another, in its own
    transaction; the server drops the lock if this process dies). SQLite: an flock on a file beside the database
    (the kernel drops it if this process dies). An in-memory database belongs to one process and needs none.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
        return
    path = sqlite_file(engine.url) if engine.dialect.name == "sqlite" else None
    if path is None:
        yield
        return
    # Left in place afterwards: removing a lock file lets a late process lock a file that no longer exists.
    with open(path.with_name(path.name + "-migrate.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _alembic_config() -> Any:
    from alembic.config import Config  # here: see migrate()

    cfg = Config()
    cfg.set_main_option("script_location", "aggregator.models:migrations")
    return cfg


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest migration (a no-op when it is current)."""
    # Imported here: the crawl process opens the database without migrating and need not load alembic.
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = _alembic_config()
    head = ScriptDirectory.from_config(cfg).get_current_head()
    try:
        with engine.connect() as conn:
            if MigrationContext.configure(conn).get_current_revision() == head:
                return  # the usual case, and a read-only database's: no lock, no write
        with migration_lock(engine), engine.begin() as conn:
            # Looked at again under the lock: another process may have migrated while this one waited.
            current = MigrationContext.configure(conn).get_current_revision()
            if current == head:
                return
            log.info("migrating database from %s to %s", current, head)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        raise StorageError(f"storage: cannot open {engine.url.render_as_string()}: {error_line(exc)}") from exc
    except SQLAlchemyError as exc:
        raise StorageError(f"storage: migration failed on {engine.url.render_as_string()}: {error_line(exc)}") from exc
    except OSError as exc:  # the SQLite lock file: a directory that cannot be written
        raise StorageError(f"storage: cannot lock {engine.url.render_as_string()} to migrate it: {exc}") from exc


class Database:
    """An engine with its schema migrated, and a session factory."""

    def __init__(self, url: str, *, migrate_schema: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        if migrate_schema:
            migrate(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on any error."""
        with self.sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()
