"""How the linkage model trains on whatever roles a table has: EM sessions, the prior, and
whether surname and place are scored together."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from features.identity.dependence import DEPENDENT_SHARE, household_share, place_shares
from features.identity.em_sessions import (
    MIN_EM_PAIRS,
    TrainableComparison,
    active_comparisons,
    choose_em_rules,
    deterministic_rules,
)


def comparison(name: str, *columns: str, trainable: bool = True) -> TrainableComparison:
    return TrainableComparison(name, frozenset(columns), trainable)


# Names and a place, as FEBRL has them: the surname is scored with the place, and a session
# blocked on a name fixes both name comparisons.
NAMES_AND_PLACE = [
    comparison("first_name", "first_name", "first_name_aliases"),
    comparison("surname_location", "last_name", "postcode", "address"),
    comparison("surname_rarity", "last_name", trainable=False),
    comparison("dob", "dob"),
]


def test_every_session_leaves_two_comparisons_and_all_are_trained() -> None:
    candidates = [("dob",), ("first_name", "last_name"), ("first_name", "postcode"),
                  ("postcode",), ("address",)]  # fmt: skip
    rules, untrained = choose_em_rules(NAMES_AND_PLACE, candidates, lambda rule: 10_000)
    # The name blocks would leave only the birth date: EM cannot tell matches apart with one
    # comparison (it learns that matches never differ in it), so they are skipped.
    assert ("first_name", "last_name") not in rules
    assert ("first_name", "postcode") not in rules
    assert rules == [("dob",), ("postcode",), ("address",)]
    assert all(len(active_comparisons(NAMES_AND_PLACE, rule)) >= 2 for rule in rules)
    assert untrained == []


def test_a_block_with_too_few_pairs_is_not_a_session() -> None:
    candidates = [("dob",), ("postcode",)]
    counts = {("dob",): 10_000, ("postcode",): MIN_EM_PAIRS - 1}
    rules, untrained = choose_em_rules(NAMES_AND_PLACE, candidates, counts.__getitem__)
    assert rules == [("dob",)]
    assert untrained == ["dob"]  # only a postcode block could have trained it


def test_later_sessions_only_when_they_train_something_new() -> None:
    comparisons = [comparison(c, c) for c in ("first_name", "last_name", "dob", "email")]
    candidates = [("email",), ("dob",), ("first_name",), ("last_name",)]
    asked = []
    rules, _ = choose_em_rules(comparisons, candidates, lambda rule: asked.append(rule) or 10_000)
    assert rules == [("email",), ("dob",), ("first_name",)]  # three, all trained by then
    assert asked == rules  # the fourth block is not even counted


def test_the_prior_is_never_estimated_from_a_rule_on_every_compared_column() -> None:
    # Records equal on all compared columns are one record to Splink: such a rule finds none.
    rules = deterministic_rules({"first_name", "last_name", "dob", "first_name_aliases"}, ())
    sqls = [rule.get_blocking_rule("duckdb").blocking_rule_sql for rule in rules]
    assert sqls and not any("dob" in sql for sql in sqls)
    with_place = deterministic_rules({"first_name", "last_name", "dob", "postcode"}, ())
    assert any("dob" in r.get_blocking_rule("duckdb").blocking_rule_sql for r in with_place)


def _people(households: bool, n: int = 6000, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    surnames = [f"surname{i}" for i in range(150)]
    # Unlike one another, as real first names mostly are (the lift skips similar ones).
    firsts = ["".join(rng.choice(letters, 7)) for _ in range(300)]
    rows = []
    for h in range(n // 3):
        surname = surnames[rng.integers(len(surnames))]
        address = f"{h} some street"
        for _member in range(3):
            rows.append({
                "first_name": firsts[rng.integers(len(firsts))],
                "last_name": surname if households else surnames[rng.integers(len(surnames))],
                "address": address if households else f"{rng.integers(n // 3)} some street",
                "dob": pd.Timestamp("1940-01-01") + pd.Timedelta(days=int(rng.integers(25000))),
            })  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize("households", [True, False])
def test_households_are_told_from_independent_records(households: bool) -> None:
    con = duckdb.connect()
    con.register("people", _people(households))
    share = household_share(con, "people", {"first_name", "last_name", "address", "dob"})
    assert share is not None
    assert (share > DEPENDENT_SHARE) == households, share


def test_a_postcode_that_tells_the_city_is_dependent() -> None:
    people = _people(False)
    number = people["address"].str.extract(r"^(\d+)")[0].astype(int)
    rng = np.random.default_rng(3)
    people["postcode"] = (number // 10).astype(str)  # ten addresses to a postcode
    people["city"] = (number // 100).astype(str)  # ten postcodes to a city
    people["state"] = rng.integers(0, 400, len(people)).astype(str)  # drawn on its own
    con = duckdb.connect()
    con.register("people", people)
    columns = {"first_name", "dob", "address", "postcode", "city"}
    shares = place_shares(con, "people", columns)
    # The first pair decides: the others are not measured.
    assert list(shares) == ["address+postcode"] and shares["address+postcode"] > DEPENDENT_SHARE
    con.register("no_address", people.drop(columns="address"))
    shares = place_shares(con, "no_address", columns - {"address"})
    assert shares["postcode+city"] > DEPENDENT_SHARE, shares
    drawn = people.drop(columns=["city", "address"]).rename(columns={"state": "city"})
    con.register("drawn", drawn)
    independent = place_shares(con, "drawn", columns - {"address"})
    assert (independent["postcode+city"] or 0.0) < DEPENDENT_SHARE, independent


def test_dependence_needs_both_attributes() -> None:
    con = duckdb.connect()
    con.register("people", _people(True)[["first_name", "dob"]])
    assert household_share(con, "people", {"first_name", "dob"}) is None


def parameters(model) -> list[float]:
    """Every level's m and u, in order (1.0 where a level has none)."""
    return [
        probability if probability is not None else 1.0
        for comparison in model.settings_["comparisons"]
        for level in comparison["comparison_levels"]
        for probability in (level.get("m_probability"), level.get("u_probability"))
    ]


def test_a_copy_of_the_records_scores_every_pair_as_splinks_own_view_does() -> None:
    from features.identity.model import IdentityModel
    from tests.features.identity.test_chance import COLUMNS, households

    records = households(300, seed=3)
    fitted = {
        copy: IdentityModel(seed=1, copy_records=copy).fit({"records": records}, COLUMNS)
        for copy in (True, False)
    }
    pairs = ["unique_id_l", "unique_id_r"]
    scored = {
        copy: model.predict()
        .as_pandas_dataframe()[[*pairs, "match_probability"]]
        .sort_values(pairs)
        .reset_index(drop=True)
        for copy, model in fitted.items()
    }
    assert len(scored[True]) > 100
    # Equal up to the order DuckDB sums in (1e-15 here): the same m and u, the same pairs and
    # probabilities.
    assert parameters(fitted[True]) == pytest.approx(parameters(fitted[False]), rel=1e-9)
    pd.testing.assert_frame_equal(scored[True], scored[False], rtol=1e-9)
    # The pool the write takes from the copy: every record, columns in order, ids as keys.
    pool = fitted[True].records_arrow().to_pandas()
    assert list(pool.columns) == ["key", *records.columns.drop("record_id")]
    assert pool["key"].tolist() == records["record_id"].tolist()
    assert pool["last_name"].tolist() == records["last_name"].tolist()
