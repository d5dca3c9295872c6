"""Benchmark: point-in-time features offline, the online store, real-time updates.

Phases, each in its own child process (peak memory = that phase's max RSS):
- setup, resolve: generate a world of N people and ingest it; resolve identities (not
  measured here);
- build: every feature of every profile as of the world's end, written to Parquet (DuckDB);
- training: a training set of 6 monthly snapshots with 30-day labels (optional, --training);
- materialize: the features and the event log into the SQLite online store;
- online: reads of one profile at a time, served from the store (the stored row is still
  exact), then reads a day later (the row expired: recomputed from the profile's events),
  then real-time events (product views and purchases) applied one at a time.

    .venv/bin/python benchmarks/feature_store.py --people 100000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

# This script is named like the `features` package; its folder goes last on the path so the
# package wins and `phases` (beside this script) is still found.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

from phases import run_child  # noqa: E402

AS_OF = "2026-01-01"


def phase_setup(people: int, seed: int, world: Path, home: Path) -> dict:
    from features.ingest import ingest_folder
    from features.settings import load_settings
    from features.world import WorldConfig, generate_world

    generate_world(WorldConfig(people=people, seed=seed), world)
    ingest_folder(load_settings(home=home), world)
    return {}


def phase_resolve(home: Path) -> dict:
    import logging

    from features.identity.resolve import resolve_profiles
    from features.settings import load_settings

    logging.getLogger("splink").setLevel(logging.ERROR)
    return {"profiles": resolve_profiles(load_settings(home=home)).profiles}


def phase_build(home: Path) -> dict:
    from features.offline import open_warehouse_source, write_features
    from features.settings import load_settings

    started = time.perf_counter()
    with open_warehouse_source(load_settings(home=home)) as source:
        report = write_features(source, AS_OF, home / "features.parquet")
    return {"work_seconds": time.perf_counter() - started, "rows": report["rows"],
            "features": report["features"],
            "file_mb": (home / "features.parquet").stat().st_size / 2**20}  # fmt: skip


def phase_training(home: Path) -> dict:
    from features.offline import open_warehouse_source
    from features.settings import load_settings
    from training.snapshots import build_training_set

    started = time.perf_counter()
    with open_warehouse_source(load_settings(home=home)) as source:
        result = build_training_set(source, AS_OF, horizon_days=30, snapshots=6, every_days=30)
    return {"work_seconds": time.perf_counter() - started, "rows": len(result.rows),
            "positive_rate": float(result.rows["label__any_purchase"].mean())}  # fmt: skip


def phase_materialize(home: Path) -> dict:
    from features.online.materialize import materialize
    from features.settings import load_settings

    settings = load_settings(home=home)
    started = time.perf_counter()
    report = materialize(settings, AS_OF)
    return {"work_seconds": time.perf_counter() - started, "profiles": report["profiles"],
            "log_rows": sum(report["log_rows"].values()),
            "features_seconds": report["features_seconds"],
            "store_mb": settings.online_store_path.stat().st_size / 2**20}  # fmt: skip


def _percentiles(timings: list[tuple[float, float]]) -> dict:
    import numpy as np

    wall, cpu = np.array(timings).T
    p50, p95, p99 = np.percentile(wall, [50, 95, 99])
    return {"n": len(wall), "p50_ms": p50, "p95_ms": p95, "p99_ms": p99,
            "cpu_p50_ms": np.percentile(cpu, 50), "cpu_p99_ms": np.percentile(cpu, 99)}  # fmt: skip


def phase_online(home: Path, reads: int, seed: int) -> dict:
    import random

    from features.event_log import from_us, to_us
    from features.online.realtime import apply_event
    from features.online.store import OnlineStore
    from features.settings import load_settings

    store = OnlineStore(load_settings(home=home))
    ids = [r[0] for r in store.con.execute("SELECT entity_id FROM online_features").fetchall()]
    rng = random.Random(seed)
    sample = rng.sample(ids, min(reads, len(ids)))
    at, later = to_us(AS_OF), to_us(AS_OF) + 86_400_000_000

    def timed(call, items) -> list[tuple[float, float]]:
        # Wall time, and this thread's CPU time: on a shared machine the gap between them is
        # time spent waiting for a core, not work.
        out = []
        for item in items:
            begin, begin_cpu = time.perf_counter(), time.thread_time()
            call(item)
            out.append(((time.perf_counter() - begin) * 1000,
                        (time.thread_time() - begin_cpu) * 1000))  # fmt: skip
        return out

    stored = timed(lambda p: store.get_online_features(p, from_us(at)), sample)
    served = {store.get_online_features(p, from_us(at)).served_from for p in sample[:50]}
    expired = timed(lambda p: store.get_online_features(p, from_us(later)), sample[: reads // 2])
    cookies = store.con.execute(
        "SELECT identifier_value FROM identifiers WHERE identifier_type = 'anonymous_id' "
        "AND linked_at IS NOT NULL LIMIT ?", (reads // 2,)).fetchall()  # fmt: skip
    customers = store.con.execute(
        "SELECT identifier_value FROM identifiers WHERE identifier_type = 'customer_id' "
        "LIMIT ?", (reads // 2,)).fetchall()  # fmt: skip
    products = [r[0] for r in store.con.execute("SELECT product_id FROM products").fetchall()]
    when = from_us(later + 3_600_000_000)
    views = [{"event_id": f"bench_v{i}", "anonymous_id": c[0], "type": "product_view",
              "product_id": rng.choice(products), "occurred_at": when}
             for i, c in enumerate(cookies)]  # fmt: skip
    orders = [{"order_id": f"bench_o{i}", "customer_id": c[0], "channel": "web",
               "ordered_at": when, "lines": [{"line_number": 1, "product_id": rng.choice(products),
                                              "quantity": 1, "unit_price": 19.99}]}
              for i, c in enumerate(customers)]  # fmt: skip
    tick = from_us(later + 3_600_000_001)
    applied_views = timed(lambda e: apply_event(store, "web_events", e, at=tick), views)
    applied_orders = timed(lambda e: apply_event(store, "orders", e, at=tick), orders)
    store.close()
    return {"stored": _percentiles(stored), "served_from": sorted(served),
            "expired": _percentiles(expired), "apply_view": _percentiles(applied_views),
            "apply_purchase": _percentiles(applied_orders)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--training", action="store_true", help="also time a training set")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--phase", choices=["setup", "resolve", "build", "training", "materialize", "online"]
    )
    parser.add_argument("--world", type=Path)
    parser.add_argument("--home", type=Path)
    args = parser.parse_args()
    if args.phase:
        result = {
            "setup": lambda: phase_setup(args.people, args.seed, args.world, args.home),
            "resolve": lambda: phase_resolve(args.home),
            "build": lambda: phase_build(args.home),
            "training": lambda: phase_training(args.home),
            "materialize": lambda: phase_materialize(args.home),
            "online": lambda: phase_online(args.home, args.reads, args.seed),
        }[args.phase]()
        print(json.dumps(result))
        return

    root = Path(tempfile.mkdtemp(prefix="cdp-features-", dir=args.workdir))
    common = ["--world", str(root / "world"), "--home", str(root / "home"), "--seed",
              str(args.seed), "--reads", str(args.reads)]  # fmt: skip
    try:
        setup = run_child(__file__, ["--phase", "setup", "--people", str(args.people), *common])
        shutil.rmtree(root / "world", ignore_errors=True)  # the warehouse holds it now
        resolved = run_child(__file__, ["--phase", "resolve", *common])
        build = run_child(__file__, ["--phase", "build", *common])
        training = run_child(__file__, ["--phase", "training", *common]) if args.training \
            else None  # fmt: skip
        stored = run_child(__file__, ["--phase", "materialize", *common])
        online = run_child(__file__, ["--phase", "online", *common])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}; people: {args.people:,}; profiles: {resolved['profiles']:,}")
    print(
        f"setup, not measured: generate + ingest {setup['seconds']:.0f}s "
        f"({setup['peak_mb']:,.0f} MB), resolve {resolved['seconds']:.0f}s "
        f"({resolved['peak_mb']:,.0f} MB)"
    )
    print("| phase | wall s | work s | peak MB | output |")
    print("|---|---|---|---|---|")
    print(f"| features build (as of {AS_OF}) | {build['seconds']:.1f} | "
          f"{build['work_seconds']:.1f} | {build['peak_mb']:,.0f} | {build['rows']:,} rows x "
          f"{build['features']} features, {build['file_mb']:.0f} MB Parquet |")  # fmt: skip
    if training:
        print(f"| training set (6 snapshots) | {training['seconds']:.1f} | "
              f"{training['work_seconds']:.1f} | {training['peak_mb']:,.0f} | "
              f"{training['rows']:,} rows, positive rate "
              f"{training['positive_rate']:.3f} |")  # fmt: skip
    print(f"| materialize | {stored['seconds']:.1f} | {stored['work_seconds']:.1f} | "
          f"{stored['peak_mb']:,.0f} | {stored['profiles']:,} profiles, {stored['log_rows']:,} "
          f"log rows, {stored['store_mb']:,.0f} MB SQLite |")  # fmt: skip
    print(
        f"online phase peak {online['peak_mb']:,.0f} MB; stored reads served from "
        f"{online['served_from']}; load average {os.getloadavg()[0]:.1f}"
    )
    print("| online operation | n | p50 ms | p95 ms | p99 ms | CPU p50 ms | CPU p99 ms |")
    print("|---|---|---|---|---|---|---|")
    for name, key in (("read, stored row", "stored"), ("read, expired row (recompute)", "expired"),
                      ("apply a product view", "apply_view"),
                      ("apply a purchase", "apply_purchase")):  # fmt: skip
        r = online[key]
        print(f"| {name} | {r['n']} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['p99_ms']:.2f} "
              f"| {r['cpu_p50_ms']:.2f} | {r['cpu_p99_ms']:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
