"""The mochi source, through the CLI as a user runs it, against a local Mochi server.

The server (tests/mochi_server.py) speaks Mochi's conversations API: DRF page-number pagination
with ``next`` links, ``updated_after`` strictly after, the ``sessionid`` cookie, scripted faults.
Its data is generated (seeded): 500 conversations over 4 organisations, 12 setters, bots and
unassigned leads, with stage histories. Expectations are computed from those objects with plain
Python, independently of the source's polars code.

The hand-built case (:func:`test_two_hand_built_conversations`), all times on 2024-03-04 UTC:

    conversation 101 (setter 31, stage "call booked")
      09:00:00  contact  "hey saw your reel"             <- first customer message
      09:00:05  bot      "Thanks! A setter will reply"   (never a reply)
      09:12:30  setter   "Hi Dana!"                      <- first reply: FRT 750 s
      09:20:00  contact  "sure, how much?"
      09:21:00  setter   "It depends…"                   <- reply: 60 s
      stage_history, given out of order: qualified 10:00, new lead 09:00, call booked 11:30
      -> new lead (previous null), qualified (previous new lead), call booked (previous qualified)

    conversation 102 (no setter, stage "new lead"), on 2024-03-05
      15:00:00  contact, 15:00:02 bot, 15:05:00 contact  -> unanswered: FRT null, no agent
      (the last message has no id: its message_id is the stable hash of DESIGN.md)
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from analytics_cli.app import app
from analytics_framework.model import stable_message_id
from tests.mochi_server import SESSION, MochiServer, generate, parse

runner = CliRunner()
DATA = generate()
ROLE = {"contact": "customer", "setter": "agent", "bot": "bot"}
TABLES = {
    "conversations": ["conversation_id"],
    "messages": ["message_id"],
    "stage_changes": ["conversation_id", "changed_at", "stage"],
}


def collect(server: MochiServer | None, *args: str, **env: str | None):
    """Run ``analytics collect --source mochi`` with the server's URL and the right cookie."""
    base = {"MOCHI_BASE_URL": server.url, "MOCHI_SESSION_ID": SESSION} if server else {}
    return runner.invoke(
        app,
        ["collect", "--source", "mochi", "--no-enrich", "--rps", "0", *args],
        env={**base, **env},
    )


def ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def one_error_line(result, code: int, *needles: str) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and lines[0].isprintable(), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def summary(output: str, row: str) -> int:
    """Return the number in the run summary's row ``row``."""
    match = re.search(rf"{row}\s*│\s*([\d,]+)\s*│", output)
    assert match, output
    return int(match.group(1).replace(",", ""))


def lake(root: Path = Path("lake")) -> dict[str, pl.DataFrame]:
    """Every table of the lake, partition columns included, in a stable row order."""
    return {
        name: pl.read_parquet(str(root / name / "**" / "*.parquet"), hive_partitioning=True).sort(
            keys
        )
        for name, keys in TABLES.items()
    }


def same(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> None:
    for name in TABLES:
        assert a[name].height > 0
        assert a[name].equals(b[name]), name


def expected_frt(conv: dict) -> float | None:
    """First setter message after the first contact message, minus that message, in seconds."""
    msgs = sorted(conv["messages"], key=lambda m: parse(m["sent_at"]))
    first = next((parse(m["sent_at"]) for m in msgs if m["sender_type"] == "contact"), None)
    reply = next(
        (
            parse(m["sent_at"])
            for m in msgs
            if m["sender_type"] == "setter" and first and parse(m["sent_at"]) >= first
        ),
        None,
    )
    return (reply - first).total_seconds() if first and reply else None


def msg(message_id: int, sender_type: str, text: str, sent_at: str) -> dict:
    return {"id": message_id, "sender_type": sender_type, "text": text, "sent_at": sent_at}


def cid(conv: dict) -> str:
    return f"mochi:{conv['id']}"


# ---- the full read -----------------------------------------------------------------------------


def test_a_full_collect_reads_every_conversation_message_and_stage_change(in_tmp):
    data = copy.deepcopy(DATA)
    with MochiServer(data, page_size=50) as server:
        out = ok(collect(server))
    assert len(data) == 500
    n_messages = sum(len(c["messages"]) for c in data)
    n_changes = sum(len(c["stage_history"]) for c in data)
    assert summary(out, "conversations written") == 500
    assert summary(out, "messages written") == n_messages
    assert summary(out, "quarantined") == 0
    # one request per page, pages 1..10 once each, every one with the session cookie
    assert sorted(r["page"] for r in server.requests) == list(range(1, 11))
    assert all(r["authorized"] and "updated_after" not in r["params"] for r in server.requests)

    t = lake()
    conv, msgs, stages = t["conversations"], t["messages"], t["stage_changes"]
    assert conv.height == 500 and msgs.height == n_messages and stages.height == n_changes
    assert conv["conversation_id"].to_list() == sorted(cid(c) for c in data)
    by_id = {cid(c): c for c in data}
    rows = {r["conversation_id"]: r for r in conv.iter_rows(named=True)}
    for key, c in by_id.items():
        row = rows[key]
        setter = c["setter"]
        assert row["assigned_agent_id"] == (str(setter["id"]) if setter else None)
        assert row["stage"] == c["stage"] == c["stage_history"][-1]["stage"]
        assert row["org_id"] == str(c["organization"]["id"])
        assert row["customer_id"] == str(c["contact"]["id"])
        kinds = Counter(m["sender_type"] for m in c["messages"])
        assert (row["customer_messages"], row["agent_messages"], row["bot_messages"]) == (
            kinds["contact"],
            kinds["setter"],
            kinds["bot"],
        )
        assert row["agent_ids"] == ([str(setter["id"])] if kinds["setter"] else [])
        assert row["first_response_s"] == pytest.approx(expected_frt(c))
        first = min(parse(m["sent_at"]) for m in c["messages"])
        assert (row["year"], row["month"], row["day"]) == (first.year, first.month, first.day)
        attributes = json.loads(row["attributes"])
        assert attributes["contact_username"] == c["contact"]["username"]
        assert attributes["organization_name"] == c["organization"]["name"]
        assert attributes["setter_email"] == (setter["email"] if setter else None)
    unassigned = [c for c in data if c["setter"] is None]
    assert unassigned and conv["assigned_agent_id"].null_count() == len(unassigned)
    assert set(conv["stage"]) == {"new lead", "qualified", "call booked", "won", "lost"}

    # messages: roles and senders as mapped
    assert Counter(msgs["role"]) == Counter(
        ROLE[m["sender_type"]] for c in data for m in c["messages"]
    )
    sample = data[0]["messages"][0]
    row = msgs.filter(pl.col("message_id") == f"mochi:{sample['id']}").row(0, named=True)
    assert (row["conversation_id"], row["text"], row["sent_at"]) == (
        cid(data[0]),
        sample["text"],
        parse(sample["sent_at"]),
    )
    assert set(msgs.filter(pl.col("role") == "bot")["sender_id"]) == {None}
    setter_rows = msgs.filter(pl.col("role") == "agent").join(
        conv.select("conversation_id", "assigned_agent_id"), on="conversation_id"
    )
    assert (setter_rows["sender_id"] == setter_rows["assigned_agent_id"]).all()

    # stage_changes: one row per history entry; previous_stage is the entry before it
    assert stages.filter(pl.col("previous_stage").is_null()).height == 500
    assert stages["conversation_id"].value_counts().sort("conversation_id").rows() == sorted(
        (cid(c), len(c["stage_history"])) for c in data
    )
    pairs = Counter(
        (h["stage"], prev["stage"] if prev else None)
        for c in data
        for prev, h in zip([None, *c["stage_history"]], c["stage_history"], strict=False)
    )
    assert Counter(zip(stages["stage"], stages["previous_stage"], strict=True)) == pairs
    assert set(stages["source"]) == {"mochi"}


@pytest.mark.parametrize("wrapped", [False, True], ids=["list", "conversations-object"])
def test_an_export_file_gives_the_same_lake_as_the_api(in_tmp, wrapped):
    with MochiServer(copy.deepcopy(DATA)) as server:
        ok(collect(server, "--lake", "api-lake"))
        path = server.export(in_tmp / "export.json", wrapped=wrapped)
    n = len(server.requests)
    out = ok(collect(None, str(path), "--lake", "file-lake"))  # no MOCHI_* settings needed
    assert len(server.requests) == n
    assert summary(out, "conversations written") == 500
    same(lake(Path("file-lake")), lake(Path("api-lake")))
    again = ok(collect(None, str(path), "--lake", "file-lake"))
    assert "nothing to do" in again and "unchanged" in again  # planned as a file


def test_io_workers_1_and_4_give_identical_lakes(in_tmp):
    with MochiServer(copy.deepcopy(DATA), page_size=20) as server:
        ok(collect(server, "--io-workers", "1", "--lake", "lake1"))
        ok(collect(server, "--io-workers", "4", "--lake", "lake4"))
    assert sorted(r["page"] for r in server.requests) == sorted(list(range(1, 26)) * 2)
    same(lake(Path("lake1")), lake(Path("lake4")))


def test_two_hand_built_conversations(in_tmp):
    day = "2024-03-04T"
    dana = {
        "id": 101,
        "organization": {"id": 7, "name": "Acme Coaching"},
        "contact": {"id": 501, "name": "Dana Reyes", "username": "@dana.fit"},
        "setter": {"id": 31, "name": "Sam Lee", "email": "sam@acme.example"},
        "stage": "call booked",
        "stage_history": [
            {"stage": "qualified", "changed_at": f"{day}10:00:00Z", "changed_by": 31},
            {"stage": "new lead", "changed_at": f"{day}09:00:00Z", "changed_by": None},
            {"stage": "call booked", "changed_at": f"{day}11:30:00Z", "changed_by": 31},
        ],
        "messages": [
            msg(1, "contact", "hey saw your reel", f"{day}09:00:00Z"),
            msg(2, "bot", "Thanks! A setter will reply", f"{day}09:00:05Z"),
            msg(3, "setter", "Hi Dana!", f"{day}09:12:30Z"),
            msg(4, "contact", "sure, how much?", f"{day}09:20:00Z"),
            msg(5, "setter", "It depends…", f"{day}09:21:00Z"),
        ],
        "created_at": f"{day}09:00:00Z",
        "updated_at": f"{day}11:30:00.5Z",
        "source_platform": "instagram",
    }
    lead = {
        "id": 102,
        "organization": {"id": 7, "name": "Acme Coaching"},
        "contact": {"id": 502, "name": "Eli", "username": "@eli"},
        "setter": None,
        "stage": "new lead",
        "stage_history": [
            {"stage": "new lead", "changed_at": "2024-03-05T15:00:00Z", "changed_by": None}
        ],
        "messages": [
            msg(6, "contact", "info?", "2024-03-05T15:00:00Z"),
            msg(7, "bot", "Hi! 👋", "2024-03-05T15:00:02Z"),
            {"sender_type": "contact", "text": "hello??", "sent_at": "2024-03-05T15:05:00Z"},
        ],
        "created_at": "2024-03-05T15:00:00Z",
        "updated_at": "2024-03-05T15:00:02Z",
    }
    with MochiServer([dana, lead], page_size=1) as server:
        ok(collect(server))
    assert [r["page"] for r in server.requests] == [1, 2]
    t = lake()
    a, b = t["conversations"].rows(named=True)
    assert (a["conversation_id"], a["first_response_s"], a["response_times_s"]) == (
        "mochi:101",
        750.0,
        [750.0, 60.0],
    )
    assert (a["assigned_agent_id"], a["stage"], a["customer_id"], a["agent_ids"]) == (
        "31",
        "call booked",
        "501",
        ["31"],
    )
    assert (a["bot_messages"], a["day"]) == (1, 4)
    assert json.loads(a["attributes"]) == {
        "contact_name": "Dana Reyes",
        "contact_username": "@dana.fit",
        "organization_name": "Acme Coaching",
        "setter_name": "Sam Lee",
        "setter_email": "sam@acme.example",
        "created_at": f"{day}09:00:00Z",
        "updated_at": f"{day}11:30:00.5Z",
        "source_platform": "instagram",
    }
    assert (b["conversation_id"], b["first_response_s"], b["assigned_agent_id"]) == (
        "mochi:102",
        None,
        None,
    )
    assert (b["agent_ids"], b["stage"], b["day"]) == ([], "new lead", 5)
    at = datetime(2024, 3, 5, 15, 5, tzinfo=UTC)
    no_id = stable_message_id("mochi:", "mochi:102", int(at.timestamp() * 1e6), "502", "hello??")
    assert t["messages"].sort("sent_at").select("message_id", "role", "sender_id").rows() == [
        ("mochi:1", "customer", "501"),
        ("mochi:2", "bot", None),
        ("mochi:3", "agent", "31"),
        ("mochi:4", "customer", "501"),
        ("mochi:5", "agent", "31"),
        ("mochi:6", "customer", "502"),
        ("mochi:7", "bot", None),
        (no_id, "customer", "502"),  # a message without an id: a stable hash
    ]
    assert t["stage_changes"].select(
        "conversation_id", "stage", "previous_stage", "changed_by", "org_id", "day"
    ).rows() == [
        ("mochi:101", "new lead", None, None, "7", 4),
        ("mochi:101", "qualified", "new lead", "31", "7", 4),
        ("mochi:101", "call booked", "qualified", "31", "7", 4),
        ("mochi:102", "new lead", None, None, "7", 5),
    ]


# ---- incremental -------------------------------------------------------------------------------


def test_an_incremental_run_reads_exactly_the_changed_conversations(in_tmp):
    data = copy.deepcopy(DATA)
    with MochiServer(data) as server:
        ok(collect(server))
        newest = max(parse(c["updated_at"]) for c in data)
        before = lake()
        changed = [data[i]["id"] for i in (0, 3, 77, 150, 299, 420, 499)]
        server.change(changed)
        n = len(server.requests)
        out = ok(collect(server, "--lookback", "0s"))
        check, read = server.requests[n:]
        # one cheap question first, strictly after the cursor (the newest updated_at seen)
        assert check["params"]["page_size"] == "1" and check["count"] == 7
        assert parse(check["params"]["updated_after"]) == newest
        assert parse(read["params"]["updated_after"]) == newest and read["count"] == 7
        assert summary(out, "conversations written") == 7

        after = lake()
        by_id = {cid(c): c for c in data}
        assert after["conversations"].height == 500
        assert after["messages"].height == sum(len(c["messages"]) for c in data)
        assert after["stage_changes"].height == sum(len(c["stage_history"]) for c in data)
        keys = [f"mochi:{i}" for i in changed]
        for row in (
            after["conversations"].filter(pl.col("conversation_id").is_in(keys)).rows(named=True)
        ):
            c = by_id[row["conversation_id"]]
            assert row["message_count"] == len(c["messages"]) and row["stage"] == c["stage"]
        untouched = ~pl.col("conversation_id").is_in(keys)
        assert (
            after["conversations"]
            .filter(untouched)
            .equals(before["conversations"].filter(untouched))
        )

        n = len(server.requests)
        out = ok(collect(server, "--lookback", "0s"))
        assert "nothing to do" in out and "nothing changed" in out
        [check] = server.requests[n:]
        assert check["count"] == 0
        assert parse(check["params"]["updated_after"]) == max(parse(c["updated_at"]) for c in data)


def test_a_conversation_changed_during_a_read_is_read_by_the_next_run(in_tmp):
    """Newest first, a conversation changed mid-read jumps to page 1 (already read).

    The pages after it shift by one, so one conversation comes twice (kept once); the changed
    one is newer than the cursor, so the next run reads it.
    """
    data = copy.deepcopy(DATA)
    with MochiServer(data, page_size=50) as server:
        late = server.ordered(data)[260]["id"]  # on page 6
        server.before_page[3] = lambda: server.change([late])
        ok(collect(server, "--io-workers", "1"))
        first = lake()
        assert first["conversations"].height == 499
        assert f"mochi:{late}" not in first["conversations"]["conversation_id"].to_list()
        out = ok(collect(server, "--lookback", "0s"))
        assert summary(out, "conversations written") == 1
    t = lake()
    assert t["conversations"].height == 500
    assert t["messages"]["message_id"].is_unique().all()
    assert t["messages"].height == sum(len(c["messages"]) for c in data)


def test_oldest_first_paging_keeps_the_cursor_below_a_newer_copy_skipped(in_tmp):
    """Oldest first, a conversation changed mid-read moves to the last page and comes twice.

    A (page 1, read) and then B (page 8, not yet read) change before page 3: the read keeps A's
    old copy and B's new one, so the cursor, B's updated_at, must be held below A's new one
    for the next run to read A again. The documented limit of such an order: the unchanged
    conversation that shifted onto page 2 (already read) is missed until --full-refresh.
    """
    data = copy.deepcopy(DATA)
    with MochiServer(data, page_size=50, ordering="updated_at") as server:
        order = server.ordered(data)
        a, b, shifted = order[10], order[370], order[100]
        server.before_page[3] = lambda: server.change([a["id"], b["id"]])
        ok(collect(server, "--io-workers", "1"))
        counts = dict(lake()["conversations"].select("conversation_id", "message_count").rows())
        assert counts[cid(a)] < len(a["messages"]) and counts[cid(b)] == len(b["messages"])
        assert cid(shifted) not in counts and len(counts) == 499
        n = len(server.requests)
        out = ok(collect(server, "--lookback", "0s"))
        assert server.requests[n]["count"] == 2  # A and B: the cursor stayed below A
        assert summary(out, "conversations written") == 2
        counts = dict(lake()["conversations"].select("conversation_id", "message_count").rows())
        assert counts[cid(a)] == len(a["messages"])
        ok(collect(server, "--full-refresh"))
    assert lake()["conversations"].height == 500


def test_a_page_past_the_end_ends_the_read(in_tmp):
    """Conversations deleted during the read: page 10 of what page 1 counted is DRF's 404."""
    data = copy.deepcopy(DATA)
    with MochiServer(data, page_size=50) as server:
        oldest = {c["id"] for c in server.ordered(data)[440:]}

        def delete() -> None:
            data[:] = [c for c in data if c["id"] not in oldest]

        server.before_page[2] = delete
        out = ok(collect(server, "--io-workers", "1"))
    assert [r["page"] for r in server.requests] == list(range(1, 11))
    assert summary(out, "conversations written") == 440


# ---- faults ------------------------------------------------------------------------------------


def test_a_429_with_retry_after_and_a_burst_of_500s_are_waited_out(in_tmp):
    with MochiServer(copy.deepcopy(DATA)) as server:
        server.page_faults = {2: ["429:1"], 3: ["500", "500"]}
        out = ok(collect(server))
    assert summary(out, "conversations written") == 500
    page2, page3 = server.requests_for(2), server.requests_for(3)
    assert len(page2) == 2 and page2[1]["at"] - page2[0]["at"] >= 1.0  # Retry-After, a floor
    assert len(page3) == 3
    assert lake()["conversations"].height == 500


@pytest.mark.parametrize(
    ("server_kw", "session", "fault"),
    [
        ({}, "expired-0ld-c00kie", None),
        ({"auth_status": 403}, "expired-0ld-c00kie", None),
        ({"login_redirect": True}, "expired-0ld-c00kie", None),
        ({}, SESSION, "login"),  # the session ends in the middle of the read
        ({}, SESSION, "401"),
    ],
    ids=["401", "403", "redirect-to-login", "login-on-page-4", "401-on-page-4"],
)
def test_an_expired_session_is_one_line_naming_mochi_session_id(in_tmp, server_kw, session, fault):
    with MochiServer(copy.deepcopy(DATA), **server_kw) as server:
        if fault:
            server.page_faults = {4: [fault]}
        result = collect(server, MOCHI_SESSION_ID=session)
    line = one_error_line(
        result, 1, "Mochi session expired", "sessionid cookie", "MOCHI_SESSION_ID"
    )
    assert session not in line and server.url in line
    assert not Path("lake/conversations").exists()


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"MOCHI_BASE_URL": None}, "MOCHI_BASE_URL"),
        ({"MOCHI_SESSION_ID": None}, "MOCHI_SESSION_ID"),
        ({"MOCHI_BASE_URL": None, "MOCHI_SESSION_ID": None}, "MOCHI_BASE_URL, MOCHI_SESSION_ID"),
    ],
)
def test_missing_settings_are_one_line(in_tmp, env, missing):
    with MochiServer([]) as server:
        result = collect(server, **env)
    one_error_line(result, 2, f"the mochi source needs {missing}", "export.json")
    assert server.requests == []


@pytest.mark.parametrize(
    ("page", "fault", "needles"),
    [
        (1, "html", ("not JSON", "/api/conversations/", "base URL")),
        (
            3,
            "notdrf",
            ("page 3", "Django REST framework pagination", "MOCHI_BASE_URL", "keys data, total"),
        ),
    ],
    ids=["not-json", "not-drf"],
)
def test_a_page_that_is_not_drf_json_is_one_line(in_tmp, page, fault, needles):
    with MochiServer(copy.deepcopy(DATA)) as server:
        server.page_faults = {page: [fault]}
        result = collect(server, "--io-workers", "1")
    one_error_line(result, 1, *needles)


def test_an_export_file_that_is_not_json_is_one_line(in_tmp):
    Path("export.json").write_text('[{"id": 1, "messages": [}', encoding="utf-8")
    one_error_line(collect(None, "export.json"), 1, "export.json as mochi input", "unallowed token")
    Path("export.json").write_text("id,text\n1,hi\n", encoding="utf-8")
    one_error_line(collect(None, "export.json"), 1, "not a JSON list or object")
    one_error_line(collect(None, "missing.json"), 2, "input file not found: missing.json")


def test_malformed_records_are_quarantined_and_the_rest_loads(in_tmp):
    data = copy.deepcopy(DATA)
    no_id = data[3]
    del no_id["id"]
    del data[10]["messages"][1]["sent_at"]
    data[20]["messages"][0]["sender_type"] = "admin"
    staged = next(c for c in data[30:] if len(c["stage_history"]) >= 2)
    staged["stage_history"][0]["changed_at"] = "yesterday"
    with MochiServer(data) as server:
        order = [c.get("id") for c in server.ordered(data)]
        out = ok(collect(server))

    def place(conv: dict) -> str:
        i = order.index(conv.get("id"))
        return f"page {i // 50 + 1} item {i % 50}"

    assert summary(out, "quarantined") == 4
    lines = [
        json.loads(line)
        for f in sorted(Path("lake/_rejected").glob("**/*.jsonl"))
        for line in f.read_text().splitlines()
    ]
    assert sorted((r["record"], r["reason"]) for r in lines) == sorted(
        [
            (place(no_id), "conversation has no id"),
            (
                f"{place(data[10])} (id {data[10]['id']}) message 1",
                "sent_at is missing or not a time",
            ),
            (
                f"{place(data[20])} (id {data[20]['id']}) message 0",
                "sender_type is not one of contact, setter, bot",
            ),
            (
                f"{place(staged)} (id {staged['id']}) stage_history 0",
                "changed_at is missing or not a time",
            ),
        ]
    )
    assert json.loads(lines[0]["raw"])  # the record as it came, JSON
    t = lake()
    assert t["conversations"].height == 499
    assert (
        t["messages"].height == sum(len(c["messages"]) for c in data) - len(no_id["messages"]) - 2
    )
    assert (
        t["stage_changes"].height
        == sum(len(c["stage_history"]) for c in data) - len(no_id["stage_history"]) - 1
    )
    left = t["stage_changes"].filter(pl.col("conversation_id") == cid(staged))
    assert left["stage"].to_list() == [h["stage"] for h in staged["stage_history"][1:]]
    assert left["previous_stage"][0] is None  # the first entry left is now the first


def test_the_cursor_is_sent_in_utc_with_microseconds(in_tmp):
    data = copy.deepcopy(DATA[:3])
    data[0]["updated_at"] = "2024-04-30T23:59:59.000001+02:00"  # the newest, with an offset
    with MochiServer(data) as server:
        ok(collect(server))
        ok(collect(server, "--lookback", "0s"))
    sent = server.requests[-1]["params"]["updated_after"]
    newest = max(parse(c["updated_at"]) for c in data)
    assert sent == "2024-04-30T21:59:59.000001Z" and parse(sent) == newest


@pytest.mark.parametrize(
    ("session", "code", "needle"),
    [
        (SESSION, 0, "session accepted, 500 conversation(s)"),
        ("stale", 1, "copy a fresh sessionid cookie into MOCHI_SESSION_ID"),
    ],
)
def test_doctor_checks_the_server_and_the_session(in_tmp, session, code, needle):
    with MochiServer(copy.deepcopy(DATA)) as server:
        result = runner.invoke(
            app,
            ["doctor"],
            env={"MOCHI_BASE_URL": server.url, "MOCHI_SESSION_ID": session, "COLUMNS": "250"},
        )
    assert result.exit_code == code, result.output
    assert needle in result.output
    assert [r["params"] for r in server.requests] == [{"page_size": "1", "page": "1"}]
