"""The ``zip`` format: one archive with every report's data, the charts and the HTML page.

``analytics-<period>-<generated date>.zip`` holds, in this order:

- ``manifest.json``: every other file with its SHA-256 and size in bytes, the metric-definition
  version, the filters, ``generated_at`` (ISO 8601, UTC), the lake and the notes;
- ``report.html``: the page of the ``html`` format (:mod:`.html`), charts inlined;
- ``charts/NN_name.png``: the charts (:func:`analytics_framework.exports.charts.draw`);
- ``reports/<name>.csv`` and ``reports/<name>.json``: each report's own
  :meth:`~analytics_framework.reports.ReportResult.to_csv` / ``to_json``, byte for byte what
  ``analytics report NAME --format csv|json`` prints with the same options.

Entries are sorted within each group and stamped with the generation time, so the same export
context gives the same archive.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC

from analytics_framework.exports import charts, html, register
from analytics_framework.exports.base import Destination, ExportContext, Exporter


@register
class ZipExporter(Exporter):
    """A ZIP bundle: JSON + CSV per report, charts, ``report.html`` and a manifest."""

    name = "zip"
    description = "a ZIP bundle: JSON and CSV of every report, charts, report.html, manifest.json"
    reports = html.REPORTS
    chart_format = "png"

    def export(self, ctx: ExportContext, dest: Destination) -> list[str]:
        """Build the bundle and write it; return its path.

        Raises:
            LakeError: the destination cannot be written.
        """
        return [dest.write(bundle_name(ctx), bundle(ctx))]


def bundle_name(ctx: ExportContext) -> str:
    """Return ``analytics-<period>-<generated date>.zip`` (the date in UTC)."""
    day = ctx.generated_at.astimezone(UTC).date().isoformat()
    return f"analytics-{ctx.filters.get('period') or 'report'}-{day}.zip"


def bundle(ctx: ExportContext) -> bytes:
    """Return the archive's bytes for ``ctx`` (charts drawn and notes added on the way)."""
    tables: dict[str, bytes] = {}  # first, while charts may still be drawn (exports.ahead)
    for name in sorted(ctx.results):
        result = ctx.results[name]
        tables[f"reports/{name}.csv"] = result.to_csv().encode("utf-8")
        tables[f"reports/{name}.json"] = result.to_json().encode("utf-8")
    sections = html.sections(ctx)
    drawn = charts.draw(ctx, "png")
    html.add_empty_notes(ctx)
    files: dict[str, bytes] = {"report.html": html.render(ctx, drawn, sections)}
    files.update((f"charts/{name}", data) for name, data in sorted(drawn))
    files.update(tables)
    entries = {"manifest.json": manifest(ctx, files), **files}
    stamp = ctx.generated_at.astimezone(UTC).timetuple()[:6]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in entries.items():
            info = zipfile.ZipInfo(path, date_time=max(stamp, (1980, 1, 1, 0, 0, 0)))
            # a PNG is deflated already: deflating it again costs CPU and saves nothing
            stored = path.endswith(".png")
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buf.getvalue()


def manifest(ctx: ExportContext, files: dict[str, bytes]) -> bytes:
    """Return ``manifest.json``: what the bundle holds and where it came from.

    Args:
        ctx: the export's filters, lake, time, version and notes.
        files: path in the archive → its bytes (the manifest itself not among them).
    """
    doc = {
        "metric_version": ctx.metric_version,
        "generated_at": ctx.generated_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "lake": ctx.lake_uri,
        "filters": ctx.filters,
        "reports": {
            name: {"rows": len(r.rows), **({"note": r.note} if r.note else {})}
            for name, r in sorted(ctx.results.items())
        },
        "notes": ctx.notes,
        "files": [
            {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for path, data in files.items()
        ],
    }
    return (json.dumps(doc, indent=2, default=str) + "\n").encode("utf-8")
