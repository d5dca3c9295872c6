"""Source files: find them, name their source, read them in batches of raw values.

A source file is `<source>.parquet` or `<source>.csv` (optionally `.csv.gz`), where `<source>`
is a contract name. CSV is read as text throughout; typing is the contract's job, so a bad value
becomes a quarantined row rather than a failed file.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from features.errors import ContractError, EmptyInputError

SUFFIXES = (".parquet", ".csv", ".csv.gz")


@dataclass(frozen=True)
class SourceFile:
    """A file found in an input folder, with the source its name claims."""

    source: str
    path: Path

    @property
    def format(self) -> str:
        """'parquet' or 'csv'."""
        return "parquet" if self.path.name.endswith(".parquet") else "csv"


def find_source_files(folder: Path) -> list[SourceFile]:
    """Every file directly in `folder` whose name ends in a known suffix, sorted by name."""
    if not folder.is_dir():
        raise ContractError(f"{folder}: not a folder")
    found = []
    for path in sorted(folder.iterdir()):
        for suffix in SUFFIXES:
            if path.is_file() and path.name.endswith(suffix):
                found.append(SourceFile(path.name[: -len(suffix)], path))
                break
    return found


def hash_file(path: Path) -> str:
    """SHA-256 of the file's bytes: the identity that makes reloading a file a no-op."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_header(file: SourceFile) -> list[str]:
    """Column names of the file; raises EmptyInputError for an empty file or header."""
    if file.path.stat().st_size == 0:
        raise EmptyInputError(f"{file.path}: file is empty")
    if file.format == "parquet":
        try:
            return list(pq.read_schema(file.path).names)
        except pa.ArrowInvalid as exc:
            raise ContractError(f"{file.path}: not a readable Parquet file ({exc})") from exc
    opener = gzip.open if file.path.name.endswith(".gz") else open
    try:
        with opener(file.path, "rt", encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle), None)
    except UnicodeDecodeError as exc:
        raise ContractError(f"{file.path}: not UTF-8 text ({exc.reason})") from exc
    if not header or not any(h.strip() for h in header):
        raise EmptyInputError(f"{file.path}: no header row")
    return [h.strip() for h in header]


def count_rows(file: SourceFile) -> int | None:
    """Row count when cheap to know (Parquet metadata); None for CSV."""
    if file.format == "parquet":
        return pq.ParquetFile(file.path).metadata.num_rows
    return None


def iter_batches(file: SourceFile, columns: list[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Yield record batches of the given columns (those present in the file), in file order."""
    if file.format == "parquet":
        parquet = pq.ParquetFile(file.path)
        yield from parquet.iter_batches(batch_size=batch_rows, columns=columns)
        return
    header = read_header(file)
    options = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in header},
        include_columns=columns,
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    reader_options = pacsv.ReadOptions(block_size=32 << 20, column_names=header, skip_rows=1)
    try:
        reader = pacsv.open_csv(file.path, read_options=reader_options, convert_options=options)
        pending: list[pa.RecordBatch] = []
        pending_rows = 0
        for batch in reader:
            pending.append(batch)
            pending_rows += batch.num_rows
            if pending_rows >= batch_rows:
                yield from pa.Table.from_batches(pending).to_batches(max_chunksize=batch_rows)
                pending, pending_rows = [], 0
        if pending:
            yield from pa.Table.from_batches(pending).to_batches(max_chunksize=batch_rows)
    except pa.ArrowInvalid as exc:
        raise ContractError(f"{file.path}: cannot parse CSV ({exc})") from exc
