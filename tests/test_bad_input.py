"""Bad input as a user meets it: one bad line or byte, binary files, options a source ignores."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analytics_cli.app import app
from analytics_framework.sources.base import excerpt
from analytics_framework.storage.lake import Lake

runner = CliRunner()

TWCS_HEADER = (
    "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
)


def invoke(*args: str):
    return runner.invoke(app, list(args))


def one_error_line(result, code: int) -> str:
    """The single stderr line of a failed command, which must be short and printable."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("error: ") and len(line) < 400, line
    assert line.isprintable(), repr(line)
    return line


def quarantined(root: Path) -> dict[str, dict]:
    """The quarantine under ``root/lake/_rejected``, by record."""
    rows = [
        json.loads(line)
        for p in sorted((root / "lake" / "_rejected").rglob("part-*.jsonl"))
        for line in p.read_text(encoding="utf-8").splitlines()
    ]
    return {r["record"]: r for r in rows}


def messages(root: Path):
    return Lake(str(root / "lake")).read_table("messages")


def message_line(i: int, **extra: str) -> str:
    row = {
        "conversation_id": f"c{(i - 1) // 4}",
        "sent_at": f"2024-03-04T09:{i % 60:02d}:00Z",
        "role": "customer" if i % 2 else "agent",
        "text": f"message {i}",
        **extra,
    }
    return json.dumps(row)


def test_one_malformed_jsonl_line_in_2000_is_quarantined_by_its_line(in_tmp):
    lines = [message_line(i) for i in range(1, 2001)]
    lines[1233] = '{"conversation_id": "c308", "sent_at": '  # line 1,234, cut short
    Path("chats.jsonl").write_text("\n".join(lines) + "\n")
    result = invoke("collect", "--source", "files", "chats.jsonl")
    assert result.exit_code == 0, result.output
    assert "1 malformed record(s) quarantined" in result.stdout
    assert messages(in_tmp).height == 1999
    bad = quarantined(in_tmp)
    assert list(bad) == ["chats.jsonl line 1234"]
    assert bad["chats.jsonl line 1234"]["reason"].startswith("not valid JSON: ")
    assert json.loads(bad["chats.jsonl line 1234"]["raw"]).startswith('{"conversation_id"')


def test_later_rejections_name_the_physical_line_and_blank_lines_are_skipped(in_tmp):
    Path("chats.jsonl").write_text(
        "\n".join(
            [
                message_line(1),
                "",  # line 2: blank, skipped
                "{not json",  # line 3
                message_line(2),
                message_line(3, sent_at="yesterday"),  # line 5
                "[1, 2]",  # line 6
                "   ",  # line 7: blank
                message_line(4),
            ]
        )
        + "\n"
    )
    result = invoke("collect", "--source", "files", "chats.jsonl")
    assert result.exit_code == 0, result.output
    assert messages(in_tmp).height == 3
    reasons = {record: row["reason"] for record, row in quarantined(in_tmp).items()}
    assert reasons.keys() == {"chats.jsonl line 3", "chats.jsonl line 5", "chats.jsonl line 6"}
    assert reasons["chats.jsonl line 5"] == "sent_at is missing or not an ISO 8601 time"
    assert reasons["chats.jsonl line 6"] == "not a JSON object (a JSON list)"


def csv_with_bad_byte(row: int) -> bytes:
    lines = ["conversation_id,sent_at,role,text\n"] + [
        f"c{i // 4},2024-03-04T09:{i % 60:02d}:00Z,{'customer' if i % 2 else 'agent'},msg {i}\n"
        for i in range(1, 101)
    ]
    return "".join(lines).encode().replace(b"msg %d\n" % row, b"m\xffsg %d\n" % row)


def jsonl_with_bad_byte(line: int) -> bytes:
    text = "\n".join(message_line(i) for i in range(1, 101)) + "\n"
    return text.encode().replace(b'"message %d"' % line, b'"mess\xffage %d"' % line)


@pytest.mark.parametrize(
    ("name", "content", "record", "reason"),
    [
        (
            "chats.csv",
            csv_with_bad_byte(50),
            "chats.csv row 50",
            "invalid UTF-8 byte 0xff in column text",
        ),
        (
            "chats.jsonl",
            jsonl_with_bad_byte(50),
            "chats.jsonl line 50",
            "invalid UTF-8 byte 0xff at column",
        ),
    ],
)
def test_one_invalid_utf8_byte_quarantines_only_its_record(in_tmp, name, content, record, reason):
    Path(name).write_bytes(content)
    result = invoke("collect", "--source", "files", name)
    assert result.exit_code == 0, result.output
    assert "1 malformed record(s) quarantined" in result.stdout
    assert messages(in_tmp).height == 99
    bad = quarantined(in_tmp)
    assert list(bad) == [record]
    assert bad[record]["reason"].startswith(reason)
    assert "\\xff" in str(json.loads(bad[record]["raw"]))  # raw is JSON, the byte escaped


def test_one_invalid_utf8_byte_in_a_twcs_csv_quarantines_only_its_row(in_tmp):
    rows = [
        b"1,sprintcare,False,Tue Oct 31 22:10:47 +0000 2017,@115712 I understand. ^AB,,2",
        b"2,115712,True,Tue Oct 31 22:08:27 +0000 2017,@sprintcare help me,1,",
        b"3,115713,True,Tue Oct 31 22:00:00 +0000 2017,@sprintcare caf\xff is closed,4,",
        b"4,sprintcare,False,Tue Oct 31 22:05:00 +0000 2017,@115713 sorry about that,,3",
        b"5,115714,True,Tue Oct 31 23:00:00 +0000 2017,@sprintcare hello?,,",
    ]
    Path("tweets.csv").write_bytes(TWCS_HEADER.encode() + b"\n".join(rows) + b"\n")
    result = invoke("collect", "tweets.csv")  # twcs is the default source
    assert result.exit_code == 0, result.output
    assert "1 malformed record(s) quarantined" in result.stdout
    assert sorted(messages(in_tmp)["message_id"]) == ["twcs:1", "twcs:2", "twcs:4", "twcs:5"]
    bad = quarantined(in_tmp)
    assert list(bad) == ["row 3"]
    assert bad["row 3"]["reason"] == "invalid UTF-8 byte 0xff in column text"
    assert json.loads(bad["row 3"]["raw"])["text"] == "@sprintcare caf\\xff is closed"


def test_a_clean_file_is_not_read_line_by_line(in_tmp, monkeypatch):
    def refuse(*_args):
        raise AssertionError("the lenient reading ran on a clean file")

    monkeypatch.setattr("analytics_framework.sources.files.clean_jsonl", refuse)
    monkeypatch.setattr("analytics_framework.sources.files.mark_invalid_utf8", refuse)
    Path("chats.jsonl").write_text("\n".join(message_line(i) for i in range(1, 1500)) + "\n")
    assert invoke("collect", "--source", "files", "chats.jsonl").exit_code == 0


def test_a_wholly_malformed_or_blank_jsonl_file_is_one_input_error(in_tmp):
    Path("chats.jsonl").write_text("conversation_id,sent_at,role,text\nc1,2024-03-04,agent,hi\n")
    line = one_error_line(invoke("collect", "--source", "files", "chats.jsonl"), 1)
    assert "chats.jsonl" in line and "line 1: not valid JSON" in line
    Path("blank.jsonl").write_text("\n  \n\n")
    line = one_error_line(invoke("collect", "--source", "files", "blank.jsonl"), 1)
    assert "no records in" in line and "blank.jsonl" in line


def test_json_given_to_the_twcs_source_gives_a_short_error(in_tmp):
    chats = {
        f"t_{i}": [{"MESSAGE_CONTENT": "x" * 150, "DIRECTION": "to_company"}] for i in range(600)
    }
    Path("grouped_chats.json").write_text(json.dumps(chats))
    assert Path("grouped_chats.json").stat().st_size > 120_000
    line = one_error_line(invoke("collect", "grouped_chats.json"), 1)
    assert "grouped_chats.json" in line and "missing column" in line
    assert "--column-map" not in line  # twcs takes no column map


@pytest.mark.parametrize("source", ["files", "twcs", "facebook"])
def test_a_binary_file_gives_a_short_error(in_tmp, source):
    Path("x.csv").write_bytes(random.Random(7).randbytes(6000))
    line = one_error_line(invoke("collect", "--source", source, "x.csv"), 1)
    assert "x.csv does not look like a text" in line and "binary data at byte" in line


def test_an_option_the_source_does_not_take_is_refused(in_tmp):
    Path("x.csv").write_text(TWCS_HEADER)
    line = one_error_line(invoke("collect", "--source", "twcs", "x.csv", "--column-map", "a=b"), 2)
    assert "--column-map is not an option of the twcs source" in line
    assert "--source files" in line


def test_the_files_source_still_takes_a_column_map(in_tmp):
    Path("x.csv").write_text("thread,sent_at,role,text\nc1,2024-03-04T09:00:00Z,customer,hi\n")
    result = invoke(
        "collect", "--source", "files", "x.csv", "--column-map", "conversation_id=thread"
    )
    assert result.exit_code == 0, result.output
    assert messages(in_tmp)["conversation_id"].to_list() == ["files:c1"]


def test_an_empty_csv_read_as_twcs_does_not_suggest_a_column_map(in_tmp):
    Path("empty.csv").write_text("")
    line = one_error_line(invoke("collect", "--source", "twcs", "empty.csv"), 1)
    assert "--column-map" not in line and "--source" in line


def test_excerpt_is_short_and_escaped():
    assert excerpt(b"\xff\xfeok\x00\n") == "\\xff\\xfeok\\x00\\n"
    long = excerpt("é\ufffd" + "x" * 500)
    assert long.startswith("é\\ufffdx") and long.endswith("…") and len(long) == 80
