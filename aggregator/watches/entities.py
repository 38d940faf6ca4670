"""The entities an alert lists per item (the entities work of issue #14 fills this in)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session


def entities_of(session: Session, item_ids: Sequence[int]) -> dict[int, list[str]]:
    """Item id to the ids of the entities it mentions; items without any are absent.

    Empty until the entity mentions are stored: the entities work replaces this body with one query of its
    EntityMention table (item_id, entity_id), and webhooks and mails list them from then on.
    """
    return {}
