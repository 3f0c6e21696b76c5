"""The messenger source: a Facebook/Messenger "Download your information" export, zip or folder.

The real export (tests/data/messenger, see its SOURCE.txt) is one thread between Alice and Bob,
in descending timestamp_ms order. Bob owns the export, so with --page-name Bob:

    ms since epoch   sender  content                       role
    1415147240411    Bob     (photo)                       agent
    1415147254275    Bob     (sticker)                     agent
    1415147297141    Alice   (audio clip)                  customer  <- first customer message
    1415147308604    Bob     (file blabla.docx)            agent     <- first reply: 11.463 s
    1415147325354    Bob     you what                      agent
    1415147681489    Bob     Whats up!                     agent
    1415147732056    Alice   Hello                         customer  (never answered)

7 messages: 2 customer, 5 agent; FRT = 1415147308604 - 1415147297141 ms = 11.463 s, the only
response time. Every other input is built in tmp_path.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from analytics_cli.app import app
from analytics_framework.errors import ConfigurationError, InputError, InputNotFoundError
from analytics_framework.pipeline import collect
from analytics_framework.settings import load_settings
from analytics_framework.sources import SOURCES
from analytics_framework.sources.files import FilesSource
from analytics_framework.sources.messenger import MessengerSource, fix_mojibake
from analytics_framework.storage.lake import Lake
from tests.conftest import DATA

runner = CliRunner()
REAL = DATA / "messenger"
T = 1_709_542_800_000  # 2024-03-04T09:00:00Z in ms
PAGE = "Café Olé"


def invoke(*args: str):
    return runner.invoke(app, list(args))


def one_error_line(result, code: int, *needles: str) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and lines[0].isprintable(), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def mojibake(text: str) -> str:
    """What Facebook writes for ``text``: each UTF-8 byte as a code point."""
    return text.encode("utf-8").decode("latin-1")


def msg(sender: str, second: int, content: str | None = None, **extra) -> dict:
    """A message as the export writes it (mojibake in every string)."""
    m = {"sender_name": mojibake(sender), "timestamp_ms": T + second * 1000, **extra}
    if content is not None:
        m["content"] = mojibake(content)
    return m


def write_export(
    root: Path, threads: dict[str, tuple[str, list[list[dict]]]], page: str = PAGE
) -> Path:
    """Write ``messages/inbox/<thread>/message_N.json``, one file per list of messages.

    ``threads`` maps each thread's folder to (its customer, its files); each file lists its
    messages newest first, as Facebook does (they are given oldest first).
    """
    for thread, (customer, files) in threads.items():
        folder = root / "messages" / "inbox" / thread
        folder.mkdir(parents=True)
        for n, messages in enumerate(files, start=1):
            doc = {
                "participants": [{"name": mojibake(customer)}, {"name": mojibake(page)}],
                "messages": messages[::-1],
                "title": mojibake(customer),
                "thread_type": "Regular",
                "thread_path": f"inbox/{thread}",
            }
            (folder / f"message_{n}.json").write_text(json.dumps(doc, indent=1))
    return root


def zip_folder(folder: Path, dest: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                zf.write(f, prefix + f.relative_to(folder).as_posix())
    return dest


def lake_table(root: Path, table: str) -> pl.DataFrame:
    return pl.read_parquet(root / "lake" / table / "**" / "*.parquet", hive_partitioning=False)


def quarantined(root: Path) -> dict[str, dict]:
    rows = [
        json.loads(line)
        for p in sorted((root / "lake" / "_rejected").rglob("part-*.jsonl"))
        for line in p.read_text(encoding="utf-8").splitlines()
    ]
    return {r["record"]: r for r in rows}


def api_collect(path: Path, lake: Path, **options) -> object:
    return collect(MessengerSource(str(path), load_settings(), options), Lake(str(lake)))


def two_threads(root: Path) -> Path:
    """Alice's thread split over message_1.json (newest) and message_2.json; Zoë's in one file.

    alice_aaaa: Alice 0 s, page 90 s (FRT 90), Alice 300 s, page 600 s (response 300);
    zoe_bbbb: Zoë 1000 s, page 1030 s (FRT 30), with a photo, a share, reactions, a call.
    """
    alice_new = [msg("Alice", 300, "merci !"), msg(PAGE, 600, "Avec plaisir 😊")]
    alice_old = [msg("Alice", 0, "Où est ma commande ?"), msg(PAGE, 90, "Je regarde, Alice.")]
    zoe = [
        msg("Zoë", 1000, "Voilà la photo", photos=[{"uri": "photos/1.jpg"}]),
        msg(
            "Zoë",
            1010,
            reactions=[{"reaction": mojibake("❤"), "actor": mojibake(PAGE)}],
            share={"link": "https://example.com/p/1"},
        ),
        msg(PAGE, 1030, "Reçu, merci Zoë"),
        msg(PAGE, 1100, call_duration=42, type="Call"),
        msg("Zoë", 1200, "", is_unsent=True),
    ]
    return write_export(
        root, {"alice_aaaa": ("Alice", [alice_new, alice_old]), "zoe_bbbb": ("Zoë", [zoe])}
    )


# ---- the real export ------------------------------------------------------------------------


def test_real_export_collected_with_page_name_then_reported(in_tmp):
    s = api_collect(REAL, in_tmp / "lake", page_name="Bob")
    assert (s.rows_read, s.messages_written, s.conversations_written, s.quarantined) == (7, 7, 1, 0)
    result = invoke("report", "--format", "json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["rows"]
    assert (row["period"], row["conversations"], row["messages"]) == ("2014-11-05", 1, 7)
    assert (row["customers"], row["answered"], row["unanswered"]) == (1, 1, 0)
    assert row["frt_mean_s"] == pytest.approx(11.463)
    assert (row["replies"], row["response_mean_s"]) == (1, pytest.approx(11.463))
    conv = lake_table(in_tmp, "conversations").row(0, named=True)
    assert conv["conversation_id"] == "messenger:alice_aaaaaaaaaa"
    assert (conv["customer_messages"], conv["agent_messages"], conv["bot_messages"]) == (2, 5, 0)
    assert (conv["org_id"], conv["customer_id"], conv["agent_ids"]) == ("Bob", "Alice", ["Bob"])
    assert conv["first_response_s"] == pytest.approx(11.463)
    assert conv["started_at"].isoformat() == "2014-11-05T00:27:20.411000+00:00"
    assert json.loads(conv["attributes"])["thread_type"] == "Regular"


def test_real_export_media_only_messages_keep_their_attachment(in_tmp):
    api_collect(REAL, in_tmp / "lake", page_name="Bob")
    m = lake_table(in_tmp, "messages").sort("sent_at")
    assert m["text"].to_list() == ["", "", "", "", "you what", "Whats up!", "Hello"]
    kinds = [
        next(k for k in json.loads(a) if k in {"photos", "sticker", "audio_files", "files"})
        for a in m["attributes"][:4]
    ]
    assert kinds == ["photos", "sticker", "audio_files", "files"]
    photo = json.loads(m["attributes"][0])
    assert photo["photos"][0]["uri"] == "messages/inbox/alice_aaaaaaaaaa/photos/123123123123123.jpg"
    assert photo["ip"] == "1.1.1.1"  # unknown fields are kept too
    assert m["role"].to_list() == ["agent", "agent", "customer"] + ["agent"] * 3 + ["customer"]
    assert set(m["sender_id"]) == {"Alice", "Bob"}
    assert all(i.startswith("messenger:") for i in m["message_id"])


# needs the --page-name CLI option
def test_real_export_through_the_cli_with_page_name(in_tmp):
    shutil.copytree(REAL, in_tmp / "export")
    result = invoke(
        "collect", "--source", "messenger", "export", "--page-name", "Bob", "--no-enrich"
    )
    assert result.exit_code == 0, result.output
    (row,) = json.loads(invoke("report", "--format", "json").stdout)["rows"]
    assert (row["conversations"], row["messages"]) == (1, 7)
    assert row["frt_mean_s"] == pytest.approx(11.463)
    conv = lake_table(in_tmp, "conversations").row(0, named=True)
    assert (conv["customer_messages"], conv["agent_messages"]) == (2, 5)
    result = invoke("collect", "--source", "messenger", "export", "--page-name", "Bobby")
    one_error_line(result, 2, "--page-name 'Bobby' is not a participant", "'Alice', 'Bob'")


def test_real_export_without_page_name_says_to_pass_it(in_tmp):
    shutil.copytree(REAL, in_tmp / "export")
    result = invoke("collect", "--source", "messenger", "export", "--no-enrich")
    one_error_line(
        result, 2, "export", "only thread has 2 participants (Alice, Bob)", "--page-name"
    )


def test_zipped_export_gives_identical_lake_rows(tmp_path):
    zipped = zip_folder(REAL, tmp_path / "facebook-bob.zip")
    api_collect(REAL, tmp_path / "a" / "lake", page_name="Bob")
    api_collect(zipped, tmp_path / "b" / "lake", page_name="Bob")
    for table, keys in (("messages", ["message_id"]), ("conversations", ["conversation_id"])):
        a = lake_table(tmp_path / "a", table).sort(keys)
        b = lake_table(tmp_path / "b", table).sort(keys)
        assert a.height > 0 and a.equals(b), table
    # the zip itself is what identifies the input
    src = MessengerSource(str(zipped), load_settings(), {"page_name": "Bob"})
    assert list(src.identity().files) == [str(zipped.resolve())]
    assert src.origin == str(zipped)


def test_zip_with_a_top_folder_is_read(tmp_path):
    zipped = zip_folder(REAL, tmp_path / "x.zip", prefix="your_facebook_activity/")
    s = api_collect(zipped, tmp_path / "lake", page_name="Bob")
    assert (s.messages_written, s.conversations_written) == (7, 1)


# ---- built exports: page inference, mojibake, split threads, attributes ---------------------


def test_page_is_the_participant_of_every_thread_and_mojibake_is_fixed(in_tmp):
    two_threads(in_tmp / "export")
    result = invoke("collect", "--source", "messenger", "export", "--no-enrich")
    assert result.exit_code == 0, result.output
    m = lake_table(in_tmp, "messages")
    assert set(m["org_id"]) == {PAGE}
    texts = set(m["text"])
    assert {"Où est ma commande ?", "Avec plaisir 😊", "Reçu, merci Zoë"} <= texts
    assert set(m.filter(pl.col("role") == "customer")["sender_id"]) == {"Alice", "Zoë"}
    assert set(m.filter(pl.col("role") == "agent")["sender_id"]) == {PAGE}
    conv = lake_table(in_tmp, "conversations").sort("conversation_id")
    assert conv["conversation_id"].to_list() == ["messenger:alice_aaaa", "messenger:zoe_bbbb"]
    assert conv["customer_id"].to_list() == ["Alice", "Zoë"]
    assert json.loads(conv["attributes"][1])["title"] == "Zoë"
    assert json.loads(conv["attributes"][1])["participants"] == [{"name": "Zoë"}, {"name": PAGE}]


def test_a_thread_split_over_two_files_is_one_conversation(tmp_path):
    two_threads(tmp_path / "export")
    s = api_collect(tmp_path / "export", tmp_path / "lake")
    assert (s.messages_written, s.conversations_written) == (9, 2)
    conv = Lake(str(tmp_path / "lake")).read_table("conversations").sort("conversation_id")
    alice = conv.row(0, named=True)
    assert (alice["message_count"], alice["customer_messages"], alice["agent_messages"]) == (
        4,
        2,
        2,
    )
    # Alice at 0 s (message_2.json) is answered at 90 s (message_2.json); her 300 s message
    # (message_1.json) at 600 s: FRT 90 s, mean response (90 + 300) / 2 = 195 s
    assert alice["first_response_s"] == 90.0
    assert alice["response_times_s"] == [90.0, 300.0] and alice["avg_response_s"] == 195.0
    zoe = conv.row(1, named=True)
    assert (zoe["message_count"], zoe["first_response_s"]) == (5, 30.0)  # 1030 s - 1000 s


def test_batches_hold_whole_threads(tmp_path):
    two_threads(tmp_path / "export")
    src = MessengerSource(str(tmp_path / "export"), load_settings())
    batches = list(src.batches(1))
    assert [b.messages["conversation_id"].unique().to_list() for b in batches] == [
        ["messenger:alice_aaaa"],
        ["messenger:zoe_bbbb"],
    ]
    assert [b.messages.height for b in batches] == [4, 5]
    assert [b.messages.height for b in src.batches(1000)] == [9]


def test_attachments_reactions_calls_and_unsent_are_kept_in_attributes(tmp_path):
    two_threads(tmp_path / "export")
    api_collect(tmp_path / "export", tmp_path / "lake")
    m = (
        Lake(str(tmp_path / "lake"))
        .read_table("messages")
        .filter(pl.col("conversation_id") == "messenger:zoe_bbbb")
        .sort("sent_at")
    )
    attrs = [json.loads(a) if a else None for a in m["attributes"]]
    assert m["text"].to_list() == ["Voilà la photo", "", "Reçu, merci Zoë", "", ""]
    assert attrs[0] == {"photos": [{"uri": "photos/1.jpg"}]}
    assert attrs[1]["reactions"] == [{"reaction": "❤", "actor": PAGE}]  # mojibake fixed here too
    assert attrs[1]["share"] == {"link": "https://example.com/p/1"}
    assert attrs[2] is None
    assert attrs[3] == {"call_duration": 42, "type": "Call"}
    assert attrs[4] == {"is_unsent": True}


def test_page_name_option_overrides_the_inference(tmp_path):
    two_threads(tmp_path / "export")
    api_collect(tmp_path / "export", tmp_path / "lake", page_name="Zoë")
    m = Lake(str(tmp_path / "lake")).read_table("messages")
    assert set(m.filter(pl.col("role") == "agent")["sender_id"]) == {"Zoë"}
    assert set(m["org_id"]) == {"Zoë"}


def test_page_name_in_no_thread_is_a_configuration_error(tmp_path):
    two_threads(tmp_path / "export")
    with pytest.raises(ConfigurationError, match="'Cafe Ole' is not a participant") as err:
        MessengerSource(str(tmp_path / "export"), load_settings(), {"page_name": "Cafe Ole"})
    assert "as the export spells it (most frequent participants: 'Café Olé', " in (
        err.value.one_line()
    )


def test_no_participant_common_to_every_thread(tmp_path):
    write_export(tmp_path / "a", {"alice_1": ("Alice", [[msg("Alice", 0, "hi")]])}, page="A")
    write_export(tmp_path / "a", {"zoe_2": ("Zoë", [[msg("Zoë", 0, "hi")]])}, page="B")
    with pytest.raises(ConfigurationError, match="no participants are in all of its 2 threads"):
        MessengerSource(str(tmp_path / "a"), load_settings())


def test_page_name_is_an_option_of_the_messenger_source_only(tmp_path):
    assert SOURCES["messenger"] is MessengerSource and not MessengerSource.ordered
    (tmp_path / "x.jsonl").write_text("")
    with pytest.raises(ConfigurationError, match="--page-name is not an option") as err:
        FilesSource(str(tmp_path / "x.jsonl"), load_settings(), {"page_name": "x"})
    assert "--source messenger only" in err.value.one_line()


def test_changed_file_rereads_its_whole_thread(in_tmp):
    two_threads(in_tmp / "export")
    assert invoke("collect", "--source", "messenger", "export", "--no-enrich").exit_code == 0
    part = in_tmp / "export" / "messages" / "inbox" / "alice_aaaa" / "message_1.json"
    doc = json.loads(part.read_text())
    doc["messages"].insert(0, msg("Alice", 900, "encore une question"))
    part.write_text(json.dumps(doc))
    result = invoke("collect", "--source", "messenger", "export", "--no-enrich")
    assert result.exit_code == 0, result.output
    conv = lake_table(in_tmp, "conversations").sort("conversation_id")
    assert conv["message_count"].to_list() == [5, 5]  # Alice's thread whole, not message_1 only
    assert conv["customer_messages"].to_list() == [3, 3]


@pytest.mark.parametrize(
    ("text", "fixed"),
    [
        ("CafÃ©", "Café"),
        (mojibake("👍 ça"), "👍 ça"),
        ("plain ascii", "plain ascii"),
        ("café", "café"),  # a real é alone is not UTF-8 bytes: unchanged
        ("日本 Ã©", "日本 Ã©"),  # a character above U+00FF: unchanged
        ("Ã", "Ã"),  # an incomplete UTF-8 sequence: unchanged
    ],
)
def test_fix_mojibake(text, fixed):
    assert fix_mojibake(text) == fixed


# ---- bad input -------------------------------------------------------------------------------


def test_message_missing_timestamp_or_sender_is_quarantined_and_the_rest_loads(in_tmp):
    old = [msg("Alice" if i % 2 else PAGE, i * 10, f"m{i}") for i in range(20)]
    old[3].pop("sender_name")  # newest first in the file: message 17 of 20
    old[16].pop("timestamp_ms")  # message 4 ...
    old[10]["timestamp_ms"] = "yesterday"  # ... and message 10
    new = [msg("Alice", 500, "later"), msg(PAGE, 510, "ok"), "oops"]  # "oops": message 1
    bob = [msg("Bob", 0, "hi"), msg(PAGE, 60, "hello")]
    write_export(in_tmp / "export", {"alice_x": ("Alice", [new, old]), "bob_y": ("Bob", [bob])})
    result = invoke("collect", "--source", "messenger", "export", "--no-enrich")
    assert result.exit_code == 0, result.output
    assert "4 malformed record(s) quarantined" in result.stdout
    assert lake_table(in_tmp, "messages").height == 2 + 20 - 3 + 2
    bad = {record: row["reason"] for record, row in quarantined(in_tmp).items()}
    assert bad == {
        "inbox/alice_x/message_1.json message 1": "not a JSON object",
        "inbox/alice_x/message_2.json message 17": "sender_name is missing",
        "inbox/alice_x/message_2.json message 4": "timestamp_ms is missing or not milliseconds",
        "inbox/alice_x/message_2.json message 10": "timestamp_ms is missing or not milliseconds",
    }
    raw = json.loads(quarantined(in_tmp)["inbox/alice_x/message_2.json message 10"]["raw"])
    assert raw["timestamp_ms"] == "yesterday" and raw["content"] == "m10"


def broken_message_2(root: Path) -> str:
    two_threads(root / "export")
    (root / "export" / "messages" / "inbox" / "alice_aaaa" / "message_2.json").write_text(
        '{"participants": [{"name": "Alice"}], "messages": [{"sender_name": '
    )
    return "export"


def zip_of(root: Path, members: dict[str, str]) -> str:
    with zipfile.ZipFile(root / "x.zip", "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return "x.zip"


def corrupt_zip(root: Path) -> str:
    data = zip_folder(two_threads(root / "export"), root / "good.zip").read_bytes()
    (root / "x.zip").write_bytes(data[: len(data) // 2])
    return "x.zip"


def damaged_member(root: Path) -> str:
    two_threads(root / "export")
    zipped = root / "x.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_STORED) as zf:
        for f in sorted((root / "export").rglob("*.json")):
            zf.write(f, f.relative_to(root / "export").as_posix())
    zipped.write_bytes(zipped.read_bytes().replace(b"Je regarde", b"Je Regarde"))
    return "x.zip"


def html_export(root: Path) -> str:
    (root / "export" / "messages" / "inbox" / "alice_1").mkdir(parents=True)
    (root / "export" / "messages" / "inbox" / "alice_1" / "message_1.html").write_text("<html>")
    return "export"


def no_inbox(root: Path) -> str:
    (root / "export" / "photos").mkdir(parents=True)
    (root / "export" / "photos" / "a.jpg").write_bytes(b"\xff\xd8")
    return "export"


def a_json_file(root: Path) -> str:
    (root / "message_1.json").write_text("{}")
    return "message_1.json"


@pytest.mark.parametrize(
    ("make", "code", "needles"),
    [
        (lambda r: "nope.zip", 2, ["nope.zip", "not found"]),
        (a_json_file, 1, ["message_1.json is neither a .zip file nor a folder", "export"]),
        (no_inbox, 1, ["export holds no messages/inbox/<thread>/message_N.json", ".zip"]),
        (
            lambda r: zip_of(r, {"readme.txt": "hi", "messages/inbox/a/photos/1.jpg": "x"}),
            1,
            ["x.zip holds no messages/inbox/<thread>/message_N.json", "Download your information"],
        ),
        (html_export, 1, ["HTML format", "JSON format"]),
        (corrupt_zip, 1, ["x.zip is not a readable zip file", "download the export again"]),
        (damaged_member, 1, ["cannot read inbox/alice_aaaa/message_2.json in x.zip", "again"]),
        (
            broken_message_2,
            1,
            ["inbox/alice_aaaa/message_2.json is not valid JSON", "download the export again"],
        ),
        (
            lambda r: zip_of(r, {"messages/inbox/a_1/message_1.json": "[1, 2]"}),
            1,
            ["inbox/a_1/message_1.json in x.zip is not a Messenger thread file"],
        ),
    ],
    ids=[
        "missing",
        "json-file",
        "folder-without-inbox",
        "zip-without-inbox",
        "html-export",
        "corrupt-zip",
        "damaged-zip-member",
        "message_2-not-json",
        "not-a-thread-file",
    ],
)
def test_bad_input_is_one_line_naming_the_file_and_the_fix(in_tmp, make, code, needles):
    path = make(in_tmp)
    result = invoke("collect", "--source", "messenger", path, "--no-enrich")
    one_error_line(result, code, *needles)


def test_bad_input_errors_through_the_python_api(tmp_path):
    with pytest.raises(InputNotFoundError):
        MessengerSource(str(tmp_path / "nope"), load_settings())
    with pytest.raises(InputError, match="not valid JSON"):
        api_collect(tmp_path / broken_message_2(tmp_path), tmp_path / "lake")
