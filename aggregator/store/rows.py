"""Insert many rows in one statement, converting each column's values by its type once per column where it can."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
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
    values are converted once, and each row converts only the columns that have a converter. Every column with a
    Python-side default must be given: nothing fills them in here.
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
    fixed = [_convert(_processor(table, key, dialect), value) for key, value in same.items()]
    converters = [(n, proc) for n, key in enumerate(columns) if (proc := _processor(table, key, dialect)) is not None]
    converted = []
    for row in rows:
        values = [*row, *fixed]
        for n, proc in converters:
            values[n] = proc(values[n])
        converted.append(values)
    if compiled.positiontup is not None:  # SQLite's "?" placeholders take values in the statement's order
        pick = itemgetter(*(names.index(key) for key in compiled.positiontup))
        connection.exec_driver_sql(compiled.string, [pick(values) for values in converted])
    else:  # psycopg's "%(name)s" placeholders take each row by name
        connection.exec_driver_sql(compiled.string, [dict(zip(names, values, strict=True)) for values in converted])


def _processor(table: Table, key: str, dialect: Dialect) -> Processor:
    return table.c[key].type.dialect_impl(dialect).bind_processor(dialect)


def _convert(processor: Processor, value: Any) -> Any:
    return value if processor is None else processor(value)
