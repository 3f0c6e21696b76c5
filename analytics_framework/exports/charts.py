"""Charts (``png``, ``svg``): one numbered chart per report view, drawn with matplotlib.

Contract used by the other formats (HTML, ZIP): :func:`draw` returns the numbered chart files
(``01_conversations.png`` …) drawn from ``ctx.results``, appending a note to ``ctx.notes`` for each
chart skipped because its report is missing or has no rows — a chart is never drawn blank. A format
that embeds the charts asks for :data:`REPORTS` too.

==========================  ================  ===============================================
file                        report            what it shows
==========================  ================  ===============================================
``01_conversations``        overview, funnel  conversations per period (new leads when staged)
``02_response_times``       overview          FRT and response time, p50 and p90, per period
``03_activity_heatmap``     activity          customer and agent messages, weekday x hour
``04_agents``               agents            the latest period's agents: conversations, FRT
``05_topics``               topics            topics, intents, objections, summed over periods
``06_sentiment``            overview          positive / neutral / negative share per period
``07_retention``            retention         day-1/7/30 retention per cohort, weekly triangle
``08_stage_funnel``         funnel            leads per stage, conversion to the next stage
``09_leaderboard``          leaderboard       the latest period's top organisations, share
``10_objections``           objections        volume per objection class, the mix over time
``11_scripts``              scripts           the ten most used scripts, their 24 h reply rate
``12_personas``             personas          size, share and sentiment per persona
``13_languages``            languages         conversations per language, how many translated
==========================  ================  ===============================================

Each chart's drawing is a function of :mod:`analytics_framework.exports.plots`; this module
pairs them with their files and reports (:data:`CHARTS`), makes and saves the figures.

Rendering is matplotlib's object API on the Agg canvas (no display, no pyplot state, the
process's backend untouched), 16 x 9 inches at ``ctx.dpi`` (1600 x 900 pixels at 100), with the
Okabe-Ito colour-blind-safe palette and the ``cividis`` colour map. Output is deterministic: no
dates in the file metadata, a fixed SVG hash salt and id, text kept as SVG ``<text>``.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from cycler import cycler

from analytics_framework.exports import register
from analytics_framework.exports.base import Destination, ExportContext, Exporter
from analytics_framework.exports.plots import (
    OKABE_ITO,
    Skip,
    draw_agents,
    draw_conversations,
    draw_funnel,
    draw_heatmap,
    draw_languages,
    draw_leaderboard,
    draw_objections,
    draw_personas,
    draw_response_times,
    draw_retention,
    draw_scripts,
    draw_sentiment,
    draw_topics,
)
from analytics_framework.reports import ReportResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

REPORTS: dict[str, dict[str, Any]] = {
    "overview": {},
    "activity": {},
    "agents": {"sort": "conversations", "limit": 10},
    "topics": {},
    "retention": {},
    "funnel": {},
    "leaderboard": {"sort": "conversations", "limit": 10},
    "objections": {},
    "scripts": {"sort": "uses", "limit": 10},
    "personas": {},
    "languages": {},
}
"""Every report the charts draw from, with its options beyond the shared ones."""

RC = {
    "axes.prop_cycle": cycler(color=OKABE_ITO),
    "font.family": "DejaVu Sans",
    "font.size": 12,
    "axes.titlesize": 13,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "none",  # titles stay searchable <text>, not glyph paths
    "svg.hashsalt": "conversation-analytics",
    "svg.id": "chart",
}
METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}}
"""File metadata without dates or versions, so the same lake gives the same files."""

SLOW = frozenset({"03_activity_heatmap", "07_retention", "09_leaderboard"})
"""The charts that take longest to draw over many periods (0.7-1.1 s each over a year of days,
against 0.3-0.6 s for the others: many tick labels, markers and image cells)."""


def load() -> None:
    """Import the parts of matplotlib :func:`render` uses (about 0.8 s).

    This module defines the charts without them, so an export that draws in a second process
    forks it before matplotlib is loaded, and that process imports it while the export reads
    the lake (:mod:`~.exports.ahead`); the export's own process imports it only to draw.
    """
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401
    import matplotlib.ticker  # noqa: F401


@dataclass(frozen=True)
class Chart:
    """One numbered chart.

    Attributes:
        name: the file name without extension (``02_response_times``).
        report: the report it is drawn from.
        title: the headline, before the report and filters.
        plot: draws onto the figure from the report's result; raises ``Skip`` with a reason
            when a section it needs is empty.
        also: other reports it reads from ``ctx.results`` when present (the conversations
            chart's new leads come from ``funnel``).
    """

    name: str
    report: str
    title: str
    plot: Callable[[Figure, ReportResult, ExportContext], None]
    also: tuple[str, ...] = ()

    @property
    def needs(self) -> tuple[str, ...]:
        """Every report the chart reads: :attr:`report`, then :attr:`also`."""
        return (self.report, *self.also)


CHARTS: tuple[Chart, ...] = (
    Chart(
        "01_conversations", "overview", "Conversations per period", draw_conversations, ("funnel",)
    ),
    Chart("02_response_times", "overview", "First response and response time", draw_response_times),
    Chart("03_activity_heatmap", "activity", "When customers and agents write", draw_heatmap),
    Chart("04_agents", "agents", "Agents ranked by conversations", draw_agents),
    Chart("05_topics", "topics", "Topics, intents and objections", draw_topics),
    Chart("06_sentiment", "overview", "Customer sentiment", draw_sentiment),
    Chart("07_retention", "retention", "Customer retention", draw_retention),
    Chart("08_stage_funnel", "funnel", "Lead stage funnel", draw_funnel),
    Chart("09_leaderboard", "leaderboard", "Organisation leaderboard", draw_leaderboard),
    Chart("10_objections", "objections", "Sales objections", draw_objections),
    Chart("11_scripts", "scripts", "Setters' scripts", draw_scripts),
    Chart("12_personas", "personas", "Customer personas", draw_personas),
    Chart("13_languages", "languages", "Customer languages", draw_languages),
)
"""The numbered set, in file order."""


def render(chart: Chart, ctx: ExportContext, fmt: str = "png") -> bytes:
    """Draw one chart from ``ctx`` and return the file's bytes.

    Args:
        chart: one of :data:`CHARTS`; its report must be in ``ctx.results`` with rows.
        ctx: the export's results, filters, lake and resolution.
        fmt: ``png`` (16 x 9 inches at ``ctx.dpi``: 1600 x 900 pixels at 100) or ``svg``.

    Raises:
        Skip: the chart has nothing to draw (a section it needs is empty).
    """
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    result = ctx.results[chart.report]
    with rc_context(RC):
        fig = Figure(figsize=(16, 9), dpi=ctx.dpi, layout="constrained")
        FigureCanvasAgg(fig)
        chart.plot(fig, result, ctx)
        fig.suptitle(
            f"{chart.title}\n{chart.report} report · {ctx.subtitle()}",
            fontsize=15,
            x=0.01,
            ha="left",
        )
        fig.supxlabel(
            f"metric definitions v{ctx.metric_version} · generated "
            f"{ctx.generated_at:%Y-%m-%d %H:%M} UTC · {ctx.lake_uri}",
            fontsize=9,
            color="#555555",
            x=0.99,
            ha="right",
        )
        # the constrained layout runs once, here, and the engine is dropped: with an engine
        # set, savefig first draws the whole figure without output to run it. The same pixels,
        # 0.1 s of CPU less a chart (BENCHMARKS.md, issue 12)
        fig.get_layout_engine().execute(fig)
        fig.set_layout_engine(None)
        buf = io.BytesIO()
        extra = {"pil_kwargs": {"compress_level": 3}} if fmt == "png" else {}  # fast zlib
        fig.savefig(buf, format=fmt, dpi=ctx.dpi, metadata=METADATA[fmt], **extra)
    return buf.getvalue()


def draw(ctx: ExportContext, fmt: str = "png") -> list[tuple[str, bytes]]:
    """Draw every chart whose report has rows; note each one skipped in ``ctx.notes``.

    Args:
        ctx: the export's results (ask for :data:`REPORTS`), filters, lake and resolution.
        fmt: ``png`` or ``svg``.

    Returns:
        ``(file name, bytes)`` per chart drawn, in :data:`CHARTS` order
        (``01_conversations.png`` …). Charts already drawn in ``ctx.drawn[fmt]`` (by
        :class:`~analytics_framework.exports.ahead.ChartsAhead`) are taken from there.

    Raises:
        ValueError: ``fmt`` is neither ``png`` nor ``svg``.
    """
    if fmt not in METADATA:
        raise ValueError(f"charts are png or svg, not {fmt!r}")
    if ctx.ahead is not None:
        ctx.ahead.finish()  # the charts drawn while the reports ran
    files = []
    for chart in CHARTS:
        result = ctx.results.get(chart.report)
        if result is None:
            ctx.notes.append(f"{chart.name} skipped: {chart.report} was not computed")
            continue
        if not result.rows:
            why = f" — {result.note}" if result.note else ""
            ctx.notes.append(f"{chart.name} skipped: {chart.report} has no rows{why}")
            continue
        ahead = ctx.drawn.get(fmt, {}).get(chart.name)  # exports.ahead.ChartsAhead
        if isinstance(ahead, str):
            ctx.notes.append(f"{chart.name} skipped: {ahead}")
            continue
        try:
            data = ahead if ahead is not None else render(chart, ctx, fmt)
        except Skip as exc:
            ctx.notes.append(f"{chart.name} skipped: {exc}")
            continue
        files.append((f"{chart.name}.{fmt}", data))
    return files


class _Charts(Exporter):
    """The numbered chart set written as files of :attr:`fmt`."""

    fmt: ClassVar[str]
    reports = REPORTS

    def export(self, ctx: ExportContext, dest: Destination) -> list[str]:
        """Write every chart drawn by :func:`draw` to ``dest``; return the paths written.

        Raises:
            LakeError: a file cannot be written.
        """
        return [dest.write(name, data) for name, data in draw(ctx, self.fmt)]


@register
class PngCharts(_Charts):
    """Charts as PNG images, 1600 x 900 pixels at the default ``--dpi 100``."""

    name = "png"
    fmt = "png"
    chart_format = "png"
    description = "numbered PNG charts (1600x900 at --dpi 100)"


@register
class SvgCharts(_Charts):
    """Charts as SVG drawings (text kept as text)."""

    name = "svg"
    fmt = "svg"
    chart_format = "svg"
    description = "numbered SVG charts"
