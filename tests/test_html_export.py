"""The HTML report, opened in a real headless Chromium; and the exports' bad-input errors.

Chromium is Debian's ``chromium`` (``.ci/run`` installs it). Without it these tests fail, saying
to install it: an HTML report no browser has opened is not tested.

``UPDATE_DOCS_SCREENSHOT=1 uv run pytest tests/test_html_export.py`` also copies the screenshot
of the bundled sample's report to ``docs/images/html_report.png`` for the README.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from PIL import Image
from typer.testing import CliRunner

from analytics_cli.app import app
from analytics_framework.exports import ExportContext, get_exporter
from analytics_framework.exports.html import METRIC_DEFINITIONS, REPORTS, render

REPO = Path(__file__).resolve().parents[1]
SCREENSHOT = REPO / "docs" / "images" / "html_report.png"
FIXED_SECTIONS = ("summary", "charts", "notes", "definitions")
runner = CliRunner()

# After load, write what the browser made of the page into the DOM, where --dump-dom shows it.
PROBE = """<script>
window.addEventListener("load", () => {
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({
    images: [...document.images].map((i) => ({
      data: i.getAttribute("src").startsWith("data:image/png;base64,"),
      complete: i.complete,
      width: i.naturalWidth,
    })),
    sections: [...document.querySelectorAll("section[id]")].map((s) => s.id),
  });
  document.body.appendChild(out);
});
</script>"""


def invoke(*args: str):
    return runner.invoke(app, list(args))


def chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    """Run headless Chromium with a throw-away profile; fail (not skip) when it is missing."""
    exe = shutil.which("chromium") or shutil.which("/usr/bin/chromium")
    if exe is None:
        pytest.fail(
            "Debian's chromium is not installed: the HTML report tests open the report in it; "
            "install it with 'apt-get install chromium' (.ci/run does)"
        )
    profile = tmp / "chromium-profile"
    cmd = [
        exe,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *args,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def rendered(tmp: Path, page: Path) -> dict:
    """Return what Chromium made of ``page`` after load: its images and section ids."""
    probe = tmp / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"))
    dom = chromium(tmp, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def screenshot(tmp: Path, page: Path) -> Image.Image:
    shot = tmp / "shot.png"
    chromium(tmp, f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri())
    return Image.open(shot).convert("RGB")


def assert_not_blank(image: Image.Image) -> None:
    colours = image.getcolors(maxcolors=1 << 24)
    assert colours is not None and len(colours) > 50, "the screenshot has almost no colours"
    white = sum(n for n, rgb in colours if min(rgb) >= 250)
    assert white / (image.width * image.height) < 0.97, "the screenshot is (nearly) all white"


def test_html_report_of_the_bundled_sample_renders_in_chromium(in_tmp):
    assert invoke("collect").exit_code == 0
    result = invoke("export", "--format", "html", "--output", "out")
    assert result.exit_code == 0, result.output
    page = in_tmp / "out" / "report.html"
    assert str(page) in result.stdout
    text = page.read_text(encoding="utf-8")

    # self-contained: nothing to fetch (no URL in an attribute or a style, no script, no
    # stylesheet or font); a customer's quoted words may hold a link as text, escaped in a cell
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*https?:|url\(\s*["']?https?:""", text)
    outside_cells = re.sub(r"<td[^>]*>.*?</td>", "", text, flags=re.DOTALL)
    assert not re.search(r"https?://", outside_cells), re.search(r".{60}https?://.{60}", text)
    assert "<script" not in text and "<link" not in text and "@import" not in text
    assert all(s.startswith("data:image/png;base64,") for s in re.findall(r'src="([^"]*)"', text))

    # the context people need to read it
    assert f"{in_tmp / 'lake'}" in text and "metric definitions v1" in text
    assert "weekly" in text and "UTC" in text
    assert "First response time (FRT)" in text and "<strong>FCR %</strong>" in text

    probe = rendered(in_tmp, page)
    for section in (*FIXED_SECTIONS, *REPORTS):
        assert section in probe["sections"], section
    assert probe["images"] == [
        {"data": True, "complete": True, "width": probe["images"][i]["width"]}
        for i in range(len(probe["images"]))
    ]
    assert all(img["width"] > 0 for img in probe["images"]), probe["images"]
    assert len(probe["images"]) == text.count("<figure>")

    image = screenshot(in_tmp, page)
    assert image.size == (1280, 2000)
    assert_not_blank(image)
    if os.environ.get("UPDATE_DOCS_SCREENSHOT"):
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        image.quantize(colors=256).save(SCREENSHOT, optimize=True)


def test_tables_use_labels_and_people_units_and_an_empty_report_is_one_line(in_tmp):
    assert invoke("collect").exit_code == 0
    args = ("--start-date", "2017-10-23", "--end-date", "2017-11-06", "--output", "out")
    assert invoke("export", "--format", "html", *args).exit_code == 0
    text = (in_tmp / "out" / "report.html").read_text(encoding="utf-8")
    overview = re.search(r'<section id="overview">(.*?)</section>', text, re.S).group(1)
    assert ">FRT p50<small>duration</small></th>" in overview
    assert ">reply rate %<small>percent</small></th>" in overview
    assert re.search(r"<td class=num>\d+m \d\ds</td>", overview)  # 13m 46s, not 826.0
    assert re.search(r"<td class=num>\d+\.\d %</td>", overview)
    assert "metric_version" not in overview and "frt_median_s" not in overview.split("title=")[0]
    # the bundled sample has no Mochi stage changes: the funnel is one line, not an empty table
    funnel = re.search(r'<section id="funnel">(.*?)</section>', text, re.S).group(1)
    assert "<table" not in funnel and 'class="empty"' in funnel and "stage" in funnel
    assert "funnel: no rows" in re.search(r'<section id="notes">(.*?)</section>', text, re.S)[1]


def test_a_rendered_chart_decodes_in_the_browser(tmp_path):
    png = io.BytesIO()
    Image.new("RGB", (64, 36), "#0072B2").save(png, format="PNG")
    ctx = ExportContext({}, "/lake", datetime(2024, 3, 4, tzinfo=UTC), {"period": "weekly"})
    page = tmp_path / "report.html"
    page.write_bytes(render(ctx, [("01_conversations.png", png.getvalue())]))
    probe = rendered(tmp_path, page)
    assert probe["images"] == [{"data": True, "complete": True, "width": 64}]
    assert "overview" in probe["sections"]  # a report not computed still has its section
    assert "overview: not computed" in page.read_text()


def test_readme_metric_definitions_are_the_ones_the_html_report_shows():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Metric definitions (version 1)\n", 1)[1].split("\n## ", 1)[0]
    assert section.strip() == METRIC_DEFINITIONS.strip(), (
        "README's Metric definitions and analytics_framework/exports/html.py's "
        "METRIC_DEFINITIONS differ: change both"
    )


# ---- bad input, for every format of this module and its siblings --------------------------------

FORMATS = ("html", "zip", "framer-csv")


def one_error_line(result, *needles: str) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and lines[0].isprintable(), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def tiny_lake(tmp_path_factory) -> Path:
    """A two-conversation lake, collected through the CLI without labels."""
    tmp = tmp_path_factory.mktemp("tiny")
    rows = [
        {"conversation_id": "a", "sent_at": "2024-03-04T09:00:00Z", "role": "customer"},
        {"conversation_id": "a", "sent_at": "2024-03-04T09:05:00Z", "role": "agent"},
        {"conversation_id": "b", "sent_at": "2024-03-05T10:00:00Z", "role": "customer"},
    ]
    full = [{**r, "text": "t", "org_id": "acme", "sender_id": r["role"]} for r in rows]
    pl.DataFrame(full).write_ndjson(tmp / "in.jsonl")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp)
        args = ("collect", "--source", "files", "in.jsonl", "--no-enrich", "--lake", "lake")
        assert invoke(*args).exit_code == 0
    return tmp / "lake"


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_unwritable_output_is_one_line_naming_it(in_tmp, tiny_lake, fmt):
    get_exporter(fmt)
    (in_tmp / "afile").write_text("a regular file, not a folder")
    args = ("--format", fmt, "--lake", str(tiny_lake), "--output", "afile/out")
    one_error_line(invoke("export", *args), "afile/out")


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_empty_lake_is_one_line(in_tmp, fmt):
    (in_tmp / "empty").mkdir()
    result = invoke("export", "--format", fmt, "--lake", "empty", "--output", "out")
    one_error_line(result, "no conversations", "analytics collect")
    assert not (in_tmp / "out").exists()
