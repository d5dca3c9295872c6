"""Typed settings for one installation, read from the environment (``CDP_*``) and CLI flags.

All state lives under ``home`` (``CDP_HOME``, default ``./.cdp``): two homes never share a file,
which is what lets tests and several installations run side by side.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from features.errors import ConfigError


class Settings(BaseSettings):
    """Paths, seeds and sizes of one installation. Construct it; nothing is read at import."""

    model_config = SettingsConfigDict(env_prefix="CDP_", extra="forbid", frozen=True)

    home: Path = Field(
        default=Path(".cdp"), description="Folder holding every store of this installation."
    )
    seed: int = Field(
        default=42, description="Seed for every random choice (generator, sampling, models)."
    )
    people: int = Field(default=10_000, ge=1, description="Default size of a generated world.")
    phone_region: str = Field(
        default="US",
        description="ISO region assumed for phone numbers written without a country code.",
    )
    source_timezone: str = Field(
        default="UTC", description="Time zone assumed for source timestamps that carry no offset."
    )
    warehouse_memory: str = Field(
        default="2GB",
        description="DuckDB memory limit; larger loads spill to CDP_HOME/tmp instead of RAM.",
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
    )
    linkage_memory: str = Field(
        default="1GB",
        description="DuckDB memory limit of identity resolution's linkage engine (Splink), which"
        " runs beside the warehouse; scored pairs past it spill to CDP_HOME/tmp.",
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
    )
    ingest_chunk_rows: int = Field(
        default=500_000, ge=1_000, description="Rows validated at a time while ingesting."
    )

    @field_validator("phone_region")
    @classmethod
    def _upper_region(cls, value: str) -> str:
        import phonenumbers

        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {value!r}")
        return region

    @field_validator("source_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def warehouse_path(self) -> Path:
        """The DuckDB file that is the offline warehouse."""
        return self.home / "warehouse.duckdb"

    @property
    def online_store_path(self) -> Path:
        """The SQLite (WAL) file that is the online store and event log."""
        return self.home / "online.sqlite"

    @property
    def mlflow_uri(self) -> str:
        """MLflow tracking URI backed by sqlite inside the home."""
        return f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    @property
    def world_path(self) -> Path:
        """Where `cdp run` writes a generated world when no data is given."""
        return self.home / "world"


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit (CLI) overrides winning.

    Raises ConfigError naming the offending setting instead of a pydantic traceback.
    """
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except Exception as exc:  # pydantic.ValidationError, kept generic to name the setting
        errors = getattr(exc, "errors", None)
        if callable(errors):
            parts = [
                f"CDP_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in errors()
            ]
            raise ConfigError("invalid setting " + "; ".join(parts)) from exc
        raise ConfigError(f"invalid settings: {exc}") from exc
