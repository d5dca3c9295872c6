"""Benchmark: incremental runs one after another, as a deployment runs them between full runs.

`benchmarks/incremental.py` times one incremental run on a fresh home. A deployment runs them
in a row (say daily) and a full run now and then; each incremental run deletes and appends
rows in the identity tables without compacting them (features.identity.incremental), so the
question here is whether run N costs more than run 1, how the warehouse file grows, and
whether the profiles drift from what a full run over the same records gives.

Phases, each in its own child process (peak memory = that phase's max RSS):
- setup: generate a world of N people; hold back `--runs` x `--delta` of its person records
  with their orders and events (features.world.delta.hold_back), then split that share into
  `--runs` slices of one `--delta` each, in order; ingest the rest and resolve it in full;
- step K: ingest slice K (not timed), then `resolve_incremental` (timed, after imports);
- full: `resolve_profiles` on a copy of the home after the last step: the same records.
Every step and the full run are scored against the generator's truth; the last step's
partition is compared with the full run's.

    .venv/bin/python benchmarks/incremental_series.py --people 100000 --delta 0.01 --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
from pathlib import Path

from incremental import agreement
from phases import run_child


def phase_setup(people: int, seed: int, delta: float, runs: int, root: Path) -> dict:
    from features.identity.resolve import resolve_profiles
    from features.ingest import ingest_folder
    from features.settings import load_settings
    from features.world import WorldConfig, generate_world
    from features.world.delta import hold_back

    generate_world(WorldConfig(people=people, seed=seed), root / "world")
    hold_back(root / "world", root / "base", root / "rest0", fraction=delta * runs, seed=seed)
    # Slice K + 1 keeps 1/(runs - K) of what is still held back (the rest is held back again),
    # so every slice is about one delta's share.
    for k in range(runs - 1):
        hold_back(root / f"rest{k}", root / f"slice{k + 1}", root / f"rest{k + 1}",
                  fraction=1 - 1 / (runs - k), seed=seed + k + 1)  # fmt: skip
    (root / f"rest{runs - 1}").rename(root / f"slice{runs}")
    settings = load_settings(home=root / "home")
    ingest_folder(settings, root / "base")
    base = resolve_profiles(settings)
    return {"base_records": base.records, "warehouse_mb": _size_mb(settings.warehouse_path)}


def phase_step(root: Path, step: int) -> dict:
    from incremental import start_like_the_cli, timed_run

    from features.identity.incremental import resolve_incremental
    from features.identity.resolve import evaluate_against_truth
    from features.ingest import ingest_folder
    from features.settings import load_settings

    settings = load_settings(home=root / "home")
    ingest_folder(settings, root / f"slice{step}")
    ingested_mb = _size_mb(settings.warehouse_path)
    start_like_the_cli()
    report, seconds, cpu = timed_run(resolve_incremental, settings)
    scores = evaluate_against_truth(settings, root / "world" / "truth")
    counts = report.incremental or {}
    return {"work_seconds": seconds, "cpu_seconds": cpu, "mode": report.mode,
            "records": report.records, "new_records": counts.get("new_records", 0),
            "relinked_records": counts.get("relinked_records", 0),
            "f1": scores["pairwise"]["f1"], "over_merges": scores["stitching"]["over_merges"],
            "ingested_mb": ingested_mb,
            "warehouse_mb": _size_mb(settings.warehouse_path)}  # fmt: skip


def phase_full(root: Path) -> dict:
    from incremental import start_like_the_cli, timed_run

    from features.identity.resolve import evaluate_against_truth, resolve_profiles
    from features.settings import load_settings

    settings = load_settings(home=root / "full")
    start_like_the_cli()
    report, seconds, cpu = timed_run(resolve_profiles, settings)
    scores = evaluate_against_truth(settings, root / "world" / "truth")
    return {"work_seconds": seconds, "cpu_seconds": cpu, "records": report.records,
            "f1": scores["pairwise"]["f1"], "over_merges": scores["stitching"]["over_merges"],
            "warehouse_mb": _size_mb(settings.warehouse_path)}  # fmt: skip


def _size_mb(path: Path) -> float:
    return path.stat().st_size / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--delta", type=float, default=0.01, help="share of records per run")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--phase", choices=["setup", "step", "full"])
    parser.add_argument("--step", type=int, default=1)
    parser.add_argument("--root", type=Path)
    args = parser.parse_args()
    if args.phase:
        import logging

        logging.getLogger("splink").setLevel(logging.ERROR)
        if args.phase == "setup":
            result = phase_setup(args.people, args.seed, args.delta, args.runs, args.root)
        elif args.phase == "step":
            result = phase_step(args.root, args.step)
        else:
            result = phase_full(args.root)
        print(json.dumps(result))
        return

    root = Path(tempfile.mkdtemp(prefix="cdp-incremental-series-", dir=args.workdir))
    common = ["--root", str(root), "--seed", str(args.seed)]
    try:
        setup = run_child(__file__, ["--phase", "setup", "--people", str(args.people),
                                     "--delta", str(args.delta), "--runs", str(args.runs),
                                     *common])  # fmt: skip
        steps = [
            run_child(__file__, ["--phase", "step", "--step", str(k), *common])
            for k in range(1, args.runs + 1)
        ]
        shutil.copytree(root / "home", root / "full")
        full = run_child(__file__, ["--phase", "full", *common])
        agree = agreement(root, "home")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}; people: {args.people:,}; base records: "
          f"{setup['base_records']:,}; setup {setup['seconds']:.0f}s; "
          f"base warehouse {setup['warehouse_mb']:.0f} MB")  # fmt: skip
    print("| run | mode | new records | re-linked | work s | work CPU s | / full (work) "
          "| pairwise F1 | over-merges | warehouse MB after ingest, after run |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for k, s in enumerate(steps, start=1):
        print(f"| {k} | {s['mode']} | {s['new_records']:,} | {s['relinked_records']:,} | "
              f"{s['work_seconds']:.2f} | {s['cpu_seconds']:.2f} | "
              f"{s['work_seconds'] / full['work_seconds']:.3f} | {s['f1']:.4f} | "
              f"{s['over_merges']} | "
              f"{s['ingested_mb']:.0f}, {s['warehouse_mb']:.0f} |")  # fmt: skip
    print(f"| full, same records | full | | {full['records']:,} | {full['work_seconds']:.2f} | "
          f"{full['cpu_seconds']:.2f} | 1 | {full['f1']:.4f} | {full['over_merges']} | "
          f"{full['warehouse_mb']:.0f} |")  # fmt: skip
    first, last = steps[0]["work_seconds"], steps[-1]["work_seconds"]
    print(f"last / first incremental run: {last / first:.2f}; agreement of the last "
          f"incremental partition with the full run's (pairwise F1): {agree:.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
