"""``analytics objections``: why leads say no, in their own words, and what happened next.

The hand-built lake: five conversations on Mon 2024-03-04 (UTC), collected from JSONL and labeled
by the offline labeler (its objection keywords, taxonomy.toml), org acme unless said:

    conv  customer says (objection, quote)                           humans   assigned  status
    c1    "That's too expensive for me" (price)                      a1       s9        -
    c2    "hi", "Honestly the price is too much, can you give a       a2                resolved
          discount?" (price: the second message)
    c3    "I need to think, maybe later" (timing)                    a1 x2, a2
    c4    "Where is my order?" (none)                                a2
    c5    "Is this a scam? I don't trust it" (trust), org beta       a3

Stages are then set on c1 ("Won") and c2 (" lost "): Mochi's current stage.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from analytics_cli.app import app
from analytics_framework.storage.lake import Lake, Partition
from analytics_framework.storage.query import connect
from tests.llm_server import FakeLLM

runner = CliRunner()
DAY = Partition(2024, 3, 4)


def msg(cid: str, at: str, role: str, sender: str, text: str, **extra) -> dict:
    return {
        "conversation_id": cid,
        "sent_at": f"2024-03-04T{at}:00Z",
        "role": role,
        "sender_id": sender,
        "text": text,
        "org_id": extra.pop("org", "acme"),
        **extra,
    }


MESSAGES = [
    msg("c1", "09:00", "customer", "u1", "That's too expensive for me", assigned_agent_id="s9"),
    msg("c1", "09:05", "agent", "a1", "I understand", assigned_agent_id="s9"),
    msg("c2", "10:00", "customer", "u2", "hi", status="resolved"),
    msg(
        "c2",
        "10:01",
        "customer",
        "u2",
        "Honestly the price is too much, can you give a discount?",
        status="resolved",
    ),
    msg("c2", "10:05", "agent", "a2", "Let me check", status="resolved"),
    msg("c3", "11:00", "customer", "u3", "I need to think, maybe later"),
    msg("c3", "11:05", "agent", "a1", "Sure"),
    msg("c3", "11:06", "agent", "a1", "Ping me"),
    msg("c3", "11:07", "agent", "a2", "Bye"),
    msg("c4", "12:00", "customer", "u4", "Where is my order?"),
    msg("c4", "12:05", "agent", "a2", "On its way"),
    msg("c5", "13:00", "customer", "u5", "Is this a scam? I don't trust it", org="beta"),
    msg("c5", "13:05", "agent", "a3", "We are legit", org="beta"),
]


def ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("objections")
    pl.DataFrame(MESSAGES, infer_schema_length=None).write_ndjson(home / "dms.jsonl")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(home)
        mp.delenv("GEMINI_API_KEY", raising=False)
        mp.delenv("OPENAI_API_KEY", raising=False)
        ok(runner.invoke(app, ["collect", "--source", "files", "dms.jsonl"]))
    lk = Lake(str(home / "lake"))
    conv = lk.read_partition("conversations", DAY)
    stage = {"files:c1": "Won", "files:c2": " lost "}
    conv = conv.with_columns(
        stage=pl.col("conversation_id").replace_strict(stage, default=None, return_dtype=pl.String)
    )
    lk.write_partition("conversations", DAY, conv)
    return home / "lake"


def rows(lake: Path, *args: str) -> list[dict]:
    out = ok(runner.invoke(app, ["objections", "--lake", str(lake), "--format", "json", *args]))
    return json.loads(out)["rows"]


def test_the_local_labeler_quotes_the_customer_message_that_raised_the_objection(lake):
    labels = Lake(str(lake)).read_table("labels").sort("conversation_id")
    assert labels.select("conversation_id", "objection", "objection_quote").rows() == [
        ("files:c1", "price", "That's too expensive for me"),
        ("files:c2", "price", "Honestly the price is too much, can you give a discount?"),
        ("files:c3", "timing", "I need to think, maybe later"),
        ("files:c4", None, None),
        ("files:c5", "trust", "Is this a scam? I don't trust it"),
    ]


def test_each_class_has_its_count_share_rate_and_what_happened_next(lake):
    got = {r["objection"]: r for r in rows(lake)}
    assert list(got) == ["price", "timing", "trust"]  # most first, ties by name
    price = got["price"]
    # 5 labeled, 4 with an objection: price 2/4 of the objections, 2/5 of the conversations
    assert (price["labeled"], price["conversations"]) == (5, 2)
    assert (price["share_pct"], price["rate_pct"]) == (50.0, 40.0)
    # c2 resolved (source status), c1 not (no closing phrase): 1 of 2
    assert price["resolved_pct"] == 50.0
    # stages Won and lost: 1 of 2 won; tie of one each goes to the first name
    assert (price["with_stage"], price["won_pct"], price["top_stage"]) == (2, 50.0, "lost")
    # the latest quote: c2 started at 10:00, after c1
    assert price["quote"] == "Honestly the price is too much, can you give a discount?"
    assert (got["timing"]["share_pct"], got["timing"]["rate_pct"]) == (25.0, 20.0)
    assert got["trust"]["with_stage"] == 0 and got["trust"]["won_pct"] is None
    assert {r["period"] for r in got.values()} == {"2024-03-01"}  # monthly by default


def test_by_setter_uses_the_assignment_else_who_wrote_most(lake):
    got = [
        (r["setter"], r["objection"], r["labeled"], r["rate_pct"])
        for r in rows(lake, "--by", "setter")
    ]
    # c1 assigned to s9; c2 and c4 written by a2 alone; c3 by a1 twice and a2 once; c5 by a3
    assert got == [
        ("a1", "timing", 1, 100.0),
        ("a2", "price", 2, 50.0),
        ("a3", "trust", 1, 100.0),
        ("s9", "price", 1, 100.0),
    ]


def test_by_org(lake):
    got = [
        (r["org_id"], r["objection"], r["conversations"], r["share_pct"])
        for r in rows(lake, "--by", "org")
    ]
    assert got == [
        ("acme", "price", 2, 66.67),
        ("acme", "timing", 1, 33.33),
        ("beta", "trust", 1, 100.0),
    ]


def test_labels_written_before_quotes_existed_still_report(lake, tmp_path):
    old = tmp_path / "old"
    for f in lake.rglob("*.parquet"):
        out = old / f.relative_to(lake)
        out.parent.mkdir(parents=True, exist_ok=True)
        frame = pl.read_parquet(f)
        frame.drop([c for c in ("objection_quote",) if c in frame.columns]).write_parquet(out)
    got = {r["objection"]: r for r in rows(old)}
    assert got["price"]["conversations"] == 2 and got["price"]["quote"] is None
    # read into memory, as exports read a small lake: the filled view reads the same, twice
    con = connect(Lake(str(old)), keep_for="SELECT objection, objection_quote FROM labels")
    for _ in range(2):
        assert con.execute(
            "SELECT count(objection), count(objection_quote) FROM labels"
        ).fetchone() == (4, 0)
    con.close()


def test_without_labels_it_says_to_run_enrich(tmp_path):
    pl.DataFrame(MESSAGES[:2], infer_schema_length=None).write_ndjson(tmp_path / "dms.jsonl")
    lake = tmp_path / "lake"
    ok(
        runner.invoke(
            app,
            [
                "collect",
                "--source",
                "files",
                str(tmp_path / "dms.jsonl"),
                "--lake",
                str(lake),
                "--no-enrich",
            ],
        )
    )
    result = runner.invoke(app, ["objections", "--lake", str(lake)])
    assert result.exit_code != 0
    assert "analytics enrich" in result.output and "Traceback" not in result.output


def test_llm_labelers_return_the_quote(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pl.DataFrame(MESSAGES[:2], infer_schema_length=None).write_ndjson("dms.jsonl")
    ok(runner.invoke(app, ["collect", "--source", "files", "dms.jsonl", "--no-enrich"]))
    with FakeLLM() as server:
        env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": server.url + "/v1"}
        ok(runner.invoke(app, ["enrich", "--provider", "openai"], env=env))
    labels = Lake("lake").read_table("labels")
    # the local server objects "price" to "expensive" and quotes the customer's line
    assert labels.select("objection", "objection_quote").rows() == [
        ("price", "That's too expensive for me")
    ]
