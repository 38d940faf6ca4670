"""Insert many rows in one statement, converting each column's values by its type once per column where it can."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import repeat
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

Processor = Callable[[Any], Any] | None


def insert_rows(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]], same: Mapping[str, Any]
) -> None:
    """Insert `rows` (values in the order of `columns`) into `table` in one executemany, every row also taking the
    values in `same`.

    The result is the row `session.execute(insert(table), ...)` would store; the difference is the cost. There,
    SQLAlchemy builds each row's parameters column by column through the types' converters (the crawl's three tags
    per item spent more on that than SQLite spent storing them). Here the converters are looked up once, the shared
    values are converted once, and only the columns that have a converter are converted. Every column with a
    Python-side default must be given: nothing fills them in here; every row must hold a value for each column.
    """
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    names = [*columns, *same]
    compiled = insert(table).compile(dialect=dialect, column_keys=names)
    missing = set(compiled.binds) - set(names)
    if missing:
        raise ValueError(f"insert_rows into {table.name}: no value for {', '.join(sorted(missing))}")
    if set(map(len, rows)) != {len(columns)}:
        raise ValueError(f"insert_rows into {table.name}: every row must hold {len(columns)} values")
    # Column by column, so the loops run in C (zip, map, repeat) and only the converters are Python calls.
    values: dict[str, Any] = {}
    for key, column in zip(columns, zip(*rows, strict=True), strict=True):
        proc = _processor(table, key, dialect)
        values[key] = column if proc is None else map(proc, column)
    for key, value in same.items():
        values[key] = repeat(_convert(_processor(table, key, dialect), value), len(rows))
    if compiled.positiontup is not None:  # SQLite's "?" placeholders take values in the statement's order
        params: list[Any] = list(zip(*(values[key] for key in compiled.positiontup), strict=True))
    else:  # psycopg's "%(name)s" placeholders take each row by name
        params = [dict(zip(names, row, strict=True)) for row in zip(*values.values(), strict=True)]
    connection.exec_driver_sql(compiled.string, params)


def _processor(table: Table, key: str, dialect: Dialect) -> Processor:
    return table.c[key].type.dialect_impl(dialect).bind_processor(dialect)


def _convert(processor: Processor, value: Any) -> Any:
    return value if processor is None else processor(value)
