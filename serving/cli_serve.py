"""`cdp serve` and `cdp keys`: run the BentoML service on this home, and manage its API keys."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from features.settings import Settings
from serving.console import console, out, settings_from

keys_app = typer.Typer(help="API keys of the service: add, list, revoke.", no_args_is_help=True)
SERVICE = "serving.service:CdpService"


def serve_command(
    settings: Settings, port: int, host: str = "127.0.0.1", log_level: str = "warning"
) -> tuple[list, dict]:
    """The argv and environment that run the service on `settings.home`."""
    env = {**os.environ, "CDP_HOME": str(Path(settings.home).resolve()),
           "CDP_SEED": str(settings.seed), "CDP_PHONE_REGION": settings.phone_region,
           "CDP_SERVICE_LOG_LEVEL": log_level}  # fmt: skip
    if log_level == "debug":
        env["BENTOML_DEBUG"] = "true"  # BentoML's own debug logging too
    root = Path(__file__).resolve().parent.parent
    argv = [sys.executable, "-m", "bentoml", "serve", SERVICE, "--host", host,
            "--port", str(port), "--working-dir", str(root)]  # fmt: skip
    return argv, env


def serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 3000,
    host: Annotated[
        str,
        typer.Option(
            help="Interface to bind (keep loopback unless behind a proxy that terminates TLS)."
        ),
    ] = "127.0.0.1",
) -> None:
    """Serve lookups, scores, audiences and events (BentoML) until interrupted."""
    settings = settings_from(ctx)
    argv, env = serve_command(settings, port, host, ctx.meta.get("log_level", "warning"))
    console.print(f"serving {settings.home} on http://{host}:{port} (docs: /api/docs)")
    sys.stdout.flush()
    os.execve(argv[0], argv, env)


@keys_app.command("add")
def add(
    ctx: typer.Context,
    role: Annotated[str, typer.Option(help="agent, marketer or admin.")],
    name: Annotated[str | None, typer.Option(help="A name to list and revoke it by.")] = None,
) -> None:
    """Make a key; it is printed once, alone on the last line, and never stored."""
    from serving.keys import add_key

    made, key = add_key(settings_from(ctx), role, name)
    console.print(f"key {made!r} ({role}); store it now, it cannot be shown again:")
    out.print(key, highlight=False, soft_wrap=True)


@keys_app.command("list")
def list_(ctx: typer.Context) -> None:
    """Every key's name, role and dates (never the key)."""
    from serving.keys import list_keys

    table = Table("name", "role", "key id", "created", "revoked")
    for row in list_keys(settings_from(ctx)):
        table.add_row(row["name"], row["role"], row["key_id"], row["created_at"],
                      row["revoked_at"] or "")  # fmt: skip
    out.print(table)


@keys_app.command("revoke")
def revoke(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Key name or id.")]):
    """Revoke a key; the service refuses it from the next request."""
    from serving.keys import revoke_key

    revoke_key(settings_from(ctx), name)
    out.print(f"revoked {name}")


def add_serve_commands(app: typer.Typer) -> None:
    """Register `serve` and `keys` on the main app."""
    app.command("serve")(serve)
    app.add_typer(keys_app, name="keys")
