"""`cdp forget`: erase a person everywhere and print the receipt (features.privacy)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from features.errors import ConfigError
from serving.console import console, out, settings_from


def forget(
    ctx: typer.Context,
    identifier: Annotated[
        str, typer.Option(help="TYPE=VALUE, e.g. email=jane@example.com or profile_id=prf_...")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the receipt as JSON.")] = False,
) -> None:
    """Erase the person behind one identifier from every store and keep them out (issue #7)."""
    from features.privacy.erasure import erase_person

    kind, sep, value = identifier.partition("=")
    if not sep or not value.strip():
        raise ConfigError("--identifier must be TYPE=VALUE, e.g. email=jane@example.com")
    with console.status("erasing"):
        receipt = erase_person(settings_from(ctx), kind.strip(), value, actor="cli")
    if as_json:
        out.print_json(json.dumps(receipt.to_dict()))
        return
    head = "already erased" if receipt.already_erased else f"{receipt.rows_removed:,} rows removed"
    out.print(f"erasure {receipt.erasure_id} at {receipt.erased_at} ({receipt.identifier_type}):"
              f" {head} in {receipt.seconds:.1f}s", highlight=False)  # fmt: skip
    table = Table("store", "table", "rows removed")
    for store, tables in receipt.removed.items():
        for name, count in tables.items():
            if count:
                table.add_row(store, name, f"{count:,}")
    if receipt.removed:
        out.print(table)
    if receipt.blocked:
        blocked = ", ".join(f"{k} {n}" for k, n in receipt.blocked.items())
        out.print(f"blocked (salted hashes): {blocked}", highlight=False)
    if receipt.shared_identifiers_kept:
        out.print(f"{receipt.shared_identifiers_kept} identifier(s) other profiles share were "
                  "kept and not blocked", highlight=False)  # fmt: skip
    if receipt.models_marked:
        out.print("models to retrain: " + ", ".join(receipt.models_marked), highlight=False)


def add_privacy_commands(app: typer.Typer) -> None:
    """Register `forget` on the main app."""
    app.command("forget")(forget)
