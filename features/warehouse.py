"""The offline warehouse: one DuckDB file under CDP_HOME holding every source table.

Besides one table per source contract it keeps `ingest_log` (one row per file load attempt) and
`quarantine` (every rejected row with its reason and raw values). SQL here stays portable
(no DuckDB-only types) so the same statements can later run on Spark or Postgres.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from features.contracts import CONTRACTS
from features.errors import WarehouseError
from features.settings import Settings

INGEST_LOG_SQL = """
CREATE TABLE IF NOT EXISTS ingest_log (
    load_id BIGINT,
    source VARCHAR,
    file_name VARCHAR,
    file_sha256 VARCHAR,
    status VARCHAR,
    rows_in BIGINT,
    rows_loaded BIGINT,
    rows_inserted BIGINT,
    rows_quarantined BIGINT,
    message VARCHAR,
    started_at TIMESTAMP,
    finished_at TIMESTAMP
)
"""

QUARANTINE_SQL = """
CREATE TABLE IF NOT EXISTS quarantine (
    load_id BIGINT,
    source VARCHAR,
    file_name VARCHAR,
    row_number BIGINT,
    reason VARCHAR,
    record VARCHAR,
    quarantined_at TIMESTAMP
)
"""


def open_warehouse(settings: Settings, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Connect to the warehouse file, creating CDP_HOME and the schema when writing.

    Raises WarehouseError when the file is locked by another writer or missing in read-only mode.
    """
    path = settings.warehouse_path
    if read_only and not path.exists():
        raise WarehouseError(f"no warehouse at {path}; run `cdp ingest DIR` first")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        raise WarehouseError(f"cannot open warehouse {path}: {exc}") from exc
    # Large loads spill to the home's own temp folder instead of the system's.
    con.execute(f"SET temp_directory = '{_sql_path(settings.home / 'tmp')}'")
    con.execute(f"SET memory_limit = '{settings.warehouse_memory}'")
    con.execute("SET preserve_insertion_order = false")
    if not read_only:
        ensure_schema(con)
    return con


@contextmanager
def warehouse(
    settings: Settings, *, read_only: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Context-managed connection that is always closed (DuckDB allows one writer per file)."""
    con = open_warehouse(settings, read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every source table, the ingest log and the quarantine table if absent."""
    for contract in CONTRACTS.values():
        con.execute(contract.create_table_sql())
    con.execute(INGEST_LOG_SQL)
    con.execute(QUARANTINE_SQL)


def create_temp_table(con: duckdb.DuckDBPyConnection, name: str, rows: object) -> None:
    """Temp table `name` (replaced if it exists) holding `rows`, a pandas frame or Arrow table
    of the caller's, as DuckDB reads it."""
    con.register("temp_table_rows", rows)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM temp_table_rows")
    finally:
        con.unregister("temp_table_rows")


def read_status(settings: Settings) -> dict[str, object]:
    """Row and quarantine counts per source, and the file loads, for `cdp status`."""
    sources = {name: {"rows": 0, "quarantined": 0} for name in CONTRACTS}
    status: dict[str, object] = {
        "home": str(settings.home),
        "warehouse": str(settings.warehouse_path),
        "sources": sources,
        "files": {"loaded": 0, "failed": 0, "skipped": 0},
    }
    if not settings.warehouse_path.exists():
        return status
    with warehouse(settings, read_only=True) as con:
        for name in CONTRACTS:
            sources[name]["rows"] = con.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0]
        for source, count in con.execute(
            "SELECT source, COUNT(*) FROM quarantine GROUP BY source"
        ).fetchall():
            if source in sources:
                sources[source]["quarantined"] = count
        for state, count in con.execute(
            "SELECT status, COUNT(*) FROM ingest_log GROUP BY status"
        ).fetchall():
            status["files"][state] = count
    return status


def _sql_path(path: Path) -> str:
    return str(path.resolve()).replace("'", "''")
