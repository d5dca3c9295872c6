"""Split a generated world into a base and a later delta, for incremental identity tests.

The generator writes one snapshot; an incremental run needs "what arrived since". `hold_back`
moves a seeded random share of every person source's rows (shop accounts, CRM contacts,
subscribers, orders) into a delta folder, together with what depends on them: the orders and
order lines of a held-back account, and the events and calls of held-back accounts,
subscribers and contacts. A share of the other events is held back too, so the delta also
carries fresh activity of people already known. Truth stays with the original world.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

_PERSON_KEYS = {
    "shop_customers": "customer_id",
    "crm_contacts": "contact_id",
    "email_subscribers": "subscriber_id",
    "orders": "order_id",
}
# event file -> (column, person source whose held-back ids pull the row into the delta)
_DEPENDENTS = {
    "web_events": (("user_id", "shop_customers"), ("subscriber_id", "email_subscribers")),
    "app_events": (("user_id", "shop_customers"), ("subscriber_id", "email_subscribers")),
    "email_events": (("subscriber_id", "email_subscribers"),),
    "call_center_interactions": (("contact_id", "crm_contacts"),),
    "consents": (),
}


@dataclass
class DeltaSplit:
    """Rows written per file to the base and the delta folder."""

    base: dict[str, int]
    delta: dict[str, int]

    @property
    def delta_person_records(self) -> int:
        """Person-source rows in the delta (what `cdp resolve --incremental` has to link)."""
        return sum(self.delta.get(name, 0) for name in _PERSON_KEYS)


def hold_back(
    world: Path, base_dir: Path, delta_dir: Path, *, fraction: float = 0.01, seed: int = 7
) -> DeltaSplit:
    """Write `world`'s Parquet source files to `base_dir` minus a held-back `fraction`, and the
    held-back rows (same file names) to `delta_dir`. Deterministic for a given seed."""
    rng = np.random.default_rng(seed)
    base_dir.mkdir(parents=True, exist_ok=True)
    delta_dir.mkdir(parents=True, exist_ok=True)
    tables = {path.stem: pq.read_table(path) for path in sorted(world.glob("*.parquet"))}
    held: dict[str, pa.Array] = {}
    masks: dict[str, np.ndarray] = {}
    for name, key in _PERSON_KEYS.items():
        mask = rng.random(tables[name].num_rows) < fraction
        if name == "orders":  # an account created later brings its orders with it
            customers = tables[name].column("customer_id")
            mask |= _isin(customers, held["shop_customers"])
        masks[name] = mask
        held[name] = tables[name].column(key).filter(pa.array(mask))
    if "order_lines" in tables:
        masks["order_lines"] = _isin(tables["order_lines"].column("order_id"), held["orders"])
    for name, links in _DEPENDENTS.items():
        if name in tables:
            mask = rng.random(tables[name].num_rows) < fraction
            for column, source in links:
                mask |= _isin(tables[name].column(column), held[source])
            masks[name] = mask
    split = DeltaSplit({}, {})
    for name, table in tables.items():
        mask = pa.array(masks.get(name, np.zeros(table.num_rows, dtype=bool)))
        base, delta = table.filter(pc.invert(mask)), table.filter(mask)
        pq.write_table(base, base_dir / f"{name}.parquet")
        split.base[name] = base.num_rows
        if delta.num_rows:
            pq.write_table(delta, delta_dir / f"{name}.parquet")
            split.delta[name] = delta.num_rows
    return split


def _isin(column: pa.ChunkedArray, values: pa.Array) -> np.ndarray:
    found = pc.fill_null(pc.is_in(column, value_set=values), False)
    return found.to_numpy(zero_copy_only=False)
