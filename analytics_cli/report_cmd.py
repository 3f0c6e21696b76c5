"""``analytics report`` and ``analytics export``: reports over the lake, printed or written.

:func:`show_report` computes a report (:func:`analytics_framework.jobs.report_job`), renders it
(table, JSON or CSV) and stores it on ``--save``; ``run`` and the insight commands use it too.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from analytics_cli import report_view
from analytics_cli.common import check_format, err, out, parse_days
from analytics_cli.options import (
    BusinessHoursOpt,
    ByOpt,
    CompareOpt,
    EndOpt,
    FormatOpt,
    HolidaysOpt,
    LakeOpt,
    LimitOpt,
    MongoUriOpt,
    OrgOpt,
    OutputOpt,
    PeriodOpt,
    PowerThresholdOpt,
    SortOpt,
    StartOpt,
    TzOpt,
)
from analytics_framework.errors import LakeError
from analytics_framework.reports import REPORTS

if TYPE_CHECKING:  # the framework loads in the commands: --help must not pay for it (issue 14)
    from analytics_framework.reports import ReportResult
    from analytics_framework.settings import Settings


def show_report(
    settings: Settings,
    name: str,
    period: str,
    days: tuple[date | None, date | None],
    org: str | None,
    by: str | None,
    fmt: str,
    output: Path | None,
    save: bool = False,
    options: dict[str, Any] | None = None,
) -> ReportResult:
    """Compute a report, print or write it, then store it in MongoDB when ``save`` is set."""
    from analytics_framework import jobs

    check_format(fmt)
    result = jobs.report_job(
        settings,
        name,
        period=period,
        start=days[0],
        end=days[1],
        org=org,
        by=by,
        options={k: v for k, v in (options or {}).items() if v is not None},
    )
    text = {"json": result.to_json, "csv": result.to_csv}.get(fmt)
    if output is not None:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text() if text else result.to_csv(), encoding="utf-8")
        except OSError as exc:
            raise LakeError(
                f"cannot write --output {output}: {exc.strerror}", "choose a writable path"
            ) from None
        err.print(f"report written to {output}", highlight=False)
    if fmt == "table":
        report_view.report_table(out, result)
    elif output is None and text:
        sys.stdout.write(text())
    if save:
        for where in jobs.save_report(settings, result):
            err.print(f"report saved to {where}", highlight=False)
    return result


def report(
    name: Annotated[str, typer.Argument(metavar="NAME", hidden=True)] = "overview",
    period: PeriodOpt = "daily",
    start_date: StartOpt = None,
    end_date: EndOpt = None,
    org: OrgOpt = None,
    by: ByOpt = None,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
    lake: LakeOpt = None,
    timezone: TzOpt = None,
    save: Annotated[
        bool,
        typer.Option(
            "--save",
            help="Also store the report: <lake>/reports/<name>/<period>/ and MongoDB "
            "analytics_reports (when configured), replacing the same report and filters.",
        ),
    ] = False,
    mongodb_uri: MongoUriOpt = None,
    compare: CompareOpt = None,
    limit: LimitOpt = None,
    sort: SortOpt = None,
    power_threshold: PowerThresholdOpt = None,
    business_hours: BusinessHoursOpt = None,
    holidays: HolidaysOpt = None,
) -> None:
    """Compute a report over the lake with DuckDB.

    Reading a report writes nothing; --save stores it in the lake (reports/<name>/<period>/)
    and in MongoDB when MONGODB_URI or --mongodb-uri is set, replacing the same report,
    period and filters.

    \b
    Arguments:
      NAME  the report (default: overview), one of:
    REPORT_LIST
    """
    from analytics_framework.settings import load_settings

    settings = load_settings(lake_uri=lake, timezone=timezone, mongodb_uri=mongodb_uri)
    options = {
        "compare": compare,
        "limit": limit,
        "sort": sort,
        "power_threshold": power_threshold,
        "business_hours": business_hours,
        "holidays": str(holidays) if holidays else None,
    }
    show_report(
        settings,
        name,
        period,
        parse_days(start_date, end_date),
        org,
        by,
        fmt,
        output,
        save,
        options,
    )


def _report_list() -> str:
    """Each report with its description and example, for ``report --help``."""
    lines = []
    for spec in REPORTS.values():
        lines.append(f"      {spec.name}: {spec.description}")
        if spec.example:
            lines.append(f"        e.g. {spec.example}")
    return "\n".join(lines)


report.__doc__ = (report.__doc__ or "").replace("    REPORT_LIST", _report_list())


def export(
    fmt: Annotated[
        str,
        typer.Option("--format", metavar="FORMAT", help="html, zip, png, svg or framer-csv."),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output", metavar="PATH|S3URI", help="The folder (or s3://bucket/prefix) to write to."
        ),
    ] = "exports",
    period: PeriodOpt = "weekly",
    start_date: StartOpt = None,
    end_date: EndOpt = None,
    org: OrgOpt = None,
    by: ByOpt = None,
    compare: CompareOpt = None,
    dpi: Annotated[
        int,
        typer.Option(
            "--dpi", metavar="N", min=20, max=600, help="Chart resolution (1600x900 at 100)."
        ),
    ] = 100,
    lake: LakeOpt = None,
    timezone: TzOpt = None,
) -> None:
    """Write the reports as charts, an HTML report, a ZIP bundle or a Framer CMS CSV.

    Each report is computed once and drawn by the format; a report with no rows (or whose lake
    lacks what it needs) is skipped with a note. Cron can drop bundles next to the lake with an
    s3:// --output.

    \b
    Example:
      analytics export --format zip --period daily --start-date 2024-01-01 --output s3://b/exports
    """
    from analytics_framework import jobs
    from analytics_framework.settings import load_settings

    settings = load_settings(lake_uri=lake, timezone=timezone)
    start, end = parse_days(start_date, end_date)
    outcome = jobs.export_job(
        settings,
        fmt,
        output,
        period=period,
        start=start,
        end=end,
        org=org,
        by=by,
        compare=compare,
        dpi=dpi,
    )
    for note in outcome.notes:
        err.print(f"[yellow]{note}[/]", highlight=False, soft_wrap=True)
    for path in outcome.written:
        out.print(path, highlight=False, soft_wrap=True)
    err.print(f"{len(outcome.written):,} file(s) written to {output}", highlight=False)
