"""Stories: grouping copies, rewrites and translations of one event, and keeping them in the database."""
