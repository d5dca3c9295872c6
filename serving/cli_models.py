"""`cdp backtest`, `cdp train`, `cdp promote`, `cdp models`: fit, compare and promote the
next-best-product ranker and the propensity model (see docs/models.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from features.errors import ConfigError
from serving.console import console, out, settings_from

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="YAML hyperparameters (see docs/models.md).")
]


def backtest(
    ctx: typer.Context,
    transactions: Annotated[Path, typer.Option(help="Transactions file, CSV or Parquet.")],
    mapping: Annotated[
        str,
        typer.Option(
            "--map",
            help="customer_id=COL,product_id=COL,at=COL,quantity=COL,price=COL"
            "[,order_id=COL][,name=COL] (name: product names for the reasons).",
        ),
    ],
    cutoff: Annotated[str, typer.Option(help="Train on rows before this moment only.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the three outputs.")],
    horizon_days: Annotated[int, typer.Option(help="Days after the cutoff to score.")] = 30,
    k: Annotated[int, typer.Option(help="Products recommended per customer.")] = 12,
    products: Annotated[
        Path | None, typer.Option(help="Products file giving each product's category.")
    ] = None,
    map_products: Annotated[
        str | None,
        typer.Option("--map-products", help="product_id=COL,category=COL[,price=COL]."),
    ] = None,
    config_file: ConfigOption = None,
    track: Annotated[bool, typer.Option(help="Also log the run to MLflow (CDP_HOME).")] = True,
) -> None:
    """Backtest both models and the baselines on any transactions file, split at --cutoff."""
    from features.transactions import PRODUCT_ROLES, parse_map
    from serving.cli_features import _moment
    from training.backtest import BACKTEST_ROLES, run_backtest
    from training.config import load_config

    if horizon_days < 1 or k < 1:
        raise ConfigError("--horizon-days and --k must be at least 1")
    settings = settings_from(ctx)
    roles = parse_map(mapping, BACKTEST_ROLES)
    product_roles = parse_map(map_products, PRODUCT_ROLES, "--map-products") if map_products \
        else None  # fmt: skip
    if products is not None and product_roles is None:
        raise ConfigError("--products needs --map-products product_id=COL,category=COL")
    config = load_config(config_file).with_horizon(horizon_days, k)
    moment = _moment(cutoff, "--cutoff")
    with console.status(f"backtesting at {moment:%Y-%m-%d} over {horizon_days} days"):
        result, metrics = run_backtest(settings, transactions, roles, moment, config, out_dir,
                                       products, product_roles)  # fmt: skip
    if track:
        _track_backtest(settings, config, result, metrics)
    out.print_json(json.dumps(_summary(metrics, out_dir), default=str))


def _track_backtest(settings, config, result, metrics) -> None:
    import tempfile

    from training.plots import draw_charts
    from training.tracking import log_training_run
    from training.train import backtest_key, ranker_importance

    with tempfile.TemporaryDirectory(prefix="cdp-charts-") as tmp:
        charts = draw_charts(Path(tmp), result.curves, {
            "propensity_any": result.propensity.importance(),
            "ranker": ranker_importance(result.ranker)})  # fmt: skip
        log_training_run(
            settings, run_name=f"backtest-{metrics['cutoff'][:10]}",
            config_json=config.model_dump_json(), metrics=metrics,
            fingerprint=metrics["fingerprint"],
            backtest_key=backtest_key(metrics["fingerprint"], metrics["cutoff"], config),
            features=result.ranker.feature_names_, charts=charts, register=False,
        )  # fmt: skip


def _summary(metrics: dict, out_dir: Path) -> dict:
    recs = metrics.get("recommendations", {})
    scores = metrics.get("propensity_scores", {}).get("any", {})
    return {
        "out": str(out_dir), "input": metrics["input"], "cutoff": metrics["cutoff"],
        "customers": metrics["customers"],
        "recommendations": {k: recs[k] for k in ("model", "frequency_baseline",
                                                 "map@12_ratio") if k in recs},
        "propensity_any": scores, "seconds": metrics["seconds"],
    }  # fmt: skip


def train(ctx: typer.Context, config_file: ConfigOption = None) -> None:
    """Backtest both models on the warehouse, refit on everything, register challengers."""
    from training.config import load_config
    from training.train import train_warehouse

    settings = settings_from(ctx)
    config = load_config(config_file)
    with console.status("training the ranker and the propensity model"):
        report = train_warehouse(settings, config)
    out.print_json(json.dumps(report, default=str))


def promote(
    ctx: typer.Context,
    model: Annotated[
        str | None, typer.Argument(help="nbo_ranker or propensity (default: both).")
    ] = None,
) -> None:
    """Move `champion` to the challenger only if it beats the champion on the same backtest."""
    from training.tracking import MODELS, PromotionRefusedError
    from training.tracking import promote as promote_model
    from training.train import rebacktest

    settings = settings_from(ctx)
    refused = []
    for name in [model] if model else list(MODELS):
        try:
            with console.status(f"comparing {name} challenger and champion"):
                result = promote_model(settings, name, rebacktest(settings))
            out.print_json(json.dumps(result, default=str))
        except PromotionRefusedError as exc:
            refused.append(exc)
            console.print(f"[yellow]not promoted:[/] {exc.message}", highlight=False)
    if refused:
        raise refused[0]


def models(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Registered model versions, their aliases and backtest figures."""
    from training.tracking import list_models

    rows = list_models(settings_from(ctx))
    if as_json:
        out.print_json(json.dumps(rows, default=str))
        return
    table = Table(title="registered models")
    for column in ("model", "version", "aliases", "metric", "value", "baseline", "run",
                   "retrain"):  # fmt: skip
        table.add_column(column)
    for row in rows:
        erasure = row.get("retrain_needed_after_erasure")
        table.add_row(row["model"], str(row["version"]), ", ".join(row["aliases"]),
                      row["primary_metric"].split(".")[-1], _figure(row["primary"]),
                      _figure(row["baseline"]), row["run_name"],
                      f"after {erasure}" if erasure else "")  # fmt: skip
    out.print(table)


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def add_model_commands(app: typer.Typer) -> None:
    """Register the model commands on the top-level `cdp` app."""
    app.command("backtest")(backtest)
    app.command("train")(train)
    app.command("promote")(promote)
    app.command("models")(models)
