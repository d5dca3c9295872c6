"""Benchmark: scoring, audiences and suppression lists over a generated world.

Sets up HOME once (not measured; skipped when HOME already has a propensity champion):
generate `--people` (default 10,000: the default world), ingest, resolve, train with a small
config and promote. Every run then materialises the online store at `--at` afresh and drops
the activation file (not measured), so runs are repeatable. Measured, wall clock:

- scoring every profile at `--at` (stored rows still exact), and one day later (every row has
  expired at midnight: the daily batch, recomputing all features in one statement);
- an email audience (ids, top 10 % of profiles, promoted product suppressed, 14-day frequency
  cap; a preview, so repeats do not cap each other) and an ads audience (hashed for Google,
  every consenting profile, promoted category suppressed, recorded), median of `--repeats`;
- a suppression list (hashed for Meta, buyers of the biggest category), median of `--repeats`;
- real time: a purchase applied and its profile re-scored, then the next audience preview;
  p50 of 20 each.

    .venv/bin/python benchmarks/audience.py --home /tmp/bench-audience [--people 10000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

# benchmarks/feature_store.py is named like the `features` package: this folder goes last on the
# path so the package wins.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

MODELS = {
    "ranker": {"snapshots": 2, "lightgbm": {"max_trees": 60}},
    "propensity": {"horizon_days": 60, "snapshots": 3, "every_days": 20,
                   "lightgbm": {"max_trees": 300}},
}  # fmt: skip


def set_up(settings, people: int, at: str) -> None:
    """A home with a materialised store and a promoted propensity model."""
    from features.identity.resolve import resolve_profiles
    from features.ingest import ingest_folder
    from features.world import WorldConfig, generate_world
    from training.config import ModelsConfig
    from training.tracking import promote
    from training.train import train_warehouse

    if people > 20_000:
        raise SystemExit("this machine is shared: at most 20,000 people")
    world = settings.home / "world"
    generate_world(WorldConfig(people=people, seed=settings.seed), world)
    ingest_folder(settings, world)
    resolve_profiles(settings)
    train_warehouse(settings, ModelsConfig(**MODELS))
    promote(settings, "propensity")


def timed(run, repeats: int) -> tuple[float, object]:
    """Median wall seconds of `repeats` runs, and the last result."""
    seconds, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - started)
    return round(statistics.median(seconds), 4), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--at", default="2025-12-01")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from features.errors import NotFoundError
    from features.online.realtime import apply_event
    from features.online.store import OnlineStore
    from features.settings import load_settings
    from serving.activation.audience import build_audience
    from serving.activation.requests import AudienceRequest, SuppressionRequest
    from serving.activation.scores import load_propensity, score_profiles
    from serving.activation.suppression import build_suppression

    settings = load_settings(home=args.home)
    try:
        model, version = load_propensity(settings)
    except NotFoundError:
        set_up(settings, args.people, args.at)
        model, version = load_propensity(settings)
    from features.online.materialize import materialize

    materialize(settings, args.at)
    (settings.home / "activation.sqlite").unlink(missing_ok=True)
    report: dict[str, object] = {"home": str(args.home), "at": args.at}
    store = OnlineStore(settings)
    day_later = str(pd.Timestamp(args.at) + pd.Timedelta(days=1, hours=9))

    def score(at):
        return score_profiles(settings, model=model, model_version=version, at=at, store=store)

    report["score_fresh_s"], scored = timed(lambda: score(args.at), 1)
    report["profiles"], report["targets"] = scored.profiles, len(scored.targets)
    report["score_day_later_s"], _ = timed(lambda: score(day_later), 1)
    at = day_later
    con = store.con
    product, category = con.execute(
        "SELECT product_id, category FROM log_purchases WHERE quantity > 0 "
        "GROUP BY product_id ORDER BY COUNT(*) DESC, product_id LIMIT 1"
    ).fetchone()
    biggest = con.execute(
        "SELECT category FROM log_purchases WHERE quantity > 0 GROUP BY category "
        "ORDER BY COUNT(DISTINCT entity_id) DESC LIMIT 1"
    ).fetchone()[0]
    email = AudienceRequest(target="any", top_n=max(1, scored.profiles // 10), channel="email",
                            product_id=product, frequency_cap_days=14, preview=True)  # fmt: skip
    ads = AudienceRequest(target="any", min_score=0.0, channel="ads", format="hashed",
                          platform="google", category=category)  # fmt: skip
    for name, request in (("audience_email", email), ("audience_ads_hashed", ads)):
        seconds, result = timed(
            lambda r=request: build_audience(settings, r, at=at, store=store), args.repeats
        )
        report[f"{name}_s"] = seconds
        report[f"{name}_counts"] = result.counts.model_dump()
    suppression = SuppressionRequest(category=biggest, platform="meta")
    seconds, listed = timed(lambda: build_suppression(settings, suppression, at=at, store=store),
                            args.repeats)  # fmt: skip
    report["suppression_s"], report["suppression_counts"] = seconds, listed.counts.model_dump()

    customers = [r[0] for r in con.execute(
        "SELECT identifier_value FROM identifiers WHERE identifier_type = 'customer_id' "
        "ORDER BY identifier_value LIMIT 20").fetchall()]  # fmt: skip
    latencies, audiences = [], []
    for n, customer in enumerate(customers):
        started = time.perf_counter()
        applied = apply_event(store, "orders", {
            "order_id": f"bench_{n}", "customer_id": customer, "ordered_at": at, "channel": "web",
            "lines": [{"line_number": 1, "product_id": product, "quantity": 1,
                       "unit_price": 10.0}]}, at=at)  # fmt: skip
        score_profiles(settings, model=model, model_version=version,
                       profile_ids=applied.affected, at=at, store=store)  # fmt: skip
        latencies.append(time.perf_counter() - started)
        started = time.perf_counter()
        build_audience(settings, email, at=at, store=store)
        audiences.append(time.perf_counter() - started)
    report["event_apply_and_rescore_p50_s"] = round(statistics.median(latencies), 4)
    report["audience_after_event_p50_s"] = round(statistics.median(audiences), 4)
    store.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
