"""Spike: an incremental run's candidates from a store read by position, against DuckDB's joins.

An incremental run finds the pool records sharing a blocking key with its new records by one
join per covering blocking rule over the pool, then copies their rows for scoring
(features.identity.link_new.select_candidates); at a million records that is its biggest
statement. This measures the alternative: each rule's key hashed per pool record, sorted and
saved as numpy arrays, and the pool saved as an uncompressed Arrow file, so that candidates
are binary searches and their rows a `take` from a memory-mapped file, then handed to DuckDB
for scoring. Stand-ins for new records are a seeded sample of the pool. Read-only on the home.

    .venv/bin/python benchmarks/candidate_store.py --home HOME --new 9948 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

POOL = "identity_match_records"


def _rule_keys(model: dict) -> list[list[str]]:
    """Per covering rule (and exact email), the SQL of its parts over alias `p`."""
    from features.identity.link_new import _prediction_rules, covering_rules
    from features.identity.pool import parse_blocking_rule

    keys = []
    for rule in covering_rules([*_prediction_rules(model), 'l."email" = r."email"']):
        parts = []
        for part in parse_blocking_rule({"blocking_rule": rule}):
            column = f'p."{part.column}"'
            parts.append(column if part.start is None else
                         f"substring({column}, {part.start}, {part.length})")  # fmt: skip
        keys.append(parts)
    return keys


def _hash_sql(keys: list[list[str]]) -> str:
    return ", ".join(
        f"CASE WHEN {' AND '.join(p + ' IS NOT NULL' for p in parts)} "
        f"THEN hash({', '.join(parts)}) END AS h{i}"
        for i, parts in enumerate(keys)
    )


def build_store(con, keys: list[list[str]], folder: Path) -> dict:
    """Save sorted (hash, position) arrays per rule and the pool as Arrow; the full run's work."""
    started = time.perf_counter()
    columns = [c for (c,) in con.execute(f"SELECT column_name FROM (DESCRIBE {POOL})").fetchall()]
    pool = con.sql(f"SELECT p.*, {_hash_sql(keys)} FROM {POOL} p").to_arrow_table()
    read = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(len(keys)):
        column = pool[f"h{i}"]
        valid = np.asarray(column.is_valid())
        hashes = np.asarray(column.fill_null(0)).astype(np.uint64)[valid]
        positions = np.flatnonzero(valid).astype(np.int32)
        order = np.argsort(hashes, kind="stable")
        np.save(folder / f"hash{i}.npy", hashes[order])
        np.save(folder / f"position{i}.npy", positions[order])
    sort = time.perf_counter() - started
    started = time.perf_counter()
    rows = pool.select(columns)
    with ipc.new_file(folder / "pool.arrow", rows.schema) as writer:
        writer.write_table(rows, max_chunksize=1 << 20)
    write = time.perf_counter() - started
    return {"records": pool.num_rows, "read_s": read, "sort_s": sort, "write_s": write,
            "arrow_mb": (folder / "pool.arrow").stat().st_size / 2**20}  # fmt: skip


def positional_candidates(con, keys, folder: Path) -> tuple[int, float, float, float]:
    """(candidates, seconds to find them, to take their rows, to copy them into DuckDB)."""
    started = time.perf_counter()
    new = con.sql(f"SELECT {_hash_sql(keys)} FROM new_records p").to_arrow_table()
    found = []
    for i in range(len(keys)):
        column = new[f"h{i}"]
        query = np.asarray(column.fill_null(0)).astype(np.uint64)[np.asarray(column.is_valid())]
        hashes = np.load(folder / f"hash{i}.npy", mmap_mode="r")
        positions = np.load(folder / f"position{i}.npy", mmap_mode="r")
        low = np.searchsorted(hashes, query, "left")
        sizes = np.searchsorted(hashes, query, "right") - low
        starts = np.repeat(low - (np.cumsum(sizes) - sizes), sizes)
        found.append(np.asarray(positions[starts + np.arange(sizes.sum())]))
    candidates = np.unique(np.concatenate(found))
    find = time.perf_counter() - started
    started = time.perf_counter()
    table = ipc.open_file(pa.memory_map(str(folder / "pool.arrow"))).read_all()
    taken = table.take(pa.array(candidates))
    take = time.perf_counter() - started
    started = time.perf_counter()
    con.register("taken_rows", taken)
    con.execute("CREATE OR REPLACE TEMP TABLE candidates_positional AS SELECT * FROM taken_rows")
    con.unregister("taken_rows")
    return len(candidates), find, take, time.perf_counter() - started


def joined_candidates(con, model: dict) -> tuple[int, float]:
    """(candidates, seconds) by the blocking joins and row-id copy the incremental run uses."""
    from features.identity.link_new import _prediction_rules, covering_rules

    rules = covering_rules([*_prediction_rules(model), 'l."email" = r."email"'])
    hits = " UNION ".join(
        f"SELECT r.rowid FROM new_records l JOIN {POOL} r ON {rule}" for rule in rules
    )
    started = time.perf_counter()
    con.execute(
        "CREATE OR REPLACE TEMP TABLE candidates_joined AS "
        f"SELECT * FROM {POOL} WHERE rowid IN ({hits})"
    )
    seconds = time.perf_counter() - started
    [(count,)] = con.execute("SELECT COUNT(*) FROM candidates_joined").fetchall()
    return count, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="a resolved CDP_HOME")
    parser.add_argument("--new", type=int, default=9948, help="stand-in new records")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    model_path = sorted((args.home / "identity").glob("splink_model_run*.json"))[-1]
    model = json.loads(model_path.read_text())
    keys = _rule_keys(model)
    con = duckdb.connect(str(args.home / "warehouse.duckdb"), read_only=True)
    con.execute(
        f"CREATE TEMP TABLE new_records AS SELECT * FROM {POOL} "
        f"USING SAMPLE {int(args.new)} ROWS (reservoir, {int(args.seed)})"
    )
    with tempfile.TemporaryDirectory(prefix="cdp-candidate-store-") as folder:
        built = build_store(con, keys, Path(folder))
        positional, joined = [], []
        for _ in range(args.repeat):  # alternating, so drift falls on both
            positional.append(positional_candidates(con, keys, Path(folder)))
            joined.append(joined_candidates(con, model))
    count = {p[0] for p in positional} | {j[0] for j in joined}
    parts = [statistics.median(p[k] for p in positional) for k in (1, 2, 3)]
    print(f"pool {built['records']:,} records, {len(keys)} rules; store built in "
          f"{built['read_s']:.2f} s (read with hashes) + {built['sort_s']:.2f} s (sort, save) + "
          f"{built['write_s']:.2f} s (Arrow, {built['arrow_mb']:.0f} MB)")  # fmt: skip
    print(f"candidates for {args.new:,} stand-in new records: {sorted(count)} (one value: "
          "both ways agree)")  # fmt: skip
    print(f"positional, medians of {args.repeat}: find {parts[0]:.3f} s, take {parts[1]:.3f} s, "
          f"copy into DuckDB {parts[2]:.3f} s; in all {sum(parts):.3f} s")  # fmt: skip
    print(f"blocking joins + row-id copy, median of {args.repeat}: "
          f"{statistics.median(j[1] for j in joined):.3f} s")  # fmt: skip


if __name__ == "__main__":
    main()
