"""Sales-insight commands: ``analytics objections`` and ``analytics scripts``.

Registered in :mod:`analytics_cli.app`, which wraps each in its ``guarded`` (one line and an exit
code per error). ``objections`` is the catalogue's ``objections`` report under its own name, so
``analytics objections --by setter`` and ``analytics report objections --by setter`` print the
same rows; ``scripts`` clusters setters' messages first (:mod:`analytics_framework.insights`).
"""

from __future__ import annotations

from typing import Annotated

import typer

from analytics_cli.options import (
    EndOpt,
    FormatOpt,
    LakeOpt,
    OrgOpt,
    OutputOpt,
    PeriodOpt,
    StartOpt,
    TzOpt,
)
from analytics_framework.settings import load_settings

ObjectionsByOpt = Annotated[
    str | None,
    typer.Option(
        "--by",
        metavar="org|setter",
        help="org: one row per period, org and objection; setter: per setter (the assigned "
        "agent, else the human who wrote most).",
    ),
]


def objections(
    period: PeriodOpt = "monthly",
    start_date: StartOpt = None,
    end_date: EndOpt = None,
    org: OrgOpt = None,
    by: ObjectionsByOpt = None,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
    lake: LakeOpt = None,
    timezone: TzOpt = None,
) -> None:
    r"""Why leads say no: per objection class, how often, in whose words, and what came next.

    Each class's count, share and rate, the customer's words (the latest objection_quote),
    and what happened next (resolved, won, top stage). Reads the labels (run analytics
    enrich first). Example:

    \b
      analytics objections --period monthly --by setter --start-date 2024-01-01
    """
    from analytics_cli.app import _days, _report

    settings = load_settings(lake_uri=lake, timezone=timezone)
    _report(settings, "objections", period, _days(start_date, end_date), org, by, fmt, output)
