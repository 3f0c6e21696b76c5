"""The ``funnel`` report: its declaration (the SQL is ``reports/sql/funnel.sql``).

Leads through their stages, from ``stage_changes`` (only Mochi has them), per period of the
leads' entry (their first stage change): new leads; for each stage of the order, the new leads
that reached it, the share of those that reached the next stage, and the median time spent in
it; and every transition from → to with its count. The stage order is Mochi's pipeline
(new lead → qualified → call booked → won; lost an exit) when the names match, else the order in
which leads reach the stages (median time from entry). The SQL file's header defines each figure.

A lake without stage changes gives no rows and exits 0: the report declares no ``requires``,
since "no stages" is an answer about this lake, not an error. :data:`EMPTY_NOTE` is what a user
should read then.
"""

from __future__ import annotations

from analytics_framework.reports.spec import Column, Report

EMPTY_NOTE = "no stage changes in the lake (stages come from --source mochi)"
"""The one line shown instead of an empty table when the lake holds no stage changes."""

PIPELINE = ("new lead", "qualified", "call booked", "won", "lost")
"""Mochi's stages in their fixed order (the SQL spells them out too); ``lost`` is an exit."""

REPORT: Report | None = Report(
    name="funnel",
    sql_file="funnel.sql",
    description="lead funnel from stage changes (Mochi): new leads, leads per stage, conversion "
    "to the next stage, median time in stage, transitions",
    keys=("period", "org_id", "kind", "step", "stage", "to_stage"),
    example="analytics report funnel --period monthly --by org",
    optional=("stage_changes",),
    empty_note=EMPTY_NOTE,
    columns=(
        Column("period", "period", "date", description="first day of the leads' entry period"),
        Column("org_id", "org", "text", description="organisation, brand, page or app"),
        Column("kind", "kind", "text", description="stage (a step of the order) or transition"),
        Column("step", "step", "count", description="the stage's place in the order, 1 first"),
        Column("stage", "stage", "text", description="the stage (a transition's from-stage)"),
        Column(
            "to_stage",
            "next / to",
            "text",
            description="the next stage of the order (a transition's to-stage)",
        ),
        Column("new_leads", "new leads", "count", "leads", "leads whose first change is here"),
        Column("leads", "reached", "count", "leads", "new leads that entered the stage"),
        Column("reached_next", "reached next", "count", "leads", "of those, entered next too"),
        Column("conversion_pct", "conversion %", "percent", "leads", "reached next / reached"),
        Column("stays", "stays", "count", "time", "completed stays in the stage"),
        Column(
            "time_in_stage_median_s",
            "time in stage p50",
            "seconds",
            "time",
            "next change - entering; open stays not counted",
        ),
        Column("transitions", "transitions", "count", "transitions", "from -> to moves"),
        Column("metric_version", "metric version", "count"),
    ),
)
"""Leads per stage, conversion, time in stage and transitions, per entry period."""
