"""Benchmark: real-time matching latency against an already resolved home.

Loads `RealtimeMatcher` from HOME (after `cdp ingest` and `cdp resolve`), then looks up sampled
shop customers one at a time, as written or with the typos and gaps of a new sign-up
(`--perturb`), and prints load seconds, wall-clock and CPU p50/p95/p99 per lookup, candidates
per lookup, peak RSS, and the scoring cost per candidate: every sampled record scored against
1 and against `--cap` candidates (pool records drawn at random), so the latency of a pool where
every lookup fills the candidate cap can be estimated without building it. CPU time is the
process's own, so it is what the lookup costs when other processes share the machine.

    .venv/bin/python benchmarks/realtime.py --home /tmp/home --lookups 500 [--perturb]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import time
from pathlib import Path

import numpy as np

SAMPLE_SQL = (
    "SELECT first_name, last_name, email, phone, postcode, address_line AS address, city, "
    "CAST(date_of_birth AS VARCHAR) AS dob FROM shop_customers "
    "USING SAMPLE {n} ROWS (reservoir, {seed})"
)


def sample_customers(warehouse_path: Path, lookups: int, seed: int) -> list[dict]:
    """`lookups` shop customers, the same ones for the same seed."""
    import duckdb

    con = duckdb.connect(str(warehouse_path), read_only=True)
    try:
        con.execute("SET threads = 1")  # a seeded sample is only repeatable single-threaded
        return con.sql(SAMPLE_SQL.format(n=int(lookups), seed=int(seed))).df().to_dict("records")
    finally:
        con.close()


def perturb(record: dict, rng: random.Random) -> dict:
    """The record as a new sign-up might give it: a typo, a missing or changed attribute."""
    out = dict(record)
    for _ in range(rng.randint(0, 2)):
        change = rng.choice(["typo", "swap", "new_email", "email", "phone", "dob"])
        name = rng.choice(["first_name", "last_name"])
        if change == "typo" and isinstance(out[name], str) and len(out[name]) > 2:
            i = rng.randrange(len(out[name]) - 1)
            out[name] = out[name][:i] + out[name][i + 1] + out[name][i] + out[name][i + 2 :]
        elif change == "swap":
            out["first_name"], out["last_name"] = out["last_name"], out["first_name"]
        elif change == "new_email" and isinstance(out["email"], str):
            out["email"] = out["email"].split("@")[0] + "@example.net"
        elif change in ("email", "phone", "dob"):
            out[change] = None
    return out


def _percentiles(values: list[float]) -> dict[str, float]:
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99)}


def per_candidate_cost(matcher, records: list[dict], cap: int, seed: int) -> dict[str, float]:
    """CPU ms to score each record against 1 and against `cap` random pool records.

    Uses the matcher's internal scoring step: exactly what `match` runs after the candidate
    lookup, without the cap-limited candidate lookup deciding how many get scored.
    """
    rng = np.random.default_rng(seed)
    one, full = [], []
    for record in records:
        prepared = matcher.prepare(record)
        rows = rng.choice(len(matcher), size=cap, replace=False)
        for size, out in ((1, one), (cap, full)):
            begin = time.process_time()
            matcher._score_rows(prepared, rows[:size])
            out.append((time.process_time() - begin) * 1000)
    fixed, capped = float(np.median(one)), float(np.median(full))
    return {"score_1_ms": fixed, f"score_{cap}_ms": capped,
            "per_candidate_us": (capped - fixed) / (cap - 1) * 1000}  # fmt: skip


def measure(home: Path, lookups: int = 500, seed: int = 7, perturbed: bool = False,
            cap: int = 200) -> dict:  # fmt: skip
    """Load the matcher from `home` and time `lookups` lookups; figures as a dict."""
    from features.identity.realtime import RealtimeMatcher
    from features.settings import load_settings

    settings = load_settings(home=home)
    started = time.perf_counter()
    matcher = RealtimeMatcher(settings, max_candidates=cap)
    load_seconds = time.perf_counter() - started
    records = sample_customers(settings.warehouse_path, lookups, seed)
    if perturbed:
        rng = random.Random(seed)
        records = [perturb(r, rng) for r in records]
    wall, cpu, candidates, matched = [], [], [], 0
    for record in records:
        begin_wall, begin_cpu = time.perf_counter(), time.process_time()
        result = matcher.match(record)
        cpu.append((time.process_time() - begin_cpu) * 1000)
        wall.append((time.perf_counter() - begin_wall) * 1000)
        candidates.append(result.candidates)
        matched += result.profile_id is not None
    wall_ms, cpu_ms = _percentiles(wall), _percentiles(cpu)
    figures = {
        "pool": len(matcher), "load_seconds": load_seconds, "lookups": len(wall),
        "matched": matched, "p50_ms": wall_ms["p50"], "p95_ms": wall_ms["p95"],
        "p99_ms": wall_ms["p99"], "cpu_p50_ms": cpu_ms["p50"], "cpu_p95_ms": cpu_ms["p95"],
        "cpu_p99_ms": cpu_ms["p99"], "candidates_p50": float(np.median(candidates)),
        "candidates_p95": float(np.percentile(candidates, 95)),
        "candidates_max": int(max(candidates)),
        "at_cap": int(sum(c >= cap for c in candidates)),
    }  # fmt: skip
    figures.update(per_candidate_cost(matcher, records[:100], cap, seed))
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="A resolved CDP home.")
    parser.add_argument("--lookups", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--perturb", action="store_true", help="Typos and gaps in lookups.")
    parser.add_argument("--cap", type=int, default=200, help="max_candidates of the matcher.")
    args = parser.parse_args()
    f = measure(args.home, args.lookups, args.seed, args.perturb, args.cap)
    print(f"pool {f['pool']:,} records; load {f['load_seconds']:.1f} s; peak RSS "
          f"{f['peak_rss_mb']:.0f} MB")  # fmt: skip
    for kind, prefix in (("wall", ""), ("CPU", "cpu_")):
        print(f"{f['lookups']} lookups ({f['matched']} matched a profile), {kind}: p50 "
              f"{f[prefix + 'p50_ms']:.2f} / p95 {f[prefix + 'p95_ms']:.2f} / p99 "
              f"{f[prefix + 'p99_ms']:.2f} ms")  # fmt: skip
    print(f"candidates p50 {f['candidates_p50']:.0f} / p95 {f['candidates_p95']:.0f} / max "
          f"{f['candidates_max']} ({f['at_cap']} at the cap of {args.cap})")  # fmt: skip
    print(f"scoring: {f['score_1_ms']:.2f} ms for 1 candidate, "
          f"{f[f'score_{args.cap}_ms']:.2f} ms for {args.cap}; "
          f"{f['per_candidate_us']:.1f} us per extra candidate")  # fmt: skip
    print(json.dumps(f))


if __name__ == "__main__":
    main()
