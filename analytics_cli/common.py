"""What every command shares: the consoles, :func:`guarded`, day and format checks.

:func:`guarded` is the one place that turns errors into words: it makes an
:class:`~analytics_framework.errors.AnalyticsError` one line on stderr naming the fix, with its
exit code (2 usage, 1 failure, 75 locked, 130 stopped); anything else is a bug, shown as one
line too (``ANALYTICS_DEBUG=1`` shows its traceback). :mod:`analytics_cli.app` wraps every
command in it when it registers them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

import typer
from rich.console import Console

from analytics_cli.signals import ABORT_NOTICE
from analytics_framework.dates import parse_day
from analytics_framework.errors import AnalyticsError, ConfigurationError

out = Console()
err = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])
FORMATS = ("table", "json", "csv")
"""The ``--format`` values of the commands that print a table."""


def guarded(fn: F) -> F:
    """Run a command; turn framework errors into one line on stderr and their exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AnalyticsError as exc:
            err.print(f"[bold red]error:[/] {exc.one_line()}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print(f"aborted; {ABORT_NOTICE}", highlight=False, soft_wrap=True)
            raise typer.Exit(130) from None
        except Exception as exc:  # a bug: one line, the traceback on request
            if os.environ.get("ANALYTICS_DEBUG"):
                raise
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            err.print(
                f"[bold red]internal error:[/] {type(exc).__name__}: {first} — this is a bug; "
                "re-run with ANALYTICS_DEBUG=1 to see the traceback, and report it",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def parse_days(start: str | None, end: str | None) -> tuple[date | None, date | None]:
    """Parse ``--start-date`` / ``--end-date`` (YYYY-MM-DD or None).

    Raises:
        ConfigurationError: a value is not a date; the message names the option.
    """
    return parse_day(start, "--start-date"), parse_day(end, "--end-date")


def check_format(fmt: str) -> None:
    """Refuse an unknown ``--format`` (before a command that builds something starts).

    Raises:
        ConfigurationError: not one of :data:`FORMATS`.
    """
    if fmt not in FORMATS:
        raise ConfigurationError(f"unknown --format {fmt!r}", f"use one of: {', '.join(FORMATS)}")
