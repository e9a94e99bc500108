"""One settings object, from the environment (prefix ``GEO_LABEL_``), validated at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GEO_LABEL_", extra="ignore")

    data_dir: Path = Field(default=Path("var"), description="Chips, previews and the embedded database.")
    marking_registry: Path | None = Field(
        default=None,
        description="TOML file of SCI controls, countries, tetragraphs and the accredited maximum marking; "
        "the built-in registry when unset.",
    )
    debug: bool = Field(default=False, description="Show tracebacks of internal errors on the CLI.")


def load_settings() -> Settings:
    return Settings()
