"""The ``framer-csv`` format: the overview as a CSV that Framer CMS imports as a collection.

One row per CMS item, and an item is what one page shows: one period of the ``overview`` report,
or with ``--by org`` one period of one organisation. The columns are, in order:

- ``Slug``: the period's first day, with the org when there is one (``--by org``, or ``--org``):
  ``2024-03-04``, ``2024-03-04-applesupport`` — lowercase ASCII, hyphenated
  (:func:`~.formatting.slugify`), derived only from the row's period and org, so re-importing
  an export updates the same items. Two orgs that slugify alike get ``-2``, ``-3`` … in report
  order (org ids sorted), and an org with no ASCII letters a short hash of its id.
- ``Title``: ``Week of 4 Mar 2024 · AppleSupport`` (``Mon 4 Mar 2024`` daily, ``March 2024``
  monthly; :func:`~.formatting.period_title`).
- one column per metric, headed by the column's label (``FRT p50``, ``reply rate %``), its values
  written for display (``13m 46s``, ``42.5 %``, ``1,234``; :func:`~.formatting.format_value`),
  empty where the report has none. With ``--compare previous`` the previous values and changes
  follow as their own columns.

The file is ``framer-overview-<period>[-by-org].csv``, UTF-8 without BOM, comma-separated: the
same name every time, so a re-export replaces it.
"""

from __future__ import annotations

import csv
import hashlib
import io

from analytics_framework.exports import register
from analytics_framework.exports.base import Destination, ExportContext, Exporter
from analytics_framework.exports.formatting import format_value, period_title, slugify
from analytics_framework.reports import ReportResult

REPORT = "overview"


@register
class FramerExporter(Exporter):
    """A Framer CMS collection CSV: one item per period (and org) of the overview."""

    name = "framer-csv"
    description = "a Framer CMS CSV: one item per period (and org) of the overview, for display"
    reports = {REPORT: {}}

    def export(self, ctx: ExportContext, dest: Destination) -> list[str]:
        """Write the collection CSV; return its path.

        Raises:
            LakeError: the destination cannot be written.
        """
        result = ctx.results[REPORT]
        if not result.rows:
            ctx.notes.append(f"{REPORT}: no rows — {result.note or 'no conversations match'}")
        by = "-by-" + slugify(str(ctx.filters["by"])) if ctx.filters.get("by") else ""
        name = f"framer-{REPORT}-{ctx.filters.get('period') or 'report'}{by}.csv"
        return [dest.write(name, collection(ctx, result).encode("utf-8"))]


def collection(ctx: ExportContext, result: ReportResult) -> str:
    """Return the CSV text: ``Slug``, ``Title``, then one display column per metric."""
    metrics = [c for c in result.columns if c not in result.keys and c != "metric_version"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["Slug", "Title", *(result.column(c).label for c in metrics)])
    seen: set[str] = set()
    for row in result.rows:
        org = row.get("org_id") if "org_id" in result.columns else ctx.filters.get("org")
        if ctx.filters.get("by") == "org" and org is None:
            org = "no org"
        slug = _unique(row["period"] + (f"-{_org_slug(org)}" if org is not None else ""), seen)
        title = period_title(result.period, row["period"]) + (f" · {org}" if org else "")
        cells = [format_value(result.column(c), row.get(c), missing="") for c in metrics]
        writer.writerow([slug, title, *cells])
    return buf.getvalue()


def _org_slug(org: str) -> str:
    return slugify(org) or "org-" + hashlib.sha256(org.encode()).hexdigest()[:8]


def _unique(slug: str, seen: set[str]) -> str:
    candidate, n = slug, 1
    while candidate in seen:
        n += 1
        candidate = f"{slug}-{n}"
    seen.add(candidate)
    return candidate
