"""Allow `python -m aggregator`."""

from aggregator.cli.main import main

main()
