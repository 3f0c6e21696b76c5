"""The ``analytics`` command line: the Typer app and its commands, each in its own module.

No business logic lives here or in the command modules: :mod:`analytics_framework.jobs` opens
sources, lakes, state stores, sinks and locks. Each command is registered wrapped in
:func:`analytics_cli.common.guarded`, which turns errors into one line and an exit code.
"""

from __future__ import annotations

from typing import Annotated

import typer

from analytics_cli.collect_cmd import collect
from analytics_cli.common import guarded, out
from analytics_cli.conversations_cmd import conversations_app
from analytics_cli.digest_cmd import digest
from analytics_cli.enrich_cmd import enrich_cmd
from analytics_cli.insights_cmd import objections, scripts
from analytics_cli.personas_cmd import personas
from analytics_cli.report_cmd import export, report
from analytics_cli.run_cmd import run
from analytics_cli.status_cmd import doctor, state_app, status
from analytics_cli.translate_cmd import translate

app = typer.Typer(
    name="analytics",
    help="Conversation Analytics: collect conversations into a Parquet lake and report on them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: no Python types beside flags, brackets are text
)
app.add_typer(state_app, name="state")
app.add_typer(conversations_app, name="conversations")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version as package_version

        out.print(f"analytics {package_version('conversation-analytics')}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Conversation Analytics: collect conversations into a Parquet lake and report on them."""


# in the order --help lists them
app.command()(guarded(collect))
app.command()(guarded(report))
app.command()(guarded(run))
app.command("enrich")(guarded(enrich_cmd))
app.command()(guarded(status))
app.command()(guarded(export))
app.command()(doctor)  # one line per check, never a traceback: it reports errors itself
app.command()(guarded(digest))
app.command()(guarded(objections))
app.command()(guarded(scripts))
app.command()(guarded(personas))
app.command()(guarded(translate))


def main() -> None:
    """Run the app (the console script goes through :func:`analytics_cli.entry.main`)."""
    app()
