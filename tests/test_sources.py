"""The files and facebook sources: formats, column maps, autoresponses, quarantine."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from analytics_framework.errors import ConfigurationError, InputError, InputNotFoundError
from analytics_framework.pipeline import collect
from analytics_framework.settings import load_settings
from analytics_framework.sources.facebook import FacebookSource
from analytics_framework.sources.files import FilesSource
from analytics_framework.storage.lake import Lake

ROWS = [
    {
        "conversation_id": "c1",
        "sent_at": "2024-03-04T09:00:00Z",
        "role": "customer",
        "text": "hi",
        "message_id": "m1",
        "sender_id": "u1",
        "org_id": "acme",
    },
    {
        "conversation_id": "c1",
        "sent_at": "2024-03-04 09:02:00",
        "role": "agent",
        "text": "hello",
        "message_id": "m2",
        "sender_id": "a1",
        "org_id": "acme",
    },
    {
        "conversation_id": "c2",
        "sent_at": "2024-03-04T11:00:00+02:00",
        "role": "user",
        "text": "q",
        "message_id": "m3",
        "sender_id": "u2",
        "org_id": "acme",
    },
]


def load(path: Path, tmp_path: Path, **opts) -> tuple[Lake, object]:
    lake = Lake(str(tmp_path / "lake"))
    return lake, collect(FilesSource(str(path), load_settings(), opts), lake)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_files_source_reads_each_format_the_same(tmp_path, fmt):
    df = pl.DataFrame(ROWS)
    path = tmp_path / f"in.{fmt}"
    {"jsonl": df.write_ndjson, "csv": df.write_csv, "parquet": df.write_parquet}[fmt](path)
    lake, s = load(path, tmp_path)
    conv = lake.read_table("conversations").sort("conversation_id")
    assert conv["conversation_id"].to_list() == ["files:c1", "files:c2"]
    assert conv["first_response_s"].to_list() == [120.0, None]
    # "+02:00" is converted to UTC; "user" reads as customer
    c2 = conv.row(1, named=True)
    assert c2["started_at"].hour == 9 and c2["customer_messages"] == 1


def test_parquet_timestamps_are_used_as_they_are(tmp_path):
    df = pl.DataFrame(ROWS[:2]).with_columns(
        sent_at=pl.Series(["2024-03-04T09:00:00", "2024-03-04T09:00:30"]).str.to_datetime()
    )
    df.write_parquet(tmp_path / "x.parquet")
    lake, _ = load(tmp_path / "x.parquet", tmp_path)
    assert lake.read_table("conversations")["first_response_s"].to_list() == [30.0]


def test_column_map_reads_differently_named_columns(tmp_path):
    df = pl.DataFrame(ROWS).rename({"conversation_id": "thread", "sent_at": "ts", "text": "body"})
    df.write_csv(tmp_path / "x.csv")
    lake, s = load(
        tmp_path / "x.csv",
        tmp_path,
        column_map=["conversation_id=thread", "sent_at=ts", "text=body"],
    )
    assert s.messages_written == 3
    with pytest.raises(InputError, match="missing column"):
        load(tmp_path / "x.csv", tmp_path)


def test_bad_column_map_is_a_usage_error(tmp_path):
    pl.DataFrame(ROWS).write_csv(tmp_path / "x.csv")
    with pytest.raises(ConfigurationError, match="CANONICAL=YOURS"):
        load(tmp_path / "x.csv", tmp_path, column_map=["oops"])


def test_folder_and_glob_inputs(tmp_path):
    (tmp_path / "in").mkdir()
    pl.DataFrame(ROWS[:2]).write_ndjson(tmp_path / "in" / "a.jsonl")
    pl.DataFrame(ROWS[2:]).write_csv(tmp_path / "in" / "b.csv")
    _, s = load(tmp_path / "in", tmp_path)
    assert s.conversations_written == 2
    _, s = load(Path(str(tmp_path / "in" / "*.jsonl")), tmp_path)
    assert s.conversations_written == 1
    with pytest.raises(InputNotFoundError):
        load(tmp_path / "nope", tmp_path)


def test_malformed_records_are_quarantined_not_dropped(tmp_path):
    rows = ROWS + [
        {
            "conversation_id": "c3",
            "sent_at": "not a time",
            "role": "customer",
            "text": "x",
            "message_id": "m4",
            "sender_id": None,
            "org_id": None,
        },
        {
            "conversation_id": "c3",
            "sent_at": "2024-03-04T09:00:00Z",
            "role": "wizard",
            "text": "x",
            "message_id": "m5",
            "sender_id": None,
            "org_id": None,
        },
        {
            "conversation_id": None,
            "sent_at": "2024-03-04T09:00:00Z",
            "role": "agent",
            "text": "x",
            "message_id": "m6",
            "sender_id": None,
            "org_id": None,
        },
        ROWS[0],  # a duplicate message id
    ]
    pl.DataFrame(rows).write_ndjson(tmp_path / "x.jsonl")
    lake, s = load(tmp_path / "x.jsonl", tmp_path)
    assert (s.rows_read, s.messages_written, s.quarantined) == (7, 3, 4)
    rejected = [
        json.loads(line)
        for p in (tmp_path / "lake" / "_rejected").rglob("part-*.jsonl")
        for line in p.read_text().splitlines()
    ]
    reasons = sorted(r["reason"] for r in rejected)
    assert reasons == [
        "conversation_id is missing",
        "duplicate message_id (first kept)",
        "role is not one of customer, agent, bot, system",
        "sent_at is missing or not an ISO 8601 time",
    ]
    assert {r["record"] for r in rejected} >= {"x.jsonl row 4", "x.jsonl row 5", "x.jsonl row 6"}
    assert all(r["raw"] for r in rejected)


def test_missing_message_ids_get_a_stable_hash(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "message_id"} for r in ROWS]
    pl.DataFrame(rows).write_ndjson(tmp_path / "x.jsonl")
    lake, _ = load(tmp_path / "x.jsonl", tmp_path)
    first = lake.read_table("messages")["message_id"].sort().to_list()
    lake2 = Lake(str(tmp_path / "lake2"))
    collect(FilesSource(str(tmp_path / "x.jsonl"), load_settings()), lake2)
    assert lake2.read_table("messages")["message_id"].sort().to_list() == first
    assert all(m.startswith("files:") and len(m) == len("files:") + 16 for m in first)


def test_csat_and_status_columns_reach_the_conversation(tmp_path):
    rows = [dict(r, status="closed", csat_rating="5") for r in ROWS[:2]]
    pl.DataFrame(rows).write_csv(tmp_path / "x.csv")
    lake, _ = load(tmp_path / "x.csv", tmp_path)
    c = lake.read_table("conversations").row(0, named=True)
    assert (c["status"], c["csat_rating"], c["resolution_s"]) == ("closed", 5, 120.0)


FB = {
    "t_100": [
        {
            "MESSAGE_CONTENT": "Where is my order?",
            "DIRECTION": "to_company",
            "SOCIAL_CREATE_TIME": "2024-05-01T10:00:00Z",
            "AGENT_USERNAME": None,
            "AGENT_EMAIL": None,
        },
        {
            "MESSAGE_CONTENT": "Thanks for writing! *977# We answer within a day.",
            "DIRECTION": "to_client",
            "SOCIAL_CREATE_TIME": "2024-05-01T10:00:03Z",
            "AGENT_USERNAME": "page",
            "AGENT_EMAIL": None,
        },
        {
            "MESSAGE_CONTENT": "Let me check, one moment.",
            "DIRECTION": "to_client",
            "SOCIAL_CREATE_TIME": "2024-05-01T10:15:00Z",
            "AGENT_USERNAME": "maria",
            "AGENT_EMAIL": "maria@example.com",
        },
    ],
    "t_200": [
        {
            "MESSAGE_CONTENT": "hello?",
            "DIRECTION": "to_company",
            "SOCIAL_CREATE_TIME": "2024-05-02T08:00:00+00:00",
            "AGENT_USERNAME": None,
            "AGENT_EMAIL": None,
        },
        {
            "MESSAGE_CONTENT": "??",
            "DIRECTION": "sideways",
            "SOCIAL_CREATE_TIME": "2024-05-02T08:01:00+00:00",
            "AGENT_USERNAME": None,
            "AGENT_EMAIL": None,
        },
    ],
}


def test_facebook_autoresponse_is_a_bot_and_not_a_reply(tmp_path):
    path = tmp_path / "grouped_chats.json"
    path.write_text(json.dumps(FB))
    lake = Lake(str(tmp_path / "lake"))
    s = collect(FacebookSource(str(path), load_settings()), lake, batch_size=1)
    assert (s.rows_read, s.messages_written, s.quarantined) == (5, 4, 1)
    conv = lake.read_table("conversations").sort("conversation_id")
    first = conv.row(0, named=True)
    assert first["conversation_id"] == "facebook:t_100"
    assert first["bot_messages"] == 1 and first["agent_messages"] == 1
    assert first["first_response_s"] == 900.0  # 10:15 - 10:00; the 10:00:03 autoresponse skipped
    assert first["agent_ids"] == ["maria@example.com"]
    assert conv.row(1, named=True)["first_response_s"] is None  # unanswered


def test_facebook_invalid_json_is_an_input_error(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"t_1": [{"MESSAGE_CONTENT": "hi", ')
    with pytest.raises(InputError, match="not valid grouped_chats JSON"):
        collect(FacebookSource(str(path), load_settings()), Lake(str(tmp_path / "lake")))
