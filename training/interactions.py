"""What the models learn from: purchases and product interest, read once from a feature source.

Rows come from the event-log relations of features.event_log (the warehouse's profiles or a
transactions file's customers), cut at `known_at < before`: a model fitted at a cutoff never sees
a row that was not known by then. Snapshots inside the training window are cut again in memory
(`Interactions.before`), which keeps every as-of moment on the same point-in-time rule.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.event_log import relation_sql, to_us
from features.offline import FeatureSource

PURCHASE_COLUMNS = ["entity_id", "order_id", "product_id", "category", "quantity",
                    "amount_cents", "t", "known_at"]  # fmt: skip
INTEREST_TYPES = ("product_view", "add_to_cart")


@dataclass
class Interactions:
    """Purchases (order lines; negative quantity = return) and product views/cart adds."""

    purchases: pd.DataFrame
    interest: pd.DataFrame
    names: dict[str, str] = field(default_factory=dict)

    def before(self, as_of_us: int) -> Interactions:
        """The rows known before `as_of_us` (microseconds)."""
        return Interactions(
            self.purchases[self.purchases["known_at"] < as_of_us],
            self.interest[self.interest["known_at"] < as_of_us],
            self.names,
        )

    @property
    def bought(self) -> pd.DataFrame:
        """Purchase lines with a positive quantity (returns left out)."""
        return self.purchases[self.purchases["quantity"] > 0]

    def categories(self) -> dict[str, str]:
        """product_id -> category, for products with one."""
        known = self.purchases.dropna(subset=["category"])
        return dict(zip(known["product_id"], known["category"], strict=True))

    def fingerprint(self) -> str:
        """A short hash of every row: two runs on equal data have equal fingerprints."""
        digest = hashlib.sha256()
        for frame in (self.purchases, self.interest):
            hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
            digest.update(np.sort(hashed).tobytes())
        return digest.hexdigest()[:16]


def load_interactions(source: FeatureSource, before: object) -> Interactions:
    """Every purchase (and view or cart add, where the source has behaviour) known before
    `before`, ordered so that equal inputs give equal frames."""
    before_us = to_us(before)
    purchases = source.con.execute(
        f"SELECT {', '.join(PURCHASE_COLUMNS)} FROM ({relation_sql('purchases', one_entity=False)})"
        " p WHERE known_at < $before AND entity_id IS NOT NULL AND product_id IS NOT NULL "
        "ORDER BY entity_id, t, order_id, product_id, quantity",
        {"before": before_us},
    ).df()
    purchases["order_id"] = purchases["order_id"].astype(str)
    interest = pd.DataFrame(
        {"entity_id": pd.Series(dtype=str), "product_id": pd.Series(dtype=str),
         "type": pd.Series(dtype=str), "t": pd.Series(dtype="int64"),
         "known_at": pd.Series(dtype="int64")}
    )  # fmt: skip
    if "behaviour" in source.catalogue.relations:
        types = ", ".join(f"'{t}'" for t in INTEREST_TYPES)
        interest = source.con.execute(
            "SELECT entity_id, product_id, type, t, known_at FROM "
            f"({relation_sql('behaviour', one_entity=False)}) b WHERE known_at < $before AND "
            f"entity_id IS NOT NULL AND product_id IS NOT NULL AND type IN ({types}) "
            "ORDER BY entity_id, t, product_id, type",
            {"before": before_us},
        ).df()
    return Interactions(purchases, interest, _product_names(source))


def _product_names(source: FeatureSource) -> dict[str, str]:
    """Product names where the source has them (the warehouse catalog, or a names table)."""
    tables = {row[0] for row in source.con.execute("SHOW TABLES").fetchall()}
    for table, column in (("products", "name"), ("byo_names", "name")):
        if table in tables:
            rows = source.con.execute(
                f"SELECT product_id, {column} FROM {table} WHERE {column} IS NOT NULL"
            ).fetchall()
            return {str(p): str(n) for p, n in rows}
    return {}
