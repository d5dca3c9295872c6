"""Real-time matching equals Splink's own scoring, and finds the profile resolve found."""

from __future__ import annotations

import json
import logging

import duckdb
import numpy as np
import pandas as pd
import pytest
from splink import DuckDBAPI, Linker

from features.identity.realtime import RealtimeMatcher
from features.settings import load_settings
from tests.features.identity.conftest import query_warehouse


@pytest.fixture(scope="module")
def matcher(resolved) -> RealtimeMatcher:
    home, _ = resolved
    return RealtimeMatcher(load_settings(home=home))


@pytest.fixture(scope="module")
def splink_pairs(resolved, matcher) -> pd.DataFrame:
    """Every blocked pair as Splink's own predict scores it, from the same saved model."""
    home, _ = resolved
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        pool = con.sql("SELECT * EXCLUDE (profile_id) FROM identity_match_records").df()
    finally:
        con.close()
    db_api = DuckDBAPI()
    linker = Linker(db_api.register(pool.rename(columns={"key": "unique_id"})),
                    json.loads(json.dumps(matcher.model)), log_level=logging.ERROR)  # fmt: skip
    return linker.inference.predict().as_pandas_dataframe()


@pytest.mark.slow
def test_weights_and_probabilities_equal_splinks_own_scoring(matcher, splink_pairs) -> None:
    # A random sample, plus a few pairs of every level Splink chose, so rare levels are tested
    # too; weights as well as probabilities, since probabilities near 1 hide weight differences.
    gammas = [c for c in splink_pairs.columns if c.startswith("gamma_")]
    every_level = pd.concat(splink_pairs.groupby(g).head(3) for g in gammas)
    sample = pd.concat([splink_pairs.sample(n=min(400, len(splink_pairs)), random_state=3),
                        every_level]).drop_duplicates(["unique_id_l", "unique_id_r"])  # fmt: skip
    assert len(sample) >= 100
    levels_seen = sum(splink_pairs[g].nunique() for g in gammas)
    assert levels_seen >= 2 * len(gammas)
    weights, probabilities = [], []
    for left, right in zip(sample["unique_id_l"], sample["unique_id_r"], strict=True):
        ours = matcher.score(matcher.record(left), [right])
        weights.append(float(ours["match_weight"].iloc[0]))
        probabilities.append(float(ours["match_probability"].iloc[0]))
    weight_gap = np.abs(np.array(weights) - sample["match_weight"].to_numpy())
    probability_gap = np.abs(np.array(probabilities) - sample["match_probability"].to_numpy())
    assert weight_gap.max() < 1e-6, sample.iloc[int(weight_gap.argmax())].to_dict()
    assert probability_gap.max() < 1e-6, sample.iloc[int(probability_gap.argmax())].to_dict()


@pytest.mark.slow
def test_candidates_are_exactly_splinks_blocked_pairs(matcher, splink_pairs) -> None:
    partners: dict[str, set[str]] = {}
    for left, right in zip(splink_pairs["unique_id_l"], splink_pairs["unique_id_r"], strict=True):
        partners.setdefault(left, set()).add(right)
        partners.setdefault(right, set()).add(left)
    keys = sorted(partners)[:: max(1, len(partners) // 300)]
    assert len(keys) >= 100
    for key in keys:
        found = set(matcher.candidates_for(matcher.record(key))) - {key}
        if len(partners[key]) < matcher.max_candidates:
            assert found == partners[key], key
    stranger = matcher.record(keys[0]) | {c: None for c in matcher.types}
    assert matcher.candidates_for(stranger) == []


@pytest.mark.slow
def test_known_customers_match_their_resolved_profile_with_explanation(resolved, matcher) -> None:
    home, _ = resolved
    rows = query_warehouse(
        home, "SELECT customer_id, first_name, last_name, email, phone, postcode, address_line, "
              "city, CAST(date_of_birth AS VARCHAR) FROM shop_customers ORDER BY customer_id "
              "LIMIT 150",
    )  # fmt: skip
    index = dict(query_warehouse(home, "SELECT identifier_value, profile_id FROM identity_index "
                                       "WHERE identifier_type = 'customer_id'"))  # fmt: skip
    agree = 0
    for cid, first, last, email, phone, postcode, address, city, dob in rows:
        record = {"first_name": first, "last_name": last, "email": email, "phone": phone,
                  "postcode": postcode, "address": address, "city": city, "dob": dob}  # fmt: skip
        result = matcher.match(record)
        agree += result.profile_id == index[cid]
        if result.profile_id:
            assert result.match_probability >= matcher.threshold
            assert set(result.explanation) == {c["output_column_name"]
                                               for c in matcher.model["comparisons"]}  # fmt: skip
    assert agree >= 0.97 * len(rows)


def test_a_stranger_matches_nobody(matcher) -> None:
    stranger = {"first_name": "Quillon", "last_name": "Abernathy-Zee", "dob": "1901-01-01",
                "email": "q.az@nowhere-else.example.org"}  # fmt: skip
    result = matcher.match(stranger)
    assert result.profile_id is None


def test_match_command_prints_profile_and_evidence(resolved) -> None:
    import subprocess

    from tests.features.identity.conftest import CDP

    home, _ = resolved
    [(email, profile_id)] = query_warehouse(
        home, "SELECT identifier_value, profile_id FROM identity_index "
              "WHERE identifier_type = 'email' ORDER BY 1 LIMIT 1",
    )  # fmt: skip
    result = subprocess.run([CDP, "--home", str(home), "identity", "match", "--email", email],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["explanation"]["email"]["level"].startswith("Exact match")
    assert answer["profile_id"] in (profile_id, None)
    empty = subprocess.run([CDP, "--home", str(home), "identity", "match"],
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert empty.returncode == 2 and "at least one attribute" in empty.stderr


@pytest.mark.slow
def test_a_tight_candidate_cap_keeps_the_answer(resolved, matcher) -> None:
    # Over the cap, candidates sharing the most blocking keys are kept: even 3 of them give
    # the answer all candidates give, for records missing their email and phone.
    home, _ = resolved
    capped = RealtimeMatcher(load_settings(home=home), max_candidates=3)
    rows = query_warehouse(
        home, "SELECT first_name, last_name, postcode, address_line, city, "
              "CAST(date_of_birth AS VARCHAR) FROM shop_customers ORDER BY customer_id LIMIT 150",
    )  # fmt: skip
    over, agree = 0, 0
    for first, last, postcode, address, city, dob in rows:
        record = {"first_name": first, "last_name": last, "postcode": postcode,
                  "address": address, "city": city, "dob": dob}  # fmt: skip
        full, tight = matcher.match(record), capped.match(record)
        assert tight.candidates <= 3
        over += full.candidates > 3
        agree += full.profile_id == tight.profile_id
    assert over >= 20
    assert agree == len(rows)
