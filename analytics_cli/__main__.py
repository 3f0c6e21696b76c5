"""``python -m analytics_cli``."""

from analytics_cli.app import main

main()
