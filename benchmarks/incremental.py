"""Benchmark: `cdp resolve --incremental` on a small delta against a full run on the same data.

Phases, each in its own child process (peak memory = that phase's max RSS):
- setup: generate a world of N people, hold back a share `--delta` of its person records with
  their orders and events (features.world.delta.hold_back); home "inc" ingests the base,
  resolves it in full and then ingests the delta; home "full" ingests base and delta (not timed);
- full: `resolve_profiles` on home "full": everything, as `cdp resolve` runs it;
- incremental: `resolve_incremental` on a copy of home "inc": only the delta, on the base
  run's model; `--repeat` times (before and after the full run), the median run kept.
Both are scored against the generator's truth, and against each other (pairwise agreement of
the two partitions). Work seconds are the call itself, after imports (also those the code does
on first use); the full run's own report seconds leave out the MLflow logging and charts it
also does. Work CPU seconds are the process's CPU time over the same call (all its threads):
less sensitive than wall seconds to other jobs on a shared machine. Process wall seconds
include start-up and the scoring against truth. Pending writes (the copy of the home) are
synced to disk before the call, so that its first fsync does not write back the copy.

    .venv/bin/python benchmarks/incremental.py --people 100000 --delta 0.01
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from phases import run_child


def phase_setup(people: int, seed: int, delta: float, root: Path) -> dict:
    from features.identity.resolve import resolve_profiles
    from features.ingest import ingest_folder
    from features.settings import load_settings
    from features.world import WorldConfig, generate_world
    from features.world.delta import hold_back

    generate_world(WorldConfig(people=people, seed=seed), root / "world")
    split = hold_back(root / "world", root / "base", root / "delta", fraction=delta, seed=seed)
    incremental = load_settings(home=root / "inc")
    ingest_folder(incremental, root / "base")
    base = resolve_profiles(incremental)
    ingest_folder(incremental, root / "delta")
    full = load_settings(home=root / "full")
    for folder in ("base", "delta"):
        ingest_folder(full, root / folder)
    return {"base_records": base.records, "delta_rows": split.delta}


def phase_resolve(root: Path, mode: str, home: str) -> dict:
    from features.identity.incremental import resolve_incremental
    from features.identity.resolve import evaluate_against_truth, resolve_profiles
    from features.settings import load_settings

    settings = load_settings(home=root / home)
    run = resolve_incremental if mode == "incremental" else resolve_profiles
    start_like_the_cli()
    report, seconds, cpu = timed_run(run, settings)
    scores = evaluate_against_truth(settings, root / "world" / "truth")
    return {"work_seconds": seconds, "cpu_seconds": cpu, "report_seconds": report.seconds,
            "mode": report.mode,
            "records": report.records, "profiles": report.profiles,
            "incremental": report.incremental, "f1": scores["pairwise"]["f1"],
            "bcubed_f1": scores["bcubed"]["f1"],
            "stitching_over_merges": scores["stitching"]["over_merges"]}  # fmt: skip


def timed_run(run, settings) -> tuple[object, float, float]:
    """(run's result, wall seconds, CPU seconds of the process) of `run(settings)`."""
    # The home was just copied (or ingested into): without a sync, the run's first checkpoint
    # (its fsync) would also write back what is still in the page cache, which is no work of
    # the run's (0.3 s for a 600 MB copy at a million records, measured).
    os.sync()
    started, cpu = time.perf_counter(), time.process_time()
    result = run(settings)
    return result, time.perf_counter() - started, time.process_time() - cpu


def start_like_the_cli(freeze: bool = True) -> None:
    """What `cdp resolve` has done before its run starts: load the modules the code imports on
    first use (phone metadata, nicknames, Splink's SQL dialect: interpreter start-up, the same
    for both runs, not work), then freeze the start-up heap out of the garbage collector's
    reach, as the CLI does (serving.runtime.freeze_gc)."""
    import phonenumbers
    import sqlglot.dialects.duckdb  # noqa: F401

    from features.identity.canonical import name_aliases
    from serving.runtime import freeze_gc

    phonenumbers.parse("+12025550123")
    name_aliases("bill")
    if freeze:
        freeze_gc()


def agreement(root: Path, home: str) -> float:
    """Pairwise F1 of the incremental partition against the full run's."""
    from features.identity.evaluate import evaluate_clusters
    from features.identity.resolve import read_assignments
    from features.settings import load_settings

    inc = read_assignments(load_settings(home=root / home))
    full = read_assignments(load_settings(home=root / "full"))
    both = inc.merge(full, on=["source", "record_id"], suffixes=("_inc", "_full"))
    scores = evaluate_clusters(both, cluster="profile_id_inc", truth="profile_id_full")
    return scores["pairwise"]["f1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--delta", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3, help="incremental runs (median)")
    parser.add_argument("--phase", choices=["setup", "full", "incremental"])
    parser.add_argument("--root", type=Path)
    parser.add_argument("--home", default="full")
    args = parser.parse_args()
    if args.phase:
        import logging

        logging.getLogger("splink").setLevel(logging.ERROR)
        if args.phase == "setup":
            result = phase_setup(args.people, args.seed, args.delta, args.root)
        else:
            result = phase_resolve(args.root, args.phase, args.home)
        print(json.dumps(result))
        return

    root = Path(tempfile.mkdtemp(prefix="cdp-incremental-", dir=args.workdir))
    common = ["--root", str(root), "--seed", str(args.seed)]
    try:
        setup = run_child(__file__, ["--phase", "setup", "--people", str(args.people),
                                     "--delta", str(args.delta), *common])  # fmt: skip
        # Incremental runs before and after the full one, each on a fresh copy of the same
        # state, so that load from other processes falls on both alike; the median is kept.
        runs = []
        for i in range(args.repeat):
            if i == args.repeat // 2:
                full = run_child(__file__, ["--phase", "full", *common])
            shutil.copytree(root / "inc", root / f"inc{i}")
            runs.append(run_child(__file__, ["--phase", "incremental", "--home", f"inc{i}",
                                             *common]))  # fmt: skip
        order = sorted(range(len(runs)), key=lambda i: runs[i]["work_seconds"])
        median = order[len(order) // 2]
        inc = runs[median]
        agree = agreement(root, f"inc{median}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    counts = inc["incremental"] or {}
    each = ", ".join(f"{r['work_seconds']:.2f}" for r in runs)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}; people: {args.people:,}; records: {full['records']:,}; "
          f"delta: {counts.get('new_records', 0):,} new person records "
          f"({counts.get('new_records', 0) / full['records']:.2%}), "
          f"{sum(setup['delta_rows'].values()):,} rows in all")  # fmt: skip
    print(f"setup (generate, split, ingest, base run; not compared): {setup['seconds']:.1f}s")
    print(
        "| run | wall s (process) | work s | work CPU s | report s | peak MB | pairwise F1 "
        "| B-cubed F1 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, r in (("full", full), ("incremental", inc)):
        print(f"| {name} | {r['seconds']:.1f} | {r['work_seconds']:.2f} | "
              f"{r['cpu_seconds']:.2f} | {r['report_seconds']:.2f} | {r['peak_mb']:.0f} | "
              f"{r['f1']:.4f} | {r['bcubed_f1']:.4f} |")  # fmt: skip
    print(f"incremental work seconds of the {len(runs)} runs: {each} (median kept)")
    print(f"incremental / full: {inc['work_seconds'] / full['work_seconds']:.3f} of the work "
          f"seconds, {inc['cpu_seconds'] / full['cpu_seconds']:.3f} of the CPU seconds, "
          f"{inc['report_seconds'] / full['report_seconds']:.3f} of the report seconds "
          f"(goal <= 0.05 for a 1% delta); mode: {inc['mode']}")  # fmt: skip
    print(
        f"agreement of the two partitions (pairwise F1, incremental vs full): {agree:.4f}; "
        f"F1 vs truth: incremental - full = {inc['f1'] - full['f1']:+.4f}; stitching "
        f"over-merges: {inc['stitching_over_merges']} / {full['stitching_over_merges']}"
    )
    print(f"incremental counts: {json.dumps(counts)}")


if __name__ == "__main__":
    main()
