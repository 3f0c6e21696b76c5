"""The Slack digest: payloads within Slack's limits, posting through slack_sdk over the wire.

Posting goes to a local server speaking Slack's Web API and webhook format
(:mod:`tests.slack_server`), through the official slack_sdk clients pointed at it; nothing in
slack_sdk is patched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient
from typer.testing import CliRunner

from analytics_cli.app import app
from analytics_framework.errors import ConfigurationError, ServiceAuthError, ServiceError
from analytics_framework.exports.slack import (
    LIMITS,
    Digest,
    Metric,
    Ranked,
    SlowAgent,
    change_text,
    digest_periods,
    limit_problems,
    new_digest_state,
    parse_routes,
    payloads,
    record_posted,
)
from analytics_framework.exports.slack_client import SlackPoster
from analytics_framework.http import RetryPolicy
from tests.slack_server import TOKEN, SlackServer

runner = CliRunner()
FAST = RetryPolicy(attempts=5, max_wait_s=30, initial_s=0.05, max_backoff_s=0.2, jitter_s=0)


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackServer]:
    server = SlackServer()
    yield server
    server.close()


@pytest.fixture
def server(slack: SlackServer) -> SlackServer:
    slack.reset()
    return slack


def digest(**kw) -> Digest:
    base = {
        "period": "daily",
        "start": date(2017, 10, 31),
        "end": date(2017, 11, 1),
        "timezone": "UTC",
        "org": "AppleSupport",
        "lake": "/data/lake",
        "metrics": [
            Metric("conversations", "Conversations", "count", 915, 42, 2078.57, True),
            Metric("frt_median_s", "FRT median", "seconds", 736.0, 111600.0, -99.3, True),
            Metric("csat_pct", "CSAT", "percent", 81.0, 84.1, -3.1, False),
        ],
        "top": {"topic": [Ranked("billing", 60, 6.56)], "objection": [Ranked("price", 20, 2.2)]},
        "unanswered": 12,
        "oldest_waiting": ("twcs:42", "2017-10-31 08:12 UTC"),
        "slow_agents": [SlowAgent("comcastcares^GO", 75185.0, 5)],
    }
    return Digest(**{**base, **kw})


def web_poster(server: SlackServer, token: str = TOKEN, **kw) -> SlackPoster:
    web = WebClient(token=token, base_url=server.api, timeout=5, retry_handlers=[])
    return SlackPoster(web=web, policy=kw.pop("policy", FAST), **kw)


# ---- payloads: pure ---------------------------------------------------------------------


def test_a_digest_is_a_header_metric_fields_lists_and_a_context_line():
    [message] = payloads(digest())
    blocks = message["blocks"]
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Daily digest · AppleSupport · 2017-10-31"},
    }
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert fields[0] == "*Conversations*\n915   ▲ 2078.6% vs 42"
    assert fields[1] == "*FRT median*\n12m 16s   ▼ 99.3% vs 1d 07h"
    assert fields[2] == "*CSAT*\n81.0%   ▼ 3.1 pts vs 84.1%"
    text = json.dumps(blocks, ensure_ascii=False)
    assert "1. billing — 60 (6.6%)" in text and "1. price — 20 (2.2%)" in text
    assert "12 conversation(s) with no human reply" in text and "`twcs:42`" in text
    assert "`comcastcares^GO` — 20h 53m over 5 conversation(s)" in text
    assert blocks[-1]["type"] == "context"
    assert [e["text"] for e in blocks[-1]["elements"]][:2] == [
        "metric definitions v1",
        "lake /data/lake",
    ]
    assert message["text"].startswith("Daily digest · AppleSupport · 2017-10-31: 915")
    assert limit_problems(message) == []


@pytest.mark.parametrize(
    ("metric", "text"),
    [
        (Metric("c", "c", "count", 10, None, None, True), "no previous period"),
        (Metric("c", "c", "count", 0, 0, None, True), "= vs 0"),
        (Metric("c", "c", "count", 4, 0, None, True), "▲ from 0"),
        (Metric("c", "c", "percent", None, None, None, False), ""),
        (Metric("c", "c", "percent", 50.0, 40.0, 10.0, False), "▲ 10.0 pts vs 40.0%"),
    ],
)
def test_changes_read_as_arrows_with_the_previous_value(metric, text):
    assert change_text(metric) == text


def test_a_digest_too_long_for_one_message_is_split_within_every_limit():
    many = [Ranked(f"topic number {i} & <friends>", 1000 - i, 0.5) for i in range(700)]
    agents = [SlowAgent(f"agent-{i}", 3600.0 + i, 3) for i in range(300)]
    metrics = [Metric(f"m{i}", f"metric {i}", "count", i, i, 0.0, True) for i in range(25)]
    notes = [f"note {i}" for i in range(14)]
    messages = payloads(
        digest(top={"topic": many}, slow_agents=agents, metrics=metrics, notes=notes)
    )
    assert len(messages) >= 2
    for n, message in enumerate(messages, 1):
        assert limit_problems(message) == [], n
        assert len(message["blocks"]) <= LIMITS.blocks
    assert "continued 2/" in messages[1]["blocks"][0]["elements"][0]["text"]
    text = json.dumps(messages)
    assert "&amp; &lt;friends&gt;" in text and "<friends>" not in text  # mrkdwn escaped
    assert all(len(b.get("fields", [])) <= 10 for m in messages for b in m["blocks"])
    assert text.count("topic number") == 700  # nothing lost in the split


@pytest.mark.parametrize(
    ("period", "start", "end", "expected"),
    [
        ("daily", None, None, [("2017-11-01", "2017-11-02")]),
        ("weekly", None, None, [("2017-10-23", "2017-10-30")]),
        ("monthly", None, None, [("2017-10-01", "2017-11-01")]),
        ("daily", "2017-10-30", "2017-11-01", [("2017-10-30", "2017-10-31"),
                                               ("2017-10-31", "2017-11-01")]),
        ("weekly", "2017-11-01", None, [("2017-10-30", "2017-11-06")]),
    ],
)  # fmt: skip
def test_the_default_is_the_last_complete_period(period, start, end, expected):
    parse = lambda d: date.fromisoformat(d) if d else None  # noqa: E731
    got = digest_periods(period, parse(start), parse(end), today=date(2017, 11, 2))
    assert [(s.isoformat(), e.isoformat()) for s, e in got] == expected


def test_the_posted_record_is_changed_by_pure_functions():
    state = new_digest_state("/lake")
    after = record_posted(state, "daily/2017-10-31/UTC/*", {"posted_at": "2017-11-01T07:00"})
    assert state["posted"] == {} and list(after["posted"]) == ["daily/2017-10-31/UTC/*"]
    many = after
    for i in range(5):
        many = record_posted(many, f"k{i}", {"posted_at": f"2017-11-0{i + 2}"}, limit=3)
    assert sorted(many["posted"]) == ["k2", "k3", "k4"]


def test_routes_read_a_default_and_org_channels():
    routes = parse_routes('default = "#support"\n[orgs]\nAppleSupport = "#apple"\n', "r.toml")
    assert routes.channel("AppleSupport") == "#apple" and routes.channel("Other") == "#support"
    assert parse_routes('[orgs]\ndefault = "#x"\n', "r.toml").default == "#x"
    with pytest.raises(ConfigurationError, match="r.toml"):
        parse_routes("[orgs\n", "r.toml")


# ---- posting through slack_sdk ----------------------------------------------------------


def test_a_digest_is_posted_with_its_blocks(server):
    poster = web_poster(server)
    for message in payloads(digest()):
        sent = poster.post(message, "#support", "SLACK_CHANNEL")
    assert sent["channel"] == "C0SUPPORT" and sent["ts"]
    [post] = server.posts()
    body = post["body"]
    assert body["channel"] == "#support" and post["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert body["blocks"][0]["text"]["text"] == "Daily digest · AppleSupport · 2017-10-31"
    assert len(body["blocks"][1]["fields"]) == 3 and len(body["blocks"]) <= 50
    assert limit_problems(body) == []


def test_a_429_waits_at_least_retry_after(server):
    server.fail(
        "/api/chat.postMessage", (429, {"Retry-After": "1"}, '{"ok":false,"error":"ratelimited"}')
    )
    waits = []
    poster = web_poster(server, on_retry=lambda exc, s: waits.append(s))
    poster.post(payloads(digest())[0], "#support", "SLACK_CHANNEL")
    first, second = [s["at"] for s in server.seen]
    assert second - first >= 1.0 and waits and waits[0] >= 1.0
    assert len(server.posts()) == 1


def test_a_burst_of_500s_is_retried_with_backoff(server):
    server.fail("/api/chat.postMessage", *[(500, {}, "<html>oops</html>")] * 2, (503, {}, "{}"))
    web_poster(server).post(payloads(digest())[0], "#support", "SLACK_CHANNEL")
    assert [s["status"] for s in server.seen] == [500, 500, 503, 200]


@pytest.mark.parametrize(
    ("token", "channel", "error", "needle"),
    [
        ("xoxb-wrong-SECRET", "#support", ServiceAuthError, "SLACK_BOT_TOKEN"),
        (TOKEN, "#nowhere", ServiceError, "channel_not_found"),
        (TOKEN, "#general", ServiceError, "not_in_channel"),
    ],
)
def test_refusals_are_one_line_naming_the_setting_and_never_retried(
    server, token, channel, error, needle
):
    with pytest.raises(error) as info:
        web_poster(server, token=token).post(payloads(digest())[0], channel, "SLACK_CHANNEL")
    line = info.value.one_line()
    assert needle in line and "SECRET" not in line
    if error is ServiceError:
        assert "SLACK_CHANNEL" in line and channel in line
    assert len(server.seen) == 1


def test_a_webhook_posts_and_a_dead_one_names_slack_webhook_url(server):
    hook = SlackPoster(webhook=WebhookClient(url=server.webhook, retry_handlers=[]), policy=FAST)
    assert hook.post(payloads(digest())[0], None, "SLACK_WEBHOOK_URL") == {
        "channel": None,
        "ts": None,
    }
    assert server.seen[-1]["body"]["blocks"][0]["type"] == "header"
    dead = SlackPoster(
        webhook=WebhookClient(url=f"{server.url}/services/T/B/GONE", retry_handlers=[]), policy=FAST
    )
    with pytest.raises(ServiceError) as info:
        dead.post(payloads(digest())[0], None, "SLACK_WEBHOOK_URL")
    line = info.value.one_line()
    assert "no_service" in line and "SLACK_WEBHOOK_URL" in line and "GONE" not in line


# ---- the command ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    """The bundled sample collected once into a lake (labeled by the offline labeler)."""
    base = tmp_path_factory.mktemp("sample")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(base)
        result = runner.invoke(app, ["collect", "--lake", str(base / "lake")])
        assert result.exit_code == 0, result.output
    return base / "lake"


@pytest.fixture
def bot(in_tmp, server, monkeypatch) -> SlackServer:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_CHANNEL", "#support")
    monkeypatch.setenv("ANALYTICS_SLACK_BASE_URL", server.api)
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    return server


def digest_cmd(lake: Path, *args: str):
    return runner.invoke(app, ["digest", "--lake", str(lake), *args])


def one_line(result, code: int) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def test_digest_posts_once_and_a_rerun_posts_nothing_unless_forced(bot, lake):
    result = digest_cmd(lake, "--start-date", "2017-10-31")
    assert result.exit_code == 0, result.output
    assert "posted Daily digest · all orgs · 2017-10-31 → #support" in result.stdout
    [post] = bot.posts()
    blocks = post["body"]["blocks"]
    assert blocks[0]["text"]["text"] == "Daily digest · all orgs · 2017-10-31"
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert fields[0] == "*Conversations*\n915   ▲ 2078.6% vs 42"
    assert any(f.startswith("*FRT median*\n") for f in fields) and len(fields) <= 10
    assert "Top topics" in json.dumps(blocks) and "metric definitions v1" in json.dumps(blocks)
    assert TOKEN not in result.output
    record = json.loads(next(Path("state").glob("*/digests.json")).read_text())
    assert record["posted"]["daily/2017-10-31/UTC/*"]["channel"] == "#support"

    again = digest_cmd(lake, "--start-date", "2017-10-31")
    assert again.exit_code == 0 and "already posted" in again.stdout
    assert len(bot.posts()) == 1
    forced = digest_cmd(lake, "--start-date", "2017-10-31", "--force")
    assert forced.exit_code == 0 and len(bot.posts()) == 2


def test_by_org_routes_each_org_to_its_channel(bot, lake):
    Path("routes.toml").write_text('default = "#support"\n[orgs]\nSouthwestAir = "#apple"\n')
    result = digest_cmd(
        lake, "--start-date", "2017-11-16", "--by", "org", "--routes", "routes.toml"
    )
    assert result.exit_code == 0, result.output
    sent = {p["body"]["blocks"][0]["text"]["text"]: p["body"]["channel"] for p in bot.posts()}
    assert sent == {
        "Daily digest · ATVIAssist · 2017-11-16": "#support",
        "Daily digest · SouthwestAir · 2017-11-16": "#apple",
        "Daily digest · marksandspencer · 2017-11-16": "#support",
    }


def test_an_org_without_a_route_and_no_default_is_one_line(bot, lake, monkeypatch):
    monkeypatch.delenv("SLACK_CHANNEL")
    Path("routes.toml").write_text('[orgs]\nSouthwestAir = "#apple"\n')
    monkeypatch.setenv("ANALYTICS_SLACK_ROUTES", "routes.toml")
    result = digest_cmd(lake, "--start-date", "2017-11-16", "--by", "org")
    line = one_line(result, 2)
    assert "ATVIAssist" in line and "routes.toml" in line
    assert bot.posts() == []  # checked before the first post


def test_dry_run_prints_the_payloads_and_posts_nothing(bot, lake):
    result = digest_cmd(lake, "--start-date", "2017-11-16", "--dry-run")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    [one] = doc["digests"]
    assert one["status"] == "dry run" and one["channel"] == "#support"
    assert one["messages"][0]["blocks"][0]["type"] == "header"
    assert bot.seen == [] and not list(Path(".").glob("state/*/digests.json"))


def test_slack_not_configured_names_both_settings(in_tmp, lake, monkeypatch):
    for name in ("SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    line = one_line(digest_cmd(lake, "--start-date", "2017-11-16"), 2)
    assert "SLACK_BOT_TOKEN" in line and "SLACK_WEBHOOK_URL" in line


def test_a_wrong_token_is_one_line_without_the_token(bot, lake, monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-wrong-SECRET")
    line = one_line(digest_cmd(lake, "--start-date", "2017-11-16"), 1)
    assert "invalid_auth" in line and "SLACK_BOT_TOKEN" in line and "SECRET" not in line


def test_chart_is_uploaded_into_the_thread_or_skipped_with_a_note(bot, lake):
    result = digest_cmd(lake, "--start-date", "2017-10-31", "--chart")
    assert result.exit_code == 0, result.output
    assert len(bot.posts()) == 1
    completed = bot.posts("/api/files.completeUploadExternal")
    if completed:  # charts.draw drew one: uploaded in the digest's thread
        assert completed[0]["body"]["thread_ts"].startswith("1509408000.")
        assert completed[0]["body"]["channel_id"] == "C0SUPPORT"
        assert next(iter(bot.uploads.values())).startswith(b"\x89PNG")
    else:
        assert "no chart drawn" in result.stderr
