"""Settings, declared once.

Precedence, lowest to highest: the defaults below, ``.env`` in the working directory (read with
python-dotenv through pydantic-settings), environment variables (``ANALYTICS_<FIELD>``), and the
overrides a caller (the CLI) passes to :func:`load_settings`. Every problem is reported at once.
Fields marked ``secret`` in their ``json_schema_extra`` are never printed.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import timedelta
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from analytics_framework.catalog import PROVIDERS
from analytics_framework.errors import ConfigurationError


class Settings(BaseSettings):
    """Every setting of the toolkit, with its type, default and description."""

    model_config = SettingsConfigDict(
        env_prefix="ANALYTICS_",
        env_file=".env",
        extra="ignore",
        validate_default=True,
        populate_by_name=True,
        env_ignore_empty=True,
    )

    lake_uri: str = Field(
        "./lake", description="Where the Parquet lake lives: a local folder or s3://bucket/prefix."
    )
    state_dir: str = Field("state", description="Folder for processing state and caches.")
    batch_size: int = Field(
        1000,
        ge=1,
        le=1_000_000,
        description="Conversations per batch: the unit of staging, commits and --resume.",
    )
    sort_memory: str = Field(
        "160MB",
        pattern=r"^[0-9]+(\.[0-9]+)?\s*(KB|MB|GB|KiB|MiB|GiB)$",
        description="Memory DuckDB may use to bucket a big file input by conversation before "
        "batching (it spills the rest to a temporary folder), e.g. 160MB or 1GB.",
    )
    timezone: str = Field(
        "UTC", description="IANA time zone for partition days and report periods."
    )
    autoresponse_marker: str = Field(
        "*977#",
        description="Text marking a Facebook autoresponse; such messages get role 'bot'.",
    )

    lookback: timedelta = Field(
        timedelta(hours=1),
        description="How far before the watermark an incremental collect looks again, for "
        "late-arriving messages: 90s, 30m, 1h, 2d (or ISO 8601 PT1H).",
    )

    # ---- storage: S3 and MongoDB (issue 5) -----------------------------------------------------
    s3_endpoint_url: str | None = Field(
        None,
        validation_alias=AliasChoices("ANALYTICS_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL"),
        description="S3-compatible endpoint (MinIO, R2, a local moto): AWS_ENDPOINT_URL. "
        "Credentials and region come from boto3's standard chain.",
    )
    use_s3_state: bool = Field(
        False,
        description="Keep the state and its lock on S3 beside the lake (<lake>/_state/). "
        "(--use-s3-state)",
    )
    lock_stale_s: float = Field(
        120.0,
        gt=0,
        description="An S3 lock whose heartbeat is older than this many seconds is stale.",
    )
    mongodb_uri: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("ANALYTICS_MONGODB_URI", "MONGODB_URI"),
        description="MongoDB URI (MONGODB_URI); unset: MongoDB is off. (--mongodb-uri)",
        json_schema_extra={"secret": True},
    )
    mongodb_database: str = Field(
        "conversation_analytics",
        validation_alias=AliasChoices("ANALYTICS_MONGODB_DATABASE", "MONGODB_DATABASE"),
        description="MongoDB database (MONGODB_DATABASE).",
    )
    mongodb_timeout_s: float = Field(
        3.0,
        gt=0,
        description="Seconds to find a MongoDB server before giving up (fail fast when it is "
        "down).",
    )

    # ---- API sources: NocoDB, Mochi, and the HTTP layer they share ---------------------------
    io_workers: int = Field(
        4, ge=1, le=64, description="Threads fetching pages of an API source. (--io-workers)"
    )
    rps: float = Field(
        10.0,
        ge=0,
        description="Requests per second to one API source's server (0: no limit). (--rps)",
    )
    http_timeout_s: float = Field(
        30.0, gt=0, description="Seconds before an API request times out."
    )
    http_max_attempts: int = Field(
        6, ge=1, description="Attempts per API request (429, 5xx, timeouts are retried)."
    )
    nocodb_base_url: str | None = Field(
        None,
        validation_alias=AliasChoices("ANALYTICS_NOCODB_BASE_URL", "NOCODB_BASE_URL"),
        description="NocoDB server, e.g. https://app.nocodb.com (NOCODB_BASE_URL).",
    )
    nocodb_api_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("ANALYTICS_NOCODB_API_TOKEN", "NOCODB_API_TOKEN"),
        description="NocoDB API token, sent as xc-token (NOCODB_API_TOKEN).",
        json_schema_extra={"secret": True},
    )
    nocodb_project_id: str | None = Field(
        None,
        validation_alias=AliasChoices("ANALYTICS_NOCODB_PROJECT_ID", "NOCODB_PROJECT_ID"),
        description="The NocoDB base (project) holding the tables, by id or title "
        "(NOCODB_PROJECT_ID).",
    )
    nocodb_conversations_table: str = Field(
        "conversations",
        validation_alias=AliasChoices(
            "ANALYTICS_NOCODB_CONVERSATIONS_TABLE", "NOCODB_CONVERSATIONS_TABLE"
        ),
        description="NocoDB table of conversations, by title or id (NOCODB_CONVERSATIONS_TABLE).",
    )
    nocodb_messages_table: str = Field(
        "messages",
        validation_alias=AliasChoices("ANALYTICS_NOCODB_MESSAGES_TABLE", "NOCODB_MESSAGES_TABLE"),
        description="NocoDB table of messages, by title or id (NOCODB_MESSAGES_TABLE).",
    )
    mochi_base_url: str | None = Field(
        None,
        validation_alias=AliasChoices("ANALYTICS_MOCHI_BASE_URL", "MOCHI_BASE_URL"),
        description="Mochi deployment, e.g. https://app.mochi.example (MOCHI_BASE_URL).",
    )
    mochi_session_id: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("ANALYTICS_MOCHI_SESSION_ID", "MOCHI_SESSION_ID"),
        description="Mochi's Django session cookie value, sent as sessionid (MOCHI_SESSION_ID).",
        json_schema_extra={"secret": True},
    )

    # ---- labeling (issue 4) ------------------------------------------------------------------
    llm_provider: str | None = Field(
        None,
        description="Labeler: gemini, openai or local. Unset: gemini if its key is set, else "
        "openai if its key is set, else local. (--provider)",
    )
    gemini_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        description="Gemini API key (GEMINI_API_KEY or GOOGLE_API_KEY).",
        json_schema_extra={"secret": True},
    )
    openai_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("OPENAI_API_KEY"),
        description="OpenAI (or compatible server) API key (OPENAI_API_KEY).",
        json_schema_extra={"secret": True},
    )
    openai_base_url: str | None = Field(
        None,
        validation_alias=AliasChoices("OPENAI_BASE_URL"),
        description="OpenAI-compatible endpoint (vLLM, Ollama, LiteLLM): OPENAI_BASE_URL.",
    )
    gemini_base_url: str | None = Field(
        None, description="Another Gemini API endpoint (a proxy, a test server)."
    )
    gemini_model: str = Field("gemini-2.5-flash", description="Gemini model for labels.")
    openai_model: str = Field("gpt-4o-mini", description="OpenAI model for labels.")
    gemini_embed_model: str = Field(
        "gemini-embedding-001", description="Gemini embeddings model for personas. (--embed-model)"
    )
    openai_embed_model: str = Field(
        "text-embedding-3-small",
        description="OpenAI embeddings model for personas. (--embed-model)",
    )
    llm_batch_size: int = Field(10, ge=1, le=100, description="Conversations per LLM request.")
    workers: int = Field(
        4,
        ge=1,
        le=64,
        validation_alias=AliasChoices("ANALYTICS_WORKERS", "ANALYTICS_LLM_WORKERS"),
        description="Threads a stage runs at once: LLM requests while labeling, naming, "
        "translating and embedding; partitions written while collecting. (--workers)",
    )
    llm_timeout_s: float = Field(60.0, gt=0, description="Seconds before a request times out.")
    llm_max_attempts: int = Field(6, ge=1, description="Attempts per request, retries included.")
    llm_max_wait_s: float = Field(
        300.0, ge=0, description="Most seconds spent retrying one request."
    )
    llm_backoff_initial_s: float = Field(1.0, ge=0, description="First retry backoff, seconds.")
    llm_backoff_max_s: float = Field(60.0, ge=0, description="Longest retry backoff, seconds.")
    llm_rpm: float = Field(60.0, ge=0, description="Requests per minute (0: no limit).")
    llm_tpm: float = Field(1_000_000.0, ge=0, description="Tokens per minute (0: no limit).")
    llm_max_input_tokens: int = Field(
        3000, ge=100, description="Token budget of one conversation's transcript."
    )
    llm_max_output_tokens: int = Field(4096, ge=64, description="Output tokens per request.")
    llm_prices: dict[str, tuple[float, float]] = Field(
        {
            "gemini-2.5-flash": (0.30, 2.50),
            "gemini-2.5-flash-lite": (0.10, 0.40),
            "gpt-4o-mini": (0.15, 0.60),
            "gpt-4.1-mini": (0.40, 1.60),
            "gemini-embedding-001": (0.15, 0.0),
            "text-embedding-3-small": (0.02, 0.0),
        },
        description="USD per million (input, output) tokens by model, for the cost estimate "
        '(JSON: {"model": [in, out]}).',
    )
    taxonomy_file: str | None = Field(
        None, description="TOML taxonomy replacing the packaged default. (--taxonomy)"
    )

    # ---- Slack digest (analytics digest) ------------------------------------------------------
    slack_webhook_url: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("ANALYTICS_SLACK_WEBHOOK_URL", "SLACK_WEBHOOK_URL"),
        description="Slack incoming webhook URL (SLACK_WEBHOOK_URL); it embeds a token, so it "
        "is a secret. Posts to the webhook's own channel.",
        json_schema_extra={"secret": True},
    )
    slack_bot_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("ANALYTICS_SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN"),
        description="Slack bot token, xoxb-… (SLACK_BOT_TOKEN), for chat.postMessage and chart "
        "uploads; preferred over the webhook when both are set.",
        json_schema_extra={"secret": True},
    )
    slack_channel: str | None = Field(
        None,
        validation_alias=AliasChoices("ANALYTICS_SLACK_CHANNEL", "SLACK_CHANNEL"),
        description="Channel the bot posts digests to, e.g. #support or C0123456789 "
        "(SLACK_CHANNEL); the default route of --by org.",
    )
    slack_routes: str | None = Field(
        None,
        description='TOML file routing --by org digests to channels (default = "#chan", then '
        '[orgs] Name = "#chan"). (--routes)',
    )
    slack_base_url: str | None = Field(
        None,
        description="Another Slack Web API base URL, e.g. http://127.0.0.1:8080/api/ (tests, "
        "proxies); unset: https://slack.com/api/.",
    )

    @field_validator("llm_provider")
    @classmethod
    def _known_provider(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if value not in PROVIDERS:
            raise ValueError(f"unknown provider {value!r}; use one of: {', '.join(PROVIDERS)}")
        return value

    @field_validator("lookback", mode="before")
    @classmethod
    def _short_duration(cls, value: Any) -> Any:
        if isinstance(value, str):
            m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", value)
            if m:
                unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m[2]]
                return timedelta(**{unit: float(m[1])})
            if not re.fullmatch(r"\s*(P\S+|[\d:.]+)\s*", value):
                raise ValueError(f"{value!r} is not a duration; use 90s, 30m, 1h or 2d")
        return value

    @field_validator("lookback")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("must not be negative")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as UTC") from exc
        return value


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from defaults, ``.env``, the environment and ``overrides``.

    Args:
        **overrides: values from CLI options; ``None`` values are ignored (option not given).

    Returns:
        The validated :class:`Settings`.

    Raises:
        ConfigurationError: listing every invalid setting at once.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "settings"
            if field.isupper():  # reported under the variable an alias read (env names)
                problems.append(f"{field}: {err['msg']}")
                continue
            env = f"ANALYTICS_{field.upper()}"
            problems.append(f"{field} ({env}): {err['msg']}")
        raise ConfigurationError(
            "invalid settings: " + "; ".join(problems),
            "fix the option, the environment variable or .env and run again",
        ) from None


def mask_uri(uri: str | None) -> str | None:
    """Return ``uri`` with any password replaced by ``***`` (``mongodb://u:***@host/``)."""
    if not uri:
        return uri
    return re.sub(r"(?<=://)([^:/@]+):([^@]*)@", r"\1:***@", uri)


def describe(settings: Settings) -> dict[str, Any]:
    """Return every setting for display: secrets as set/not set, URI passwords as ``***``."""
    out: dict[str, Any] = {}
    for name, field in type(settings).model_fields.items():
        value = getattr(settings, name)
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if extra.get("secret"):
            raw = value.get_secret_value() if value is not None else None
            masked = mask_uri(raw) if raw and "://" in raw else None
            if masked is not None and masked != raw:  # a URI whose password was hidden
                out[name] = masked
            else:  # a key, or a URL that is a secret as a whole (a Slack webhook)
                out[name] = "set" if raw else "not set"
        else:
            out[name] = value
    return out
