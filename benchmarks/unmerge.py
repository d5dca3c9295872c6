"""Benchmark: `cdp identity unmerge` (re-linked incrementally) against a full re-resolve.

Each phase runs in its own child process on its own copy of a resolved home (made here, and
synced before the clock starts): "unmerge" takes one record out of a profile of three records
or more (the first such profile by id, its largest key) as the CLI does; "full" detaches and
pins the same record the same way and then resolves in full, as unmerge did before it re-linked
incrementally. Runs alternate unmerge, full, unmerge, full, ...; medians are printed.

    .venv/bin/python benchmarks/unmerge.py --home HOME --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from phases import run_child

_PICK = (
    "SELECT profile_id, MAX(key) FROM identity_records GROUP BY profile_id "
    "HAVING COUNT(*) >= 3 ORDER BY profile_id LIMIT 1"
)


def phase(mode: str, home: Path) -> dict:
    import duckdb
    from incremental import start_like_the_cli  # benchmarks/incremental.py

    from features.identity import unmerge
    from features.identity.resolve import resolve_profiles
    from features.settings import load_settings

    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    [(profile_id, key)] = con.execute(_PICK).fetchall()
    con.close()
    if mode == "full":  # the same pins and detachment, then the re-resolve unmerge used to run
        unmerge.resolve_incremental = resolve_profiles
    settings = load_settings(home=home)
    start_like_the_cli()
    os.sync()
    started = time.perf_counter()
    moved = unmerge.unmerge_record(settings, profile_id, key)
    seconds = time.perf_counter() - started
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    [(report,)] = con.execute(
        "SELECT report FROM identity_runs ORDER BY run_id DESC LIMIT 1"
    ).fetchall()
    con.close()
    relinked = (json.loads(report).get("incremental") or {}).get("relinked_records")
    return {"work_seconds": seconds, "mode": moved["mode"], "relinked_records": relinked,
            "moved_to_new_profile": moved["to_profile_id"] != profile_id}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="a resolved home (read only)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--phase", choices=["unmerge", "full"])
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.home)))
        return
    runs: dict[str, list[dict]] = {"unmerge": [], "full": []}
    for _ in range(args.repeat):
        for mode in runs:
            scratch = Path(tempfile.mkdtemp(prefix="cdp-unmerge-", dir=args.workdir))
            try:
                shutil.copytree(args.home, scratch / "home")
                runs[mode].append(
                    run_child(__file__, ["--phase", mode, "--home", str(scratch / "home")])
                )
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
    medians = {mode: statistics.median(r["work_seconds"] for r in done)
               for mode, done in runs.items()}  # fmt: skip
    ratio = medians["unmerge"] / medians["full"]
    print(json.dumps({"runs": runs, "median_seconds": medians, "unmerge_over_full": ratio},
                     indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
