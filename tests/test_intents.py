"""The intents report through the CLI, and label confidence from all three labelers.

The hand-built lake: conversations collected from a JSONL file (``--source files``), their
labels written straight into the lake with chosen values. All on 2024-03-04 UTC, org acme
unless said:

    conv  replies (s)   labels: intent, topic, resolved, confidence   source status
    c1    300, 100      request_help  billing         True   0.8
    c2    600           request_help  billing         False  0.6
    c3    60            request_help  travel          False  0.4      resolved (wins)
    c4    –             request_help  account_access  False  null (a label from before v2)
    c8    30            request_help  other           True   1.0
    c5    1200          purchase      billing         True   0.9
    c6    120 (beta)    purchase      product_inquiry False  0.7
    c7    45            a *failed* label (intent complain): not counted anywhere
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from analytics_cli.app import app
from analytics_framework.enrich.base import PROMPT_VERSION, label_schema
from analytics_framework.enrich.local import LocalLabeler
from analytics_framework.enrich.stage import enrich
from analytics_framework.enrich.taxonomy import load_taxonomy
from analytics_framework.enrich.transcript import build_requests
from analytics_framework.model import LABEL_SCHEMA
from analytics_framework.storage.lake import Lake, Partition
from tests.llm_server import FakeLLM

runner = CliRunner()


def invoke(*args: str, **env: str):
    return runner.invoke(app, list(args), env=env or None)


def ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def m(cid: str, at: str, role: str, org: str = "acme", **conv) -> dict:
    sender = f"u-{cid}" if role == "customer" else "a1"
    text = "customer text" if role == "customer" else "agent text"
    return {
        "conversation_id": cid,
        "sent_at": f"2024-03-04T{at}Z",
        "role": role,
        "text": text,
        "org_id": org,
        "sender_id": sender,
        **conv,
    }


ROWS = [
    m("c1", "09:00:00", "customer"),
    m("c1", "09:05:00", "agent"),  # 300 s
    m("c1", "09:10:00", "customer"),
    m("c1", "09:11:40", "agent"),  # 100 s
    m("c2", "10:00:00", "customer"),
    m("c2", "10:10:00", "agent"),  # 600 s
    m("c3", "11:00:00", "customer", status="resolved"),
    m("c3", "11:01:00", "agent", status="resolved"),  # 60 s
    m("c4", "12:00:00", "customer"),  # unanswered
    m("c5", "13:00:00", "customer"),
    m("c5", "13:20:00", "agent"),  # 1200 s
    m("c6", "14:00:00", "customer", org="beta"),
    m("c6", "14:02:00", "agent", org="beta"),  # 120 s
    m("c7", "15:00:00", "customer"),
    m("c7", "15:00:45", "agent"),  # 45 s, but its label failed
    m("c8", "16:00:00", "customer"),
    m("c8", "16:00:30", "agent"),  # 30 s
]

LABELS = {  # intent, topic, resolved, confidence, status
    "c1": ("request_help", "billing", True, 0.8, "labeled"),
    "c2": ("request_help", "billing", False, 0.6, "labeled"),
    "c3": ("request_help", "travel", False, 0.4, "labeled"),
    "c4": ("request_help", "account_access", False, None, "labeled"),
    "c8": ("request_help", "other", True, 1.0, "labeled"),
    "c5": ("purchase", "billing", True, 0.9, "labeled"),
    "c6": ("purchase", "product_inquiry", False, 0.7, "labeled"),
    "c7": ("complain", "billing", True, 0.5, "failed"),
}


def hand_built_lake(root: Path) -> Lake:
    pl.DataFrame(ROWS).write_ndjson(root / "in.jsonl")
    ok(invoke("collect", str(root / "in.jsonl"), "--source", "files", "--no-enrich"))
    lake = Lake(str(root / "lake"))
    rows = []
    for cid in lake.read_table("conversations")["conversation_id"]:
        intent, topic, resolved, confidence, status = LABELS[cid.split(":")[-1]]
        rows.append(
            {
                "conversation_id": cid,
                "intent": intent,
                "topic": topic,
                "resolved": resolved,
                "confidence": confidence,
                "status": status,
                "sentiment": 0.0,
                "satisfaction": 3,
            }
        )
    lake.write_partition("labels", Partition(2024, 3, 4), pl.DataFrame(rows, schema=LABEL_SCHEMA))
    return lake


def intents(*args: str) -> list[dict]:
    return json.loads(ok(invoke("report", "intents", "--format", "json", *args)))["rows"]


def test_intents_hand_computed(in_tmp):
    hand_built_lake(in_tmp)
    rows = intents("--period", "monthly")
    got = [
        (
            r["period"],
            r["intent"],
            r["conversations"],
            r["success_pct"],
            r["failure_pct"],
            r["confidence_mean"],
            r["replies"],
            r["response_median_s"],
            r["top_topics"],
            r["metric_version"],
        )
        for r in rows
    ]
    assert got == [
        # request_help: c1 c2 c3 c4 c8. Resolved: c1, c3 (the source status wins over the
        # label), c8 -> 3/5 = 60 %, failure 2/5 = 40 %. Confidence (0.8 + 0.6 + 0.4 + 1.0) / 4
        # = 0.7 (c4's null left out). Replies 300 100 600 60 30 -> sorted 30 60 100 300 600,
        # median 100. Topics billing 2, then account_access, other, travel 1 each: ties by
        # name, the first three kept.
        (
            "2024-03-01",
            "request_help",
            5,
            60.0,
            40.0,
            0.7,
            5,
            100.0,
            "billing; account_access; other",
            1,
        ),
        # purchase: c5 c6; resolved c5 -> 50 %; confidence (0.9 + 0.7) / 2 = 0.8;
        # replies 1200 and 120 -> median (120 + 1200) / 2 = 660; topics tie 1-1: by name
        ("2024-03-01", "purchase", 2, 50.0, 50.0, 0.8, 2, 660.0, "billing; product_inquiry", 1),
    ]  # most conversations first; c7's failed label is nowhere (no 'complain' row)


def test_by_org_splits_each_intent(in_tmp):
    hand_built_lake(in_tmp)
    rows = intents("--period", "monthly", "--by", "org")
    got = {(r["org_id"], r["intent"]): r for r in rows}
    assert set(got) == {("acme", "request_help"), ("acme", "purchase"), ("beta", "purchase")}
    beta = got[("beta", "purchase")]  # c6 alone: not resolved, 120 s
    assert (beta["conversations"], beta["success_pct"], beta["failure_pct"]) == (1, 0.0, 100.0)
    assert (beta["confidence_mean"], beta["response_median_s"], beta["top_topics"]) == (
        0.7,
        120.0,
        "product_inquiry",
    )
    acme = got[("acme", "purchase")]  # c5 alone
    assert (acme["conversations"], acme["success_pct"], acme["response_median_s"]) == (
        1,
        100.0,
        1200.0,
    )
    only_beta = intents("--period", "monthly", "--org", "beta")
    assert [(r["intent"], r["conversations"]) for r in only_beta] == [("purchase", 1)]


def test_a_lake_without_labels_is_one_line_naming_analytics_enrich(in_tmp):
    pl.DataFrame(ROWS).write_ndjson(in_tmp / "in.jsonl")
    ok(invoke("collect", "in.jsonl", "--source", "files", "--no-enrich"))
    result = invoke("report", "intents")
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "labels" in lines[0] and "analytics enrich" in lines[0], lines


def test_the_bundled_sample_labeled_locally(in_tmp):
    ok(invoke("collect", "--provider", "local"))  # Twitter support threads, the local labeler
    rows = intents("--period", "monthly")
    overview = json.loads(ok(invoke("report", "--period", "monthly", "--format", "json")))
    labeled = {r["period"]: r["labeled"] for r in overview["rows"]}
    per_period: dict[str, int] = {}
    for r in rows:
        per_period[r["period"]] = per_period.get(r["period"], 0) + r["conversations"]
    assert per_period == {p: n for p, n in labeled.items() if n}  # every label is in one row
    names = set(load_taxonomy().names("topics"))
    for r in rows:
        assert r["success_pct"] + r["failure_pct"] == pytest.approx(100.0, abs=0.011)
        assert 0.0 <= r["confidence_mean"] <= 1.0
        topics = r["top_topics"].split("; ")
        assert 1 <= len(topics) <= 3 and set(topics) <= names
    labels = Lake("lake").read_table("labels")
    assert labels["confidence"].is_between(0, 1).all() and labels["confidence"].null_count() == 0
    october = {r["intent"]: r for r in rows if r["period"] == "2017-10-01"}
    assert october["praise"]["success_pct"] > october["complain"]["success_pct"]  # thanks end it


# ---- confidence --------------------------------------------------------------------------------


def local_label(*turns: tuple[str, str]) -> dict:
    messages = pl.DataFrame(
        [
            {"conversation_id": "x", "message_id": str(i), "sent_at": i, "role": r, "text": t}
            for i, (r, t) in enumerate(turns)
        ]
    )
    (req,) = build_requests(messages)
    return LocalLabeler(load_taxonomy()).label_one(req)


def test_local_confidence_is_the_keyword_evidence_for_topic_and_intent():
    label = local_label(
        ("customer", "Can you help me with a refund?"),
        ("agent", "Sure, refund sent"),
        ("customer", "thanks"),
    )
    # topic billing: "refund" from the customer (1) and the agent (0.5) = 1.5, no rival:
    #   1.5 / 2.5 x 1.5 / 1.5 = 0.6
    # intent request_help: "can you", "help" = 2; runners-up ask_question "?" and praise
    #   "thanks" = 1: 2/3 x 2/3 = 0.4444
    assert (label["topic"], label["intent"]) == ("billing", "request_help")
    assert label["confidence"] == round((0.6 + 4 / 9) / 2, 4) == 0.5222
    # nothing matched: topic and intent are fallbacks, guesses
    guess = local_label(("customer", "hello"), ("agent", "hi"))
    assert (guess["topic"], guess["intent"], guess["confidence"]) == ("other", "request_help", 0.0)
    # a tie halves the share: "refund" and "flight" one each (topic 0.5 x 0.5 = 0.25), intent
    # "please" alone (0.5 x 1): (0.25 + 0.5) / 2
    tie = local_label(("customer", "refund my flight please"))
    assert tie["confidence"] == 0.375


def test_llm_labelers_ask_for_confidence_and_keep_it(in_tmp):
    schema = label_schema(load_taxonomy())["properties"]["labels"]["items"]
    assert "confidence" in schema["required"] and schema["properties"]["confidence"] == {
        "type": "number",
        "description": "how sure the topic and intent are, 0 (a guess) to 1 (certain)",
    }
    assert PROMPT_VERSION == "v3"  # the schema changed since v1: older cached labels are not reused
    rows = [
        {
            "conversation_id": "r",
            "sent_at": "2024-03-04T09:00:00Z",
            "role": "customer",
            "text": "refund please",
        },
        {
            "conversation_id": "q",
            "sent_at": "2024-03-04T10:00:00Z",
            "role": "customer",
            "text": "the app is slow",
        },
    ]
    pl.DataFrame(rows).write_ndjson(in_tmp / "in.jsonl")
    ok(invoke("collect", "in.jsonl", "--source", "files", "--no-enrich"))
    with FakeLLM() as server:
        for provider, env in (
            ("openai", {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": server.url + "/v1"}),
            ("gemini", {"GEMINI_API_KEY": "gm-test", "ANALYTICS_GEMINI_BASE_URL": server.url}),
        ):
            ok(invoke("enrich", "--provider", provider, "--force-reprocess", **env))
            labels = Lake("lake").read_table("labels").sort("conversation_id")
            # the local server answers 0.9 when it saw a topic word (refund), else 0.6
            assert labels.select("conversation_id", "confidence", "provider").rows() == [
                ("files:q", 0.6, provider),
                ("files:r", 0.9, provider),
            ]


@pytest.mark.parametrize(
    ("confidence", "why"),
    [
        (1.5, "confidence 1.5 is outside 0..1"),
        (-0.1, "confidence -0.1 is outside 0..1"),
        ("high", "confidence is not a number"),
        (True, "confidence is not a number"),
        (None, "confidence is not a number"),
    ],
)
def test_a_confidence_outside_0_1_makes_the_item_invalid(confidence, why):
    item = {
        "id": "x",
        "topic": "billing",
        "intent": "purchase",
        "sentiment": 0.1,
        "satisfaction": 4,
        "resolved": True,
        "objection": None,
        "confidence": confidence,
    }
    assert LocalLabeler(load_taxonomy())._validate(item) == (None, why)


def test_labels_written_before_confidence_are_kept_with_it_null(tmp_path):
    rows = [
        {
            "conversation_id": c,
            "sent_at": f"2024-03-04T0{i}:00:00Z",
            "role": "customer",
            "text": "refund please",
        }
        for i, c in enumerate(["old", "new"])
    ]
    pl.DataFrame(rows).write_ndjson(tmp_path / "in.jsonl")
    lake = Lake(str(tmp_path / "lake"))
    from analytics_framework.pipeline import collect
    from analytics_framework.settings import load_settings
    from analytics_framework.sources.files import FilesSource

    collect(FilesSource(str(tmp_path / "in.jsonl"), load_settings()), lake)
    labeler = LocalLabeler(load_taxonomy())
    old_schema = {k: v for k, v in LABEL_SCHEMA.items() if k != "confidence"}
    current = {  # a current label in a file written before the column existed
        "conversation_id": "files:old",
        "topic": "billing",
        "intent": "request_help",
        "status": "labeled",
        "message_count": 1,
        "config_hash": labeler.config_hash,
    }
    lake.write_partition(
        "labels", Partition(2024, 3, 4), pl.DataFrame([current], schema=old_schema)
    )
    summary = enrich(lake, labeler)
    assert summary.stats.conversations == 1  # only "new" needed a label
    labels = lake.read_table("labels").sort("conversation_id")
    assert labels.select("conversation_id", "confidence").rows() == [
        ("files:new", 0.5),  # billing "refund" 1: 0.5; request_help "please" 1: 0.5
        ("files:old", None),
    ]
