"""The catalogue's declarations and the portability of the SQL compiled from them."""

from __future__ import annotations

import re
import sqlite3

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.compile import (
    compile_expiry,
    compile_features,
    compile_labels,
    compile_owned_products,
    parameters,
)
from features.definitions import RELATIONS, Feature, category_slugs
from features.errors import ContractError
from features.event_log import LOG_TABLES, from_us, to_us
from features.online.realtime import round_half_away
from features.views import build_catalogue

CATEGORIES = ["tents", "sleeping_bags", "Trail Running", "socks"]
NAME = re.compile(r"^[a-z]+__[a-z0-9_]+__(1d|7d|30d|90d|365d|all)$")


def full_catalogue():
    return build_catalogue("profile_id", CATEGORIES, RELATIONS, ("web", "app"))


def test_names_follow_group_name_window_and_are_unique() -> None:
    catalogue = full_catalogue()
    columns = catalogue.columns
    assert len(columns) == len(set(columns))
    assert all(NAME.match(c) for c in columns), [c for c in columns if not NAME.match(c)]
    assert "category__spend_share_trail_running__365d" in columns
    groups = {c.split("__")[0] for c in columns}
    assert groups == {"rfm", "category", "owned", "price", "channel", "behaviour", "email",
                      "calls", "tenure", "consent"}  # fmt: skip


def test_consent_flags_are_kept_beside_not_model_inputs() -> None:
    catalogue = full_catalogue()
    consent = [c for c in catalogue.columns if c.startswith("consent__")]
    assert consent and not set(consent) & set(catalogue.model_inputs)
    assert len(catalogue.model_inputs) == len(catalogue.columns) - len(consent)


def test_transactions_alone_give_the_purchase_features() -> None:
    catalogue = build_catalogue("customer_id", ["a", "b"], ("purchases",))
    groups = {c.split("__")[0] for c in catalogue.columns}
    assert groups == {"rfm", "category", "owned", "price", "tenure"}
    assert catalogue.entity_key == "customer_id"


def test_bad_declarations_are_refused() -> None:
    with pytest.raises(ValueError, match="snake_case"):
        Feature("rfm", "Orders", "30d", "x", "COUNT(*)")
    with pytest.raises(ValueError, match="window"):
        Feature("rfm", "orders", "2w", "x", "COUNT(*)")
    with pytest.raises(ContractError, match="collide"):
        category_slugs(["Trail Running", "trail-running"])


def _log_schema(con) -> None:
    for table, columns in LOG_TABLES.items():
        con.execute(f"CREATE TABLE {table} ({', '.join(f'{n} {t}' for n, t in columns)})")


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_compiled_sql_runs_unchanged_on_two_engines(engine: str) -> None:
    catalogue = full_catalogue()
    con = sqlite3.connect(":memory:") if engine == "sqlite" else duckdb.connect()
    _log_schema(con)
    as_of = to_us("2025-06-01")
    for one in (False, True):
        for sql in (compile_features(catalogue, one_entity=one),
                    compile_expiry(catalogue, one_entity=one),
                    compile_owned_products(catalogue, one_entity=one)):  # fmt: skip
            extra = {"entity_id": "p1"} if one else {}
            assert con.execute(sql, parameters(sql, as_of, **extra)).fetchall() == []
    labels = compile_labels(catalogue)
    assert con.execute(labels, parameters(labels, as_of, label_end=as_of + 1)).fetchall() == []


def test_compiled_sql_avoids_engine_specific_syntax() -> None:
    catalogue = full_catalogue()
    sql = compile_features(catalogue) + compile_expiry(catalogue)
    for token in ("::", "GREATEST", "LEAST", "QUALIFY", "FILTER (", "epoch_", "//", "ILIKE"):
        assert token not in sql


@settings(max_examples=300, deadline=None)
@given(
    cents=st.integers(0, 10**7),
    scale=st.sampled_from([100, 1000]),
    quantity=st.integers(-5, 50),
)
def test_cents_round_like_sql(cents: int, scale: int, quantity: int) -> None:
    price = cents / scale
    expected = duckdb.execute(
        "SELECT CAST(ROUND(CAST(? AS DOUBLE) * 100) AS BIGINT)", [price]
    ).fetchone()[0]
    assert round_half_away(price * 100) == expected
    assert quantity * round_half_away(price * 100) == quantity * expected


def test_moments_are_utc_microseconds() -> None:
    assert to_us("1970-01-01T00:00:00.000001Z") == 1
    assert to_us("2025-01-01T01:00:00+01:00") == to_us("2025-01-01")
    assert from_us(to_us("2025-03-04T05:06:07.123456")).isoformat() == "2025-03-04T05:06:07.123456"
    with pytest.raises(ContractError):
        to_us("not a date")
