"""Digests of the tables a resolve run writes, to show that a faster version writes the same.

For each table: its row count, a digest of its rows in sorted order (the content) and one in
stored order (what a reader scanning it sees). Run it on two copies of one home, each resolved
by one version of the code, and compare the lines. `stitching_evidence` and
`identity_record_digests` are written by parallel statements with no order, so only their
content digests are comparable between runs. Read-only on the home.

    cp -r HOME /tmp/a && (cd OLD_TREE && .venv/bin/cdp --home /tmp/a resolve)
    cp -r HOME /tmp/b && (cd NEW_TREE && .venv/bin/cdp --home /tmp/b resolve)
    .venv/bin/python benchmarks/table_digests.py --home /tmp/a
    .venv/bin/python benchmarks/table_digests.py --home /tmp/b
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import duckdb

TABLES = (
    "identity_records", "profiles", "identity_index", "anonymous_links", "stitching_audit",
    "identity_match_records", "stitching_evidence", "identity_record_digests",
)  # fmt: skip


def digest(rows: list[tuple]) -> str:
    """A short digest of rows as Python reads them."""
    return hashlib.sha1(repr(rows).encode()).hexdigest()[:12]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    args = parser.parse_args()
    con = duckdb.connect(str(args.home / "warehouse.duckdb"), read_only=True)
    for table in TABLES:
        columns = {name for (name,) in con.execute(f"SELECT column_name FROM (DESCRIBE {table})")
                   .fetchall()}  # fmt: skip
        # The run's number differs between two runs of the same data.
        select = "* EXCLUDE (run_id)" if "run_id" in columns else "*"
        content = con.execute(f"SELECT {select} FROM {table} ORDER BY ALL").fetchall()
        stored = con.execute(f"SELECT {select} FROM {table}").fetchall()
        print(table, len(content), "content", digest(content), "stored", digest(stored))


if __name__ == "__main__":
    main()
