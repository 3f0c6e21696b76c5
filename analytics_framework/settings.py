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

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from analytics_framework.errors import ConfigurationError


class Settings(BaseSettings):
    """Every setting of the toolkit, with its type, default and description."""

    model_config = SettingsConfigDict(
        env_prefix="ANALYTICS_", env_file=".env", extra="ignore", validate_default=True
    )

    lake_uri: str = Field(
        "./lake", description="Where the Parquet lake lives: a local folder or s3://bucket/prefix."
    )
    state_dir: str = Field("state", description="Folder for processing state and caches.")
    batch_size: int = Field(
        1000, ge=1, le=1_000_000, description="Conversations per batch; bounds memory."
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
            env = f"ANALYTICS_{field.upper()}"
            problems.append(f"{field} ({env}): {err['msg']}")
        raise ConfigurationError(
            "invalid settings: " + "; ".join(problems),
            "fix the option, the environment variable or .env and run again",
        ) from None
