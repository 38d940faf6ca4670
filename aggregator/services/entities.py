"""Match stored items against entities.toml: what a crawl left unmatched, or everything when the file changed."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aggregator.classify.entities import matcher_for
from aggregator.classify.entity_tagging import match_items, sync_entities, unmatched_ids
from aggregator.config.entities import load_entities
from aggregator.services.context import Context
from aggregator.store.database import Database

log = logging.getLogger(__name__)


@dataclass
class EntityRun:
    """How many items were matched, how many mentions stored, and the file's problems (one line each)."""

    items: int = 0
    mentions: int = 0
    problems: list[str] = field(default_factory=list)


def match_entities(ctx: Context, db: Database, *, everything: bool = False) -> EntityRun:
    """Match every item not yet matched with the current entities.toml (all of them after it changed, or with
    `everything`), in chunks of one transaction each: a kill keeps what was done, the rest waits for next time."""
    entities = load_entities(ctx.config_dir)
    run = EntityRun(problems=[p.message for p in entities.problems])
    for problem in run.problems:
        log.warning("entities: %s", problem)
    matcher = matcher_for(entities)
    with db.session() as session:
        sync_entities(session, entities)
    with db.session() as session:
        chunks = list(unmatched_ids(session, entities.fingerprint, everything=everything))
    for ids in chunks:
        with db.session() as session:
            run.mentions += match_items(session, matcher, ids, now=datetime.now(UTC))
        run.items += len(ids)
    return run
