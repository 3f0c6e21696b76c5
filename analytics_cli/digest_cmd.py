"""``analytics digest``: post the period's Slack digest (registered in :mod:`analytics_cli.app`).

The work is :func:`analytics_framework.exports.slack_post.digest_job`; this module parses the
options and prints what happened. ``analytics_cli.app`` wraps :func:`digest` in ``common.guarded``
(one line and an exit code per error) when it registers it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from analytics_cli.options import EndOpt, LakeOpt, OrgOpt, PeriodOpt, StartOpt, TzOpt
from analytics_framework.dates import parse_day

out = Console()
err = Console(stderr=True)


def _on_retry(exc: BaseException, delay_s: float) -> None:
    err.print(f"Slack: {exc} — retrying in {delay_s:.1f}s", highlight=False, soft_wrap=True)


def digest(
    period: PeriodOpt = "daily",
    start_date: StartOpt = None,
    end_date: EndOpt = None,
    org: OrgOpt = None,
    by: Annotated[
        str | None,
        typer.Option("--by", metavar="org", help="org: one digest per org, routed by --routes."),
    ] = None,
    timezone: TzOpt = None,
    lake: LakeOpt = None,
    routes: Annotated[
        Path | None,
        typer.Option(
            "--routes",
            metavar="FILE",
            help='TOML routing --by org digests: default = "#support", [orgs] Name = "#chan" '
            "(ANALYTICS_SLACK_ROUTES).",
        ),
    ] = None,
    chart: Annotated[
        bool,
        typer.Option("--chart", help="Upload a conversations chart into the digest's thread."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the Slack payloads as JSON; post nothing.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Post again digests already posted for the period.")
    ] = False,
) -> None:
    """Post the Slack digest of a period (key metrics, topics, unanswered, slow FRT).

    Key metrics with their change from the previous period, the top topics and objections, the
    unanswered conversations and the agents with the slowest first response. Posts with a bot
    token (SLACK_BOT_TOKEN + SLACK_CHANNEL) or an incoming webhook (SLACK_WEBHOOK_URL). Without
    dates: the last complete period in --timezone (yesterday, last week, last month). A digest
    already posted for its period and org is skipped (recorded in state/<lake>/digests.json)
    unless --force.

    \b
    Examples:
      analytics digest --period daily
      analytics digest --period weekly --by org --routes slack-routes.toml --chart
      analytics digest --start-date 2017-10-31 --dry-run
    """  # noqa: D301 (click's "\b" keeps the examples unwrapped; a raw docstring breaks it)
    from analytics_framework.exports.slack_post import DigestOptions, digest_job
    from analytics_framework.settings import load_settings

    settings = load_settings(lake_uri=lake, timezone=timezone)
    options = DigestOptions(
        period=period,
        start=parse_day(start_date, "--start-date"),
        end=parse_day(end_date, "--end-date"),
        org=org,
        by=by,
        routes=routes,
        chart=chart,
        dry_run=dry_run,
        force=force,
    )
    outcome = digest_job(settings, options, on_retry=_on_retry)
    for note in outcome.notes:
        err.print(f"[yellow]{note}[/]", highlight=False, soft_wrap=True)
    if dry_run:
        typer.echo(outcome.to_json(), nl=False)
        return
    for post in outcome.posts:
        where = post.channel or "the webhook's channel"
        parts = f"{len(post.messages)} message(s)" + (f" + {post.chart}" if post.chart else "")
        if post.status == "posted":
            line = f"posted {post.digest.title()} → {where} ({parts})"
        else:
            line = f"already posted {post.digest.title()} (--force posts it again)"
        out.print(line, highlight=False, soft_wrap=True, markup=False)
    if not outcome.posts:
        err.print("no digest to post: no conversations in the period", highlight=False)
