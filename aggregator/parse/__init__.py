"""Pure parsers from fetched bytes to the in-flight `Entry`: feeds, dates, sitemaps, listings, extraction, sanitise."""
