"""Researchers' access: the query language, its SQL on both backends, hits, highlighting, stats and export."""
