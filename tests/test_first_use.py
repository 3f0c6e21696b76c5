"""What a new user meets first: a bare clone, another lake, signals, bad places, help, MongoDB.

Each test is one defect a newcomer hit (issue 9), run through the CLI as the user ran it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from analytics_cli.app import app
from analytics_framework.storage.state_store import default_state_path

REPO = Path(__file__).resolve().parents[1]
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("ANALYTICS_", "MONGODB_"))}
runner = CliRunner()


def invoke(*args: str, env: dict | None = None):
    return runner.invoke(app, list(args), env=env)


def one_error_line(result, code: int, *needles: str) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def cli(cwd: Path, *args: str, env: dict | None = None, timeout: float = 300):
    return subprocess.run(
        [sys.executable, "-m", "analytics_cli", *args],
        cwd=cwd,
        env={**ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def spawn(cwd: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "analytics_cli", *args],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def write_jsonl(path: Path, messages: int, per_conversation: int = 4) -> Path:
    """A canonical JSONL (files source) of ``messages`` messages, customers and agents in turn."""
    pl.select(i=pl.int_range(0, messages)).with_columns(
        conversation_id=(pl.col("i") // per_conversation).cast(pl.String),
        sent_at=(
            pl.datetime(2024, 1, 1, time_zone="UTC") + pl.duration(seconds=pl.col("i") * 7)
        ).dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        role=pl.when(pl.col("i") % 2 == 0).then(pl.lit("customer")).otherwise(pl.lit("agent")),
        text=pl.lit("hello, my order is late"),
    ).drop("i").write_ndjson(path)
    return path


# ---- 1. a clone on its own ---------------------------------------------------------------------


def test_tests_read_nothing_outside_the_repository():
    outside = re.compile(r"parents\[[2-9]\]|['\"]\.\./|['\"]shared['\"]")
    offenders = [
        f"{p.relative_to(REPO)}:{n}"
        for p in (REPO / "tests").rglob("*.py")
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if outside.search(line) and p.name != "test_first_use.py"
    ]
    assert offenders == []
    for folder in [REPO / "tests" / "data", *(REPO / "tests" / "data").iterdir()]:
        if folder.is_dir():
            assert (folder / "SOURCE.txt").is_file(), folder  # provenance travels with the data
    assert (REPO / "tests" / "data" / "twcs" / "twcs_kaggle_sample.csv").is_file()
    assert (REPO / "tests" / "data" / "abcd" / "LICENSE").is_file()


# ---- 2. one state per lake ---------------------------------------------------------------------


def test_a_run_against_another_lake_loads_that_lake(in_tmp):
    assert invoke("run", "--no-enrich").exit_code == 0
    other = in_tmp / "other" / "lake"
    result = invoke("run", "--no-enrich", "--lake", str(other), "--format", "json")
    assert result.exit_code == 0, result.output
    assert "nothing to do" not in result.output
    assert "1,312" in result.output  # every thread loaded into the new lake too
    report = invoke("report", "--lake", str(other), "--period", "monthly", "--format", "json")
    assert report.exit_code == 0, report.output
    assert sum(r["conversations"] for r in json.loads(report.stdout)["rows"]) == 1312
    # each lake has its own state, and each state names its lake
    first = default_state_path("state", "twcs", "./lake")
    second = default_state_path("state", "twcs", str(other))
    assert first != second
    assert json.loads(first.read_text())["lake"] == str(in_tmp / "lake")
    assert json.loads(second.read_text())["lake"] == str(other)
    # the first lake's state is unchanged: it still says nothing is new for that lake
    again = invoke("collect", "--no-enrich")
    assert again.exit_code == 0 and "nothing to do" in again.stdout


def test_a_state_file_of_another_lake_is_refused(in_tmp):
    assert invoke("collect", "--no-enrich", "--state-file", "s.json").exit_code == 0
    before = (in_tmp / "s.json").read_text()
    result = invoke("collect", "--no-enrich", "--state-file", "s.json", "--lake", "elsewhere")
    line = one_error_line(result, 2, "s.json", str(in_tmp / "lake"), str(in_tmp / "elsewhere"))
    assert "--lake" in line
    assert not (in_tmp / "elsewhere").exists()  # nothing was written to the other lake
    assert (in_tmp / "s.json").read_text() == before
    status = invoke("status", "--state-file", "s.json", "--lake", "elsewhere")
    one_error_line(status, 2, "describes the lake")


# ---- 4. advice that works when pasted ----------------------------------------------------------


def test_stopped_collect_advice_and_status_repeat_every_option(tmp_path):
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    write_jsonl(work / "huge.jsonl", 40_000)
    args = ["collect", "--source", "files", "huge.jsonl", "--lake", "L", "--no-enrich"]
    proc = spawn(work, *args, "--state-file", "S.json", "--batch-size", "20")
    wait_for(work / "S.json.lock.json")
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    advice = err.split("continue with: ", 1)[1].strip()
    words = shlex.split(advice)
    for option, value in (
        ("--source", "files"),
        ("--lake", str(work / "L")),
        ("--state-file", str(work / "S.json")),
    ):
        assert words[words.index(option) + 1] == value, advice
    assert str(work / "huge.jsonl") in words and words[-1] == "--resume"
    status = cli(work, "status", "--state-file", "S.json", "--lake", "L", "--format", "json")
    assert json.loads(status.stdout)["pipelines"][0]["interrupted"]["resume"] == advice
    # pasted as it is, from another folder, it finishes the load
    resumed = cli(elsewhere, *words[1:], "--no-enrich")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed after batch" in resumed.stdout
    assert not (elsewhere / "lake").exists() and not (elsewhere / "state").exists()


# ---- 6, 7. places that cannot hold a state ------------------------------------------------------


def test_state_on_a_read_only_filesystem_is_one_line(tmp_path):
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare to mount a read-only filesystem")
    ro = tmp_path / "ro"
    ro.mkdir()
    command = (
        f"mount -t tmpfs -o ro tmpfs {shlex.quote(str(ro))} && "
        f"{shlex.quote(sys.executable)} -m analytics_cli collect --no-enrich "
        f"--state-file {shlex.quote(str(ro / 'state' / 's.json'))}"
    )
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("this machine does not allow mount namespaces")
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", command],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, done.stderr
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "Read-only file system" in lines[0] and "--state-file" in lines[0]


def test_state_in_a_place_that_cannot_be_created_is_one_line(in_tmp):
    (in_tmp / "a-file").write_text("not a folder")
    result = invoke("collect", "--no-enrich", "--state-file", "a-file/state/s.json")
    one_error_line(result, 1, "a-file/state/s.json.lock", "--state-file")


def test_state_reset_of_a_folder_says_so_and_deletes_nothing(in_tmp):
    folder = in_tmp / "some-folder"
    folder.mkdir()
    (folder / "keep.txt").write_text("x")
    result = invoke("state", "reset", "--yes", "--state-file", str(folder))
    one_error_line(result, 2, "is a folder", "--state-file")
    assert (folder / "keep.txt").exists()
    one_error_line(invoke("state", "show", "--state-file", str(folder)), 2, "is a folder")


# ---- 8, 14. Ctrl-C -----------------------------------------------------------------------------


def test_ctrl_c_during_start_up_exits_130_without_a_traceback(tmp_path):
    # -X importtime reports each import as it finishes: signal in the middle of the imports.
    # `report` loads the data libraries (status without a state no longer does)
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "analytics_cli", "report", "overview"],
        cwd=tmp_path,
        env=ENV,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.rsplit("|", 1)[-1].strip() == "polars":
            break
    else:
        pytest.fail("polars was never imported")
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    proc.wait(timeout=60)
    assert proc.returncode == 130, rest
    assert "Traceback" not in rest and "KeyboardInterrupt" not in rest


def test_second_ctrl_c_during_a_long_read_aborts_at_once(tmp_path):
    write_jsonl(tmp_path / "huge.jsonl", 1_500_000)  # its read and sort take several seconds
    args = ("collect", "--source", "files", "huge.jsonl", "--no-enrich", "--state-file", "s.json")
    proc = spawn(tmp_path, *args)
    wait_for(tmp_path / "s.json.lock.json")
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    second = time.monotonic()
    _, err = proc.communicate(timeout=120)
    took = time.monotonic() - second
    assert proc.returncode == 130, err
    assert took < 3.0, f"the second Ctrl-C took {took:.1f} s to end the run"
    assert "stopping after the current batch" in err and "again: aborted" in err
    assert "Traceback" not in err
    again = cli(tmp_path, *args)  # the next run takes the lock over and completes
    assert again.returncode == 0, again.stderr
    assert "375,000" in again.stdout  # conversations written


# ---- 10. MongoDB down --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_mongodb_fails_fast_and_only_where_it_is_needed(in_tmp):
    assert invoke("collect", "--no-enrich").exit_code == 0
    port = free_port()
    uri = f"mongodb://analyst:s3cret-pw@127.0.0.1:{port}/"
    env = {"MONGODB_URI": uri, "ANALYTICS_MONGODB_TIMEOUT_S": "1"}
    t0 = time.monotonic()
    result = invoke("collect", "--no-enrich", "--full-refresh", env=env)
    assert time.monotonic() - t0 < 8
    line = one_error_line(result, 1, f"127.0.0.1:{port}", "analyst:***@", "--no-mongodb")
    assert "s3cret-pw" not in result.output and "Topology" not in line and len(line) < 400
    # reading a report needs only the lake
    report = invoke("report", "--period", "monthly", "--format", "csv", env=env)
    assert report.exit_code == 0, report.output
    assert report.stdout.startswith("period,")
    # saving it needs MongoDB: the report is still printed, then one line says why it failed
    saved = invoke("report", "--period", "monthly", "--format", "csv", "--save", env=env)
    assert saved.stdout.startswith("period,")
    one_error_line(saved, 1, "cannot reach MongoDB", "analyst:***@")
    assert invoke("status", env=env).exit_code == 0


def test_doctor_names_the_base_url_of_the_provider_it_checks(in_tmp):
    env = {
        "OPENAI_API_KEY": "sk-test-not-real",
        "OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
        "ANALYTICS_LLM_TIMEOUT_S": "2",
    }
    result = invoke("doctor", "--provider", "openai", env=env)
    assert result.exit_code == 1
    text = " ".join(result.stdout.split())
    assert "OPENAI_BASE_URL" in text and "GEMINI" not in text
    assert "sk-test-not-real" not in result.output


# ---- 11, 17. help --------------------------------------------------------------------------------

COMMANDS = [
    [],
    ["collect"],
    ["report"],
    ["run"],
    ["enrich"],
    ["status"],
    ["doctor"],
    ["state"],
    ["state", "show"],
    ["state", "reset"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "analytics")
def test_help_reads_as_a_person_reads_it(command):
    result = invoke(*command, "--help", env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert not re.search(r"<(bool|str|int|float|path|list\[str\])>", text), text
    assert not re.search(r"\s\.\s", text), text  # no dangling " ." where a default was lost
    assert "[default: (" not in text  # one way of showing defaults: [default: X]
    assert "Traceback" not in text


def test_help_texts_say_what_each_option_does():
    collect = " ".join(invoke("collect", "--help", env={"COLUMNS": "200"}).stdout.split())
    assert "[default: state/<lake>/<source>.json]" in collect
    assert "[default: gemini if GEMINI_API_KEY is set" in collect
    assert "bound" not in collect.split("--batch-size", 1)[1].split("--lake", 1)[0]
    enrich = " ".join(invoke("enrich", "--help", env={"COLUMNS": "200"}).stdout.split())
    assert "labeling run on the same lake" in enrich and "collect" not in enrich.split("--wait")[1]
    status = " ".join(invoke("status", "--help", env={"COLUMNS": "200"}).stdout.split())
    assert "Read the state kept on S3" in status and "Keep the state" not in status
    version = invoke("--version")
    assert version.exit_code == 0 and re.fullmatch(r"analytics \d+\.\d+\.\d+\S*\n", version.stdout)


def test_readme_says_what_bounds_memory():
    readme = (REPO / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `--batch-size"))
    assert "bounds memory" not in row  # the batch size is the unit of commits, not of memory
    rows = [line for line in readme.splitlines() if line.startswith("| `ANALYTICS_SORT_MEMORY`")]
    assert len(rows) == 1 and "spills" in rows[0]  # the settings table names what bounds it


# ---- 13. enrich with no lake ---------------------------------------------------------------------


def test_enrich_without_a_lake_fails_like_report_and_leaves_nothing(in_tmp):
    result = invoke("enrich")
    one_error_line(result, 1, "has no conversations yet", "analytics collect")
    assert not (in_tmp / "state").exists() and not (in_tmp / "lake").exists()
    one_error_line(invoke("report"), 1, "has no conversations yet")
