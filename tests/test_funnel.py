"""The funnel report through the CLI: leads collected from a Mochi export, hand-computed values.

The hand-built leads (``export.json``, read by ``analytics collect --source mochi``), all
UTC; week 1 is Monday 2024-03-04 to Sunday 03-10, week 2 starts Monday 03-11:

    lead  org  stage history                                                  entry (week)
    201   7    new lead 03-04 09:00, qualified 10:00 (+1 h), call booked 12:00  week 1
               (+2 h), won 03-05 12:00 (+1 day)
    202   7    new lead 03-05 08:00, qualified 14:00 (+6 h), lost 03-06 14:00    week 1
               (+1 day)
    203   8    new lead 03-06 10:00 (still there: an open stay, not counted)     week 1
    204   8    new lead 03-07 09:00, qualified 09:30 (+30 min), call booked      week 1
               03-08 09:30 (+1 day), lost 03-09 09:30 (+1 day)  (given out of order)
    205   7    new lead 03-11 09:00, qualified 11:00 (+2 h), call booked         week 2
               03-12 11:00 (+1 day, open)

Every name is one of Mochi's stages, so the order is the fixed one: new lead 1, qualified 2,
call booked 3, won 4, lost 5 (an exit: nobody's next stage).
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pytest import approx
from typer.testing import CliRunner

from analytics_cli.app import app
from tests.mochi_server import generate, parse

runner = CliRunner()
DAY, HOUR = 86400.0, 3600.0


def invoke(*args: str):
    return runner.invoke(app, list(args))


def ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def lead(cid: int, org: int, history: list[tuple[str, str]]) -> dict:
    """A Mochi conversation object: one contact message at the lead's entry, its history."""
    entry = min(at for _, at in history)
    return {
        "id": cid,
        "organization": {"id": org, "name": f"org {org}"},
        "contact": {"id": 9000 + cid, "name": "Lee", "username": "@lee"},
        "setter": {"id": 31, "name": "Sam", "email": "sam@example.com"},
        "stage": max(history, key=lambda h: h[1])[0],
        "stage_history": [{"stage": s, "changed_at": at, "changed_by": 31} for s, at in history],
        "messages": [{"id": cid * 10, "sender_type": "contact", "text": "hi", "sent_at": entry}],
        "created_at": entry,
        "updated_at": max(at for _, at in history),
    }


LEADS = [
    lead(
        201,
        7,
        [
            ("new lead", "2024-03-04T09:00:00Z"),
            ("qualified", "2024-03-04T10:00:00Z"),
            ("call booked", "2024-03-04T12:00:00Z"),
            ("won", "2024-03-05T12:00:00Z"),
        ],
    ),
    lead(
        202,
        7,
        [
            ("new lead", "2024-03-05T08:00:00Z"),
            ("qualified", "2024-03-05T14:00:00Z"),
            ("lost", "2024-03-06T14:00:00Z"),
        ],
    ),
    lead(203, 8, [("new lead", "2024-03-06T10:00:00Z")]),
    lead(
        204,
        8,
        [
            ("lost", "2024-03-09T09:30:00Z"),
            ("call booked", "2024-03-08T09:30:00Z"),
            ("new lead", "2024-03-07T09:00:00Z"),
            ("qualified", "2024-03-07T09:30:00Z"),
        ],
    ),
    lead(
        205,
        7,
        [
            ("new lead", "2024-03-11T09:00:00Z"),
            ("qualified", "2024-03-11T11:00:00Z"),
            ("call booked", "2024-03-12T11:00:00Z"),
        ],
    ),
]


def collect_export(objects: list[dict], path: Path = Path("export.json")) -> None:
    path.write_text(json.dumps(objects), encoding="utf-8")
    ok(invoke("collect", "--source", "mochi", str(path), "--no-enrich"))


def funnel(*args: str) -> list[dict]:
    return json.loads(ok(invoke("report", "funnel", "--format", "json", *args)))["rows"]


def stage_rows(rows: list[dict], **match) -> dict[str, tuple]:
    """stage -> (step, to_stage, new_leads, leads, reached_next, conversion %, stays, median)."""
    return {
        r["stage"]: (
            r["step"],
            r["to_stage"],
            r["new_leads"],
            r["leads"],
            r["reached_next"],
            r["conversion_pct"],
            r["stays"],
            r["time_in_stage_median_s"],
        )
        for r in rows
        if r["kind"] == "stage" and all(r[k] == v for k, v in match.items())
    }


def transitions(rows: list[dict], **match) -> dict[tuple[str, str], int]:
    return {
        (r["stage"], r["to_stage"]): r["transitions"]
        for r in rows
        if r["kind"] == "transition" and all(r[k] == v for k, v in match.items())
    }


def test_weekly_funnel_hand_computed(in_tmp):
    collect_export(LEADS)
    rows = funnel("--period", "weekly")
    assert {r["period"] for r in rows} == {"2024-03-04", "2024-03-11"}
    assert all(r["metric_version"] == 1 for r in rows)
    # week 1: new leads 201 202 203 204
    #   new lead: reached by all 4; 201 202 204 went on to qualified: 3/4 = 75 %;
    #     completed stays 1 h (201), 6 h (202), 30 min (204) -> median 1 h; 203 is open
    #   qualified: 201 202 204; call booked: 201 204 -> 2/3 = 66.67 %;
    #     stays 2 h (201), 1 day (202, to lost), 1 day (204) -> median 1 day
    #   call booked: 201 204; won: 201 -> 1/2 = 50 %; stays 1 day, 1 day -> 1 day
    #   won: 201 (the last step: no next stage); lost: 202 204 (an exit)
    assert stage_rows(rows, period="2024-03-04") == {
        "new lead": (1, "qualified", 4, 4, 3, 75.0, 3, HOUR),
        "qualified": (2, "call booked", 4, 3, 2, 66.67, 3, DAY),
        "call booked": (3, "won", 4, 2, 1, 50.0, 2, DAY),
        "won": (4, None, 4, 1, None, None, 0, None),
        "lost": (5, None, 4, 2, None, None, 0, None),
    }
    assert transitions(rows, period="2024-03-04") == {
        ("new lead", "qualified"): 3,  # 201 202 204
        ("qualified", "call booked"): 2,  # 201 204
        ("qualified", "lost"): 1,  # 202
        ("call booked", "won"): 1,  # 201
        ("call booked", "lost"): 1,  # 204
    }
    # week 2: lead 205 alone; it reached call booked and not won (0 %); its call booked is open
    assert stage_rows(rows, period="2024-03-11") == {
        "new lead": (1, "qualified", 1, 1, 1, 100.0, 1, 2 * HOUR),
        "qualified": (2, "call booked", 1, 1, 1, 100.0, 1, DAY),
        "call booked": (3, "won", 1, 1, 0, 0.0, 0, None),
        "won": (4, None, 1, 0, None, None, 0, None),
        "lost": (5, None, 1, 0, None, None, 0, None),
    }
    assert transitions(rows, period="2024-03-11") == {
        ("new lead", "qualified"): 1,
        ("qualified", "call booked"): 1,
    }
    # rows come stage rows by step, then transitions by from-step and to-stage
    week1 = [(r["kind"], r["step"], r["to_stage"]) for r in rows if r["period"] == "2024-03-04"]
    assert week1 == [
        ("stage", 1, "qualified"),
        ("stage", 2, "call booked"),
        ("stage", 3, "won"),
        ("stage", 4, None),
        ("stage", 5, None),
        ("transition", 1, "qualified"),
        ("transition", 2, "call booked"),
        ("transition", 2, "lost"),
        ("transition", 3, "lost"),
        ("transition", 3, "won"),
    ]


def test_by_org_and_a_date_range_select_leads_by_their_entry(in_tmp):
    collect_export(LEADS)
    rows = funnel("--period", "weekly", "--by", "org")
    # org 8, week 1: leads 203 and 204; 204 went on to qualified after 30 min: 1/2 = 50 %
    org8 = stage_rows(rows, period="2024-03-04", org_id="8")
    assert org8["new lead"] == (1, "qualified", 2, 2, 1, 50.0, 1, 1800.0)
    assert org8["call booked"] == (3, "won", 2, 1, 0, 0.0, 1, DAY)  # 204, then lost
    # org 7, week 1: 201 and 202, stays in new lead 1 h and 6 h -> median 3.5 h
    assert stage_rows(rows, period="2024-03-04", org_id="7")["new lead"] == (
        1,
        "qualified",
        2,
        2,
        2,
        100.0,
        2,
        3.5 * HOUR,
    )
    assert {r["period"] for r in rows if r["org_id"] == "8"} == {"2024-03-04"}
    # --start-date counts leads that entered on or after it: only 205 (its history is whole)
    later = funnel("--period", "monthly", "--start-date", "2024-03-10")
    assert {r["new_leads"] for r in later if r["kind"] == "stage"} == {1}
    assert stage_rows(later)["qualified"] == (2, "call booked", 1, 1, 1, 100.0, 1, DAY)
    # --org keeps that org's leads
    only8 = funnel("--period", "monthly", "--org", "8")
    assert stage_rows(only8)["new lead"][2:5] == (2, 2, 1)


def test_stage_names_outside_mochis_pipeline_are_ordered_by_when_leads_reach_them(in_tmp):
    # 301: Inbound 0, Demo +100 s, Closed +300 s; 302: Inbound 0, Closed +50 s (skips Demo);
    # 303: Inbound 0, Lost +10 s. Median time from entry to entering: Inbound 0, Demo 100,
    # Closed (50, 300) -> 175; Lost is an exit, whatever its time: last, nobody's next stage.
    t0 = datetime(2024, 5, 6, 9, tzinfo=UTC)

    def at(s: int) -> str:
        return (t0 + timedelta(seconds=s)).isoformat().replace("+00:00", "Z")

    objects = [
        lead(301, 7, [("Inbound", at(0)), ("Demo", at(100)), ("Closed", at(300))]),
        lead(302, 7, [("Inbound", at(0)), ("Closed", at(50))]),
        lead(303, 7, [("Inbound", at(0)), ("Lost", at(10))]),
    ]
    collect_export(objects)
    rows = funnel("--period", "monthly")
    # Inbound: 3 leads, 1 reached Demo: 33.33 %; stays 100, 50, 10 -> median 50
    # Demo: 301 alone, it reached Closed: 100 %; stay 200
    assert stage_rows(rows) == {
        "Inbound": (1, "Demo", 3, 3, 1, 33.33, 3, 50.0),
        "Demo": (2, "Closed", 3, 1, 1, 100.0, 1, 200.0),
        "Closed": (3, None, 3, 2, None, None, 0, None),
        "Lost": (4, None, 3, 1, None, None, 0, None),
    }
    assert transitions(rows) == {
        ("Inbound", "Demo"): 1,
        ("Demo", "Closed"): 1,
        ("Inbound", "Closed"): 1,
        ("Inbound", "Lost"): 1,
    }


def test_the_bundled_sample_has_no_stages_the_report_says_so_and_exits_0(in_tmp):
    ok(invoke("collect", "--provider", "local"))  # Twitter support threads: no stages
    result = invoke("report", "funnel", "--period", "monthly")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("funnel: "), result.output
    assert funnel("--period", "monthly") == []
    csv = ok(invoke("report", "funnel", "--format", "csv"))
    assert csv.splitlines() == [
        "period,kind,step,stage,to_stage,new_leads,leads,reached_next,conversion_pct,stays,"
        "time_in_stage_median_s,transitions,metric_version"
    ]


def test_without_stage_changes_the_line_names_mochi(in_tmp):
    Path("in.jsonl").write_text(
        '{"conversation_id": "x", "sent_at": "2024-03-04T09:00:00Z", "role": "customer", '
        '"text": "hi"}\n'
    )
    ok(invoke("collect", "in.jsonl", "--source", "files", "--no-enrich"))
    result = invoke("report", "funnel")
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout.strip() == (
        "funnel: no stage changes in the lake (stages come from --source mochi)"
    )


def test_generated_mochi_data_matches_plain_python(in_tmp):
    """500 generated leads (tests/mochi_server.py), every figure recomputed from the objects."""
    data = generate()
    collect_export(data)
    rows = funnel("--period", "monthly")
    order = ["new lead", "qualified", "call booked", "won"]
    firsts: Counter[str] = Counter()
    reached: Counter[tuple[str, str]] = Counter()
    nexts: Counter[tuple[str, str]] = Counter()  # (month, stage): also reached the next one
    moves: Counter[tuple[str, str, str]] = Counter()
    stays: dict[tuple[str, str], list[float]] = {}
    for conv in data:
        history = sorted(conv["stage_history"], key=lambda h: h["changed_at"])  # no ties
        month = history[0]["changed_at"][:7] + "-01"
        firsts[month] += 1
        names = [h["stage"] for h in history]
        for name in set(names):
            reached[(month, name)] += 1
        for a, b in zip(order, order[1:], strict=False):
            nexts[(month, a)] += a in names and b in names
        for h, after in zip(history, history[1:], strict=False):
            moves[(month, h["stage"], after["stage"])] += 1
            spent = (parse(after["changed_at"]) - parse(h["changed_at"])).total_seconds()
            stays.setdefault((month, h["stage"]), []).append(spent)
    assert {r["period"] for r in rows} == set(firsts)
    for r in rows:
        key = (r["period"], r["stage"])
        if r["kind"] == "transition":
            assert r["new_leads"] is None
            assert r["transitions"] == moves[(*key, r["to_stage"])]
            continue
        assert r["new_leads"] == firsts[r["period"]]
        assert r["leads"] == reached[key]
        assert r["stays"] == len(stays.get(key, []))
        median = statistics.median(stays[key]) if key in stays else None
        assert r["time_in_stage_median_s"] == (None if median is None else approx(median, abs=1e-3))
        if r["to_stage"] is not None:
            assert r["reached_next"] == nexts[key]
            assert r["conversion_pct"] == round(100 * nexts[key] / reached[key], 2)
    assert sum(r["transitions"] or 0 for r in rows) == sum(moves.values())
    steps = {r["stage"]: r["step"] for r in rows if r["kind"] == "stage"}
    assert steps == {"new lead": 1, "qualified": 2, "call booked": 3, "won": 4, "lost": 5}
