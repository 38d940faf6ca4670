"""Each stored item's language from its own text, as ingest now does for new items (issue #12).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 21:20:00

Before, an item's language was its source's: a Spanish post in an English-configured blog was `en`, and
`lang:es` never found it. The rule is ingest's (aggregator.parse.language.item_language, imported so that stored
and new items agree): the stored language stays unless the text plainly says another. Items are read in batches
of BATCH by id; only the changed rows are written.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

from aggregator.parse.language import item_language

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
BATCH = 2000
SAMPLE = 1000  # characters of summary or text read: item_language looks at the first 300 of title + body

_items = sa.table(
    "items",
    sa.column("id", sa.Integer),
    sa.column("title", sa.Text),
    sa.column("summary_text", sa.Text),
    sa.column("text", sa.Text),
    sa.column("language", sa.String),
)


def upgrade() -> None:
    log.info("languages: %d item(s) now carry the language of their own text", redetect(op.get_bind()))


def downgrade() -> None:
    pass  # the source's language is not kept: the item's own is the better answer either way


def redetect(conn: sa.Connection) -> int:
    """Set each item's language from its text (the stored one as the prior); returns how many changed."""
    changed, last = 0, 0
    body = sa.func.coalesce(sa.func.nullif(_items.c.text, ""), _items.c.summary_text, "")
    while True:
        rows = conn.execute(
            sa.select(_items.c.id, _items.c.title, sa.func.substr(body, 1, SAMPLE), _items.c.language)
            .where(_items.c.id > last)
            .order_by(_items.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return changed
        updates = []
        for item_id, title, text, language in rows:
            found = item_language(title or "", text or "", language)
            if found and found != language:
                updates.append({"item_id": item_id, "language": found})
        if updates:
            conn.execute(
                sa.update(_items)
                .where(_items.c.id == sa.bindparam("item_id"))
                .values(language=sa.bindparam("language")),
                updates,
            )
            changed += len(updates)
        last = rows[-1][0]
