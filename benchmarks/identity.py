"""Benchmark: identity resolution end to end, against plain Splink 5 on the same data.

Phases, each in its own child process (peak memory = that phase's max RSS):
- setup: generate a world of N people and ingest it (not part of the comparison);
- resolve: `cdp resolve` as the product runs it (train, predict, cluster, profiles, stitching);
- splink: the baseline, plain Splink 5 with comparable settings: the same prepared records,
  comparisons, blocking-rule choice and training, then Splink's own predict and
  `cluster_pairwise_predictions_at_threshold` at the same data-chosen threshold; none of our
  additions (collapsing identical records, guarded email edges, constrained clustering);
- realtime: load the matcher, then look up sampled shop customers one at a time (the
  measurement of benchmarks/realtime.py, which also runs alone against any resolved home).
Accuracy of both is measured against the generator's truth.

    .venv/bin/python benchmarks/identity.py --people 100000
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

from incremental import start_like_the_cli
from phases import run_child


def phase_setup(people: int, seed: int, world: Path, home: Path) -> dict:
    from features.ingest import ingest_folder
    from features.settings import load_settings
    from features.world import WorldConfig, generate_world

    generate_world(WorldConfig(people=people, seed=seed), world)
    ingest_folder(load_settings(home=home), world)
    return {}


def phase_resolve(world: Path, home: Path) -> dict:
    from features.identity.resolve import evaluate_against_truth, resolve_profiles
    from features.settings import load_settings

    settings = load_settings(home=home)
    start_like_the_cli()
    started = time.perf_counter()
    report = resolve_profiles(settings)
    seconds = time.perf_counter() - started
    scores = evaluate_against_truth(settings, world / "truth")
    return {"work_seconds": seconds, "records": report.records, "profiles": report.profiles,
            "f1": scores["pairwise"]["f1"], "bcubed_f1": scores["bcubed"]["f1"],
            "stitching_over_merges": scores["stitching"]["over_merges"]}  # fmt: skip


def phase_splink(world: Path, home: Path, seed: int) -> dict:
    import pandas as pd

    from features.identity.collect import collect_person_records
    from features.identity.evaluate import evaluate_clusters
    from features.identity.model import IdentityModel
    from features.identity.records import match_columns
    from features.settings import load_settings
    from features.warehouse import warehouse

    settings = load_settings(home=home)
    start_like_the_cli()  # the same process set-up on both sides
    started = time.perf_counter()
    with warehouse(settings, read_only=True) as con:
        _, prepared = collect_person_records(con, settings.phone_region)
    frames = []
    for source, frame in prepared.items():
        frames.append(frame.assign(record_id=source + ":" + frame["record_id"]))
    records = pd.concat(frames, ignore_index=True)
    # Splink's defaults where we differ: EM trains on every blocked pair, and every level's u
    # comes from the random sample (no counting of rare levels within their blocks), and
    # Splink reads the pandas frame itself instead of a copy in its DuckDB.
    model = IdentityModel(seed=seed, max_pairs_em=None, count_rare=False, copy_records=False)
    model.fit({"records": records}, match_columns(records))
    predictions = model.predict()
    threshold = model.choose_threshold(predictions)
    clusters = model.cluster(predictions, threshold).as_pandas_dataframe()
    seconds = time.perf_counter() - started
    truth = pd.read_parquet(world / "truth" / "records.parquet")
    truth["unique_id"] = truth["source"] + ":" + truth["record_id"]
    scores = evaluate_clusters(clusters.merge(truth, on="unique_id", how="left"))
    return {"work_seconds": seconds, "records": len(records),
            "f1": scores["pairwise"]["f1"], "bcubed_f1": scores["bcubed"]["f1"]}  # fmt: skip


def phase_realtime(home: Path, lookups: int) -> dict:
    from realtime import measure  # benchmarks/realtime.py: the same measurement, standalone

    return measure(home, lookups, seed=7)


def _median_run(runs: list[dict]) -> dict:
    """The figures of several runs with time and memory replaced by their medians."""
    import statistics

    out = dict(runs[-1])
    for name in ("seconds", "work_seconds", "peak_mb"):
        out[name] = statistics.median(r[name] for r in runs)
    out["runs"] = len(runs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lookups", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=1,
                        help="run plain Splink and cdp resolve alternately this many times; "
                             "medians are printed")  # fmt: skip
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--phase", choices=["setup", "resolve", "splink", "realtime"])
    parser.add_argument("--world", type=Path)
    parser.add_argument("--home", type=Path)
    args = parser.parse_args()
    if args.phase:
        import logging

        logging.getLogger("splink").setLevel(logging.ERROR)
        result = {
            "setup": lambda: phase_setup(args.people, args.seed, args.world, args.home),
            "resolve": lambda: phase_resolve(args.world, args.home),
            "splink": lambda: phase_splink(args.world, args.home, args.seed),
            "realtime": lambda: phase_realtime(args.home, args.lookups),
        }[args.phase]()
        print(json.dumps(result))
        return

    root = Path(tempfile.mkdtemp(prefix="cdp-identity-", dir=args.workdir))
    world, home = root / "world", root / "home"
    common = ["--world", str(world), "--home", str(home), "--seed", str(args.seed)]
    try:
        setup = run_child(__file__, ["--phase", "setup", "--people", str(args.people), *common])
        splinks, ourses = [], []
        for _ in range(args.repeat):  # alternated, so a busy moment of the machine hits both
            splinks.append(run_child(__file__, ["--phase", "splink", *common]))
            ourses.append(run_child(__file__, ["--phase", "resolve", *common]))
        splink, ours = _median_run(splinks), _median_run(ourses)
        realtime = run_child(
            __file__, ["--phase", "realtime", "--lookups", str(args.lookups), *common]
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}; people: {args.people:,}; records: {ours['records']:,}")
    print(f"setup (generate + ingest, not compared): {setup['seconds']:.1f}s; "
          f"median of {args.repeat} alternated run(s) each")  # fmt: skip
    print("| run | wall s (process) | work s | peak MB | pairwise F1 | B-cubed F1 |")
    print("|---|---|---|---|---|---|")
    for name, r in (("plain Splink 5", splink), ("cdp resolve", ours)):
        print(f"| {name} | {r['seconds']:.1f} | {r['work_seconds']:.1f} | {r['peak_mb']:.0f} | "
              f"{r['f1']:.4f} | {r['bcubed_f1']:.4f} |")  # fmt: skip
    print(f"cdp resolve / plain Splink: {ours['seconds'] / splink['seconds']:.2f}x wall time, "
          f"{ours['peak_mb'] / splink['peak_mb']:.2f}x peak memory; "
          f"stitching over-merges {ours['stitching_over_merges']}")  # fmt: skip
    print(f"real-time matching against {realtime['pool']:,} records: load "
          f"{realtime['load_seconds']:.1f}s, {realtime['lookups']} lookups, p50 "
          f"{realtime['p50_ms']:.1f} ms, p95 {realtime['p95_ms']:.1f} ms, p99 "
          f"{realtime['p99_ms']:.1f} ms (CPU p95 {realtime['cpu_p95_ms']:.1f} ms), peak "
          f"{realtime['peak_mb']:.0f} MB; candidates p95 {realtime['candidates_p95']:.0f}, "
          f"{realtime['per_candidate_us']:.1f} us per candidate scored")  # fmt: skip


if __name__ == "__main__":
    main()
