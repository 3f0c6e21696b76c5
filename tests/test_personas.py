"""``analytics personas``: customers grouped into personas, offline and through a provider.

The lake: 24 customers of three kinds (tests/persona_fixtures.py: price, shipping, login; 8
each), one conversation each. Hand-written labels for the report: every price customer's
conversation is billing with objection price, sentiment -0.5, resolved for c000-c003 only;
shipping: topic shipping for c008-c013, other for c014-c015, sentiment 0.2, all resolved;
login conversations carry no label. So the price persona: 8 customers, share 33.33 %, 8
conversations, 8 labeled, top topics "billing 100%", top objections "price 100%", sentiment
-0.5, resolved 50 %; shipping: "shipping 75%, other 25%", no objection, sentiment 0.2,
resolved 100 %; login: 0 labeled, no topics, sentiment and resolved NULL.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import adjusted_rand_score
from typer.testing import CliRunner

from analytics_cli.app import app
from analytics_framework.insights import personas as personas_mod
from analytics_framework.model import LABEL_SCHEMA
from analytics_framework.storage.lake import Lake
from tests.llm_server import FakeLLM
from tests.persona_fixtures import customers

runner = CliRunner()


def ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def said(result) -> str:
    return " ".join(result.stderr.split())


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    for key in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "ANALYTICS_LLM_PROVIDER"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("ANALYTICS_STATE_DIR", str(tmp_path / "state"))


def label_rows(lake: Path) -> pl.DataFrame:
    conv = Lake(str(lake)).read_table("conversations")
    rows = []
    for cid, customer in conv.select("conversation_id", "customer_id").iter_rows():
        n = int(customer[1:])
        if n < 8:
            topic, objection, sentiment, resolved = "billing", "price", -0.5, n < 4
        elif n < 16:
            topic, objection, sentiment, resolved = (
                ("shipping" if n < 14 else "other"),
                None,
                0.2,
                True,
            )
        else:
            continue
        rows.append(
            {
                "conversation_id": cid,
                "topic": topic,
                "intent": "request_help",
                "sentiment": sentiment,
                "resolved": resolved,
                "objection": objection,
                "status": "labeled",
                "labeled_at": datetime(2024, 6, 1, tzinfo=UTC),
            }
        )
    return (
        pl.DataFrame(rows)
        .with_columns(
            *(pl.lit(None).cast(t).alias(c) for c, t in LABEL_SCHEMA.items() if c not in rows[0])
        )
        .select(list(LABEL_SCHEMA))
        .cast(LABEL_SCHEMA)
    )


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("personas")
    rows, _ = customers()
    pl.DataFrame(rows).write_ndjson(home / "dms.jsonl")
    ok(
        runner.invoke(
            app,
            ["collect", "--source", "files", str(home / "dms.jsonl"), "--lake", str(home / "lake")]
            + ["--no-enrich"],
        )
    )
    target = Lake(str(home / "lake"))
    labels = label_rows(home / "lake")
    conv = target.read_table("conversations").select("conversation_id", "year", "month", "day")
    for (y, m, d), part in labels.join(conv, on="conversation_id").group_by(
        ["year", "month", "day"]
    ):
        from analytics_framework.storage.lake import Partition

        target.write_partition("labels", Partition(y, m, d), part.drop("year", "month", "day"))
    return home / "lake"


def personas(lake: Path, *args: str):
    result = runner.invoke(app, ["personas", "--lake", str(lake), "--format", "json", *args])
    return result, (json.loads(result.stdout)["rows"] if result.exit_code == 0 else None)


def assignments(lake: Path) -> dict[str, int]:
    table = Lake(str(lake)).read_table("personas")
    return dict(table.select("customer_id", "persona_id").iter_rows())


def test_offline_personas_recover_the_three_kinds_run_after_run(lake):
    result, rows = personas(lake, "--k", "3")
    assert result.exit_code == 0, result.output
    _, truth = customers()
    found = assignments(lake)
    ids = sorted(truth)
    assert adjusted_rand_score([truth[c] for c in ids], [found[c] for c in ids]) == 1.0
    assert [r["customers"] for r in rows] == [8, 8, 8]
    assert [round(r["share_pct"], 2) for r in rows] == [33.33, 33.33, 33.33]
    # equal sizes: numbered by their first customer (c000 is price, c008 shipping, c016 login)
    assert [found["c000"], found["c008"], found["c016"]] == [1, 2, 3]
    assert rows[0]["method"] == "tfidf-svd" and rows[0]["device"] == "cpu"
    assert 0 < rows[0]["silhouette"] <= 1 and rows[0]["k"] == 3
    terms = {r["persona_id"]: r["terms"] for r in rows}
    assert "discount" in terms[1] or "price" in terms[1] or "coupon" in terms[1]
    assert "tracking" in terms[2] or "delivery" in terms[2]
    assert "password" in terms[3] or "login" in terms[3]
    assert rows[0]["name"] == " · ".join(terms[1].split(", ")[:3])
    assert len(rows[0]["quotes"].split(" | ")) == 3
    assert "24 customers in 3 personas" in said(result) and "K-means on cpu" in said(result)
    before = Lake(str(lake)).read_table("personas").sort("customer_id")
    personas(lake, "--k", "3")
    after = Lake(str(lake)).read_table("personas").sort("customer_id")
    assert after["build_id"].n_unique() == 1 and after["build_id"][0] != before["build_id"][0]
    same = ["customer_id", "persona_id", "persona_name", "distance", "silhouette", "quote"]
    assert after.select(same).equals(before.select(same))


def test_the_report_adds_what_the_labels_say(lake):
    result, rows = personas(lake, "--k", "3")
    assert result.exit_code == 0, result.output
    price, shipping, login = rows
    assert (price["conversations"], price["labeled"]) == (8, 8)
    assert price["top_topics"] == "billing 100%" and price["top_objections"] == "price 100%"
    assert price["sentiment"] == pytest.approx(-0.5) and price["resolved_pct"] == 50.0
    assert shipping["top_topics"] == "shipping 75%, other 25%"
    assert shipping["top_objections"] is None
    assert shipping["sentiment"] == pytest.approx(0.2) and shipping["resolved_pct"] == 100.0
    assert (login["conversations"], login["labeled"]) == (8, 0)
    assert login["top_topics"] is None and login["sentiment"] is None
    assert login["resolved_pct"] is None
    assert all(r["with_stage"] == 0 and r["won_pct"] is None for r in rows)
    again = runner.invoke(app, ["report", "personas", "--lake", str(lake), "--format", "json"])
    assert json.loads(ok(again))["rows"] == rows


def test_k_auto_keeps_the_k_with_the_best_silhouette(lake):
    result, rows = personas(lake, "--k", "auto")
    assert result.exit_code == 0, result.output
    assert rows[0]["k"] == 3 and len(rows) == 3
    text = said(result)
    assert "k 3 by silhouette (2: " in text and "8: " in text


def test_a_provider_embeds_and_names_them_with_cache(lake, monkeypatch):
    with FakeLLM() as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
        monkeypatch.setenv("ANALYTICS_LLM_PROVIDER", "openai")
        result, rows = personas(lake, "--k", "3")
        assert result.exit_code == 0, result.output
        _, truth = customers()
        found = assignments(lake)
        ids = sorted(truth)
        assert adjusted_rand_score([truth[c] for c in ids], [found[c] for c in ids]) == 1.0
        assert rows[0]["method"] == "embeddings"
        table = Lake(str(lake)).read_table("personas")
        assert table["model"].unique().to_list() == ["text-embedding-3-small"]
        assert table["named_by"].unique().to_list() == ["openai:gpt-4o-mini"]
        # the fake server names a cluster "Name: " + the first words of its nearest quote
        assert all(r["name"].startswith("Name: ") for r in rows)
        # at most 8 distinct examples of the nearest customers' quotes are shown
        for r in rows:
            shown = int(r["description"].split()[0])
            assert 1 <= shown <= 8
            assert len(r["quotes"].split(" | ")) == min(3, shown)
        text = said(result)
        assert "vectors openai text-embedding-3-small (requests 1, cached 0" in text
        assert "cost $" in text
        calls = len(server.requests)
        again, rows2 = personas(lake, "--k", "3")
        assert rows2 == rows and len(server.requests) == calls  # all from the cache
        assert "(requests 0, cached 23" in said(again)  # 23 distinct texts of 24 customers
        bad, _ = personas(lake, "--embed-model", "no-such-embedder")
        assert bad.exit_code != 0
        assert "'no-such-embedder'" in bad.output and "ANALYTICS_OPENAI_EMBED_MODEL" in bad.output
        assert "Traceback" not in bad.output


def test_bad_input_is_one_line_saying_what_to_do(lake, tmp_path):
    result, _ = personas(lake, "--k", "30")
    assert result.exit_code != 0
    assert "only 24 customers" in result.output and "--k 23 or less" in result.output
    result, _ = personas(lake, "--k", "many")
    assert result.exit_code != 0 and "auto" in result.output
    result, _ = personas(lake, "--device", "tpu")
    assert result.exit_code != 0 and "auto or cpu" in result.output
    result, _ = personas(lake, "--start-date", "2030-01-01")
    assert result.exit_code != 0 and "only 0 customers" in result.output
    empty = tmp_path / "lake"
    rows, _ = customers(per_kind=1)
    pl.DataFrame(rows).write_ndjson(tmp_path / "x.jsonl")
    ok(
        runner.invoke(
            app,
            ["collect", "--source", "files", str(tmp_path / "x.jsonl"), "--lake", str(empty)]
            + ["--no-enrich"],
        )
    )
    result = runner.invoke(app, ["report", "personas", "--lake", str(empty)])
    assert result.exit_code != 0 and "analytics personas" in result.output
    for out in (result.output,):
        assert "Traceback" not in out


def test_without_cuml_the_gpu_path_falls_back_to_the_cpu(caplog):
    rng = np.random.default_rng(0)
    vectors = np.vstack([rng.normal(c, 0.1, size=(20, 4)) for c in (0, 3)]).astype(np.float32)
    assert personas_mod.gpu_available() is False  # no cuML here
    cpu = personas_mod.kmeans(vectors, 2, "cpu")
    with caplog.at_level(logging.WARNING):
        fallback = personas_mod.kmeans(vectors, 2, "cuda")  # asked for, not available
    assert np.array_equal(cpu[0], fallback[0])
    assert fallback[2] == "cpu"  # the device that ran, not the one asked for
    assert "running it on the CPU" in caplog.text


def test_a_build_that_fell_back_from_the_gpu_says_cpu(lake, monkeypatch, caplog):
    monkeypatch.setattr(personas_mod, "gpu_available", lambda: True)  # cuML "seen", not there
    with caplog.at_level(logging.WARNING):
        result = personas_mod.build(Lake(str(lake)), k=None)
    assert result.device == "cpu" and set(result.rows["device"]) == {"cpu"}
    assert caplog.text.count("running it on the CPU") == 1  # not once per k tried


def test_a_tiny_persona_beside_a_big_one_is_scored(monkeypatch):
    monkeypatch.setattr(personas_mod, "SILHOUETTE_SAMPLE", 100)
    vectors = np.vstack([np.zeros((1000, 2)), np.ones((2, 2))]).astype(np.float32)
    vectors += np.random.default_rng(1).normal(0, 0.01, size=vectors.shape).astype(np.float32)
    labels = np.array([0] * 1000 + [1] * 2)
    assert personas_mod.silhouette(vectors, labels) > 0.9  # the sample holds both


def test_fewer_distinct_texts_than_personas_is_one_line(tmp_path):
    rows = [
        {
            "conversation_id": f"c{i}",
            "sent_at": f"2024-05-06T09:{i:02d}:00Z",
            "role": "customer",
            "sender_id": f"u{i}",
            "text": ["hi, I saw your ad", "price please", "where is my parcel"][i % 3],
            "org_id": "acme",
        }
        for i in range(12)
    ]
    pl.DataFrame(rows).write_ndjson(tmp_path / "x.jsonl")
    home = tmp_path / "lake"
    ok(
        runner.invoke(
            app,
            ["collect", "--source", "files", str(tmp_path / "x.jsonl"), "--lake", str(home)]
            + ["--no-enrich"],
        )
    )
    result, _ = personas(home, "--k", "5")
    assert result.exit_code != 0
    assert "the customers in the range wrote only 3 distinct texts" in result.output
    assert "--k 2 or less" in result.output and "Warning" not in result.output
    result, rows = personas(home, "--k", "2")
    assert result.exit_code == 0 and len(rows) == 2 and rows[0]["k"] == 2


def test_the_report_repeats_the_build_over_its_own_range(lake):
    result, printed = personas(lake, "--k", "3", "--start-date", "2024-05-07")
    assert result.exit_code == 0, result.output
    assert sum(r["customers"] for r in printed) == 16  # the customers of 05-07 and 05-08
    again = runner.invoke(app, ["report", "personas", "--lake", str(lake), "--format", "json"])
    assert json.loads(ok(again))["rows"] == printed
    assert sum(r["conversations"] for r in printed) == 16


def test_an_unknown_format_stops_before_the_build(lake):
    before = Lake(str(lake)).read_table("personas")["build_id"][0]
    result, _ = personas(lake, "--format", "xml")
    assert result.exit_code != 0 and "unknown --format 'xml'" in result.output
    assert Lake(str(lake)).read_table("personas")["build_id"][0] == before


def test_use_translations_reads_the_english_text(lake):
    from analytics_framework.model import TRANSLATION_SCHEMA
    from analytics_framework.storage.lake import Partition

    target = Lake(str(lake))
    messages = target.read_table("messages").filter(
        (pl.col("sender_id") == "c000") & (pl.col("role") == "customer")
    )
    rows = [
        {
            "conversation_id": cid,
            "message_id": mid,
            "language": "es",
            "conversation_language": "es",
            "text_en": f"[en] {text}",
            "status": "translated",
        }
        for cid, mid, text in messages.select("conversation_id", "message_id", "text").iter_rows()
    ]
    frame = pl.DataFrame(rows).with_columns(
        *(pl.lit(None).cast(t).alias(c) for c, t in TRANSLATION_SCHEMA.items() if c not in rows[0])
    )
    target.write_partition(
        "translations", Partition(2024, 5, 6), frame.select(list(TRANSLATION_SCHEMA))
    )
    try:
        result, _ = personas(lake, "--k", "3", "--use-translations")
        assert result.exit_code == 0, result.output
        quotes = dict(target.read_table("personas").select("customer_id", "quote").iter_rows())
        assert quotes["c000"].startswith("[en] ")
        assert not any(q.startswith("[en]") for c, q in quotes.items() if c != "c000")
        personas(lake, "--k", "3")
        quotes = dict(target.read_table("personas").select("customer_id", "quote").iter_rows())
        assert not quotes["c000"].startswith("[en] ")  # the original without the flag
    finally:
        target.delete(target.path("translations"))
