"""A small generated transactions file with real data's mess, for the model tests.

Customers have favourite products they rebuy at their own pace, products come in pairs that are
bought together, and the file carries what real exports carry: guest rows without a customer,
cancellations (negative quantities), exact duplicate lines, ids written as floats.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

START = pd.Timestamp("2024-01-01")
DAYS = 300
CUTOFF = "2024-09-01"
MAPPING = "customer_id=cust,product_id=sku,at=when,quantity=qty,price=unit_price,order_id=invoice"


def make_transactions(customers: int = 300, products: int = 80, seed: int = 5) -> pd.DataFrame:
    """Lines of a shop over DAYS days (see module docstring)."""
    rng = np.random.default_rng(seed)
    rows = []
    invoice = 0
    for c in range(customers):
        favourites = rng.choice(products, size=rng.integers(2, 8), replace=False)
        gap = rng.uniform(7, 60)
        day = rng.uniform(0, 60)
        while day < DAYS:
            invoice += 1
            basket = set(rng.choice(favourites, size=rng.integers(1, len(favourites) + 1)))
            basket |= {(p + 1) % products for p in basket if rng.random() < 0.5}  # complements
            if rng.random() < 0.3:
                basket.add(int(rng.integers(products)))
            moment = START + pd.Timedelta(days=float(day))
            for p in sorted(basket):
                rows.append((f"{invoice}", f"P{p:03d}", f"product {p}", int(rng.integers(1, 6)),
                             moment, round(1 + p * 0.37, 2), float(10000 + c)))  # fmt: skip
            day += rng.exponential(gap)
    frame = pd.DataFrame(rows, columns=["invoice", "sku", "name", "qty", "when", "unit_price",
                                        "cust"])  # fmt: skip
    guests = frame.sample(200, random_state=seed).assign(cust=np.nan, invoice="G")
    cancels = frame.sample(60, random_state=seed + 1)
    cancels = cancels.assign(invoice="C" + cancels["invoice"], qty=-cancels["qty"])
    duplicates = frame.sample(40, random_state=seed + 2)
    frame = pd.concat([frame, guests, cancels, duplicates], ignore_index=True)
    frame["when"] = frame["when"].dt.strftime("%Y-%m-%d %H:%M:%S")
    return frame.sort_values(["when", "invoice", "sku"], kind="stable", ignore_index=True)


@pytest.fixture(scope="session")
def transactions_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The messy transactions as Parquet."""
    path = tmp_path_factory.mktemp("tx") / "transactions.parquet"
    make_transactions().to_parquet(path, index=False)
    return path


SMALL_CONFIG = """
ranker:
  snapshots: 2
  every_days: 30
  lightgbm: {max_trees: 60}
propensity:
  snapshots: 3
  every_days: 20
  min_positives: 10
  isotonic_min_positives: 50
  lightgbm: {max_trees: 150, min_child_samples: 20}
"""


@pytest.fixture
def small_config(tmp_path: Path) -> Path:
    """A YAML config small enough for tests."""
    path = tmp_path / "models.yaml"
    path.write_text(SMALL_CONFIG)
    return path
