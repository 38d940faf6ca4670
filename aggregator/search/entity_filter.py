"""`entity:` in a query: an id or any alias of a stored entity, resolved to the id before the query is compiled."""

from __future__ import annotations

from sqlalchemy.orm import Session

from aggregator.errors import QueryError
from aggregator.search.query import And, Field, Node, Not, Or, Query, walk
from aggregator.store.entities import resolve_entity


def resolve_entities(session: Session, query: Query) -> Query:
    """The query with every `entity:` value replaced by the id it names; QueryError (with the nearest ids) for a
    value that names no entity."""
    if not any(isinstance(n, Field) and n.name == "entity" for n in walk(query.root)):
        return query
    resolved: dict[str, str] = {}
    for node in walk(query.root):
        if isinstance(node, Field) and node.name == "entity" and node.value not in resolved:
            entity_id, close = resolve_entity(session, node.value)
            if entity_id is None:
                hint = f"did you mean: {', '.join(close)}?" if close else "aggregator entities lists them"
                raise QueryError(f"no entity '{node.value}'", query.text, node.column, hint)
            resolved[node.value] = entity_id
    return Query(query.text, _replace(query.root, resolved), query.score_bounds)


def _replace(node: Node | None, ids: dict[str, str]) -> Node | None:
    if isinstance(node, Field) and node.name == "entity":
        return Field("entity", ids[node.value], node.column)
    if isinstance(node, Not):
        child = _replace(node.child, ids)
        assert child is not None
        return Not(child, node.column)
    if isinstance(node, And | Or):
        children = tuple(c for c in (_replace(c, ids) for c in node.children) if c is not None)
        return type(node)(children)
    return node
