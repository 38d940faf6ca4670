"""The unattended scheduler (`aggregator run`): APScheduler jobs and what they run."""
