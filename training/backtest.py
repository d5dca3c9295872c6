"""`cdp backtest`: both models and the baselines on any transactions file, split at a cutoff.

The file is split before anything is learned: rows at or after the cutoff never reach the
models (they only go to the scorer), so the outputs are identical when those rows are removed.
Real data's mess is handled and reported: exact duplicate rows are dropped once; rows without a
customer, product, time, whole quantity or valid price are left out by
features.transactions (counted by reason); negative quantities (cancellations, returns) stay
as returns, never as purchases; products missing from the products file keep an unknown
category; products first seen in the horizon can be recommended by no method (counted).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

from features.errors import ConfigError, ContractError, EmptyInputError
from features.settings import Settings
from features.transactions import TRANSACTION_ROLES, open_transactions_source
from training.config import ModelsConfig
from training.evaluate import Evaluation, evaluate
from training.interactions import load_interactions

log = logging.getLogger("cdp.training")
BACKTEST_ROLES = {**TRANSACTION_ROLES, "name": False}


def _reader(path: Path) -> str:
    if not path.exists():
        raise ContractError(f"{path}: no such file")
    literal = str(path.resolve()).replace("'", "''")
    if path.suffix == ".parquet":
        return f"read_parquet('{literal}')"
    if path.suffix == ".csv":
        return f"read_csv('{literal}', all_varchar = true, header = true)"
    raise ConfigError(f"{path.name}: transactions must be .parquet or .csv")


def split_file(
    settings: Settings, path: Path, mapping: dict[str, str], cutoff: object, horizon_days: int,
    folder: Path,
) -> dict[str, object]:  # fmt: skip
    """Write the distinct rows before the cutoff (and rows without a readable time, which the
    source then rejects) to folder/train.parquet, those of the horizon to folder/horizon.parquet;
    return what was dropped and why."""
    con = duckdb.connect()
    try:
        con.execute(f"SET TimeZone = '{settings.source_timezone}'")
        try:
            con.execute(f"CREATE TEMP VIEW raw AS SELECT * FROM {_reader(path)}")
            columns = [r[0] for r in con.execute("DESCRIBE raw").fetchall()]
        except duckdb.Error as exc:
            raise ContractError(f"{path.name}: cannot read: {exc}") from exc
        missing = [c for c in mapping.values() if c not in columns]
        if missing:
            raise ContractError(f"{path.name}: missing column(s) {', '.join(map(repr, missing))}")
        at = mapping["at"].replace('"', '""')
        moment = (f'TRY_CAST(TRY_CAST("{at}" AS TIMESTAMPTZ) AT TIME ZONE \'UTC\' '
                  "AS TIMESTAMP)")  # fmt: skip
        cut, end = pd.Timestamp(cutoff), pd.Timestamp(cutoff) + pd.Timedelta(days=horizon_days)
        rows_in = con.execute("SELECT COUNT(*) FROM raw").fetchone()[0]
        if rows_in == 0:
            raise EmptyInputError(f"{path.name}: no rows")
        # Distinct whole rows, in a fixed order: the same bytes in any order give equal outputs.
        con.execute(f"CREATE TEMP TABLE rows AS SELECT *, {moment} AS __at FROM "
                    "(SELECT DISTINCT * FROM raw) d ORDER BY ALL")  # fmt: skip
        distinct = con.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
        parts = {"train": "__at IS NULL OR __at < $cut",
                 "horizon": "__at >= $cut AND __at < $end"}  # fmt: skip
        counts = {}
        for name, where in parts.items():
            target = str(folder / f"{name}.parquet").replace("'", "''")
            params = {k: v for k, v in (("cut", cut.to_pydatetime()), ("end", end.to_pydatetime()))
                      if f"${k}" in where}  # fmt: skip
            con.execute(f"COPY (SELECT * EXCLUDE (__at) FROM rows WHERE {where}) TO '{target}' "
                        "(FORMAT parquet)", params)  # fmt: skip
            counts[name] = con.execute(f"SELECT COUNT(*) FROM rows WHERE {where}",
                                       params).fetchone()[0]  # fmt: skip
        return {"rows_in": rows_in, "duplicate_rows_dropped": rows_in - distinct,
                "rows_before_cutoff": counts["train"], "rows_in_horizon": counts["horizon"],
                "rows_after_horizon": distinct - counts["train"] - counts["horizon"]}  # fmt: skip
    finally:
        con.close()


def _product_names(source, name_column: str) -> None:
    """A byo_names table: each product's most frequent name before the cutoff."""
    column = name_column.replace('"', '""')
    source.con.execute(f"""
        CREATE OR REPLACE TEMP TABLE byo_names AS
        SELECT product_id, name FROM (
            SELECT product_id, name, ROW_NUMBER() OVER (PARTITION BY product_id
                   ORDER BY n DESC, name) AS r
            FROM (SELECT product_id, TRIM(CAST("{column}" AS VARCHAR)) AS name, COUNT(*) AS n
                  FROM byo_named WHERE "{column}" IS NOT NULL GROUP BY ALL) c
        ) ranked WHERE r = 1
    """)


def _horizon_truth(settings, folder, mapping, products, products_mapping) -> pd.DataFrame | None:
    path = folder / "horizon.parquet"
    if pd.read_parquet(path).empty:
        return None
    with open_transactions_source(settings, path, mapping, products, products_mapping) as src:
        data = load_interactions(src, pd.Timestamp.max.floor("D"))
    return data.purchases


def run_backtest(
    settings: Settings,
    transactions: Path,
    mapping: dict[str, str],
    cutoff: object,
    config: ModelsConfig,
    out: Path,
    products: Path | None = None,
    products_mapping: dict[str, str] | None = None,
) -> tuple[Evaluation, dict[str, object]]:
    """Run the backtest, write its three outputs into `out`; return evaluation and metrics."""
    started = time.perf_counter()
    mapping = dict(mapping)
    name_column = mapping.pop("name", None)
    horizon = max(config.ranker.horizon_days, config.propensity.horizon_days)
    with tempfile.TemporaryDirectory(prefix="cdp-backtest-") as tmp:
        folder = Path(tmp)
        report = split_file(settings, transactions, {**mapping, **(
            {"name": name_column} if name_column else {})}, cutoff, horizon, folder)  # fmt: skip
        if report["rows_before_cutoff"] == 0:
            raise ContractError(f"{transactions.name}: no rows before the cutoff {cutoff}: "
                                "nothing to learn from")  # fmt: skip
        train = folder / "train.parquet"
        with open_transactions_source(settings, train, mapping, products,
                                      products_mapping) as source:  # fmt: skip
            if name_column:
                source.con.execute(f"CREATE TEMP VIEW byo_named AS SELECT "
                                   f"{_id_sql(source, mapping)} AS product_id, * "
                                   "FROM byo_raw")  # fmt: skip
                _product_names(source, name_column)
            report.update(_cleaning(source.summary))
            data = load_interactions(source, cutoff)
            report["unknown_products"] = _unknown_products(data, products)
            truth = _horizon_truth(settings, folder, mapping, products, products_mapping)
            result = evaluate(source, data, cutoff, config, settings.seed if config.seed is None
                              else config.seed, truth)  # fmt: skip
    result.metrics = {"input": report, "fingerprint": data.fingerprint(), **result.metrics,
                      "seconds_total": round(time.perf_counter() - started, 2)}  # fmt: skip
    write_outputs(result, out, key="customer_id")
    return result, result.metrics


def _id_sql(source, mapping: dict[str, str]) -> str:
    """The product id as features.transactions reads it (whole floats lose their '.0')."""
    from features.transactions import _text  # same normalisation as the purchases relation

    kinds = dict(source.con.execute("SELECT column_name, column_type FROM "
                                    "(DESCRIBE byo_raw)").fetchall())  # fmt: skip
    return _text(source.con, "byo_raw", mapping["product_id"], kinds[mapping["product_id"]])


def _cleaning(summary: dict[str, object]) -> dict[str, object]:
    reasons = dict(summary.get("left_out_by_reason", {}))
    return {"rows_used_before_cutoff": summary.get("rows_used"),
            "rows_left_out_by_reason": reasons, "customers": summary.get("customers"),
            "categories": summary.get("categories", 0)}  # fmt: skip


def _unknown_products(data, products: Path | None) -> dict[str, object]:
    returns = data.purchases[data.purchases["quantity"] < 0]
    out = {"return_lines_kept_as_returns": len(returns)}
    if products is not None:
        unknown = data.purchases[data.purchases["category"].isna()]
        out["lines_of_products_missing_from_products_file"] = len(unknown)
        out["products_missing_from_products_file"] = int(unknown["product_id"].nunique())
    return out


def write_outputs(result: Evaluation, out: Path, key: str) -> None:
    """recommendations.parquet, propensity.parquet and metrics.json in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    recs = result.recommendations.rename(columns={"entity_id": key})
    recs["rank"] = recs["rank"].astype("int64")
    recs.to_parquet(out / "recommendations.parquet", index=False)
    result.scores.rename(columns={"entity_id": key}).to_parquet(out / "propensity.parquet",
                                                                index=False)  # fmt: skip
    (out / "metrics.json").write_text(json.dumps(result.metrics, indent=2, default=_plain))
    log.info("backtest outputs in %s", out)


def _plain(value: object) -> object:
    if hasattr(value, "item"):
        return value.item()
    return str(value)
