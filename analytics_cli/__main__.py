"""``python -m analytics_cli``."""

from analytics_cli.entry import main

main()
