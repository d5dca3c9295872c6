"""`cdp identity ...`: inspect, evaluate, match, export and correct resolved identities."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from features.errors import ConfigError
from serving.console import console, out, settings_from

identity_app = typer.Typer(
    help="Inspect, evaluate, match, export and correct resolved identities.", no_args_is_help=True
)


@identity_app.command("evaluate")
def identity_evaluate(
    ctx: typer.Context,
    truth: Annotated[Path, typer.Option(help="The truth/ folder of a generated world.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Pairwise and B-cubed precision/recall/F1 of the profiles against generator truth."""
    from features.identity.resolve import evaluate_against_truth

    scores = evaluate_against_truth(settings_from(ctx), truth)
    if as_json:
        out.print_json(json.dumps(scores))
        return
    pair, b3 = scores["pairwise"], scores["bcubed"]
    out.print(
        f"pairwise P {pair['precision']:.4f} R {pair['recall']:.4f} F1 {pair['f1']:.4f} | "
        f"B-cubed F1 {b3['f1']:.4f} | over-merged clusters {scores['over_merged_clusters']:,} "
        f"| split people {scores['split_entities']:,}"
    )
    if "stitching" in scores:
        st = scores["stitching"]
        out.print(
            f"stitching: {st['stitched_identifiers']:,} identifiers linked "
            f"({st['coverage']:.1%} of truth), over-merges {st['over_merges']}, "
            f"shared devices attributed to their only logged-in user {st['attributed_shared']}"
        )


@identity_app.command("unmerge")
def identity_unmerge(
    ctx: typer.Context,
    profile_id: Annotated[str, typer.Argument(help="The profile the record wrongly sits in.")],
    record: Annotated[str, typer.Option(help="The record to move out, as SOURCE:RECORD_ID.")],
) -> None:
    """Move a wrongly merged record to its own profile and pin that decision for later runs."""
    from features.identity.unmerge import unmerge_record

    with console.status("unmerging and re-resolving"):
        result = unmerge_record(settings_from(ctx), profile_id, record)
    out.print_json(json.dumps(result))


@identity_app.command("match")
def identity_match(
    ctx: typer.Context,
    first_name: Annotated[str | None, typer.Option(help="Given name.")] = None,
    last_name: Annotated[str | None, typer.Option(help="Family name.")] = None,
    email: Annotated[str | None, typer.Option(help="Email address.")] = None,
    phone: Annotated[str | None, typer.Option(help="Phone number, any format.")] = None,
    dob: Annotated[str | None, typer.Option(help="Date of birth, YYYY-MM-DD.")] = None,
    postcode: Annotated[str | None, typer.Option(help="Postal code.")] = None,
    city: Annotated[str | None, typer.Option(help="City.")] = None,
    address: Annotated[str | None, typer.Option(help="Street address.")] = None,
) -> None:
    """Match one person record against the current profiles, with the evidence per attribute."""
    from dataclasses import asdict

    from features.identity.realtime import RealtimeMatcher

    record = {"first_name": first_name, "last_name": last_name, "email": email, "phone": phone,
              "dob": dob, "postcode": postcode, "city": city, "address": address}  # fmt: skip
    if not any(record.values()):
        raise ConfigError("give at least one attribute, e.g. --email or --last-name")
    result = RealtimeMatcher(settings_from(ctx)).match(record)
    out.print_json(json.dumps(asdict(result), default=str))


@identity_app.command("export")
def identity_export(
    ctx: typer.Context,
    out_file: Annotated[Path, typer.Option("--out", help="Output .parquet or .csv file.")],
) -> None:
    """Write (source, record_id, profile_id) for every known-person record and every stitched
    cookie and device (source 'anonymous_id' or 'device_id')."""
    from features.identity.resolve import read_assignments

    assignments = read_assignments(settings_from(ctx), anonymous=True)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    if out_file.suffix == ".parquet":
        assignments.to_parquet(out_file, index=False)
    else:
        assignments.to_csv(out_file, index=False)
    out.print(f"wrote {len(assignments):,} records to {out_file}")
