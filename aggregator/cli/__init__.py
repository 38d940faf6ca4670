"""The `aggregator` command line: one module per command group over the service layer; nothing else imports it."""
