"""The service layer the CLI, the scheduler, the web app and the demo call: context, crawl, tagging, digest prep."""
