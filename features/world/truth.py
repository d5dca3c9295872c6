"""Ground truth: who every anonymous identifier belongs to, and each person's true identity.

These files are what identity resolution and the behaviour models are judged against; they are
never input to the product. Records' truth is built next to each source file (records.py,
commerce.py).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.world.catalog import TIER_NAMES, Catalog
from features.world.clock import NULL_US, Clock
from features.world.config import WorldConfig
from features.world.geo import Geography, render_addresses
from features.world.names import NamePools
from features.world.noise import format_e164
from features.world.population import CHILD, HEAD, PARTNER, Population
from features.world.strings import (
    build_ids,
    count_id_digits,
    set_null_where,
    take,
    to_dates,
    to_timestamps,
    to_vocabulary,
)


def build_anonymous_truth(pairs: list[pa.Table], person_ids: pa.Array) -> pa.Table:
    """One row per (identifier, person) pair seen in web and app events, sorted."""
    table = pa.concat_tables(pairs)
    table = pa.table(
        {
            "identifier_type": table.column("identifier_type"),
            "identifier_value": table.column("identifier_value"),
            "person_id": person_ids.take(table.column("person")),
        }
    )
    return table.sort_by(
        [
            ("identifier_type", "ascending"),
            ("identifier_value", "ascending"),
            ("person_id", "ascending"),
        ]
    )


def _to_optional_timestamps(clock: Clock, days: np.ndarray, present: np.ndarray) -> pa.Array:
    return to_timestamps(np.where(present, clock.to_us(np.where(present, days, 0)), NULL_US))


def build_people_truth(
    cfg: WorldConfig, clock: Clock, geo: Geography, pools: NamePools, catalog: Catalog,
    pop: Population, person_ids: pa.Array, rng: np.random.Generator,
) -> pa.Table:  # fmt: skip
    """truth/people: identity as it really is, the identity history, and the latent traits."""
    n = pop.size
    line, city, postcode = render_addresses(geo, pop.addresses, pop.address, rng, 0.0)
    moved = pop.previous_address >= 0
    old = np.where(moved, pop.previous_address, 0)
    old_line, old_city, old_postcode = render_addresses(geo, pop.addresses, old, rng, 0.0)
    roles = np.select([pop.role == HEAD, pop.role == PARTNER, pop.role == CHILD], [0, 1, 2])
    churned = pop.churn_day < clock.horizon
    columns: dict[str, pa.Array] = {
        "person_id": person_ids,
        "household_id": build_ids(
            "hh_", pop.household + 1, count_id_digits(int(pop.household.max()) + 1)
        ),
        "first_name": take(pools.first, pop.first_name),
        "last_name": take(pools.last, pop.last_name),
        "gender": take(to_vocabulary(["F", "M"]), pop.male.astype(np.int8)),
        "date_of_birth": to_dates(pop.birth_day),
        "household_role": take(to_vocabulary(["head", "partner", "child"]), roles),
        "household_size": pa.array(pop.household_size, type=pa.int8()),
        "is_twin": pa.array(pop.twin),
        "maiden_name": take(pools.last, pop.maiden_name),
        "name_changed_at": _to_optional_timestamps(
            clock, pop.name_changed_day, pop.maiden_name >= 0
        ),
        "email": pop.email,
        "other_email": pop.other_email,
        "mobile_phone": format_e164(pop.mobile),
        "landline_phone": format_e164(pop.landline),
        "address_line": line,
        "city": city,
        "postcode": postcode,
        "state": take(to_vocabulary(geo.state_codes), pop.addresses.state(geo, pop.address)),
        "previous_address_line": set_null_where(old_line, ~moved),
        "previous_city": set_null_where(old_city, ~moved),
        "previous_postcode": set_null_where(old_postcode, ~moved),
        "moved_at": _to_optional_timestamps(clock, pop.moved_day, moved),
        "first_seen_at": _to_optional_timestamps(clock, pop.first_seen_day, np.ones(n, bool)),
        "churned_at": _to_optional_timestamps(clock, pop.churn_day, churned),
        "churn_hazard": pa.array(pop.churn_hazard, type=pa.float64()),
        "purchase_rate": pa.array(pop.purchase_rate, type=pa.float64()),
        "price_band": take(to_vocabulary(TIER_NAMES), pop.price_band),
        "web_propensity": pa.array(pop.web_propensity, type=pa.float64()),
        "app_user": pa.array(pop.app_user),
        "app_propensity": pa.array(np.where(pop.app_user, pop.app_propensity, 0.0)),
        "email_open_propensity": pa.array(pop.email_open_propensity, type=pa.float64()),
        "email_click_propensity": pa.array(pop.email_click_propensity, type=pa.float64()),
        "call_propensity": pa.array(pop.call_propensity, type=pa.float64()),
    }
    for k, name in enumerate(catalog.category_names):
        columns[f"affinity_{name}"] = pa.array(pop.affinity[:, k], type=pa.float32())
    table = pa.table(columns)
    # Round floats so the file is compact and stable to read; the values are latent, not money.
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_float64(column.type):
            table = table.set_column(table.column_names.index(name), name, pc.round(column, 6))
    return table
