"""u of the levels too rare for the random sample: counted within their blocks, stable."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from features.identity.chance import blocks_of
from features.identity.model import IdentityModel

COLUMNS = {"first_name", "last_name", "dob", "email", "phone", "postcode", "city", "address"}
FIRST = ["anna", "ben", "carl", "dora", "emil", "fay", "gus", "hana", "ivo", "jill", "kurt",
         "lena", "milo", "nora", "otto", "pia", "rolf", "sara", "theo", "uma"]  # fmt: skip


def households(people: int, seed: int) -> pd.DataFrame:
    """Pairs of housemates (one surname, one address), each person with one to three records."""
    rng = np.random.default_rng(seed)
    rows = []
    surnames = rng.integers(people // 5, size=people // 2 + 1)  # shared by a few homes each
    firsts = rng.integers(len(FIRST), size=people + 1)
    for person in range(people):
        home = person // 2
        housemate = person + 1 if person % 2 == 0 else person - 1
        dob = pd.Timestamp("1950-01-01") + pd.Timedelta(days=int(rng.integers(20_000)))
        for copy in range(int(rng.integers(1, 4))):
            rows.append({
                "record_id": f"r{person}_{copy}",
                # one record in ten under the housemate's name (an order for them)
                "first_name": FIRST[firsts[housemate if rng.random() < 0.1 else person]],
                "last_name": f"sur{surnames[home]}",
                "dob": dob if copy != 1 else None,
                "email": f"p{person}@mail.test" if copy != 2 else f"p{person}x@mail.test",
                "phone": f"07{person:09d}" if copy != 2 else None,
                "postcode": f"pc{home % 150}",
                "city": f"city{home % 15}",
                "address": f"{home} main street",
            })  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["dob"] = pd.to_datetime(frame["dob"])
    frame["first_name_aliases"] = [[] for _ in range(len(frame))]
    frame["email_user"] = frame["email"].str.split("@").str[0]
    return frame


def level(model: IdentityModel, comparison: str, label: str):
    for c in model.linker_._settings_obj.comparisons:
        if c.output_column_name == comparison:
            return next(lv for lv in c.comparison_levels if lv.label_for_charts == label)
    raise KeyError(comparison)


def fit(records: pd.DataFrame, seed: int) -> IdentityModel:
    # A random sample of 2,000 pairs sees 'same surname and address' (about one pair in a
    # thousand) once or twice, or not at all: the regime of a million records with Splink's
    # two million pairs, where that level holds about one pair in a million.
    return IdentityModel(seed=seed, max_pairs_u=2e3, max_pairs_em=None).fit(
        {"records": records}, COLUMNS
    )


@pytest.mark.parametrize(
    ("sql", "blocks"),
    [
        ('"email_l" = "email_r"', [("email",)]),
        ('("last_name_l" = "last_name_r") AND ("address_l" = "address_r")',
         [("address", "last_name")]),
        ('(jaro_winkler_similarity("last_name_l", "last_name_r") >= 0.9) AND '
         '(("address_l" = "address_r") OR ("postcode_l" = "postcode_r"))',
         [("address",), ("postcode",)]),
        ('"first_name_l" = "last_name_r"', None),  # two columns: no block
        ('("address_l" = "address_r") OR (jaro_winkler_similarity("a_l", "a_r") > 0.9)', None),
        ("ELSE", None),
    ],
)  # fmt: skip
def test_blocks_are_read_from_the_level_sql(sql, blocks) -> None:
    assert blocks_of(sql) == blocks


def test_rare_level_u_is_its_share_of_all_pairs_whatever_the_sample() -> None:
    records = households(1_400, seed=5)
    weights = []
    for seed, frame in [
        (1, records),
        (2, records),
        (3, records.sample(frac=0.99, random_state=1).reset_index(drop=True)),
    ]:
        model = fit(frame, seed)
        same = level(model, "surname_location", "same surname and address")
        weights.append(math.log2(same.m_probability / same.u_probability))
        if seed == 1:
            # Every record has a surname and a place, so no pair is null: u is the share of
            # all pairs that share surname and address, counted here directly.
            sizes = records.groupby(["last_name", "address"]).size()
            n = len(records)
            share = float((sizes * (sizes - 1) / 2).sum()) / (n * (n - 1) / 2)
            assert same.u_probability == pytest.approx(share, rel=1e-9)
            assert "same surname and address" in {r.label for r in model.rare_levels_}
        model.close()
    # Splink's sample alone gives 9.4 to 11.3 bits over these seeds (0 to 2 sightings).
    assert max(weights) - min(weights) < 0.25, weights
