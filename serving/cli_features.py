"""`cdp features ...`: build point-in-time features, materialise and read the online store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from features.errors import ConfigError, ContractError
from serving.console import console, out, settings_from

features_app = typer.Typer(
    help="Point-in-time features offline, the online store, training sets.", no_args_is_help=True
)

TransactionsOption = Annotated[
    Path | None,
    typer.Option(help="A bring-your-own transactions file (CSV/Parquet) instead of the warehouse."),
]
MapOption = Annotated[
    str | None,
    typer.Option(
        "--map",
        help="Transaction columns: customer_id=COL,product_id=COL,at=COL,quantity=COL,"
        "price=COL[,order_id=COL].",
    ),
]
ProductsOption = Annotated[
    Path | None, typer.Option(help="A products file giving each product's category.")
]
MapProductsOption = Annotated[
    str | None,
    typer.Option(
        "--map-products", help="Product columns: product_id=COL,category=COL[,price=COL]."
    ),
]


def _moment(text: str | None, flag: str):
    """A flag's date or timestamp as a naive UTC datetime (None: now)."""
    from features.event_log import from_us, to_us

    if text is None:
        return None
    try:
        return from_us(to_us(text))
    except ContractError as exc:
        raise ConfigError(f"{flag}: {exc.message}") from exc


def _source(ctx: typer.Context, transactions, mapping, products, map_products):
    from features.offline import open_warehouse_source
    from features.transactions import PRODUCT_ROLES, TRANSACTION_ROLES, parse_map

    settings = settings_from(ctx)
    if transactions is None:
        if mapping or products:
            raise ConfigError("--map and --products need --transactions")
        return open_warehouse_source(settings)
    if not mapping:
        raise ConfigError("--transactions needs --map customer_id=COL,product_id=COL,...")
    from features.transactions import open_transactions_source

    roles = parse_map(mapping, TRANSACTION_ROLES)
    product_roles = parse_map(map_products, PRODUCT_ROLES, "--map-products") if map_products \
        else None  # fmt: skip
    return open_transactions_source(settings, transactions, roles, products, product_roles)


@features_app.command("build")
def features_build(
    ctx: typer.Context,
    as_of: Annotated[str, typer.Option(help="Use only what happened before this moment.")],
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Output .parquet or .csv (default CDP_HOME/features/)."),
    ] = None,
    transactions: TransactionsOption = None,
    mapping: MapOption = None,
    products: ProductsOption = None,
    map_products: MapProductsOption = None,
) -> None:
    """Compute every feature for every profile (or customer) as of a moment, into a file."""
    from features.offline import write_features

    moment = _moment(as_of, "--as-of")
    if out_file is None:
        stamp = moment.strftime("%Y%m%dT%H%M%S")
        out_file = settings_from(ctx).home / "features" / f"features_{stamp}.parquet"
    with (
        console.status(f"building features as of {moment}"),
        _source(ctx, transactions, mapping, products, map_products) as source,
    ):
        report = write_features(source, moment, out_file)
    out.print_json(json.dumps(report, default=str))


@features_app.command("materialize")
def features_materialize(
    ctx: typer.Context,
    as_of: Annotated[
        str | None, typer.Option(help="Compute the stored rows at this moment (default now).")
    ] = None,
) -> None:
    """Load the latest features and the event log into the online store (SQLite)."""
    from features.online.materialize import materialize

    with console.status("materialising the online store"):
        report = materialize(settings_from(ctx), _moment(as_of, "--as-of"))
    out.print_json(json.dumps(report))


@features_app.command("show")
def features_show(
    ctx: typer.Context,
    profile_id: Annotated[str, typer.Argument(help="The profile to show.")],
    at: Annotated[str | None, typer.Option(help="The moment to show (default now).")] = None,
    owned: Annotated[bool, typer.Option(help="Also list the products owned and when.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One profile's features from the online store, as of now (or --at)."""
    from features.online.store import OnlineStore

    moment = _moment(at, "--at")
    with OnlineStore(settings_from(ctx)) as store:
        result = store.get_online_features(profile_id, moment).to_dict()
        if owned:
            result["owned_products"] = store.get_owned_products(profile_id, moment)
    if as_json:
        out.print_json(json.dumps(result, default=str))
        return
    out.print(f"{profile_id} at {result['at']} ({result['served_from']})")
    for name, value in result["features"].items():
        if value not in (None, 0, 0.0):
            out.print(f"  {name} = {value}", highlight=False)


@features_app.command("list")
def features_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The feature catalogue of this warehouse: name, window, description."""
    from features.offline import open_warehouse_source

    with open_warehouse_source(settings_from(ctx)) as source:
        rows = source.catalogue.describe()
    if as_json:
        out.print_json(json.dumps(rows))
        return
    for row in rows:
        use = "" if row["model_input"] else "  [activation only]"
        out.print(f"{row['column']}: {row['description']}{use}", highlight=False)
    out.print(f"{len(rows)} features")


@features_app.command("training-set")
def features_training_set(
    ctx: typer.Context,
    cutoff: Annotated[str, typer.Option(help="Nothing at or after this moment is read.")],
    out_file: Annotated[
        Path, typer.Option("--out", help="Rows (.parquet); products bought go to *_products.")
    ],
    horizon_days: Annotated[int, typer.Option(help="Label window length in days.")] = 30,
    snapshots: Annotated[int, typer.Option(help="How many sliding snapshots.")] = 6,
    every_days: Annotated[int, typer.Option(help="Days between snapshots.")] = 30,
    transactions: TransactionsOption = None,
    mapping: MapOption = None,
    products: ProductsOption = None,
    map_products: MapProductsOption = None,
) -> None:
    """Stack point-in-time snapshots with labels from [as_of, as_of + horizon)."""
    from training.snapshots import build_training_set

    if out_file.suffix != ".parquet":
        raise ConfigError("--out must end in .parquet")
    moment = _moment(cutoff, "--cutoff")
    with (
        console.status("building the training set"),
        _source(ctx, transactions, mapping, products, map_products) as source,
    ):
        result = build_training_set(source, moment, horizon_days=horizon_days,
                                    snapshots=snapshots, every_days=every_days)  # fmt: skip
    out_file.parent.mkdir(parents=True, exist_ok=True)
    products_file = out_file.with_name(f"{out_file.stem}_products.parquet")
    result.rows.to_parquet(out_file, index=False)
    result.products.to_parquet(products_file, index=False)
    out.print_json(json.dumps({
        "out": str(out_file), "products_out": str(products_file), "rows": len(result.rows),
        "snapshots": [str(s) for s in result.snapshots], "labels": result.label_columns,
        "positive_rate": round(float(result.rows["label__any_purchase"].mean()), 4),
    }))  # fmt: skip
