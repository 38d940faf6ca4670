"""SQLAlchemy 2.x typed ORM: the tables and nothing else."""

from models.base import Base, UTCDateTime
from models.fetch import Fetch
from models.item import Item, Sighting
from models.source import Source
from models.story import Digest, Story
from models.topic import ItemTopic, Label

__all__ = ["Base", "Digest", "Fetch", "Item", "ItemTopic", "Label", "Sighting", "Source", "Story", "UTCDateTime"]
