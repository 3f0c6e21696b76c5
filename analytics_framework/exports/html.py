"""The ``html`` format: one self-contained page, ``report.html``, that opens offline.

The page holds everything it shows: the charts as base64 PNG ``data:`` URIs (drawn by
:func:`analytics_framework.exports.charts.draw`), one table per report with the labels and units
of its column declaration and values written for people (:mod:`.formatting`), the filters, the
lake, the generation time, the metric-definition version and the metric definitions themselves.
Plain CSS is inlined; there is no script, font, CDN or any other URL, so a browser with no network
shows it whole. Sections carry stable ids (``summary``, ``charts``, one per report named after it,
``notes``, ``definitions``) for links and tests.

The metric definitions live once, here (:data:`METRIC_DEFINITIONS`, Markdown); README's "Metric
definitions" section is the same text, and a test keeps the two equal.
"""

from __future__ import annotations

import base64
import re
from html import escape

from analytics_framework.exports import charts, register
from analytics_framework.exports.base import Destination, ExportContext, Exporter
from analytics_framework.exports.formatting import format_value, formatter, shown_columns
from analytics_framework.reports import ReportResult
from analytics_framework.reports.catalog import CATALOG

REPORTS: dict[str, dict] = {**{r.name: {} for r in CATALOG}, **charts.REPORTS}
"""Every report in the catalogue, in its order: with the options the charts draw with
(:data:`charts.REPORTS`, e.g. the top 10 agents), else its defaults, so each table shows what
its chart does and ``analytics report NAME`` with the same options gives the same rows."""

HEADLINE = ("conversations", "reply_rate_pct", "frt_median_s", "response_median_s", "fcr_pct")
"""Overview metrics shown as cards for the latest period (those the result has)."""

NO_ROWS = "no conversations match the filters"

METRIC_DEFINITIONS = """\
Every report row and export carries `metric_version` = 1.

- **Human reply**: a message with role `agent`. Bot messages and autoresponses never count, and
  they do not reset a customer's wait.
- **First response time (FRT)**: the first human reply after the conversation's first customer
  message, minus that message. A conversation with customer messages and no such reply is
  **unanswered** and left out of FRT averages. (An agent who opens a conversation has not
  responded to anything; FRT counts from the customer's first message.)
- **Response time**: for each human reply that answers waiting customer messages, reply time −
  `waiting_since`, the first customer message after the previous human reply. A second human
  reply in a row answers nobody. `avg_response_s` is a conversation's mean; a report's mean,
  median and p90 are over replies.
- **Resolution time**: last message − first message, for conversations the source marks resolved
  (`status` resolved/closed/solved/done).
- **Percentiles** (median, p90) are continuous: linear interpolation between the two nearest
  values, as DuckDB's `quantile_cont` and numpy's default.
- At equal timestamps a customer message sorts before a reply, so a reply in the same second
  counts as 0 s.
- **CSAT %** (`csat_pct`): surveyed ratings of 4–5 / all surveyed ratings × 100 (the source's
  `csat_rating`). **Predicted CSAT %** (`predicted_csat_pct`): labeled conversations with
  predicted satisfaction 4–5 / labeled conversations × 100, reported separately, never mixed in.
- **Resolution rate** (`resolution_pct`): resolved / conversations whose resolution is known
  × 100; resolved is the source's status when it says so, else the labeler's verdict.
- **FCR %** (`fcr_pct`): first-contact resolutions / conversations whose resolution is known
  × 100, where a first-contact resolution is resolved, has exactly one human reply cycle, and
  its customer opens no new conversation within 7 days.
- **Sentiment** (`sentiment_mean`): mean over labeled conversations of the customer's sentiment
  (−1…1); `positive_pct`, `neutral_pct`, `negative_pct` split them at ±0.05.

The `overview` report gives, per period (and per org with `--by org`): `conversations, messages,
customers` (distinct), `unanswered, answered, frt_mean_s, frt_median_s, frt_p90_s, replies,
response_mean_s, response_median_s, response_p90_s, csat_pct, labeled, predicted_csat_pct,
resolution_pct, fcr_pct, sentiment_mean, positive_pct, neutral_pct, negative_pct,
metric_version`. The `topics` report gives, per period (and org), the top 10 topics, intents and
objections: `dimension, rank, value, conversations, share_pct` (share of the period's labeled
conversations). `period` is the ISO date of
the period's first day. The terminal table shows durations as `13m 46s`; JSON and CSV keep
seconds.

**Precision.** The same lake always gives a byte-identical report (JSON, CSV, table and the
MongoDB document): means are summed as decimals, so the order DuckDB's threads add them in does
not matter, and every float is rounded once, by column kind — durations (`*_s`, seconds) to 3
decimals (milliseconds), percentages (`*_pct`, 0–100) to 2, other floats (sentiment) to 4.
Counts are integers. The terminal table splits a wide report into sections that fit the
terminal, each repeating the period (and org) columns; a column that cannot fit at all is named
in a line pointing to `--format csv`.
"""
"""README's "Metric definitions" section, as Markdown (bold, italics, code, bullet lists)."""

CSS = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --band: #f5f7fa; --accent: #2f6fde; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: #fff; }
header, main, footer { max-width: 1200px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 28px; }
h1 { margin: 0 0 4px; font-size: 28px; }
h2 { margin: 36px 0 4px; font-size: 21px; border-bottom: 2px solid var(--accent); }
h3 { margin: 20px 0 6px; font-size: 16px; }
.subtitle, .description, footer { color: var(--muted); }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 12px 0; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; }
nav { margin: 12px 0; }
nav a { margin-right: 12px; color: var(--accent); text-decoration: none; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.card { flex: 1 1 160px; padding: 12px 16px; border-radius: 8px; background: var(--band);
  border-left: 4px solid var(--accent); }
.card .value { font-size: 24px; font-weight: 700; }
.card .label { color: var(--muted); }
figure { margin: 16px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); }
.scroll { max-height: 30rem; overflow: auto; border: 1px solid var(--line); }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { position: sticky; top: 0; background: #e4ebf5; text-align: left; vertical-align: bottom; }
th small { display: block; font-weight: 400; color: var(--muted); }
td.num, th.num { text-align: right; }
tbody tr:nth-child(even) { background: var(--band); }
p.empty, p.note { padding: 8px 12px; background: #fff8e1; border-left: 4px solid #f0b429; }
code { background: var(--band); padding: 0 3px; border-radius: 3px; }
footer { margin-top: 40px; padding-bottom: 28px; font-size: 13px; }
"""

UNSET = {
    "start_date": "earliest",
    "end_date": "latest",
    "org": "all",
    "by": "none",
    "compare": "none",
}
"""What a filter left unset means, for the page's header."""

UNIT_HINTS = {"seconds": "duration", "percent": "percent", "ratio": "ratio", "count": "count"}


@register
class HtmlExporter(Exporter):
    """``report.html``: charts, tables and metric definitions in one offline page."""

    name = "html"
    description = "one self-contained HTML page (charts, tables, metric definitions); opens offline"
    reports = REPORTS
    chart_format = "png"

    def export(self, ctx: ExportContext, dest: Destination) -> list[str]:
        """Draw the charts, write ``report.html``; return its path.

        Raises:
            LakeError: the destination cannot be written.
        """
        tables = sections(ctx)  # while the charts may still be drawn (exports.ahead)
        drawn = charts.draw(ctx, "png")
        add_empty_notes(ctx)
        return [dest.write("report.html", render(ctx, drawn, tables))]


def add_empty_notes(ctx: ExportContext) -> None:
    """Append one note per report with no rows to ``ctx.notes`` (once, however often called)."""
    for name, result in ctx.results.items():
        note = f"{name}: no rows — {result.note or NO_ROWS}"
        if not result.rows and note not in ctx.notes:
            ctx.notes.append(note)


def sections(ctx: ExportContext) -> str:
    """Return the page's report sections (a table per report, or why it has none).

    They read only the results and the notes of skipped reports, so an export renders them
    while its charts are still being drawn, and hands them to :func:`render`.
    """
    return "".join(_section(ctx, name) for name in _names(ctx))


def _names(ctx: ExportContext) -> list[str]:
    return list(dict.fromkeys([*REPORTS, *ctx.results]))


def render(ctx: ExportContext, drawn: list[tuple[str, bytes]], tables: str | None = None) -> bytes:
    """Return the page for ``ctx`` with the chart files ``drawn`` inlined, as UTF-8 bytes.

    Args:
        ctx: the export's results, filters, lake, time and notes.
        drawn: ``(file name, PNG bytes)`` per chart, in order (:func:`charts.draw`).
        tables: :func:`sections` of ``ctx`` rendered earlier, or None: rendered here.
    """
    names = _names(ctx)
    tables = sections(ctx) if tables is None else tables
    nav = "".join(
        f'<a href="#{i}">{escape(t)}</a>'
        for i, t in [("charts", "charts"), *((n, n) for n in names), ("notes", "notes")]
        + [("definitions", "metric definitions")]
    )
    title = f"Conversation analytics · {ctx.subtitle()}"
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{CSS}</style>
</head>
<body>
<header>
<section id="summary">
<h1>Conversation analytics</h1>
<p class="subtitle">{escape(ctx.subtitle())}</p>
{_meta(ctx)}
{_cards(ctx)}
</section>
<nav>{nav}</nav>
</header>
<main>
{_charts(drawn)}
{tables}
{_notes(ctx)}
<section id="definitions">
<h2>Metric definitions (version {ctx.metric_version})</h2>
{markdown(METRIC_DEFINITIONS)}
</section>
</main>
<footer>{escape(_footer(ctx))}</footer>
</body>
</html>
"""
    return page.encode("utf-8")


def _when(ctx: ExportContext) -> str:
    return f"{ctx.generated_at:%Y-%m-%d %H:%M:%S} UTC"


def _footer(ctx: ExportContext) -> str:
    return f"Generated {_when(ctx)} from {ctx.lake_uri} · metric definitions v{ctx.metric_version}"


def _meta(ctx: ExportContext) -> str:
    rows = [
        ("lake", ctx.lake_uri),
        ("generated", _when(ctx)),
        ("metric definitions", f"version {ctx.metric_version}"),
        *(
            (k.replace("_", " "), UNSET.get(k, "–") if v is None else str(v))
            for k, v in ctx.filters.items()
        ),
    ]
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    return f'<dl class="meta">{items}</dl>'


def _cards(ctx: ExportContext) -> str:
    overview = ctx.results.get("overview")
    if overview is None or not overview.rows or ctx.filters.get("by"):
        return ""
    latest = overview.rows[-1]
    cards = "".join(
        f'<div class="card"><div class="value">{escape(format_value(col, latest[c]))}</div>'
        f'<div class="label">{escape(col.label)}</div></div>'
        for c in HEADLINE
        if c in overview.columns
        for col in [overview.column(c)]
    )
    when = f"latest period, {latest.get('period')}"
    return f'<p class="description">{escape(when)}</p><div class="cards">{cards}</div>'


def _charts(drawn: list[tuple[str, bytes]]) -> str:
    figures = []
    for name, data in drawn:
        caption = re.sub(r"^\d+_", "", name.rsplit(".", 1)[0]).replace("_", " ")
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        figures.append(
            f'<figure><img src="{uri}" alt="{escape(caption)}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>"
        )
    body = "".join(figures) or '<p class="empty">No charts were drawn (see the notes).</p>'
    return f'<section id="charts"><h2>Charts</h2>{body}</section>'


def _section(ctx: ExportContext, name: str) -> str:
    result = ctx.results.get(name)
    spec = next((r for r in CATALOG if r.name == name), None)
    about = f'<p class="description">{escape(spec.description)}</p>' if spec else ""
    head = f'<section id="{escape(name)}"><h2>{escape(name)}</h2>{about}'
    if result is None:
        why = next((n for n in ctx.notes if n.startswith(f"{name}:")), f"{name}: not computed")
        return f'{head}<p class="empty">{escape(why)}</p></section>'
    if not result.rows:
        return f'{head}<p class="empty">No rows: {escape(result.note or NO_ROWS)}.</p></section>'
    note = f'<p class="note">{escape(result.note)}</p>' if result.note else ""
    if "section" not in result.keys:
        return f"{head}{note}{_table(result, result.rows, shown_columns(result))}</section>"
    parts = []
    for part in dict.fromkeys(r["section"] for r in result.rows):
        rows = [r for r in result.rows if r["section"] == part]
        columns = [
            c
            for c in shown_columns(result, rows)
            if c != "section" and any(r.get(c) is not None for r in rows)
        ]
        parts.append(f"<h3>{escape(str(part))}</h3>{_table(result, rows, columns)}")
    return f"{head}{note}{''.join(parts)}</section>"


def _table(result: ReportResult, rows: list[dict], columns: list[str]) -> str:
    meta = {c: result.column(c) for c in columns}
    numeric = {c for c, m in meta.items() if m.unit in UNIT_HINTS}
    head = "".join(
        f'<th{" class=num" if c in numeric else ""} title="{escape(m.description or m.name)}">'
        f"{escape(m.label)}"
        + (f"<small>{UNIT_HINTS[m.unit]}</small>" if c in numeric else "")
        + "</th>"
        for c, m in meta.items()
    )
    # one formatter and one opening tag per column, chosen once for all the rows
    cells = [("<td class=num>" if c in numeric else "<td>", c, formatter(meta[c])) for c in columns]
    body = "".join(
        "<tr>"
        + "".join(f"{tag}{escape(show(row.get(c)))}</td>" for tag, c, show in cells)
        + "</tr>"
        for row in rows
    )
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _notes(ctx: ExportContext) -> str:
    items = "".join(f"<li>{escape(n)}</li>" for n in ctx.notes) or "<li>none</li>"
    return f'<section id="notes"><h2>Notes</h2><ul>{items}</ul></section>'


def markdown(text: str) -> str:
    """Return the little Markdown of :data:`METRIC_DEFINITIONS` as HTML.

    Paragraphs and ``- `` bullet lists (continuation lines indented), with ``**bold**``,
    ``*italics*`` and ```code```; everything else is escaped text.
    """
    out = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        if lines[0].startswith("- "):
            items: list[str] = []
            for line in lines:
                if line.startswith("- "):
                    items.append(line[2:])
                else:
                    items[-1] += " " + line.strip()
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
        else:
            out.append(f"<p>{_inline(' '.join(line.strip() for line in lines))}</p>")
    return "\n".join(out)


def _inline(text: str) -> str:
    parts = text.split("`")
    for i, part in enumerate(parts):
        part = escape(part)
        if i % 2:
            parts[i] = f"<code>{part}</code>"
        else:
            part = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", part)
            parts[i] = re.sub(r"\*(.+?)\*", r"<em>\1</em>", part)
    return "".join(parts)
