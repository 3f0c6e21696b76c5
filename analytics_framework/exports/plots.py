"""The numbered charts' drawing: one function per chart, and the axes and units they share.

Each function draws one report's result onto a matplotlib ``Figure`` that
:func:`analytics_framework.exports.charts.render` has made (16 x 9 inches, constrained layout,
the :data:`OKABE_ITO` palette as the colour cycle) and titles; it raises :class:`Skip`, with
the reason, when a section it needs is empty, so a chart is never drawn blank.
:data:`analytics_framework.exports.charts.CHARTS` pairs each with its file name and report.
matplotlib is imported only by the functions that need it (:func:`charts.load`).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from analytics_framework.exports.base import ExportContext
    from analytics_framework.reports import ReportResult

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000")
"""Okabe & Ito's colour-blind-safe palette (blue, orange, green, vermillion, sky, purple …)."""

SENTIMENT_COLOURS = {"positive": "#009E73", "neutral": "#999999", "negative": "#D55E00"}

DURATION_UNITS = (("s", 1.0), ("min", 60.0), ("h", 3600.0), ("d", 86400.0))
"""Axis units for durations, with seconds per unit."""

MAX_TICKS = 16
"""At most this many period labels on an axis (every n-th is shown beyond)."""


class Skip(Exception):
    """A chart has nothing to draw; the message says why."""


def duration_unit(values: Iterable[float | None]) -> tuple[str, float]:
    """Choose the unit a duration axis reads in, from the magnitude of its values.

    The median of the positive values decides, so one outlier (a six-year-old thread) does not
    turn every other period into a sliver: under 120 s reads in seconds, under 120 min in
    minutes, under 48 h in hours, else days.

    Args:
        values: durations in seconds (None and non-positive values are ignored).

    Returns:
        ``(unit, seconds_per_unit)``, e.g. ``("min", 60.0)``; ``("s", 1.0)`` with no values.
    """
    positive = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    if not positive:
        return DURATION_UNITS[0]
    typical = statistics.median(positive)
    for (unit, size), limit in zip(DURATION_UNITS, (120.0, 7200.0, 172800.0), strict=False):
        if typical < limit:
            return unit, size
    return DURATION_UNITS[-1]


def needs_log_scale(values: Iterable[float | None]) -> bool:
    """Return True when positive values span more than two decades (a log axis reads better)."""
    positive = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    return bool(positive) and max(positive) / min(positive) > 100


def _nan(value: Any) -> float:
    return math.nan if value is None else float(value)


def _periods(rows: Iterable[dict[str, Any]]) -> list[str]:
    return sorted({str(r["period"]) for r in rows})


def _by_org(result: ReportResult) -> bool:
    return "org_id" in result.columns and any(r.get("org_id") is not None for r in result.rows)


def _period_axis(ax: Axes, periods: list[str], ctx: ExportContext) -> None:
    step = max(1, math.ceil(len(periods) / MAX_TICKS))
    ticks = list(range(0, len(periods), step))
    ax.set_xticks(ticks, [periods[i] for i in ticks], rotation=45, ha="right")
    ax.set_xlim(-0.6, len(periods) - 0.4)
    zone = ctx.filters.get("timezone") or "UTC"
    ax.set_xlabel(f"{ctx.filters.get('period') or ''} period (first day, {zone})".strip())


def _duration_axis(ax: Axes, values: list[float], label: str) -> float:
    """Set a duration axis's unit and scale; return the seconds per unit to divide by."""
    unit, size = duration_unit(values)
    scale = ""
    if needs_log_scale(values):
        ax.set_yscale("log")
        from matplotlib.ticker import FuncFormatter

        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        scale = ", log scale"
    ax.set_ylabel(f"{label} ({unit}{scale})")
    return size


def _top_orgs(rows: list[dict[str, Any]], n: int = 5) -> list[str]:
    totals: dict[str, float] = defaultdict(float)
    for r in rows:
        totals[str(r.get("org_id"))] += r.get("conversations") or 0
    return sorted(totals, key=lambda o: (-totals[o], o))[:n]


def _latest(rows: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    latest = _periods(rows)[-1]
    return latest, sorted(
        (r for r in rows if str(r["period"]) == latest), key=lambda r: r.get("rank") or 0
    )


def _note(fig: Figure, text: str) -> None:
    fig.text(0.01, 0.01, text, fontsize=9, color="#555555", ha="left", va="bottom")


# -- the charts ----------------------------------------------------------------------------------


def draw_conversations(fig: Figure, result: ReportResult, ctx: ExportContext) -> None:
    """Chart 01: conversations per period (new leads beside them when the funnel has stages)."""
    counts: dict[str, float] = defaultdict(float)
    for r in result.rows:
        counts[str(r["period"])] += r.get("conversations") or 0
    leads: dict[str, float] = defaultdict(float)
    funnel = ctx.results.get("funnel")
    for r in funnel.rows if funnel else []:
        if r.get("kind") == "stage":
            leads[str(r["period"])] += r.get("new_leads") or 0
    periods = sorted(set(counts) | set(leads))
    ax = fig.add_subplot()
    xs = range(len(periods))
    ys = [counts.get(p, 0) for p in periods]
    if len(periods) > MANY_PERIODS:  # a year of days: a filled step line draws in a blink
        ax.fill_between(xs, ys, step="mid", label=result.column("conversations").label)
    else:
        ax.bar(xs, ys, label=result.column("conversations").label)
    if leads:
        label = funnel.column("new_leads").label if funnel else "new leads"
        ax.plot(
            xs, [leads.get(p, math.nan) for p in periods], "o-", color=OKABE_ITO[1], label=label
        )
        ax.legend(loc="upper left")
    ax.set_ylabel("conversations" + (" / new leads" if leads else "") + " (count)")
    _period_axis(ax, periods, ctx)


def draw_response_times(fig: Figure, result: ReportResult, ctx: ExportContext) -> None:
    """Chart 02: FRT and response time, p50 and p90, per period."""
    periods = _periods(result.rows)
    index = {p: i for i, p in enumerate(periods)}
    panels = (("FRT", "frt"), ("response time", "response"))
    axes = fig.subplots(2, 1, sharex=True)
    for ax, (label, prefix) in zip(axes, panels, strict=True):
        columns = [f"{prefix}_median_s", f"{prefix}_p90_s"]
        values = [r.get(c) for r in result.rows for c in columns]
        if not any(v is not None for v in values):
            ax.text(0.5, 0.5, f"no {label} in this range", transform=ax.transAxes, ha="center")
            ax.set_ylabel(label)
            continue
        size = _duration_axis(ax, values, label)
        if _by_org(result):  # medians do not pool over orgs: one line per org
            for org in _top_orgs(result.rows):
                rows = [r for r in result.rows if str(r.get("org_id")) == org]
                ys = [_nan(r.get(columns[0])) / size for r in rows]
                ax.plot([index[str(r["period"])] for r in rows], ys, "o-", label=f"{org} p50")
        else:
            for column, style in zip(columns, ("o-", "s--"), strict=True):
                ys = [_nan(r.get(column)) / size for r in result.rows]
                ax.plot(range(len(periods)), ys, style, label=result.column(column).label)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=10)
        ax.set_title(f"{label}: median and p90" if not _by_org(result) else f"{label}: median")
    _period_axis(axes[-1], periods, ctx)
    for ax in axes[:-1]:
        ax.set_xlabel("")


def draw_heatmap(fig: Figure, result: ReportResult, ctx: ExportContext) -> None:
    """Chart 03: customer and agent messages by weekday x hour."""
    from analytics_framework.reports.defs.activity import WEEKDAYS

    cells = [r for r in result.rows if r.get("section") == "heatmap"]
    if not cells:
        raise Skip("activity has no heatmap rows")
    zone = ctx.filters.get("timezone") or "UTC"
    axes = fig.subplots(2, 1, sharex=True)
    for ax, column in zip(axes, ("customer_per_day", "agent_per_day"), strict=True):
        grid = [[math.nan] * 24 for _ in WEEKDAYS]
        for r in cells:
            grid[WEEKDAYS.index(r["weekday"])][int(r["hour"])] = _nan(r.get(column))
        image = ax.imshow(grid, aspect="auto", cmap="cividis", interpolation="nearest")
        ax.set_yticks(range(7), WEEKDAYS)
        ax.set_ylabel("weekday")
        ax.grid(False)
        who = column.split("_")[0]
        ax.set_title(f"{who} messages per hour, mean per such weekday")
        fig.colorbar(image, ax=ax, label=f"{who} messages / day (count)")
    axes[-1].set_xticks(range(24), [f"{h:02d}" for h in range(24)])
    axes[-1].set_xlabel(f"hour of day ({zone})")


def draw_agents(fig: Figure, result: ReportResult, ctx: ExportContext) -> None:
    """Chart 04: the latest period's agents ranked: conversations and FRT."""
    period, rows = _latest(result.rows)
    names = [str(r.get("agent_id") or "(no sender id)") for r in rows]
    ys = range(len(rows))
    left, right = fig.subplots(1, 2, sharey=True)
    left.barh(ys, [r.get("conversations") or 0 for r in rows], color=OKABE_ITO[0])
    left.set_yticks(ys, names)
    left.invert_yaxis()
    left.set_xlabel("conversations handled (count)")
    left.set_ylabel("agent (ranked by conversations)")
    left.set_title(f"period starting {period}: conversations")
    frt = [r.get("frt_median_s") for r in rows]
    unit, size = duration_unit(frt)
    right.barh(ys, [_nan(v) / size for v in frt], color=OKABE_ITO[1])
    right.set_xlabel(f"{result.column('frt_median_s').label} ({unit})")
    right.set_title("first response time, median (blank: answered no conversation first)")


def draw_topics(fig: Figure, result: ReportResult, ctx: ExportContext) -> None:
    """Chart 05: topics, intents and objections, summed over the periods."""
    axes = fig.subplots(1, 3)
    for ax, dimension in zip(axes, ("topic", "intent", "objection"), strict=True):
        totals: dict[str, float] = defaultdict(float)
        for r in result.rows:
            if r.get("dimension") == dimension and r.get("value") is not None:
                totals[str(r["value"])] += r.get("conversations") or 0
        top = sorted(totals, key=lambda v: (-totals[v], v))[:10]
        ax.set_title(f"{dimension}s" if dimension != "objection" else "sales objections")
        if not top:
            ax.text(0.5, 0.5, f"no {dimension} labeled", transform=ax.transAxes, ha="center")
            ax.set_axis_off()
            continue
        ax.barh(range(len(top)), [totals[v] for v in top], color=OKABE_ITO[2])
        ax.set_yticks(range(len(top)), top)
        ax.invert_yaxis()
        ax.set_xlabel("conversations (count, summed over periods)")
    _note(fig, "each period contributes its top 10 per dimension")


MANY_PERIODS = 60
"""Above this many periods, bar charts are drawn as filled areas (bars cost a patch each)."""


def draw_sentiment(fig: Figure, result: ReportResult, ctx: ExportContext) -> None:
    """Chart 06: the positive / neutral / negative share per period."""
    shares: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    weights: dict[str, float] = defaultdict(float)
    for r in result.rows:
        labeled = r.get("labeled") or 0
        if not labeled or r.get("positive_pct") is None:
            continue
        period = str(r["period"])
        weights[period] += labeled
        for kind in SENTIMENT_COLOURS:  # pooled over orgs: shares weighted by labeled counts
            shares[period][kind] += (r.get(f"{kind}_pct") or 0) * labeled
    if not weights:
        raise Skip("overview has no labeled conversations (run analytics enrich)")
    periods = sorted(weights)
    ax = fig.add_subplot()
    series = {k: [shares[p][k] / weights[p] for p in periods] for k in SENTIMENT_COLOURS}
    if len(periods) > MANY_PERIODS:  # a year of days: one stacked area, not 1,000 bars
        ax.stackplot(
            range(len(periods)),
            *series.values(),
            colors=list(SENTIMENT_COLOURS.values()),
            labels=list(series),
            step="mid",
        )
    else:
        bottom = [0.0] * len(periods)
        for kind, colour in SENTIMENT_COLOURS.items():
            ys = series[kind]
            ax.bar(range(len(periods)), ys, bottom=bottom, color=colour, label=kind)
            bottom = [b + y for b, y in zip(bottom, ys, strict=True)]
    ax.set_ylim(0, 100)
    ax.set_ylabel("share of labeled conversations (%)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _period_axis(ax, periods, ctx)


def draw_retention(fig: Figure, result: ReportResult, ctx: ExportContext) -> None:
    """Chart 07: day-1/7/30 retention per cohort, and the weekly cohorts' triangle."""
    from analytics_framework.reports.defs.retention import DAYS

    cohorts = sorted((r for r in result.rows if r.get("section") == "cohorts"), key=_period_key)
    weekly = [r for r in result.rows if r.get("section") == "weekly"]
    if not cohorts and not weekly:
        raise Skip("retention has no cohort rows")
    left, right = fig.subplots(1, 2, width_ratios=(3, 2))
    periods = [str(r["period"]) for r in cohorts]
    for n, style in zip(DAYS, ("o-", "s--", "^:"), strict=True):
        column = f"d{n}_retention_pct"
        left.plot(
            range(len(periods)),
            [_nan(r.get(column)) for r in cohorts],
            style,
            label=result.column(column).label,
        )
    left.set_ylabel("customers who came back (% of eligible)")
    left.set_title("day-N retention by cohort (gaps: not yet eligible)")
    left.legend(loc="upper left")
    _period_axis(left, periods, ctx)
    left.set_xlabel(f"cohort: {left.get_xlabel()}")
    weeks = sorted({int(r["weeks_since"]) for r in weekly})
    starts = _periods(weekly)
    grid = [[math.nan] * len(weeks) for _ in starts]
    for r in weekly:
        grid[starts.index(str(r["period"]))][weeks.index(int(r["weeks_since"]))] = _nan(
            r.get("active_pct")
        )
    right.grid(False)
    right.set_title("weekly cohorts: active % by weeks since first seen")
    if weekly:
        image = right.imshow(grid, aspect="auto", cmap="cividis", vmin=0, vmax=100)
        right.set_xticks(range(len(weeks)), [str(w) for w in weeks])
        step = max(1, math.ceil(len(starts) / MAX_TICKS))
        right.set_yticks(range(0, len(starts), step), starts[::step])
        right.set_xlabel("weeks since first seen")
        right.set_ylabel("cohort (week starting)")
        fig.colorbar(image, ax=right, label="active customers (% of cohort)")


def _period_key(row: dict[str, Any]) -> str:
    return str(row["period"])


def draw_funnel(fig: Figure, result: ReportResult, ctx: ExportContext) -> None:
    """Chart 08: leads per stage and the conversion to the next stage."""
    stages: dict[tuple[int, str], list[float]] = {}
    for r in result.rows:
        if r.get("kind") == "stage":
            totals = stages.setdefault((int(r["step"]), str(r["stage"])), [0.0, 0.0])
            totals[0] += r.get("leads") or 0
            totals[1] += r.get("reached_next") or 0
    if not stages:
        raise Skip("funnel has no stage rows (stages come from --source mochi)")
    order = sorted(stages)
    ax = fig.add_subplot()
    ys = range(len(order))
    reached = [stages[k][0] for k in order]
    ax.barh(ys, reached, color=OKABE_ITO[0])
    ax.set_yticks(ys, [stage for _, stage in order])
    ax.invert_yaxis()
    for y, key in zip(ys, order, strict=True):
        leads, nxt = stages[key]
        text = f"{leads:,.0f}" + (f"  ·  {nxt / leads * 100:.1f}% reach the next" if nxt else "")
        ax.text(leads, y, "  " + text, va="center", fontsize=11)
    ax.set_xlim(0, max(reached) * 1.35 or 1)
    ax.set_xlabel("leads that reached the stage (count, all entry periods)")
    ax.set_ylabel("stage (pipeline order)")


def draw_leaderboard(fig: Figure, result: ReportResult, ctx: ExportContext) -> None:
    """Chart 09: the latest period's top organisations, and their share over time."""
    period, rows = _latest(result.rows)
    metric = str(rows[0].get("metric") or "conversations")
    left, right = fig.subplots(1, 2)
    names = [str(r.get("org_id")) for r in rows]
    values = [r.get(metric) or 0 for r in rows]
    left.barh(range(len(rows)), values, color=OKABE_ITO[0])
    left.set_yticks(range(len(rows)), names)
    left.invert_yaxis()
    for y, r in enumerate(rows):
        change = r.get("change_pct")
        text = f"  {r.get('share_pct') or 0:.1f}% of all"
        text += f", {change:+.1f}% vs previous" if change is not None else ", new"
        left.text(values[y], y, text, va="center", fontsize=10)
    left.set_xlim(0, max(values) * 1.5 or 1)
    left.set_xlabel(f"{metric} (count)")
    left.set_ylabel(f"organisation (ranked by {metric})")
    left.set_title(f"period starting {period}")
    periods = _periods(result.rows)
    for org in names:
        points = [
            (periods.index(str(r["period"])), r.get("share_pct"))
            for r in result.rows
            if str(r.get("org_id")) == org
        ]
        right.plot([x for x, _ in points], [_nan(y) for _, y in points], "o-", label=org)
    right.set_ylabel(f"share of the period's {metric} (%)")
    right.set_title("share over time (while in the top)")
    right.legend(loc="upper left", fontsize=9)
    _period_axis(right, periods, ctx)


def _ranked_bars(
    ax: Axes, names: list[str], values: list[float], colour: str, xlabel: str, ylabel: str
) -> range:
    """Draw horizontal bars, the first name on top; returns the bars' y positions."""
    ys = range(len(names))
    ax.barh(ys, values, color=colour)
    ax.set_yticks(ys, names)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ys


def draw_objections(fig: Figure, result: ReportResult, ctx: ExportContext) -> None:
    """Chart 10: sales objections: volume per class, and the mix over time."""
    totals: dict[str, float] = defaultdict(float)
    for r in result.rows:
        totals[str(r["objection"])] += r.get("conversations") or 0
    top = sorted(totals, key=lambda v: (-totals[v], v))[:7]
    left, right = fig.subplots(1, 2)
    _ranked_bars(
        left,
        top,
        [totals[v] for v in top],
        OKABE_ITO[3],
        "conversations raising it (count, all periods)",
        "objection (ranked by conversations)",
    )
    left.set_title("how often each objection is raised")
    periods = _periods(result.rows)
    per_period: dict[str, float] = defaultdict(float)
    per_class: dict[tuple[str, str], float] = defaultdict(float)
    for r in result.rows:  # summed over orgs or setters, so any --by draws the whole mix
        per_period[str(r["period"])] += r.get("conversations") or 0
        per_class[(str(r["period"]), str(r["objection"]))] += r.get("conversations") or 0
    for objection in top[:5]:
        shares = [
            100 * per_class[(p, objection)] / per_period[p] if per_period[p] else float("nan")
            for p in periods
        ]
        right.plot(range(len(periods)), shares, "o-", label=objection)
    right.set_ylabel("share of the period's objections (%, 0: none of it)")
    right.set_title("objection mix over time (top 5)")
    right.legend(loc="upper left", fontsize=9)
    _period_axis(right, periods, ctx)


def draw_scripts(fig: Figure, result: ReportResult, ctx: ExportContext) -> None:
    """Chart 11: the setters' ten most used scripts and their 24 h reply rate."""
    rows = result.rows
    names = [f"{r.get('rank')}. {r.get('name')} ({r.get('position')})" for r in rows]
    left, right = fig.subplots(1, 2, sharey=True)
    ys = _ranked_bars(
        left,
        names,
        [r.get("uses") or 0 for r in rows],
        OKABE_ITO[0],
        "messages sent (count)",
        "script (ranked by uses)",
    )
    left.set_title("the most used scripts")
    right.barh(ys, [_nan(r.get("reply_rate_pct")) for r in rows], color=OKABE_ITO[2])
    right.set_xlim(0, 100)
    right.set_xlabel("lead answered within 24 h (% of messages)")
    right.set_title("reply rate")


def draw_personas(fig: Figure, result: ReportResult, ctx: ExportContext) -> None:
    """Chart 12: the customer personas: size, share and sentiment."""
    rows = result.rows
    names = [f"{r['persona_id']}. {r.get('name')}" for r in rows]
    left, right = fig.subplots(1, 2, sharey=True)
    ys = _ranked_bars(
        left,
        names,
        [r.get("customers") or 0 for r in rows],
        OKABE_ITO[4],
        "customers (count)",
        "persona (largest first)",
    )
    for y, r in enumerate(rows):
        left.text(r.get("customers") or 0, y, f"  {r.get('share_pct') or 0:.1f}%", va="center")
    first = rows[0] if rows else {}
    left.set_title(
        f"k {first.get('k')} · silhouette {_nan(first.get('silhouette')):.2f} · "
        f"{first.get('method')} on {first.get('device')}"
    )
    sentiment = [_nan(r.get("sentiment")) for r in rows]
    right.barh(
        ys,
        sentiment,
        color=[SENTIMENT_COLOURS["negative" if v < 0 else "positive"] for v in sentiment],
    )
    right.axvline(0, color="#555555", linewidth=1)
    right.set_xlim(-1, 1)
    right.set_xlabel("mean labeled sentiment (-1 to 1; blank: no labels)")
    right.set_title("sentiment")


def draw_languages(fig: Figure, result: ReportResult, ctx: ExportContext) -> None:
    """Chart 13: the customers' languages ranked, and how many were translated."""
    conversations: dict[str, float] = defaultdict(float)
    translated: dict[str, float] = defaultdict(float)
    for r in result.rows:
        name = str(r.get("language") or "undetected")
        conversations[name] += r.get("conversations") or 0
        translated[name] += r.get("translated") or 0
    top = sorted(conversations, key=lambda v: (-conversations[v], v))[:12]
    ax = fig.add_subplot()
    ys = range(len(top))
    ax.barh(ys, [conversations[v] for v in top], color=OKABE_ITO[4], label="conversations")
    ax.barh(ys, [translated[v] for v in top], color=OKABE_ITO[0], label="translated to English")
    ax.set_yticks(ys, top)
    ax.invert_yaxis()
    total = sum(conversations.values()) or 1
    for y, v in enumerate(top):
        ax.text(conversations[v], y, f"  {100 * conversations[v] / total:.1f}%", va="center")
    counts = [conversations[v] for v in top if conversations[v] > 0]
    if counts and max(counts) / min(counts) >= 100:  # one language dwarfs the others
        ax.set_xscale("log")
        ax.set_xlim(0.8, max(counts) * 3)
        ax.set_xlabel("conversations (count, all periods; log scale)")
    else:
        ax.set_xlim(0, max(conversations.values()) * 1.2 or 1)
        ax.set_xlabel("conversations (count, all periods)")
    ax.set_ylabel("the customer's language (ISO 639-1, ranked)")
    ax.legend(loc="lower right")
