"""Benchmark: time a resolve run spends in CPython's garbage collector, start-up heap frozen or not.

`cdp resolve` freezes the heap it has after its imports (serving.runtime.frozen_heap), so that
full collections during the run do not walk the imported modules' objects again and again.
This runs `resolve_profiles` (or `resolve_incremental`) on a copy of a home, once per mode in
its own process, alternating, and prints per generation how many collections ran and how long
they took (gc.callbacks), with the run's work seconds and peak memory.

    .venv/bin/python benchmarks/gc_resolve.py --home HOME [--incremental] [--repeat 2]
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from phases import run_child


def phase_run(home: Path, incremental: bool, frozen: bool) -> dict:
    from incremental import start_like_the_cli, timed_run

    from features.identity.incremental import resolve_incremental
    from features.identity.resolve import resolve_profiles
    from features.settings import load_settings

    start_like_the_cli(freeze=frozen)
    collections = {0: [0, 0.0], 1: [0, 0.0], 2: [0, 0.0]}
    began: list[float] = []

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            began.append(time.perf_counter())
        else:
            collections[info["generation"]][0] += 1
            collections[info["generation"]][1] += time.perf_counter() - began.pop()

    gc.callbacks.append(count)
    run = resolve_incremental if incremental else resolve_profiles
    _, seconds, _ = timed_run(run, load_settings(home=home))
    gc.callbacks.remove(count)
    return {"work_seconds": seconds, "collections": {g: n for g, (n, _) in collections.items()},
            "gc_seconds": {g: s for g, (_, s) in collections.items()}}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="a home ready to resolve")
    parser.add_argument("--incremental", action="store_true")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--phase", choices=["run"])
    parser.add_argument("--frozen", choices=["yes", "no"], default="yes")
    args = parser.parse_args()
    if args.phase:
        import logging

        logging.getLogger("splink").setLevel(logging.ERROR)
        print(json.dumps(phase_run(args.home, args.incremental, args.frozen == "yes")))
        return
    runs: dict[str, list[dict]] = {"yes": [], "no": []}
    with tempfile.TemporaryDirectory(prefix="cdp-gc-", dir=args.home.parent) as scratch:
        for _ in range(args.repeat):
            for frozen in ("no", "yes"):
                copy = Path(scratch) / "home"
                shutil.rmtree(copy, ignore_errors=True)
                shutil.copytree(args.home, copy)
                extra = ["--incremental"] if args.incremental else []
                runs[frozen].append(run_child(__file__, ["--phase", "run", "--home", str(copy),
                                                         "--frozen", frozen, *extra]))  # fmt: skip
    mode = "incremental" if args.incremental else "full"
    print(f"{mode} resolve of {args.home}, {args.repeat} alternating runs per mode (medians)")
    print("| start-up heap | work s | full collections (s) | young collections (s) | peak MB |")
    print("|---|---|---|---|---|")
    for frozen, label in (("no", "left to the collector"), ("yes", "frozen")):

        def median(f, r=runs[frozen]):
            return statistics.median(f(x) for x in r)

        full = median(lambda x: x["gc_seconds"]["2"])
        young = median(lambda x: x["gc_seconds"]["0"] + x["gc_seconds"]["1"])
        print(f"| {label} | {median(lambda x: x['work_seconds']):.2f} | "
              f"{median(lambda x: x['collections']['2']):.0f} ({full:.2f}) | "
              f"{median(lambda x: x['collections']['0'] + x['collections']['1']):.0f} "
              f"({young:.2f}) | {median(lambda x: x['peak_mb']):.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
