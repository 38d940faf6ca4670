"""The database: opening and migrating it, URL keys, ingesting entries once, per-table queries."""
