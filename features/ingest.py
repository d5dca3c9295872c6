"""Validated ingest: every source file in a folder into the warehouse, nothing lost.

For each file: rows in = rows loaded + rows quarantined, always. A file lands whole or not at
all (one transaction); loading the same bytes again is a no-op; a file that lacks a required
column fails alone, with an error naming the file and the column, and the others still load.
Entity sources upsert by key (the newest file wins); event sources insert only unseen keys, so a
replayed event changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from features.contracts import CONTRACTS, SourceContract
from features.errors import CdpError, ContractError, MissingColumnError
from features.privacy.blocklist import Blocklist, mask_bad_records, split_blocked
from features.settings import Settings
from features.sources import (
    SourceFile,
    count_rows,
    find_source_files,
    hash_file,
    iter_batches,
    read_header,
)
from features.validation import validate_batch
from features.warehouse import warehouse

log = logging.getLogger("cdp.ingest")

Progress = Callable[[str, int, int | None], None]


@dataclass
class FileResult:
    """What happened to one file; counts only, never values (this is logged)."""

    source: str
    file_name: str
    status: str  # loaded | skipped | failed
    rows_in: int = 0
    rows_loaded: int = 0
    rows_inserted: int = 0
    rows_quarantined: int = 0
    message: str = ""

    def to_dict(self) -> dict[str, object]:
        """Plain dict for JSON output."""
        return asdict(self)


def ingest_folder(
    settings: Settings, folder: Path, progress: Progress | None = None
) -> list[FileResult]:
    """Load every recognised source file in `folder`; files with unknown names are skipped."""
    files = find_source_files(folder)
    results: list[FileResult] = []
    with warehouse(settings) as con:
        for file in files:
            if file.source not in CONTRACTS:
                results.append(
                    FileResult(
                        file.source, file.path.name, "skipped", message="no contract for this name"
                    )
                )
                continue
            results.append(ingest_file(con, settings, file, progress))
    return results


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    file: SourceFile,
    progress: Progress | None = None,
) -> FileResult:
    """Load one file in a single transaction and record the attempt in `ingest_log`."""
    contract = CONTRACTS[file.source]
    started = _now()
    digest = hash_file(file.path)
    if _already_loaded(con, file.source, digest):
        result = FileResult(
            file.source, file.path.name, "skipped", message="already loaded (same bytes)"
        )
        log.info("ingest %s: skipped, already loaded", file.path.name)
        return result
    load_id = _next_load_id(con)
    try:
        con.begin()
        result = _load(con, settings, contract, file, load_id, progress)
        _log_attempt(con, load_id, digest, result, started)
        con.commit()
    except CdpError as exc:
        con.rollback()
        result = FileResult(file.source, file.path.name, "failed", message=exc.message)
        _log_attempt(con, load_id, digest, result, started)
    except Exception:
        con.rollback()
        raise
    log.info(
        "ingest %s: %s rows_in=%d loaded=%d inserted=%d quarantined=%d",
        file.path.name, result.status, result.rows_in, result.rows_loaded,
        result.rows_inserted, result.rows_quarantined,
    )  # fmt: skip
    return result


def _load(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    contract: SourceContract,
    file: SourceFile,
    load_id: int,
    progress: Progress | None,
) -> FileResult:
    header = read_header(file)
    present = contract.resolve_header(header)
    missing = [c for c in contract.required_columns if c not in present]
    if missing:
        raise MissingColumnError(str(file.path), missing, contract.name)
    stage = f"stage_{contract.name}"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {stage} AS SELECT * FROM {contract.name} LIMIT 0")
    total, rows_in, quarantined = count_rows(file), 0, 0
    renames = {file_name: name for name, file_name in present.items()}
    # Erased people stay erased (features.privacy): their rows are counted, never loaded.
    blocklist = Blocklist.of(settings)
    for batch in iter_batches(file, list(present.values()), settings.ingest_chunk_rows):
        batch = batch.rename_columns([renames[n] for n in batch.schema.names])
        checked = validate_batch(
            batch,
            contract,
            rows_in + 1,
            phone_region=settings.phone_region,
            source_timezone=settings.source_timezone,
        )
        rows_in += batch.num_rows
        good, erased = split_blocked(checked.good, blocklist)
        if erased:
            quarantined += len(erased)
            # Reason only: the raw values of an erased person must not be kept anywhere.
            gone = pd.DataFrame({"row_number": erased, "reason": "erased", "record": None})
            _quarantine(con, gone, contract.name, file.path.name, load_id)
        if len(good):
            _append_stage(con, stage, contract, good, load_id)
        if checked.bad_rows:
            quarantined += len(checked.bad_rows)
            reasons, records = mask_bad_records(
                checked.bad_reasons, checked.bad_records, blocklist, settings.phone_region
            )
            bad = pd.DataFrame(
                {"row_number": checked.bad_rows, "reason": reasons, "record": records}
            )
            _quarantine(con, bad, contract.name, file.path.name, load_id)
        if progress:
            progress(contract.name, rows_in, total)
    if rows_in == 0:
        raise ContractError(f"{file.path}: no data rows")
    quarantined += _quarantine_duplicate_keys(con, stage, contract, file.path.name, load_id)
    staged = con.execute(f"SELECT COUNT(*) FROM {stage}").fetchone()[0]
    inserted = _merge(con, stage, contract)
    con.execute(f"DROP TABLE {stage}")
    if staged + quarantined != rows_in:  # the accounting promise; never load a file that breaks it
        raise ContractError(
            f"{file.path}: accounting mismatch rows_in={rows_in} loaded={staged} "
            f"quarantined={quarantined}"
        )
    return FileResult(
        contract.name, file.path.name, "loaded", rows_in, staged, inserted, quarantined
    )


def _append_stage(
    con: duckdb.DuckDBPyConnection,
    stage: str,
    contract: SourceContract,
    good: pd.DataFrame,
    load_id: int,
) -> None:
    good = good.assign(_load_id=load_id)
    columns = ", ".join([*contract.column_names, "_load_id", "_row_number"])
    con.register("batch_view", good)
    try:
        con.execute(f"INSERT INTO {stage} ({columns}) SELECT {columns} FROM batch_view")
    finally:
        con.unregister("batch_view")


def _quarantine(
    con: duckdb.DuckDBPyConnection, bad: pd.DataFrame, source: str, file_name: str, load_id: int
) -> None:
    con.register("bad_view", bad)
    try:
        con.execute(
            "INSERT INTO quarantine SELECT ?, ?, ?, row_number, reason, record, ? FROM bad_view",
            [load_id, source, file_name, _now()],
        )
    finally:
        con.unregister("bad_view")


def _quarantine_duplicate_keys(
    con: duckdb.DuckDBPyConnection,
    stage: str,
    contract: SourceContract,
    file_name: str,
    load_id: int,
) -> int:
    """Keep the first row of each key within the file; later rows go to quarantine."""
    key = ", ".join(contract.key)
    shown = "+".join(contract.key)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE dup_rows AS
        SELECT * FROM (
            SELECT *, MIN(_row_number) OVER (PARTITION BY {key}) AS first_row FROM {stage}
        ) WHERE _row_number <> first_row
        """
    )
    count = con.execute("SELECT COUNT(*) FROM dup_rows").fetchone()[0]
    if count:
        columns = ", ".join(contract.column_names)
        con.execute(
            f"""
            INSERT INTO quarantine
            SELECT ?, ?, ?, _row_number,
                   'duplicate {shown} within file; row ' || CAST(first_row AS VARCHAR) || ' kept',
                   CAST(to_json(struct_pack({columns})) AS VARCHAR), ?
            FROM dup_rows
            """,
            [load_id, contract.name, file_name, _now()],
        )
        con.execute(f"DELETE FROM {stage} WHERE _row_number IN (SELECT _row_number FROM dup_rows)")
    con.execute("DROP TABLE dup_rows")
    return count


def _merge(con: duckdb.DuckDBPyConnection, stage: str, contract: SourceContract) -> int:
    """Upsert entities / insert unseen events; returns how many keys are new to the table."""
    match = " AND ".join(f"t.{k} = s.{k}" for k in contract.key)
    new_keys = con.execute(
        f"SELECT COUNT(*) FROM {stage} s WHERE NOT EXISTS "
        f"(SELECT 1 FROM {contract.name} t WHERE {match})"
    ).fetchone()[0]
    if contract.kind == "entity":
        con.execute(
            f"DELETE FROM {contract.name} t WHERE EXISTS (SELECT 1 FROM {stage} s WHERE {match})"
        )
        con.execute(f"INSERT INTO {contract.name} SELECT * FROM {stage}")
    else:
        con.execute(
            f"INSERT INTO {contract.name} SELECT s.* FROM {stage} s WHERE NOT EXISTS "
            f"(SELECT 1 FROM {contract.name} t WHERE {match})"
        )
    return new_keys


def _already_loaded(con: duckdb.DuckDBPyConnection, source: str, digest: str) -> bool:
    [(count,)] = con.execute(
        "SELECT COUNT(*) FROM ingest_log "
        "WHERE source = ? AND file_sha256 = ? AND status = 'loaded'",
        [source, digest],
    ).fetchall()  # fetchall: a fetchone result stays pending and blocks the next register
    return count > 0


def _next_load_id(con: duckdb.DuckDBPyConnection) -> int:
    [(load_id,)] = con.execute("SELECT COALESCE(MAX(load_id), 0) + 1 FROM ingest_log").fetchall()
    return load_id


def _log_attempt(
    con: duckdb.DuckDBPyConnection, load_id: int, digest: str, result: FileResult, started: datetime
) -> None:
    con.execute(
        "INSERT INTO ingest_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            load_id, result.source, result.file_name, digest, result.status, result.rows_in,
            result.rows_loaded, result.rows_inserted, result.rows_quarantined, result.message,
            started, _now(),
        ],
    )  # fmt: skip


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
