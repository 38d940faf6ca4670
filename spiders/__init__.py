"""The Scrapy side: one crawl engine for feeds, sitemaps, listing pages, article pages and site spiders."""
