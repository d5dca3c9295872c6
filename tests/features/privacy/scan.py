"""Scan every store of a home (and any files) for a set of values: where does each one occur?

Every table of the warehouse (DuckDB) and of every SQLite file in the home is read row by row
as text, lower-cased, and searched for each value as a substring, so an identifier hidden in a
JSON column (quarantine records, receipts) counts as a hit too.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb


def scan_home(home: Path, values: set[str], files: list[Path] = ()) -> dict[str, int]:
    """{"store.table" or file name: hits} for every place holding any of `values`."""
    needles = sorted({v.lower() for v in values if v})
    hits: dict[str, int] = {}
    warehouse = home / "warehouse.duckdb"
    if warehouse.exists():
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            tables = [r[0] for r in con.execute("SHOW TABLES").fetchall()]
            con.execute("CREATE TEMP TABLE needles (v VARCHAR)")
            con.executemany("INSERT INTO needles VALUES (?)", [[n] for n in needles])
            for table in tables:
                n = con.execute(
                    f"SELECT COUNT(*) FROM {table} t, needles "
                    "WHERE contains(lower(CAST(t AS VARCHAR)), needles.v)"
                ).fetchone()[0]
                if n:
                    hits[f"warehouse.{table}"] = n
        finally:
            con.close()
    for path in sorted(home.glob("*.sqlite")) + sorted(home.glob("*.db")):
        con = sqlite3.connect(str(path))
        try:
            tables = [
                r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            for table in tables:
                n = 0
                for row in con.execute(f'SELECT * FROM "{table}"'):
                    text = "\x1f".join("" if c is None else str(c) for c in row).lower()
                    n += sum(needle in text for needle in needles)
                if n:
                    hits[f"{path.name}.{table}"] = n
        finally:
            con.close()
    for path in files:
        text = Path(path).read_bytes().decode("utf-8", "replace").lower()
        n = sum(needle in text for needle in needles)
        if n:
            hits[Path(path).name] = n
    return hits
