"""Load on the real service: next-best-offer lookups for random known identifiers on loopback.

Starts `cdp serve` on a built home (`cdp run --no-serve` first), waits for /readyz, makes an
agent key, then:
  1. wrk at fixed concurrency (default 32 connections, 2 wrk threads) for --duration seconds;
  2. the paced open-loop client (benchmarks/wrk_load.run_paced) at --rate requests/s;
  3. event-to-visible: a purchase POSTed to /events, then lookups until the product shows as
     suppressed; median and max over --events trials.
Prints rps, p50/p95/p99 and errors for each. Goal (issue #6, 2 cores): p99 <= 50 ms at
>= 500 rps with 0 errors; event-to-visible <= 1 s.

    .venv/bin/python benchmarks/serve_load.py --home /tmp/svc --duration 20 --rate 500
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

# This folder has a features.py: put it last so `features` is the package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]
from serve_tail import free_port  # noqa: E402
from wrk_load import run_paced, run_wrk  # noqa: E402

from features.settings import load_settings  # noqa: E402
from serving.keys import add_key  # noqa: E402

CDP = str(Path(sys.executable).parent / "cdp")


def identifiers(home: Path, count: int, seed: int) -> list[dict[str, str]]:
    """Random identifiers that name exactly one profile: emails, phones, shop and CRM ids,
    profile ids, in the proportions the store holds them."""
    con = sqlite3.connect(home / "online.sqlite")
    rows = con.execute(
        "SELECT identifier_type, identifier_value FROM identifiers WHERE identifier_type IN "
        "('email', 'phone', 'customer_id', 'contact_id', 'subscriber_id') "
        "GROUP BY identifier_type, identifier_value HAVING COUNT(DISTINCT entity_id) = 1"
    ).fetchall()
    rows += [("profile_id", r[0]) for r in con.execute("SELECT profile_id FROM profiles")]
    con.close()
    rows.sort()
    random.Random(seed).shuffle(rows)
    return [{"type": t, "value": v} for t, v in rows[:count]]


def start(home: Path, port: int, log: Path) -> subprocess.Popen:
    """`cdp serve` on the home; returns when /readyz answers 200."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    env["CDP_HOME"] = str(home)
    process = subprocess.Popen([CDP, "serve", "--port", str(port)], env=env,
                               stdout=log.open("w"), stderr=subprocess.STDOUT,
                               start_new_session=True)  # fmt: skip
    started = time.monotonic()
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"cdp serve exited; see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                print(f"ready after {time.monotonic() - started:.1f}s")
                return process
        except httpx.TransportError:
            pass
        if time.monotonic() - started > 900:
            raise RuntimeError("not ready in 900 s")
        time.sleep(0.5)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to `cdp serve` and its workers (BentoML starts them in sessions of their own)."""
    import psutil

    family = psutil.Process(process.pid).children(recursive=True)
    os.killpg(process.pid, signal.SIGTERM)
    for child in family:
        child.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    for child in psutil.wait_procs(family, timeout=30)[1]:
        child.kill()


def event_to_visible(base: str, home: Path, agent: str, admin: str, trials: int) -> list[float]:
    """Seconds from sending a purchase to the next lookup showing it, per trial."""
    con = sqlite3.connect(home / "online.sqlite")
    accounts = con.execute(
        "SELECT identifier_value FROM identifiers WHERE identifier_type = 'customer_id' "
        "ORDER BY identifier_value LIMIT ?", (trials,)
    ).fetchall()  # fmt: skip
    con.close()
    seconds = []
    with httpx.Client(timeout=10) as client:
        for n, (customer,) in enumerate(accounts):
            lookup = {"identifier": {"type": "customer_id", "value": customer}, "k": 3}
            answer = client.post(f"{base}/next_best_offer", json=lookup,
                                 headers={"Authorization": f"Bearer {agent}"}).json()  # fmt: skip
            product = answer["offers"][0]["product_id"]
            order = {"order_id": f"ord_bench_{time.time_ns()}_{n}", "customer_id": customer,
                     "channel": "web", "ordered_at": datetime.now(UTC).isoformat(),
                     "lines": [{"line_number": 1, "product_id": product, "quantity": 1,
                                "unit_price": 9.5}]}  # fmt: skip
            started = time.perf_counter()
            client.post(f"{base}/events", json={"events": [{"source": "orders", "event": order}]},
                        headers={"Authorization": f"Bearer {admin}"})  # fmt: skip
            while True:
                seen = client.post(f"{base}/next_best_offer", json=lookup,
                                   headers={"Authorization": f"Bearer {agent}"}).json()  # fmt: skip
                if product in {s["product_id"] for s in seen["suppressed"]}:
                    break
                if time.perf_counter() - started > 10:
                    break
            seconds.append(time.perf_counter() - started)
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="A home built by cdp run.")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--identifiers", type=int, default=2000)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    home = args.home.resolve()
    settings = load_settings(home=home)
    agent = add_key(settings, "agent")[1]
    admin = add_key(settings, "admin")[1]
    bodies = [{"identifier": i, "k": 5} for i in identifiers(home, args.identifiers, args.seed)]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start(home, port, home / "serve_load.log")
    results: dict[str, object] = {"identifiers": len(bodies)}
    try:
        run_wrk(f"{base}/next_best_offer", bodies, api_key=agent, connections=4, duration_s=3)
        results["fixed_concurrency"] = run_wrk(
            f"{base}/next_best_offer", bodies, api_key=agent, connections=args.connections,
            duration_s=args.duration)  # fmt: skip
        results["fixed_rate"] = run_paced(
            f"{base}/next_best_offer", bodies, rate=args.rate, duration_s=args.duration,
            api_key=agent)  # fmt: skip
        visible = event_to_visible(base, home, agent, admin, args.events)
        results["event_to_visible_s"] = {
            "median": round(statistics.median(visible), 4), "max": round(max(visible), 4),
            "trials": len(visible),
        }  # fmt: skip
    finally:
        stop(process)
    print(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
