"""``analytics translate``: languages detected offline, non-English conversations translated.

The fixture ``tests/data/multilingual/`` (written for these tests) holds seven conversations of
org acme over two days, each message's expected language hand-checked in
``expected_languages.csv``:

    2024-03-04  en1 English (its last message "ok" is too short: NULL)
                es1 Spanish (the thumbs-up is NULL)   fr1 French   de1 German
    2024-03-05  pt1 Portuguese   it1 Italian
                mix1 the customer writes Spanish, then "thanks"; the agent answers in English:
                Spanish (most of the customer's letters)

So, by message language: es 6 (es1 4, mix1 2), en 6 (en1 4, mix1 2), fr 5, it 5, de 4, pt 3,
undetected 2; by conversation: es 2, en 1, and one each of fr, it, de, pt. With a provider the
six non-English conversations (26 messages) are translated; the fake server answers
``"[en] " + text``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest
from pymongo import MongoClient
from typer.testing import CliRunner

from analytics_cli.app import app
from analytics_framework.insights.languages import conversation_languages, detect_languages
from analytics_framework.insights.translations import english_text
from analytics_framework.model import TRANSLATION_SCHEMA
from analytics_framework.storage.lake import Lake, Partition
from tests.integration.conftest import (  # noqa: F401 - fixtures
    database_name,
    mongo_server,
    mongo_uri,
    moto_server,
    s3,
)
from tests.llm_server import FakeLLM

runner = CliRunner()
DATA = Path(__file__).resolve().parent / "data" / "multilingual"
FIXTURE = DATA / "conversations.jsonl"
OFFLINE_NOTE = (
    "offline: languages detected, nothing translated; set GEMINI_API_KEY or OPENAI_API_KEY "
    "to translate"
)
NON_ENGLISH = ["files:de1", "files:es1", "files:fr1", "files:it1", "files:mix1", "files:pt1"]
BY_LANGUAGE = {  # language: (messages, conversations)
    "es": (6, 2),
    "en": (6, 1),
    "fr": (5, 1),
    "it": (5, 1),
    "de": (4, 1),
    "pt": (3, 1),
    None: (2, 0),
}


def expected() -> dict[str, str | None]:
    with (DATA / "expected_languages.csv").open(encoding="utf-8") as fh:
        return {"files:" + r["message_id"]: r["language"] or None for r in csv.DictReader(fh)}


def fixture_messages() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]


def invoke(*args: str):
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def ok(*args: str) -> str:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def lake(in_tmp, monkeypatch) -> Path:
    """The fixture collected (unlabeled) into ./lake, with no API key set."""
    for key in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "MONGODB_URI"):
        monkeypatch.delenv(key, raising=False)
    ok("collect", "--source", "files", str(FIXTURE), "--lake", "lake", "--no-enrich")
    return in_tmp / "lake"


@pytest.fixture(scope="module")
def server():
    with FakeLLM() as srv:
        yield srv


@pytest.fixture
def llm(server, monkeypatch, lake):
    """The fake server as OpenAI and Gemini (fast retries), its log cleared."""
    server.script.clear()
    server.requests.clear()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
    monkeypatch.setenv("GEMINI_API_KEY", "gm-test")
    monkeypatch.setenv("ANALYTICS_GEMINI_BASE_URL", server.url)
    for key, value in {
        "ANALYTICS_LLM_BACKOFF_INITIAL_S": "0.05",
        "ANALYTICS_LLM_BACKOFF_MAX_S": "0.2",
        "ANALYTICS_LLM_MAX_ATTEMPTS": "2",
        "ANALYTICS_LLM_RPM": "0",
    }.items():
        monkeypatch.setenv(key, value)
    return server


def table(lake: Path) -> pl.DataFrame:
    return Lake(str(lake)).read_table("translations").sort("message_id")


def translate_json(lake: Path, *args: str) -> dict:
    return json.loads(ok("translate", "--lake", str(lake), "--format", "json", *args))


def by_language(summary: dict) -> dict:
    return {r["language"]: (r["messages"], r["conversations"]) for r in summary["rows"]}


# ---- detection -------------------------------------------------------------------------------


def test_each_message_of_the_fixture_gets_its_language():
    rows = fixture_messages()
    found = detect_languages([r["text"] for r in rows])
    want = expected()
    assert {"files:" + r["message_id"]: lang for r, lang in zip(rows, found, strict=True)} == want


def test_short_or_letterless_texts_have_no_language():
    texts = ["ok", "👍", "thx", "12:30", "https://x.io/abc @anna #sale 42 &amp;", "", None]
    assert detect_languages(texts) == [None] * len(texts)
    # links, handles and numbers are removed before detection, not counted as words
    assert detect_languages(["Merci beaucoup pour votre aide https://x.io/a1 @shop"]) == ["fr"]


def test_a_conversation_is_in_the_language_of_most_of_its_customers_letters():
    frame = pl.DataFrame(
        {
            "conversation_id": ["a", "a", "a", "b", "b", "c", "c", "d"],
            "role": ["customer", "agent", "customer", "customer", "customer", "agent", "bot"]
            + ["customer"],
            "language": ["es", "en", "en", "fr", "de", "it", None, None],
            "letters": [20, 90, 6, 10, 10, 12, 3, 2],
        }
    )
    # a: the agent's English does not count; b: a tie goes to the customer's first language;
    # c: no customer message detected, so every message counts; d: nothing detected
    assert conversation_languages(frame) == {"a": "es", "b": "fr", "c": "it", "d": None}


# ---- offline ---------------------------------------------------------------------------------


def test_offline_languages_are_recorded_and_the_summary_says_nothing_was_translated(lake):
    summary = translate_json(lake)
    assert summary["offline"] is True and summary["note"] == OFFLINE_NOTE
    assert by_language(summary) == BY_LANGUAGE
    assert summary["totals"] == {
        "messages": 31,
        "conversations": 7,
        "translated_messages": 0,
        "translated_conversations": 0,
        "non_english_conversations": 6,
    }
    assert summary["run"]["detected_messages"] == 31 and summary["run"]["calls"] == 0
    rows = table(lake)
    assert rows.height == 31
    assert dict(rows.select("message_id", "language").iter_rows()) == expected()
    conv = dict(rows.select("conversation_id", "conversation_language").unique().iter_rows())
    assert conv == {
        "files:en1": "en",
        "files:es1": "es",
        "files:fr1": "fr",
        "files:de1": "de",
        "files:pt1": "pt",
        "files:it1": "it",
        "files:mix1": "es",
    }
    status = dict(rows.select("conversation_id", "status").unique().iter_rows())
    assert status == {cid: "pending" for cid in NON_ENGLISH} | {"files:en1": "english"}
    assert rows["text_en"].null_count() == 31 and rows["provider"].null_count() == 31
    assert set(rows["detector"]) == {rows["detector"][0]}
    assert "high accuracy, 25 languages" in rows["detector"][0]
    # partitioned like the conversations
    assert Lake(str(lake)).partitions("translations") == [
        Partition(2024, 3, 4),
        Partition(2024, 3, 5),
    ]


def test_offline_table_output_ends_with_the_offline_line(lake):
    out = ok("translate", "--lake", str(lake))
    assert "Spanish" in out and "undetected" in out
    assert out.rstrip().splitlines()[-1] == OFFLINE_NOTE
    csv_out = invoke("translate", "--lake", str(lake), "--format", "csv")
    assert csv_out.exit_code == 0
    assert csv_out.stdout.splitlines()[0] == (
        "language,name,messages,conversations,translated_messages,translated_conversations"
    )
    assert "es,Spanish,6,2,0,0" in csv_out.stdout.splitlines()
    assert OFFLINE_NOTE in csv_out.stderr


def test_running_twice_offline_changes_nothing(lake):
    translate_json(lake)
    files = {p: p.read_bytes() for p in sorted((lake / "translations").rglob("*.parquet"))}
    first = table(lake)
    again = translate_json(lake)
    assert again["run"]["partitions"] == 0 and again["run"]["detected_messages"] == 0
    assert by_language(again) == BY_LANGUAGE
    assert table(lake).equals(first)
    assert {p: p.read_bytes() for p in files} == files
    forced = translate_json(lake, "--force")  # redone: the same rows
    assert forced["run"]["detected_messages"] == 31
    assert table(lake).equals(first)


# ---- with a provider -------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_non_english_conversations_are_translated_by_the_provider(llm, lake, provider):
    summary = translate_json(lake, "--provider", provider)
    assert summary["offline"] is False and summary["note"] is None
    assert summary["provider"] == provider
    run = summary["run"]
    assert run["translated_conversations"] == 6 and run["translated_messages"] == 26
    assert run["failed_conversations"] == 0
    assert run["input_tokens"] > 0 and run["output_tokens"] > 0 and run["cost_usd"] > 0
    assert sorted(i for r in llm.requests for i in r["ids"]) == NON_ENGLISH
    assert len(llm.requests) == 2  # 3 conversations a request
    assert summary["totals"]["translated_conversations"] == 6
    assert by_language(summary) == BY_LANGUAGE
    rows = table(lake)
    texts = {"files:" + m["message_id"]: m["text"] for m in fixture_messages()}
    translated = rows.filter(pl.col("status") == "translated")
    assert sorted(translated["conversation_id"].unique()) == NON_ENGLISH
    for mid, text_en in translated.select("message_id", "text_en").iter_rows():
        assert text_en == "[en] " + texts[mid]
    assert set(translated["provider"]) == {provider}
    assert translated["translated_at"].null_count() == 0
    english = rows.filter(pl.col("conversation_id") == "files:en1")
    assert set(english["status"]) == {"english"} and english["text_en"].null_count() == 5


def test_a_rerun_asks_nothing_and_force_asks_again_with_the_same_rows(llm, lake):
    translate_json(lake, "--provider", "openai")
    first = table(lake)
    llm.requests.clear()
    again = translate_json(lake, "--provider", "openai")
    assert llm.requests == [] and again["run"]["partitions"] == 0
    assert again["totals"]["translated_conversations"] == 6
    assert table(lake).equals(first)
    offline = translate_json(lake, "--provider", "local")  # keeps the translations
    assert offline["run"]["partitions"] == 0 and offline["note"] == OFFLINE_NOTE
    assert offline["totals"]["translated_messages"] == 26
    assert table(lake).equals(first)
    forced = translate_json(lake, "--provider", "openai", "--force")
    assert len(llm.requests) == 2  # the cache is bypassed
    assert forced["run"]["translated_conversations"] == 6
    assert table(lake).drop("translated_at").equals(first.drop("translated_at"))
    other = translate_json(lake, "--provider", "gemini")  # another provider: asked again
    assert other["run"]["translated_conversations"] == 6
    assert set(table(lake).filter(pl.col("status") == "translated")["provider"]) == {"gemini"}


def test_a_run_stopped_by_a_refused_key_resumes_where_it_stopped(llm, lake):
    llm.script[:] = ["ok", "401"]
    stopped = invoke("translate", "--lake", str(lake), "--provider", "openai", "--batch-size", "1")
    assert stopped.exit_code == 1
    assert len(stopped.stderr.strip().splitlines()) == 1 and "OPENAI_API_KEY" in stopped.stderr
    rows = table(lake)  # the first day was written
    assert set(rows["conversation_id"]) == {"files:en1", "files:es1", "files:fr1", "files:de1"}
    llm.requests.clear()
    summary = translate_json(lake, "--provider", "openai", "--batch-size", "1")
    assert [sorted(r["ids"]) for r in llm.requests] == [["files:it1", "files:mix1", "files:pt1"]]
    assert summary["totals"]["translated_conversations"] == 6


def test_a_failed_translation_is_recorded_and_retried_next_run(llm, lake):
    llm.script[:] = ["400"]  # the first request is rejected (no retry)
    # one worker: the days' requests go in order, so "the first" is the first day's
    args = ["--provider", "openai", "--workers", "1", "--format", "json"]
    out = invoke("translate", "--lake", str(lake), *args)
    assert out.exit_code == 0
    summary = json.loads(out.stdout)
    assert summary["run"]["failed_conversations"] == 3
    assert "not translated" in out.stderr and "retried on the next run" in out.stderr
    failed = table(lake).filter(pl.col("status") == "failed")
    assert sorted(failed["conversation_id"].unique()) == ["files:de1", "files:es1", "files:fr1"]
    assert failed["error"][0].startswith("request rejected")
    llm.requests.clear()
    retried = translate_json(lake, "--provider", "openai")
    assert [sorted(r["ids"]) for r in llm.requests] == [["files:de1", "files:es1", "files:fr1"]]
    assert retried["totals"]["translated_conversations"] == 6


def test_a_conversation_that_grew_is_translated_again_alone(llm, lake, in_tmp):
    translate_json(lake, "--provider", "openai")
    more = in_tmp / "more.jsonl"
    late = {
        "message_id": "es1-5",
        "conversation_id": "es1",
        "sent_at": "2024-03-04T10:40:00Z",
        "role": "customer",
        "sender_id": "lead-es1",
        "org_id": "acme",
        "text": "Vale, me interesa el descuento para estudiantes.",
    }
    shutil.copy(FIXTURE, more)
    with more.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(late, ensure_ascii=False) + "\n")
    ok("collect", "--source", "files", str(more), "--lake", str(lake), "--no-enrich")
    llm.requests.clear()
    summary = translate_json(lake, "--provider", "openai")
    assert [r["ids"] for r in llm.requests] == [["files:es1"]]
    assert summary["run"]["detected_messages"] == 6
    row = table(lake).filter(pl.col("message_id") == "files:es1-5").row(0, named=True)
    assert row["language"] == "es" and row["text_en"] == "[en] " + late["text"]
    assert table(lake).height == 32  # no duplicate rows


# ---- English text for the other stages ---------------------------------------------------------


def test_english_text_replaces_translated_texts_only(llm, lake):
    target = Lake(str(lake))
    messages = target.read_table("messages").sort("message_id")
    assert english_text(target, messages) is messages  # no translations yet
    translate_json(lake, "--provider", "openai")
    english = english_text(target, messages)
    assert english.columns == messages.columns and english.height == messages.height
    assert english["message_id"].to_list() == messages["message_id"].to_list()
    changed = {
        mid: (old, new)
        for mid, old, new in zip(
            messages["message_id"], messages["text"], english["text"], strict=True
        )
        if old != new
    }
    assert len(changed) == 26 and all(new == "[en] " + old for old, new in changed.values())
    assert not any(mid.startswith("files:en1") for mid in changed)
    # without partition columns, every partition is looked up by id
    plain = english_text(target, messages.drop("year", "month", "day"))
    assert plain["text"].to_list() == english["text"].to_list()


def transcript_hash(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def test_labelers_read_the_translations_with_use_translations(llm, lake):
    translate_json(lake, "--provider", "openai")
    ok("enrich", "--lake", str(lake), "--provider", "openai")
    labels = Lake(str(lake)).read_table("labels")
    es1 = [m for m in fixture_messages() if m["conversation_id"] == "es1"]
    original = [f"{m['role']}: {m['text']}" for m in es1]
    english = [f"{m['role']}: [en] {m['text']}" for m in es1]
    row = labels.filter(pl.col("conversation_id") == "files:es1").row(0, named=True)
    assert row["input_hash"] == transcript_hash(original)
    ok("enrich", "--lake", str(lake), "--provider", "openai", "--use-translations")
    labels = Lake(str(lake)).read_table("labels")
    row = labels.filter(pl.col("conversation_id") == "files:es1").row(0, named=True)
    assert row["input_hash"] == transcript_hash(english)  # what the labeler was sent
    en1 = labels.filter(pl.col("conversation_id") == "files:en1").row(0, named=True)
    assert en1["input_hash"] == transcript_hash(
        [f"{m['role']}: {m['text']}" for m in fixture_messages() if m["conversation_id"] == "en1"]
    )
    llm.requests.clear()  # labels are current: nothing asked again
    ok("enrich", "--lake", str(lake), "--provider", "openai", "--use-translations")
    assert llm.requests == []


def test_the_offline_labeler_finds_the_objection_in_the_english_text(lake):
    translate_json(lake)
    target = Lake(str(lake))
    part = Partition(2024, 3, 4)
    rows = target.read_partition("translations", part)
    english = {
        "files:es1-0": "Hi, I saw your ad and wanted to know how much the monthly plan is.",
        "files:es1-1": "Hi! The monthly plan costs 49 euros and includes e-mail support.",
        "files:es1-2": "It's too expensive for me right now, sorry.",
        "files:es1-3": "I understand. We have a student discount, are you interested?",
        "files:es1-4": "👍",
    }
    rows = rows.with_columns(
        text_en=pl.col("message_id").replace_strict(english, default=None),
        status=pl.when(pl.col("message_id").is_in(list(english)))
        .then(pl.lit("translated"))
        .otherwise(pl.col("status")),
    ).cast(TRANSLATION_SCHEMA)
    target.write_partition("translations", part, rows)
    ok("enrich", "--lake", str(lake), "--provider", "local")
    label = target.read_table("labels").filter(pl.col("conversation_id") == "files:es1")
    assert label["objection"][0] is None  # "Es demasiado caro" holds no keyword
    ok("enrich", "--lake", str(lake), "--provider", "local", "--use-translations")
    label = target.read_table("labels").filter(pl.col("conversation_id") == "files:es1")
    assert label["objection"][0] == "price"
    assert label["objection_quote"][0] == "It's too expensive for me right now, sorry."


# ---- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--lake", "nowhere"], 1, ["has no conversations", "analytics collect"]),
        (["--languages", "en,xx"], 2, ["'xx'", "ISO 639-1"]),
        (["--languages", "en"], 2, ["fewer than two"]),
        (["--format", "xml"], 2, ["--format 'xml'"]),
        (["--provider", "gemini"], 2, ["GEMINI_API_KEY"]),
        (["--provider", "claude"], 2, ["unknown provider 'claude'"]),
        (["--start-date", "2024-03-05", "--end-date", "2024-03-04"], 2, ["--start-date"]),
    ],
)
def test_bad_input_is_one_line_naming_it(lake, args, code, words):
    if "--lake" not in args:
        args = [*args, "--lake", str(lake)]
    result = invoke("translate", *args)
    assert result.exit_code == code, result.output
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and line.startswith("error:")
    for word in words:
        assert word in line


# ---- MongoDB ---------------------------------------------------------------------------------


def test_each_conversation_has_its_translations_document(llm, lake, mongo_uri):  # noqa: F811
    translate_json(lake, "--provider", "openai", "--mongodb-uri", mongo_uri)
    with MongoClient(mongo_uri) as client:
        docs = {d["_id"]: d for d in client[database_name()]["conversation_translations"].find()}
    assert set(docs) == {"files:en1", *NON_ENGLISH}
    es1 = docs["files:es1"]
    assert es1["language"] == "es" and es1["status"] == "translated"
    assert es1["provider"] == "openai" and es1["model"] == "gpt-4o-mini"
    assert [m["message_id"] for m in es1["messages"]] == [f"files:es1-{i}" for i in range(5)]
    assert es1["messages"][2]["text_en"] == "[en] Es demasiado caro para mí ahora mismo, lo siento."
    assert es1["messages"][4]["language"] is None
    en1 = docs["files:en1"]
    assert en1["status"] == "english" and en1["provider"] is None
    assert all(m["text_en"] is None for m in en1["messages"])
    translate_json(lake, "--provider", "openai", "--mongodb-uri", mongo_uri, "--force")
    with MongoClient(mongo_uri) as client:
        again = list(client[database_name()]["conversation_translations"].find())
    assert len(again) == 7  # replaced, never duplicated


def test_scripts_cluster_the_english_text_with_use_translations(llm, lake):
    translate_json(lake, "--provider", "openai")
    ok("scripts", "--lake", str(lake), "--use-translations", "--format", "json")
    built = Lake(str(lake)).read_table("scripts")
    texts = dict(built.select("message_id", "script_text").iter_rows())
    assert texts["files:es1-1"].startswith("en hola")  # "[en] ¡Hola! …", normalised
    assert texts["files:en1-1"].startswith("sorry to hear that")  # English: unchanged


# ---- an S3 lake ------------------------------------------------------------------------------


def test_an_s3_lake_is_translated_the_same_way(llm, s3, moto_server):  # noqa: F811
    ok("collect", "--source", "files", str(FIXTURE), "--lake", s3, "--no-enrich")
    summary = translate_json(s3, "--provider", "openai")
    assert by_language(summary) == BY_LANGUAGE
    assert summary["totals"]["translated_conversations"] == 6
    from analytics_framework.storage.s3 import open_lake

    target = open_lake(s3, os.environ.get("AWS_ENDPOINT_URL"))
    rows = target.read_table("translations")
    assert rows.height == 31 and rows.filter(pl.col("status") == "translated").height == 26
    messages = target.read_table("messages")
    english = english_text(target, messages)
    assert english.filter(pl.col("text").str.starts_with("[en] ")).height == 26
    llm.requests.clear()
    again = translate_json(s3, "--provider", "openai")
    assert llm.requests == [] and again["run"]["partitions"] == 0


# ---- the languages report ----------------------------------------------------------------------


def languages(lake: Path, *args: str) -> list[tuple]:
    out = json.loads(ok("report", "languages", "--lake", str(lake), "--format", "json", *args))
    keys = ("period", "language", "conversations", "share_pct", "messages", "translated")
    return [
        tuple(round(r[k], 2) if isinstance(r[k], float) else r[k] for k in keys) + (r["pending"],)
        for r in out["rows"]
    ]


def test_the_languages_report_counts_conversations_per_language(llm, lake):
    missing = invoke("report", "languages", "--lake", str(lake))
    assert missing.exit_code != 0 and "analytics translate" in missing.output
    translate_json(lake, "--provider", "local")  # offline: detected, six pending
    assert languages(lake, "--period", "daily") == [
        ("2024-03-04", "de", 1, 25.0, 4, 0, 1),
        ("2024-03-04", "en", 1, 25.0, 5, 0, 0),
        ("2024-03-04", "es", 1, 25.0, 5, 0, 1),
        ("2024-03-04", "fr", 1, 25.0, 5, 0, 1),
        ("2024-03-05", "es", 1, 33.33, 4, 0, 1),
        ("2024-03-05", "it", 1, 33.33, 5, 0, 1),
        ("2024-03-05", "pt", 1, 33.33, 3, 0, 1),
    ]
    translate_json(lake, "--provider", "openai")
    monthly = languages(lake, "--period", "monthly")
    assert monthly[0] == ("2024-03-01", "es", 2, 28.57, 9, 2, 0)
    assert [r[1] for r in monthly] == ["es", "de", "en", "fr", "it", "pt"]
    assert {r[1]: r[5] for r in monthly} == {"es": 2, "de": 1, "en": 0, "fr": 1, "it": 1, "pt": 1}
    assert all(r[6] == 0 for r in monthly)  # nothing pending once translated


def test_english_is_always_among_the_languages_told_apart():
    from analytics_framework.insights.languages import parse_languages

    assert parse_languages("es,fr") == ("en", "es", "fr")


def test_piece_ids_never_collide_with_a_conversation_id():
    from analytics_framework.insights.translations import PIECE_CHARS, _pieces

    long = [(f"m{i}", "x" * (PIECE_CHARS // 2 + 1), "es") for i in range(3)]
    pieces, owner = _pieces({"a#0": [("z", "hola", "es")], "a": long})
    assert sorted(owner.values()) == ["a", "a", "a", "a#0"]
    assert [m for m, _, _ in pieces["a#0"]] == ["z"]
    assert sum(len(p) for pid, p in pieces.items() if owner[pid] == "a") == 3
