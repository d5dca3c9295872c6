"""What every `cdp` command shares: the two consoles and settings from the global options."""

from __future__ import annotations

import typer
from rich.console import Console

from features.settings import Settings, load_settings

console = Console(stderr=True)  # progress, status and errors
out = Console()  # results, so they can be piped


def settings_from(ctx: typer.Context, **overrides: object) -> Settings:
    """Settings from the environment, the global options (ctx.obj) and command flags."""
    return load_settings(**{**(ctx.obj or {}), **overrides})
