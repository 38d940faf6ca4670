"""A per-site spider used by the tests: reads a page of <li data-url> entries (a layout no selector config fits)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scrapy.http import Response

from aggregator.parse.entry import Entry
from aggregator.spiders.sites import SiteSpider


class DataListSpider(SiteSpider):
    name = "datalist"

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Entry]:
        for node in response.css("li[data-url]"):
            yield Entry(
                source_id=self.task.source_id,
                url=response.urljoin(node.attrib["data-url"]),
                title=node.css("::text").get("").strip(),
                guid=node.attrib["data-url"],
                language=self.task.language,
            )
