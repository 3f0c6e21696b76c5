"""Charts through the CLI: ``analytics export --format png|svg`` over the bundled sample.

Two lakes, built once per module: the bundled Twitter sample labeled by the local labeler
(``collect`` labels unless ``--no-enrich``), and the same plus the hand-built Mochi leads of
``tests/test_funnel.py`` so that the stage funnel (and the new-leads line) has rows.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from analytics_cli.app import app
from analytics_framework.exports import charts
from analytics_framework.exports.plots import duration_unit, needs_log_scale
from tests.test_funnel import LEADS

runner = CliRunner()
NAMES = [
    "01_conversations",
    "02_response_times",
    "03_activity_heatmap",
    "04_agents",
    "05_topics",
    "06_sentiment",
    "07_retention",
    "08_stage_funnel",
    "09_leaderboard",
    "10_objections",
    "11_scripts",
    "12_personas",
    "13_languages",
]
SVG = "{http://www.w3.org/2000/svg}"


def invoke(*args: str):
    return runner.invoke(app, list(args))


def ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """``sample``: the labeled bundled sample; ``mochi``: the sample plus five staged leads."""
    built = {}
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("ANALYTICS_")]:
            mp.delenv(key)
        for name in ("sample", "mochi"):
            home = tmp_path_factory.mktemp(name)
            mp.chdir(home)
            ok(invoke("collect", "--provider", "local"))
            if name == "mochi":
                Path("export.json").write_text(json.dumps(LEADS), encoding="utf-8")
                ok(invoke("collect", "--source", "mochi", "export.json", "--no-enrich"))
                ok(invoke("scripts"))
                ok(invoke("personas"))
                ok(invoke("translate"))
            built[name] = home
        yield built


@pytest.fixture
def sample(lakes: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(lakes["sample"])
    return lakes["sample"]


@pytest.fixture
def staged(lakes: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(lakes["mochi"])
    return lakes["mochi"]


def export(out: Path, *args: str):
    result = invoke("export", "--output", str(out), *args)
    assert result.exit_code == 0, result.output
    return result


def not_blank(path: Path) -> None:
    """More than one colour, and a meaningful share of pixels that are not the background."""
    image = Image.open(path).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 24)
    assert colours is not None and len(colours) > 50, path
    background = max(colours)[0]
    assert 1 - background / (image.width * image.height) > 0.03, path


def test_png_writes_the_numbered_set_at_1600x900(staged, tmp_path):
    result = export(tmp_path / "charts", "--format", "png")
    written = sorted(p.name for p in (tmp_path / "charts").iterdir())
    assert written == [f"{n}.png" for n in NAMES]
    assert [Path(line).name for line in result.stdout.split()] == written
    for path in sorted((tmp_path / "charts").iterdir()):
        assert Image.open(path).size == (1600, 900), path
        not_blank(path)
    assert "skipped" not in result.stderr


def test_a_chart_for_an_empty_report_is_skipped_with_a_note(sample, tmp_path):
    result = export(tmp_path / "charts", "--format", "png")
    written = sorted(p.stem for p in (tmp_path / "charts").iterdir())
    built = ("08_stage_funnel", "11_scripts", "12_personas", "13_languages")
    assert written == [n for n in NAMES if n not in built]
    stderr = " ".join(result.stderr.split())
    assert "08_stage_funnel skipped: funnel has no rows" in stderr
    assert "stages come from --source mochi" in stderr
    assert "scripts: skipped — report scripts needs scripts" in stderr  # not built here
    assert "analytics personas" in stderr
    assert "9 file(s) written" in stderr
    assert "analytics translate" in stderr


def test_svg_is_valid_and_titles_say_period_zone_and_filters(staged, tmp_path):
    export(
        tmp_path / "svg",
        "--format",
        "svg",
        "--period",
        "monthly",
        "--timezone",
        "Europe/Berlin",
        "--by",
        "org",
    )
    files = sorted((tmp_path / "svg").iterdir())
    assert [p.name for p in files] == [f"{n}.svg" for n in NAMES]
    for path in files:
        root = ET.parse(path).getroot()
        assert root.tag == f"{SVG}svg"
        text = " ".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))
        assert "monthly · Europe/Berlin · by org" in text, path.name
        assert "metric definitions v1" in text, path.name


def test_dpi_scales_the_png(sample, tmp_path):
    export(tmp_path / "small", "--format", "png", "--dpi", "50")
    sizes = {Image.open(p).size for p in (tmp_path / "small").iterdir()}
    assert sizes == {(800, 450)}


def test_the_same_lake_draws_the_same_files(staged, tmp_path, monkeypatch):
    """The job's context (fixed generated_at) drawn twice gives byte-identical files."""
    seen = []
    draw = charts.draw
    monkeypatch.setattr(charts, "draw", lambda ctx, fmt="png": seen.append(ctx) or draw(ctx, fmt))
    export(tmp_path / "a", "--format", "svg", "--start-date", "2017-10-01")
    (ctx,) = seen
    assert "2017-10-01 to …" in ctx.subtitle()
    for fmt in ("svg", "png"):
        assert draw(ctx, fmt) == draw(ctx, fmt)
    assert dict(draw(ctx, "svg")) == {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}


def test_an_unknown_format_is_one_line_and_exit_2(sample, tmp_path):
    result = invoke("export", "--format", "gif", "--output", str(tmp_path / "x"))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "unknown export format 'gif'" in lines[0], result.output
    assert "png" in lines[0] and "svg" in lines[0]
    assert not (tmp_path / "x").exists()


def test_draw_refuses_other_formats():
    with pytest.raises(ValueError, match="png or svg"):
        charts.draw(None, "gif")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "unit"),
    [
        ([], "s"),
        ([None, 0.0], "s"),
        ([5.0, 30.0, 119.0], "s"),
        ([120.0], "min"),
        ([300.0, 900.0, 3000.0], "min"),
        ([7199.0], "min"),
        ([7200.0, 20000.0], "h"),
        ([172799.0], "h"),
        ([172800.0, 900000.0], "d"),
        ([300.0, 400.0, 194839724.0], "min"),  # one six-year-old thread does not decide
    ],
)
def test_duration_axis_unit_follows_the_typical_value(seconds, unit):
    chosen, size = duration_unit(seconds)
    assert chosen == unit
    assert size == {"s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}[unit]


@pytest.mark.parametrize(
    ("seconds", "log"),
    [([], False), ([10.0, 900.0], False), ([10.0, 1001.0], True), ([None, 0.0, 5.0], False)],
)
def test_a_duration_axis_goes_log_beyond_two_decades(seconds, log):
    assert needs_log_scale(seconds) is log
