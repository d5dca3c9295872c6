"""`cdp audience ...`: propensity scores, audiences and suppression lists as files.

The commands call the same functions as the service's `/audience` and `/suppression`
endpoints (serving.activation), with the same request models built from the flags, so a file
holds exactly what the endpoint answers. See docs/activation.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from features.errors import ConfigError
from serving.console import console, out, settings_from

if TYPE_CHECKING:  # the models load with the commands that use them
    from serving.activation.requests import AudienceResult, SuppressionResult

audience_app = typer.Typer(
    help="Propensity scores, audiences and suppression lists (consent-checked).",
    no_args_is_help=True,
)

AtOption = Annotated[
    str | None, typer.Option("--at", help="Build as of this moment (default now), UTC.")
]
OutOption = Annotated[
    Path, typer.Option("--out", help="Output file: .json (the endpoint's answer), .csv, .parquet.")
]
SUFFIXES = (".json", ".csv", ".parquet")


def _request(model, **fields):
    """The request model from flags; a validation error names the flags."""
    from pydantic import ValidationError

    try:
        return model(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        parts = []
        for error in exc.errors():
            flags = ", ".join("--" + str(p).replace("_", "-") for p in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            parts.append(f"{flags}: {message}" if flags else message)
        raise ConfigError("; ".join(parts)) from exc


def _check_out(path: Path) -> None:
    if path.suffix not in SUFFIXES:
        raise ConfigError(f"--out: {path.name} must end in {', '.join(SUFFIXES)}")


@audience_app.command("score")
def audience_score(
    ctx: typer.Context,
    profiles: Annotated[
        list[str] | None,
        typer.Option("--profile", help="Score only this profile (repeatable; default all)."),
    ] = None,
    at: AtOption = None,
) -> None:
    """Score the online store's profiles with the champion propensity model."""
    from serving.activation.scores import score_profiles
    from serving.cli_features import _moment

    with console.status("scoring profiles"):
        report = score_profiles(settings_from(ctx), profile_ids=profiles, at=_moment(at, "--at"))
    out.print_json(json.dumps(report.to_dict()))


@audience_app.command("export")
def audience_export(
    ctx: typer.Context,
    target: Annotated[str, typer.Option(help="`any` or `purchase_<category>`.")],
    channel: Annotated[str, typer.Option(help="email, ads or onsite.")],
    out_file: OutOption,
    min_score: Annotated[float | None, typer.Option(help="Keep scores at least this.")] = None,
    top_n: Annotated[int | None, typer.Option(help="Keep the N best-scored people.")] = None,
    purpose: Annotated[
        str | None, typer.Option(help="A further consent purpose to require (e.g. profiling).")
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", help="ids (profile and channel ids) or hashed.")
    ] = "ids",
    platform: Annotated[str | None, typer.Option(help="google or meta (hashed).")] = None,
    product_id: Annotated[
        str | None, typer.Option(help="Promoted product: its buyers are suppressed.")
    ] = None,
    category: Annotated[
        str | None, typer.Option(help="Promoted category: its buyers are suppressed.")
    ] = None,
    bought_within_days: Annotated[
        int | None, typer.Option(help="Only purchases of the last N days suppress.")
    ] = None,
    frequency_cap_days: Annotated[
        int | None, typer.Option(help="Suppress people contacted on the channel in N days.")
    ] = None,
    preview: Annotated[bool, typer.Option(help="Counts only; the export is not recorded.")] = False,
    at: AtOption = None,
) -> None:
    """Build an audience (what the service's /audience answers) into a file."""
    from serving.activation.audience import build_audience
    from serving.activation.requests import AudienceRequest
    from serving.cli_features import _moment

    _check_out(out_file)
    request = _request(
        AudienceRequest, target=target, channel=channel, min_score=min_score, top_n=top_n,
        purpose=purpose, format=output_format, platform=platform, product_id=product_id,
        category=category, bought_within_days=bought_within_days,
        frequency_cap_days=frequency_cap_days, preview=preview,
    )  # fmt: skip
    settings = settings_from(ctx)
    moment = _moment(at, "--at")
    _ensure_scores(settings, moment)
    result = build_audience(settings, request, at=moment)
    write_audience(result, out_file)
    out.print_json(json.dumps({"out": str(out_file), "activation_id": result.activation_id,
                               "model_version": result.model_version,
                               "counts": result.counts.model_dump()}))  # fmt: skip


@audience_app.command("suppression")
def audience_suppression(
    ctx: typer.Context,
    platform: Annotated[str, typer.Option(help="google or meta.")],
    out_file: OutOption,
    product_id: Annotated[str | None, typer.Option(help="Buyers of this product.")] = None,
    category: Annotated[str | None, typer.Option(help="Buyers of this category.")] = None,
    bought_within_days: Annotated[
        int | None, typer.Option(help="Only purchases of the last N days.")
    ] = None,
    at: AtOption = None,
) -> None:
    """Hashed identifiers of buyers for an ad platform's exclusion list (/suppression)."""
    from serving.activation.requests import SuppressionRequest
    from serving.activation.suppression import build_suppression
    from serving.cli_features import _moment

    _check_out(out_file)
    request = _request(SuppressionRequest, platform=platform, product_id=product_id,
                       category=category, bought_within_days=bought_within_days)  # fmt: skip
    result = build_suppression(settings_from(ctx), request, at=_moment(at, "--at"))
    write_suppression(result, out_file)
    out.print_json(json.dumps({"out": str(out_file), "counts": result.counts.model_dump()}))


def _ensure_scores(settings, moment) -> None:
    """Score every profile first when the store holds no scores (a fresh store)."""
    from features.online.store import OnlineStore
    from serving.activation.scores import score_profiles
    from serving.activation.tables import read_score_status

    with OnlineStore(settings) as store:
        if read_score_status(store)["targets"]:
            return
        with console.status("no scores yet: scoring every profile with the champion"):
            score_profiles(settings, at=moment, store=store)


def write_audience(result: AudienceResult, path: Path) -> None:
    """The audience as a file: .json is the endpoint's answer; .csv / .parquet its members,
    one row each (in CSV, a list of digests is one cell, space-separated)."""
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".json":
        path.write_text(result.model_dump_json(indent=2))
        return
    columns = ["profile_id", "score"] + (
        ["hashed_emails", "hashed_phones"] if result.format == "hashed" else ["channel_id"]
    )
    rows = [m.model_dump(include=set(columns)) for m in result.members]
    frame = pd.DataFrame(rows, columns=columns)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
        return
    for column in ("hashed_emails", "hashed_phones"):
        if column in frame:
            frame[column] = frame[column].map(" ".join)
    frame.to_csv(path, index=False)


def write_suppression(result: SuppressionResult, path: Path) -> None:
    """The list as a file: .json is the endpoint's answer; .csv / .parquet one row per digest
    (identifier_type email or phone, sha256)."""
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".json":
        path.write_text(result.model_dump_json(indent=2))
        return
    frame = pd.DataFrame(
        [("email", h) for h in result.hashed_emails] + [("phone", h) for h in result.hashed_phones],
        columns=["identifier_type", "sha256"],
    )
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
