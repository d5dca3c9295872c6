"""Benchmark: generate a world of N people, then validate and ingest it.

Each phase runs in its own child process so its peak memory (max RSS) is its own. The baseline,
measured in the same run on the same files, is a raw DuckDB load (`CREATE TABLE AS SELECT * FROM
read_parquet(...)`) with no normalising, validation or quarantine: the ratio says what the
contracts cost.

    .venv/bin/python benchmarks/generate_ingest.py --people 1000000 --repeat 1
    .venv/bin/python benchmarks/generate_ingest.py --people 100000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
from pathlib import Path

from phases import run_child


def phase_generate(people: int, seed: int, out: Path) -> dict:
    from features.world import WorldConfig, generate_world

    summary = generate_world(WorldConfig(people=people, seed=seed), out)
    return {"rows": int(sum(summary.rows.values()))}


def phase_ingest(world: Path, home: Path) -> dict:
    from features.ingest import ingest_folder
    from features.settings import load_settings

    results = ingest_folder(load_settings(home=home), world)
    failed = [r.message for r in results if r.status != "loaded"]
    if failed:
        raise SystemExit(f"ingest failed: {failed}")
    return {
        "rows": sum(r.rows_in for r in results),
        "quarantined": sum(r.rows_quarantined for r in results),
    }


def phase_baseline(world: Path, home: Path) -> dict:
    import duckdb

    home.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(home / "raw.duckdb"))
    rows = 0
    for path in sorted(world.glob("*.parquet")):
        con.execute(f"CREATE TABLE {path.stem} AS SELECT * FROM read_parquet('{path}')")
        rows += con.execute(f"SELECT COUNT(*) FROM {path.stem}").fetchone()[0]
    con.close()
    return {"rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--phase", choices=["generate", "ingest", "baseline"])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--home", type=Path)
    args = parser.parse_args()

    if args.phase == "generate":
        print(json.dumps(phase_generate(args.people, args.seed, args.out)))
        return
    if args.phase == "ingest":
        print(json.dumps(phase_ingest(args.out, args.home)))
        return
    if args.phase == "baseline":
        print(json.dumps(phase_baseline(args.out, args.home)))
        return

    root = Path(tempfile.mkdtemp(prefix="cdp-bench-", dir=args.workdir))
    runs: list[dict] = []
    try:
        for i in range(args.repeat):
            world = root / f"world{i}"
            gen = run_child(__file__, ["--phase", "generate", "--people", str(args.people),
                             "--seed", str(args.seed), "--out", str(world)])  # fmt: skip
            ing = run_child(
                __file__, ["--phase", "ingest", "--out", str(world), "--home", str(root / f"h{i}")]
            )
            raw = run_child(
                __file__,
                ["--phase", "baseline", "--out", str(world), "--home", str(root / f"r{i}")],
            )
            runs.append({"generate": gen, "ingest": ing, "baseline": raw})
            print(f"run {i + 1}: generate {gen['seconds']:.1f}s {gen['peak_mb']:.0f}MB | "
                  f"ingest {ing['seconds']:.1f}s {ing['peak_mb']:.0f}MB | "
                  f"raw load {raw['seconds']:.1f}s {raw['peak_mb']:.0f}MB", flush=True)  # fmt: skip
            shutil.rmtree(world)
            shutil.rmtree(root / f"h{i}")
            shutil.rmtree(root / f"r{i}")
    finally:
        shutil.rmtree(root, ignore_errors=True)

    def median(phase: str, key: str) -> float:
        return statistics.median(r[phase][key] for r in runs)

    rows = runs[0]["ingest"]["rows"]  # source rows; generate also writes truth files
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"\nmachine: {machine}")
    print(f"people: {args.people:,}   source rows: {rows:,}   runs: {args.repeat} (medians)")
    print("| phase | seconds | peak MB | rows/s |")
    print("|---|---|---|---|")
    for phase in ("generate", "ingest", "baseline"):
        seconds = median(phase, "seconds")
        print(
            f"| {phase} | {seconds:.1f} | {median(phase, 'peak_mb'):.0f} | {rows / seconds:,.0f} |"
        )
    ratio = median("ingest", "seconds") / median("baseline", "seconds")
    print(f"validated ingest / raw DuckDB load: {ratio:.1f}x time; "
          f"quarantined {runs[0]['ingest']['quarantined']:,} rows")  # fmt: skip


if __name__ == "__main__":
    main()
