"""What the spiders hand to the pipeline besides `Entry` and `FetchReport`: article-page outcomes."""

from __future__ import annotations

from dataclasses import dataclass

from aggregator.parse.entry import Article


@dataclass(frozen=True)
class ArticleFetched:
    """An article page was fetched and its text extracted."""

    source_id: str
    item_id: int
    article: Article
    refetch: bool = False  # read again because its feed entry changed: the page's text replaces the stored one


@dataclass(frozen=True)
class ArticleFailed:
    """An article page could not be fetched or had no extractable text."""

    source_id: str
    item_id: int
    error: str
