"""Settings: declared once, every one listed in .env.example, secrets never shown."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices

from analytics_framework.settings import Settings, describe, load_settings, mask_uri

ROOT = Path(__file__).resolve().parents[1]


def env_names(name: str, field) -> list[str]:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(a) for a in alias.choices]
    return [f"ANALYTICS_{name.upper()}"]


def test_every_setting_is_in_env_example_with_a_comment():
    lines = (ROOT / ".env.example").read_text().splitlines()
    assigned = {line.split("=", 1)[0] for line in lines if "=" in line and not line.startswith("#")}
    for name, field in Settings.model_fields.items():
        names = env_names(name, field)
        assert assigned & set(names), f"{name} ({' or '.join(names)}) missing from .env.example"
        assert field.description, f"{name} has no description"
        first = next(n for n in names if n in assigned)
        at = next(i for i, line in enumerate(lines) if line.startswith(f"{first}="))
        while at > 0 and "=" in lines[at - 1] and not lines[at - 1].startswith("#"):
            at -= 1  # settings grouped under one comment
        assert lines[at - 1].startswith("#"), f"{first} has no comment above it"


def test_secrets_are_never_shown(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    monkeypatch.setenv("MONGODB_URI", "mongodb://app:hunter2@db.internal:27017/?tls=true")
    shown = describe(load_settings())
    text = repr(shown)
    assert "sk-very-secret" not in text and "hunter2" not in text
    assert shown["openai_api_key"] == "set" and shown["gemini_api_key"] == "not set"
    assert shown["mongodb_uri"] == "mongodb://app:***@db.internal:27017/?tls=true"
    assert "hunter2" not in repr(load_settings())  # SecretStr in reprs too
    assert mask_uri("mongodb://127.0.0.1:27017/") == "mongodb://127.0.0.1:27017/"
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T1/B1/SECRETXYZ")
    assert describe(load_settings())["slack_webhook_url"] == "set"  # the URL is the secret


def test_all_problems_are_reported_at_once(monkeypatch):
    monkeypatch.setenv("ANALYTICS_BATCH_SIZE", "0")
    monkeypatch.setenv("ANALYTICS_TIMEZONE", "Mars/Olympus")
    monkeypatch.setenv("ANALYTICS_LLM_PROVIDER", "claude")
    try:
        load_settings()
    except Exception as exc:
        line = exc.one_line()
    assert "ANALYTICS_BATCH_SIZE" in line and "ANALYTICS_TIMEZONE" in line
    assert "ANALYTICS_LLM_PROVIDER" in line
