"""Offline features: the catalogue computed in DuckDB for every entity at one moment.

`build_features(source, as_of)` uses only what was known before `as_of` (see
features.event_log); the source is the warehouse (entity `profile_id`, after `cdp resolve`) or
a bring-your-own transactions file (entity `customer_id`, no identity step).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from features.compile import compile_owned_products, compile_staged, parameters
from features.definitions import RELATIONS, Catalogue
from features.errors import ConfigError
from features.event_log import to_us
from features.settings import Settings
from features.views import build_catalogue

log = logging.getLogger("cdp.features")
BATCH_ROWS = 100_000


@dataclass
class FeatureSource:
    """A DuckDB connection holding the event-log relations, and the catalogue they support."""

    con: duckdb.DuckDBPyConnection
    catalogue: Catalogue
    kind: str  # "warehouse" or "transactions"
    summary: dict[str, object] = field(default_factory=dict)
    relations_ready: bool = False  # the <relation>_all tables exist (see compile_staged)


@contextmanager
def open_warehouse_source(settings: Settings) -> Iterator[FeatureSource]:
    """The warehouse (read-only) as a feature source keyed by profile_id."""
    from features.relations import order_channels, register_warehouse_relations
    from features.warehouse import warehouse

    with warehouse(settings, read_only=True) as con:
        categories = register_warehouse_relations(con)
        catalogue = build_catalogue("profile_id", categories, RELATIONS, order_channels())
        yield FeatureSource(con, catalogue, "warehouse")


def _ordered(sql: str, key: str) -> str:
    return f'{sql}\nORDER BY "{key}"'


def stage_features(source: FeatureSource, as_of_us: int) -> str:
    """Run compile_staged up to the final join and return that join's SQL.

    The relations (once per source), the spine and each view go into temporary tables first,
    so each step holds one aggregation's state (bounded memory at a million profiles).
    """
    staged = compile_staged(source.catalogue)
    steps = staged.views if source.relations_ready else staged.relations + staged.views
    for table, sql in steps:
        source.con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {sql}",
                           parameters(sql, as_of_us))  # fmt: skip
    source.relations_ready = True
    return staged.final


def features_relation(source: FeatureSource, as_of: object) -> duckdb.DuckDBPyRelation:
    """The features at `as_of` as a DuckDB relation, ordered by entity."""
    as_of_us = to_us(as_of)
    sql = _ordered(stage_features(source, as_of_us), source.catalogue.entity_key)
    return source.con.sql(sql, params=parameters(sql, as_of_us) or None)


def build_features(source: FeatureSource, as_of: object) -> pd.DataFrame:
    """Every entity with history before `as_of`, one row each, one column per feature."""
    return features_relation(source, as_of).df()


def stream_features(source: FeatureSource, as_of: object) -> pa.RecordBatchReader:
    """The same rows as `build_features`, as Arrow batches (bounded memory at any size)."""
    return features_relation(source, as_of).to_arrow_reader(BATCH_ROWS)


def write_features(source: FeatureSource, as_of: object, out: Path) -> dict[str, object]:
    """Write the features at `as_of` to `out` (.parquet or .csv); return what was written."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if out.suffix not in (".parquet", ".csv"):
        raise ConfigError(f"--out must end in .parquet or .csv, not {out.name!r}")
    started = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    reader = stream_features(source, as_of)
    rows = 0
    writer = (pq.ParquetWriter(out, reader.schema) if out.suffix == ".parquet"
              else pacsv.CSVWriter(out, reader.schema))  # fmt: skip
    try:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    finally:
        writer.close()
    seconds = time.perf_counter() - started
    log.info("features at %s: %d rows in %.1fs", as_of, rows, seconds)
    return {
        "as_of": str(pd.Timestamp(as_of)), "out": str(out), "rows": rows,
        "features": len(source.catalogue.columns), "entity": source.catalogue.entity_key,
        "seconds": round(seconds, 2), **source.summary,
    }  # fmt: skip


def build_owned_products(source: FeatureSource, as_of: object) -> pd.DataFrame:
    """Products owned and when: entity, product_id, category, first/last bought, net quantity."""
    as_of_us = to_us(as_of)
    sql = compile_owned_products(source.catalogue)
    key = source.catalogue.entity_key
    frame = source.con.execute(
        f"SELECT * FROM ({sql}) o ORDER BY entity_id, product_id", parameters(sql, as_of_us)
    ).df()
    for column in ("first_bought", "last_bought"):
        frame[f"{column}_at"] = pd.to_datetime(frame.pop(f"{column}_us"), unit="us")
    return frame.rename(columns={"entity_id": key})
