"""Search: an accent-folded tsvector on PostgreSQL that finds what FTS5 finds, and a date index on both backends.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 09:00:00

PostgreSQL's `items.search` becomes the 'simple' configuration (no stemming, no stop words, as FTS5's unicode61)
over `search_fold(text)`, which does what `unicode61 remove_diacritics 2` does: it strips the accents of Latin
letters only ("Cártel" -> "cartel", but "ł", "ø" and Greek accents are kept) and splits words at anything but
letters and digits (so hosts, e-mail addresses and hyphenated words are split as FTS5 splits them). Title,
summary and text are weighted A, B and C, so ranking favours the title and a phrase can be kept inside one field.

Why not per-language configurations (english, spanish): stemming would make "cartels" find "cartel" on
PostgreSQL only, and both backends must return the same items for the same query. Why not the unaccent
extension: it folds "ł", "ø", "ð", "đ", "ı"... that FTS5 keeps (481 letters differ in Latin, Greek and Cyrillic
against 45, all rare, with this function), and it needs CREATE EXTENSION rights; normalize() is built in (PG 13+).

`ix_items_sort_date` lets "newest first" walk an index instead of sorting every match; it, `ix_items_language`
and `ix_item_topics_search` let search count and gather a filter's items from an index alone. Only indexes and the
PostgreSQL column change: the SQLite items table (it carries the FTS5 triggers) is never rebuilt.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

# The combining marks FTS5's remove_diacritics strips from a Latin letter (kept equal to
# aggregator.text.LATIN_DIACRITICS; migrations do not import the application).
LATIN_DIACRITICS = r"\u0300-\u0304\u0306-\u030c\u030f\u0311\u031b\u0323-\u0328\u032d\u032e\u0330\u0331"

# E'' strings, so the backslashes mean the same whatever standard_conforming_strings says.
_STRIP = "E'([A-Za-z])[" + LATIN_DIACRITICS.replace("\\", "\\\\") + "]+'"
FOLD_UTF8 = (
    """
CREATE OR REPLACE FUNCTION search_fold(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT regexp_replace(
    normalize(regexp_replace(normalize(coalesce(value, ''), NFD), STRIP, E'\\\\1', 'g'), NFC),
    '[^[:alnum:]]+', ' ', 'g')
$$
"""
).replace("STRIP", _STRIP)
# normalize() needs a UTF8 database; elsewhere words are still split like FTS5's, but accents matter.
FOLD_OTHER = """
CREATE OR REPLACE FUNCTION search_fold(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT regexp_replace(coalesce(value, ''), '[^[:alnum:]]+', ' ', 'g')
$$
"""
SEARCH_COLUMN = """
ALTER TABLE items ADD COLUMN search tsvector GENERATED ALWAYS AS (
  setweight(to_tsvector('simple'::regconfig, search_fold(title)), 'A')
  || setweight(to_tsvector('simple'::regconfig, search_fold(summary_text)), 'B')
  || setweight(to_tsvector('simple'::regconfig, search_fold(text)), 'C')
) STORED
"""
OLD_SEARCH_COLUMN = """
ALTER TABLE items ADD COLUMN search tsvector GENERATED ALWAYS AS
(to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(summary_text, '') || ' ' || coalesce(text, ''))) STORED
"""


def upgrade() -> None:
    op.create_index("ix_items_sort_date", "items", [sa.text("coalesce(published_at, first_seen_at)"), "id"])
    # Each filter search can drive from must be countable from an index alone (aggregator.search.plan).
    op.create_index("ix_items_language", "items", ["language"])
    op.create_index("ix_item_topics_search", "item_topics", ["topic", "passed", "score", "item_id"])
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    encoding = conn.exec_driver_sql("SHOW server_encoding").scalar()
    if encoding != "UTF8":
        log.warning("search: the database encoding is %s, not UTF8: searches will be accent-sensitive", encoding)
    # exec_driver_sql: the SQL holds ':' and '\' that text() would take for parameters and escapes.
    conn.exec_driver_sql(FOLD_UTF8 if encoding == "UTF8" else FOLD_OTHER)
    conn.exec_driver_sql("DROP INDEX IF EXISTS ix_items_search")
    conn.exec_driver_sql("ALTER TABLE items DROP COLUMN IF EXISTS search")
    conn.exec_driver_sql(SEARCH_COLUMN)
    conn.exec_driver_sql("CREATE INDEX ix_items_search ON items USING gin (search)")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("DROP INDEX IF EXISTS ix_items_search")
        conn.exec_driver_sql("ALTER TABLE items DROP COLUMN IF EXISTS search")
        conn.exec_driver_sql("DROP FUNCTION IF EXISTS search_fold(text)")
        conn.exec_driver_sql(OLD_SEARCH_COLUMN)
        conn.exec_driver_sql("CREATE INDEX ix_items_search ON items USING gin (search)")
    op.drop_index("ix_item_topics_search", table_name="item_topics")
    op.drop_index("ix_items_language", table_name="items")
    op.drop_index("ix_items_sort_date", table_name="items")
