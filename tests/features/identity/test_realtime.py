"""Real-time matching equals Splink's own scoring, and finds the profile resolve found."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from splink import DuckDBAPI, Linker

from features.identity.realtime import _QUERY, RealtimeMatcher
from features.settings import load_settings
from tests.features.identity.conftest import query_warehouse


@pytest.fixture(scope="module")
def matcher(resolved) -> RealtimeMatcher:
    home, _ = resolved
    return RealtimeMatcher(load_settings(home=home))


@pytest.mark.slow
def test_probabilities_equal_splinks_own_scoring(matcher) -> None:
    pool = matcher.pool.drop(columns=["profile_id"]).rename(columns={"key": "unique_id"})
    db_api = DuckDBAPI()
    linker = Linker(db_api.register(pool), json.loads(json.dumps(matcher.model)),
                    log_level=logging.ERROR)  # fmt: skip
    splink_pairs = linker.inference.predict().as_pandas_dataframe()
    sample = splink_pairs.sample(n=min(400, len(splink_pairs)), random_state=3)
    assert len(sample) >= 100
    differences = []
    for left, right, expected in zip(sample["unique_id_l"], sample["unique_id_r"],
                                     sample["match_probability"], strict=True):  # fmt: skip
        query = {**matcher.rows[left], "key": _QUERY}
        ours = matcher.score(query, [right])
        differences.append(abs(float(ours["match_probability"].iloc[0]) - expected))
    assert max(differences) < 1e-6, np.max(differences)


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
