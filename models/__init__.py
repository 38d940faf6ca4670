"""SQLAlchemy 2.x typed ORM: the tables and nothing else."""

from aggregator.models.base import Base, UTCDateTime
from aggregator.models.capture import Capture
from aggregator.models.entity import Entity, EntityMention, EntityScan
from aggregator.models.fetch import Fetch
from aggregator.models.item import Item, Sighting
from aggregator.models.source import Source
from aggregator.models.story import Digest, Story
from aggregator.models.topic import ItemTopic, Label
from aggregator.models.watch import WatchCursor, WatchDelivery
from aggregator.models.worker import Worker

__all__ = [
    "Base",
    "Capture",
    "Digest",
    "Entity",
    "EntityMention",
    "EntityScan",
    "Fetch",
    "Item",
    "ItemTopic",
    "Label",
    "Sighting",
    "Source",
    "Story",
    "UTCDateTime",
    "WatchCursor",
    "WatchDelivery",
    "Worker",
]
