"""``analytics scripts``: setters' messages clustered into scripts, with hand-checked figures.

The small lake (UTC, org acme), three DM conversations opened by setters s1 and s2:

    d1 (lead Maria)  09:00 s1 "Hey Maria, saw your post! Want a free audit? <url>"   A opener
                     09:30 s1 "Hi Maria just following up on the audit"             B follow-up
                     10:00 lead "sure, tell me more"       -> A answered in 3600 s, B in 1800 s
                     10:10 s1 "Great! Our plan costs $49/month, want to book a call?" C later
                                                             (never answered)
    d2 (lead Tom)    day 1 09:00 s2 A opener; day 3 09:00 s2 B follow-up; day 3 11:00 lead
                                                   -> A answered in 50 h (180000 s), B in 7200 s
    d3 (lead Ana)    09:00 s1 "Hey Ana saw your post!! Want a free adit? <url>" (a typo)  A
                     09:10 lead -> 600 s;  09:20 s1 "Great! ... $99/month ..." C;
                     09:25 lead -> 300 s;  10:00 the lead's stage changes (Mochi-style row)

So A: 3 uses by 2 setters, answered within 24 h 2 of 3 (66.67 %), median reply 3600 s over
(600, 3600, 180000), conversion 1 of 1 with stage data; B: 2 uses, 100 %, median 4500 s, no
stage data; C: 2 uses, 50 %, median 300 s, conversion 1 of 1.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from sklearn.metrics import adjusted_rand_score
from typer.testing import CliRunner

from analytics_cli.app import app
from analytics_framework.insights.clustering import cluster, normalise
from analytics_framework.model import STAGE_CHANGE_SCHEMA
from analytics_framework.storage.lake import Lake, Partition
from tests.script_fixtures import NAMES, TEMPLATES, templated

runner = CliRunner()
T0 = datetime(2024, 3, 4, 9, 0)


def msg(cid: str, minutes: int, role: str, sender: str, text: str, **extra) -> dict:
    return {
        "conversation_id": cid,
        "sent_at": (T0 + timedelta(minutes=minutes)).isoformat() + "Z",
        "role": role,
        "sender_id": sender,
        "text": text,
        "org_id": "acme",
        **extra,
    }


OPENER = "Hey {}, saw your post! Want a free audit? https://x.io/{}"
FOLLOW = "Hi {} just following up on the audit"
PITCH = "Great! Our plan costs ${}/month, want to book a call?"
DMS = [
    msg("d1", 0, "agent", "s1", OPENER.format("Maria", "a1")),
    msg("d1", 30, "agent", "s1", FOLLOW.format("Maria")),
    msg("d1", 60, "customer", "lead-1", "sure, tell me more", first_name="Maria"),
    msg("d1", 70, "agent", "s1", PITCH.format(49)),
    msg("d2", 0, "agent", "s2", OPENER.format("Tom", "b7")),
    msg("d2", 2 * 1440, "agent", "s2", FOLLOW.format("Tom")),
    msg("d2", 2 * 1440 + 120, "customer", "lead-2", "ok", first_name="Tom"),
    msg("d3", 0, "agent", "s1", "Hey Ana saw your post!! Want a free adit? https://x.io/c"),
    msg("d3", 10, "customer", "lead-3", "yes please", first_name="Ana"),
    msg("d3", 20, "agent", "s1", PITCH.format(99)),
    msg("d3", 25, "customer", "lead-3", "booked", first_name="Ana"),
]


def ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("scripts")
    pl.DataFrame(DMS, infer_schema_length=None).write_ndjson(home / "dms.jsonl")
    ok(
        runner.invoke(
            app,
            ["collect", "--source", "files", str(home / "dms.jsonl"), "--lake", str(home / "lake")]
            + ["--no-enrich"],
        )
    )
    change = {
        "conversation_id": "files:d3",
        "source": "files",
        "org_id": "acme",
        "stage": "call booked",
        "previous_stage": "new lead",
        "changed_at": datetime(2024, 3, 4, 10, 0),
        "changed_by": "s1",
    }
    frame = pl.DataFrame([change]).with_columns(pl.col("changed_at").dt.replace_time_zone("UTC"))
    Lake(str(home / "lake")).write_partition(
        "stage_changes", Partition(2024, 3, 4), frame.cast(STAGE_CHANGE_SCHEMA)
    )
    return home / "lake"


def scripts(lake: Path, *args: str) -> dict[str, dict]:
    out = ok(runner.invoke(app, ["scripts", "--lake", str(lake), "--format", "json", *args]))
    return {r["text"].split()[0] + " " + r["position"]: r for r in json.loads(out)["rows"]}


def test_normalising_replaces_names_links_and_numbers():
    assert (
        normalise(OPENER.format("Maria", "a1"))
        == "hey <name> saw your post want a free audit <url>"
    )
    assert (
        normalise("hi maria, it's $1,200 at 3pm", {"Maria"}) == "hi <name> it s <num> at <num> pm"
    )
    assert normalise("Mail me: Bob@Example.com") == "mail me <email>"


def test_each_script_has_its_uses_reply_rate_reply_time_and_conversion(lake):
    got = scripts(lake)
    assert set(got) == {"hey opener", "hi follow-up", "great later"}
    a, b, c = got["hey opener"], got["hi follow-up"], got["great later"]
    assert (a["uses"], a["setters"], a["conversations"]) == (3, 2, 3)  # the typo joined A
    assert (a["reply_rate_pct"], a["reply_median_s"]) == (66.67, 3600.0)
    assert (a["with_stage"], a["conversion_pct"]) == (1, 100.0)
    assert (b["uses"], b["reply_rate_pct"], b["reply_median_s"]) == (2, 100.0, 4500.0)
    assert (b["with_stage"], b["conversion_pct"]) == (0, None)
    assert (c["uses"], c["reply_rate_pct"], c["reply_median_s"]) == (2, 50.0, 300.0)
    assert c["conversion_pct"] == 100.0
    assert a["rank"] == 1 and a["text"] == "hey <name> saw your post want a free audit <url>"
    assert a["name"] and "<" not in a["name"]


def test_ranked_by_reply_rate(lake):
    rows = json.loads(
        ok(runner.invoke(app, ["report", "scripts", "--lake", str(lake), "--format", "json"]))
    )["rows"]
    assert [r["uses"] for r in rows] == [3, 2, 2]
    by_reply = json.loads(
        ok(
            runner.invoke(
                app,
                ["report", "scripts", "--lake", str(lake), "--format", "json"]
                + ["--sort", "reply_rate_pct"],
            )
        )
    )["rows"]
    assert [r["reply_rate_pct"] for r in by_reply] == [100.0, 66.67, 50.0]


def test_the_build_is_stored_with_its_parameters_and_replaced_by_the_next(lake):
    table = Lake(str(lake)).read_table("scripts")
    assert table.height == 7  # every setter message
    assert table["position"].value_counts().sort("position").rows() == [
        ("follow-up", 2),
        ("later", 2),
        ("opener", 3),
    ]
    assert table["similarity"].unique().to_list() == [80.0]
    assert table["build_id"].n_unique() == 1
    ok(runner.invoke(app, ["scripts", "--lake", str(lake), "--end-date", "2024-03-05"]))
    again = Lake(str(lake)).read_table("scripts")
    assert again["build_id"].n_unique() == 1 and again["build_id"][0] != table["build_id"][0]


def test_a_table_holding_two_builds_is_refused(lake, tmp_path):
    mixed = tmp_path / "mixed"
    for f in lake.rglob("*.parquet"):
        out = mixed / f.relative_to(lake)
        out.parent.mkdir(parents=True, exist_ok=True)
        frame = pl.read_parquet(f)
        if "build_id" in frame.columns:  # d2's rows left by an older, interrupted build
            older = pl.col("conversation_id") == "files:d2"
            frame = frame.with_columns(
                build_id=pl.when(older).then(pl.lit("older")).otherwise(pl.col("build_id"))
            )
        frame.write_parquet(out)
    result = runner.invoke(app, ["report", "scripts", "--lake", str(mixed)])
    assert result.exit_code != 0 and "run analytics scripts again" in result.output


def test_placeholders_only_do_not_absorb_messages_with_words():
    texts = ["<url>", "thanks <url>"]
    assert cluster(texts) == [0, 1]


def test_bad_input_says_what_to_do(lake, tmp_path):
    before = Lake(str(lake)).read_table("scripts")["build_id"][0]
    result = runner.invoke(app, ["scripts", "--lake", str(lake), "--sort", "nope"])
    assert result.exit_code != 0 and "reply_rate_pct" in result.output
    assert Lake(str(lake)).read_table("scripts")["build_id"][0] == before  # not rebuilt
    result = runner.invoke(app, ["scripts", "--lake", str(lake), "--scorer", "nope"])
    assert result.exit_code != 0 and "token_sort_ratio" in result.output
    result = runner.invoke(app, ["scripts", "--lake", str(lake), "--start-date", "2030-01-01"])
    assert result.exit_code != 0 and "no agent messages" in result.output
    pl.DataFrame(DMS[:3], infer_schema_length=None).write_ndjson(tmp_path / "x.jsonl")
    other = tmp_path / "lake"
    ok(
        runner.invoke(
            app,
            ["collect", "--source", "files", str(tmp_path / "x.jsonl")]
            + ["--lake", str(other), "--no-enrich"],
        )
    )
    result = runner.invoke(app, ["report", "scripts", "--lake", str(other)])
    assert result.exit_code != 0 and "analytics scripts" in result.output
    assert "Traceback" not in result.output


def test_templated_messages_with_typos_and_names_recover_their_templates():
    texts, truth = templated(2000)
    norm = [normalise(t, set(NAMES)) for t in texts]
    distinct = sorted(set(norm))
    counts = {t: norm.count(t) for t in distinct}
    leader = cluster(distinct, [counts[t] for t in distinct])
    script = {t: leader[i] for i, t in enumerate(distinct)}
    predicted = [script[t] for t in norm]
    assert adjusted_rand_score(truth, predicted) >= 0.9
    assert len(set(predicted)) <= len(TEMPLATES) + 2


def test_an_llm_provider_names_the_scripts_sent_twice_or_more(lake, tmp_path, monkeypatch):
    from tests.llm_server import FakeLLM

    with FakeLLM() as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
        monkeypatch.setenv("ANALYTICS_STATE_DIR", str(tmp_path / "state"))
        monkeypatch.setenv("ANALYTICS_LLM_PROVIDER", "openai")
        result = runner.invoke(app, ["scripts", "--lake", str(lake), "--format", "json"])
        assert result.exit_code == 0, result.output
        said = " ".join(result.stderr.split())
        assert "3 scripts" in said and "named by openai:gpt-4o-mini (requests 1, cached 0" in said
        rows = {r["position"]: r["name"] for r in json.loads(result.stdout)["rows"]}
        # the fake server names a script "Name: " + the first three words of its top text
        assert rows == {
            "opener": "Name: hey <name> saw",
            "follow-up": "Name: hi <name> just",
            "later": "Name: great our plan",
        }
        assert Lake(str(lake)).read_table("scripts")["named_by"].unique().to_list() == [
            "openai:gpt-4o-mini"
        ]
        again = runner.invoke(app, ["scripts", "--lake", str(lake)])
        assert "(requests 0, cached 3," in " ".join(again.stderr.split())
        assert len(server.requests) == 1
    monkeypatch.delenv("ANALYTICS_LLM_PROVIDER")
    monkeypatch.delenv("OPENAI_API_KEY")
    ok(runner.invoke(app, ["scripts", "--lake", str(lake)]))  # offline names again
    assert Lake(str(lake)).read_table("scripts")["named_by"].unique().to_list() == ["local"]


def test_use_translations_clusters_the_english_text(tmp_path):
    from analytics_framework.model import TRANSLATION_SCHEMA

    spanish = [
        msg("d4", 0, "agent", "s3", "Hola Luis, vi tu publicación! ¿Quieres una auditoría gratis?"),
        msg("d4", 5, "customer", "lead-4", "sí", first_name="Luis"),
    ]
    pl.DataFrame(DMS + spanish, infer_schema_length=None).write_ndjson(tmp_path / "dms.jsonl")
    home = tmp_path / "lake"
    ok(
        runner.invoke(
            app,
            ["collect", "--source", "files", str(tmp_path / "dms.jsonl"), "--lake", str(home)]
            + ["--no-enrich"],
        )
    )
    openers = lambda rows: sorted(r["uses"] for r in rows.values() if r["position"] == "opener")  # noqa: E731
    assert openers(scripts(home)) == [1, 3]  # the Spanish opener is a script of its own
    messages = Lake(str(home)).read_table("messages")
    mid = messages.filter(pl.col("sender_id") == "s3")["message_id"][0]
    row = {
        "conversation_id": "files:d4",
        "message_id": mid,
        "language": "es",
        "conversation_language": "es",
        "text_en": OPENER.format("Luis", "z9"),
        "status": "translated",
        "provider": "openai",
        "model": "gpt-4o-mini",
    }
    frame = pl.DataFrame([row]).with_columns(
        *(pl.lit(None).cast(t).alias(c) for c, t in TRANSLATION_SCHEMA.items() if c not in row)
    )
    Lake(str(home)).write_partition(
        "translations", Partition(2024, 3, 4), frame.select(list(TRANSLATION_SCHEMA))
    )
    assert openers(scripts(home, "--use-translations")) == [4]  # one opener, in English
    assert openers(scripts(home)) == [1, 3]  # the original text without the flag
