"""`cdp`: the command-line face of cdp-engine.

Every command reads settings from the environment (CDP_*) with flags winning, does its work,
and exits with the code of the error class when something is wrong (see features.errors).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from features.errors import CdpError, ConfigError, ContractError
from features.settings import Settings
from serving import runtime
from serving.cli_activation import audience_app
from serving.cli_features import features_app
from serving.cli_identity import identity_app
from serving.cli_models import add_model_commands
from serving.cli_privacy import add_privacy_commands
from serving.cli_serve import add_serve_commands
from serving.console import console, out, settings_from

app = typer.Typer(
    name="cdp",
    help="cdp-engine: collect, unify, predict and activate customer data on your own machine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(identity_app, name="identity")
app.add_typer(features_app, name="features")
app.add_typer(audience_app, name="audience")
add_model_commands(app)
add_serve_commands(app)
add_privacy_commands(app)


@app.callback()
def configure(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            help="Folder holding all state of this installation (env CDP_HOME).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed for every random choice (env CDP_SEED).")
    ] = None,
    log_level: Annotated[
        str, typer.Option(help="Logging level: debug, info, warning, error.")
    ] = "warning",
) -> None:
    """Global options shared by every command."""
    level = logging.getLevelName(log_level.upper())
    if not isinstance(level, int):
        raise typer.BadParameter(f"unknown log level {log_level!r}", param_hint="--log-level")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Splink warns about every untrainable level; that is detail for --log-level info or lower.
    logging.getLogger("splink").setLevel(level if level < logging.WARNING else logging.ERROR)
    ctx.obj = {"home": home, "seed": seed}
    ctx.meta["log_level"] = log_level.lower()  # for `cdp serve`, whose worker logs on its own


@app.command()
def generate(
    ctx: typer.Context,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder to write the source files and truth/ into.")
    ],
    people: Annotated[int, typer.Option(help="How many people live in the world.")] = 10_000,
    file_format: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    seed: Annotated[int | None, typer.Option(help="Seed of the world (default: CDP_SEED).")] = None,
) -> None:
    """Generate a synthetic multi-source customer world with ground truth."""
    overrides = {"people": people} if seed is None else {"people": people, "seed": seed}
    summary = _generate(settings_from(ctx, **overrides), out_dir, file_format)
    out.print(
        f"wrote {sum(summary.rows.values()):,} rows in {len(summary.rows)} files to {out_dir}"
    )


@app.command()
def ingest(
    ctx: typer.Context,
    folder: Annotated[
        Path, typer.Argument(help="Folder with <source>.parquet / <source>.csv files.")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the per-file results as JSON.")
    ] = False,
) -> None:
    """Validate and load every source file in FOLDER; bad rows go to quarantine with a reason."""
    results = _ingest(settings_from(ctx), folder)
    if as_json:
        out.print_json(json.dumps([r.to_dict() for r in results]))
    else:
        _print_results(results)
    failed = [r for r in results if r.status == "failed"]
    if failed:
        raise ContractError(
            f"{len(failed)} file(s) failed: " + "; ".join(r.message for r in failed)
        )


@app.command()
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Rows and quarantined rows per source in the current CDP_HOME."""
    from features.warehouse import read_status

    report = read_status(settings_from(ctx))
    if as_json:
        out.print_json(json.dumps(report))
        return
    table = Table(title=f"warehouse {report['warehouse']}")
    table.add_column("source")
    table.add_column("rows", justify="right")
    table.add_column("quarantined", justify="right")
    for name, counts in report["sources"].items():
        table.add_row(name, f"{counts['rows']:,}", f"{counts['quarantined']:,}")
    out.print(table)


@app.command()
def run(
    ctx: typer.Context,
    people: Annotated[
        int, typer.Option(help="Size of the generated world when no data is given.")
    ] = 10_000,
    data: Annotated[
        Path | None, typer.Option(help="Folder of source files to use instead of generating.")
    ] = None,
    fresh: Annotated[
        bool, typer.Option(help="Start this home over: drop its warehouse and generated world.")
    ] = False,
    train: Annotated[bool, typer.Option(help="Train and register the models.")] = True,
    serve: Annotated[bool, typer.Option(help="Serve once everything is built.")] = True,
    port: Annotated[int, typer.Option(help="Port of the service on 127.0.0.1.")] = 3000,
) -> None:
    """The main job: generate a world (unless --data is given), ingest it, resolve identities,
    materialise the online store, train and register the models, then serve."""
    settings = settings_from(ctx, people=people)
    if fresh:
        _reset_home(settings)
    folder = data
    if folder is None:
        folder = settings.world_path
        if _world_matches(folder, settings):
            console.print(f"reusing the generated world in {folder}")
        elif (folder / "manifest.json").exists() and settings.warehouse_path.exists():
            raise ConfigError(
                f"{settings.home} already holds another generated world; loading a second one "
                "would mix them. Use `cdp run --fresh` to start over, or another --home."
            )
        else:
            _generate(settings, folder, "parquet")
    results = _ingest(settings, folder)
    _print_results(results)
    status(ctx, as_json=False)
    from features.identity.resolve import resolve_profiles

    with runtime.frozen_heap(), console.status("resolving identities"):
        report = resolve_profiles(settings)
    out.print(
        f"identity: {report.records:,} records -> {report.profiles:,} profiles, "
        f"{report.stitched_identifiers:,} cookies/devices stitched ({report.seconds:.1f}s)"
    )
    from features.online.materialize import materialize

    with console.status("materialising the online store"):
        stored = materialize(settings)
    out.print(
        f"features: {stored['features']} features of {stored['profiles']:,} profiles in the "
        f"online store as of {stored['as_of']} ({stored['seconds']:.1f}s)"
    )
    from serving.main_job import print_examples, train_and_promote

    if not train:
        return
    train_and_promote(settings, data_changed=any(r.rows_inserted for r in results))
    print_examples(settings, port)
    if serve:
        from serving.cli_serve import serve as serve_command

        serve_command(ctx, port=port)


@app.command()
def link(
    ctx: typer.Context,
    inputs: Annotated[
        list[Path],
        typer.Option("--input", help="A person table, CSV or Parquet; repeat to link several."),
    ],
    mapping: Annotated[
        str,
        typer.Option(
            "--map",
            help="Which column plays which role: ROLE=COLUMN,... Roles: record_id (required), "
            "first_name, last_name, full_name, dob, email, phone, postcode, city, address, gender.",
        ),
    ],
    out_file: Annotated[Path, typer.Option("--out", help="Output .parquet or .csv file.")],
    extras: Annotated[
        list[str] | None,
        typer.Option("--extra", help="Another identifying column, compared exactly (repeatable)."),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(help="Match probability to cluster at (default: chosen from the data)."),
    ] = None,
) -> None:
    """Link and deduplicate any person tables into clusters: (source, record_id, cluster_id)."""
    from features.identity.link import link_tables, read_table
    from features.identity.records import parse_role_map

    settings = settings_from(ctx)
    roles = parse_role_map(mapping)
    tables: dict[str, object] = {}
    for path in inputs:
        name = path.name.split(".")[0]
        while name in tables:
            name += "_"
        tables[name] = read_table(path)
    with runtime.frozen_heap(), console.status(f"linking {len(tables)} table(s)"):
        result = link_tables(
            tables,
            roles,
            extras=tuple(extras or ()),
            seed=settings.seed,
            phone_region=settings.phone_region,
            threshold=threshold,
        )
    out_file.parent.mkdir(parents=True, exist_ok=True)
    if out_file.suffix == ".parquet":
        result.clusters.to_parquet(out_file, index=False)
    else:
        result.clusters.to_csv(out_file, index=False)
    out.print_json(json.dumps({**result.summary, "out": str(out_file)}))


@app.command()
def resolve(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run report as JSON.")] = False,
    incremental: Annotated[
        bool,
        typer.Option(
            "--incremental",
            help="Link only records new or changed since the last run, with the last full "
            "run's model; runs in full (and says why) when there is nothing to build on.",
        ),
    ] = False,
) -> None:
    """Resolve known-person records into unified profiles with stable ids (Splink)."""
    if incremental:
        from features.identity.incremental import resolve_incremental as run_resolve
    else:
        from features.identity.resolve import resolve_profiles as run_resolve

    with runtime.frozen_heap(), console.status("resolving identities"):
        report = run_resolve(settings_from(ctx))
    if as_json:
        out.print_json(json.dumps(report.to_dict()))
        return
    if report.mode == "incremental":
        counts = report.incremental or {}
        out.print(
            f"run {report.run_id} (incremental on run {counts.get('base_run_id')}): "
            f"{counts.get('new_records', 0):,} new, {counts.get('changed_records', 0):,} changed, "
            f"{counts.get('removed_records', 0):,} removed records; "
            f"{counts.get('profiles_written', 0):,} profiles written, {report.merged} merged, "
            f"{report.split} split; {report.profiles:,} profiles in all, in {report.seconds:.1f}s"
        )
        return
    if report.note:
        out.print(report.note, highlight=False)
    out.print(
        f"run {report.run_id}: {report.records:,} records -> {report.profiles:,} profiles "
        f"(threshold {report.threshold_match_probability:.3f}, {report.merged} merged, "
        f"{report.split} split, {report.low_evidence_records:,} low-evidence) "
        f"in {report.seconds:.1f}s"
    )


def _reset_home(settings: Settings) -> None:
    """Remove the stores `cdp run` fills, never anything else that may sit in the home."""
    import shutil

    for path in (settings.warehouse_path, settings.warehouse_path.with_suffix(".duckdb.wal")):
        path.unlink(missing_ok=True)
    shutil.rmtree(settings.world_path, ignore_errors=True)


def _world_matches(folder: Path, settings: Settings) -> bool:
    """True when `folder` already holds the world these settings would generate."""
    from features.world import WorldConfig

    manifest = folder / "manifest.json"
    if not manifest.exists():
        return False
    wanted = WorldConfig(people=settings.people, seed=settings.seed).model_dump(mode="json")
    written = json.loads(manifest.read_text())
    return written.get("format") == "parquet" and written.get("config") == wanted


def _generate(settings: Settings, out_dir: Path, file_format: str):
    from features.world import WorldConfig, generate_world

    if file_format not in ("parquet", "csv"):
        raise ContractError(f"--format must be parquet or csv, not {file_format!r}")
    config = WorldConfig(people=settings.people, seed=settings.seed)
    with console.status(f"generating {settings.people:,} people"):
        return generate_world(config, out_dir, file_format=file_format)


def _ingest(settings: Settings, folder: Path):
    from features.ingest import ingest_folder

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        tasks: dict[str, int] = {}

        def report(source: str, done: int, total: int | None) -> None:
            if source not in tasks:
                tasks[source] = bar.add_task(f"ingest {source}", total=total)
            bar.update(tasks[source], completed=done)

        return ingest_folder(settings, folder, progress=report)


def _print_results(results) -> None:
    table = Table(title="ingest")
    table.add_column("file", no_wrap=True)
    table.add_column("status")
    for name in ("rows in", "loaded", "new", "quarantined"):
        table.add_column(name, justify="right")
    for r in results:
        table.add_row(
            r.file_name, r.status, f"{r.rows_in:,}", f"{r.rows_loaded:,}", f"{r.rows_inserted:,}",
            f"{r.rows_quarantined:,}",
        )  # fmt: skip
    out.print(table)
    for r in results:
        if r.message:
            out.print(f"{r.file_name}: {r.status}: {r.message}", highlight=False)


def main() -> None:
    """Console entry point: our errors become a one-line message and the error's exit code."""
    try:
        app()
    except CdpError as exc:
        console.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
