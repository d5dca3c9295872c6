"""Documented rates, measured from the output files against truth/people.parquet.

Tolerances are about three standard errors at the test world's size (see docs/world.md), so a
failure means the generator drifted from its documentation, not bad luck.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from nicknames import NickNamer


def _share(mask: pd.Series) -> float:
    return float(np.mean(mask))


def _close(measured: float, expected: float, tolerance: float) -> None:
    assert abs(measured - expected) <= tolerance, f"measured {measured:.4f}, want {expected}"


def _osa(a: str, b: str) -> int:
    """Optimal string alignment distance (edits, with adjacent transpositions)."""
    rows = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        rows[i][0] = i
    for j in range(len(b) + 1):
        rows[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1)
    return rows[-1][-1]


def _named(world, source: str) -> pd.DataFrame:
    """Records of a source with the owner's true names, all lower-cased and trimmed."""
    key = {
        "shop_customers": "customer_id",
        "crm_contacts": "contact_id",
        "email_subscribers": "subscriber_id",
    }[source]
    frame = world[source].copy()
    frame["person_id"] = frame[key].map(world.owner(source))
    truth = world.people[["first_name", "last_name", "maiden_name"]].add_prefix("true_")
    frame = frame.join(truth, on="person_id")
    for column in (
        "first_name",
        "last_name",
        "true_first_name",
        "true_last_name",
        "true_maiden_name",
    ):
        frame[column] = frame[column].str.strip().str.lower()
    return frame


def test_source_presence_rates(world) -> None:
    cfg, people = world.config, len(world.people)
    accounts = world.owner("shop_customers")
    _close(accounts.nunique() / people, cfg.shop_account_rate, 0.04)
    per_holder = accounts.value_counts()
    _close(_share(per_holder > 1), cfg.duplicate_account_rate, 0.02)
    _close(world.owner("crm_contacts").nunique() / people, cfg.crm_contact_rate, 0.04)
    subscribers = world.owner("email_subscribers")
    _close(subscribers.nunique() / people, cfg.subscriber_rate, 0.04)
    _close(_share(subscribers.value_counts() > 1), cfg.second_subscription_rate, 0.02)


def test_duplicate_accounts_use_another_email(world) -> None:
    frame = world["shop_customers"].assign(
        person_id=lambda f: f["customer_id"].map(world.owner("shop_customers")),
        email=lambda f: f["email"].str.strip().str.lower(),
    )
    twice = frame[frame["person_id"].duplicated(keep=False)]
    assert len(twice) > 0
    assert (twice.groupby("person_id")["email"].nunique() == 2).all()


def test_crm_nicknames_and_capitals(world) -> None:
    crm = _named(world, "crm_contacts")
    namer = NickNamer()
    nickname = [
        first in namer.nicknames_of(true)
        for first, true in zip(crm["first_name"], crm["true_first_name"], strict=True)
    ]
    _close(_share(nickname), world.config.crm_nickname_rate, 0.05)
    raw = world["crm_contacts"]
    caps = raw["first_name"].str.strip().str.isupper() & raw["last_name"].str.strip().str.isupper()
    _close(_share(caps), world.config.crm_all_caps_rate, 0.035)
    _close(_share(raw["email"].notna()), world.config.crm_email_rate, 0.05)


def test_name_swaps_and_typos(world) -> None:
    frames = [_named(world, s) for s in ("shop_customers", "crm_contacts")]
    named = pd.concat(frames, ignore_index=True)
    namer = NickNamer()
    # A swapped CRM record may hold the nickname, now in the last-name field.
    given = [
        last == true or last in namer.nicknames_of(true)
        for last, true in zip(named["last_name"], named["true_first_name"], strict=True)
    ]
    family = (named["first_name"] == named["true_last_name"]) | (
        named["first_name"] == named["true_maiden_name"]
    )
    swapped = family & pd.Series(given, index=named.index)
    _close(_share(swapped), world.config.name_swap_rate, 0.01)
    shop = frames[0]
    typo = [
        (_osa(first, tf) == 1 and last in (tl, tm)) or (_osa(last, tl) == 1 and first == tf)
        for first, last, tf, tl, tm in zip(
            shop["first_name"],
            shop["last_name"],
            shop["true_first_name"],
            shop["true_last_name"],
            shop["true_maiden_name"].fillna(""),
            strict=True,
        )
    ]
    _close(_share(typo), world.config.name_typo_rate, 0.015)


def test_gmail_dot_variants(world) -> None:
    subs = _named(world, "email_subscribers")
    email = subs["email"].str.strip().str.lower()
    main = subs["person_id"].map(world.people["email"])
    gmail = main.str.endswith("@gmail.com") & email.str.endswith("@gmail.com")
    same_box = gmail & (
        email.str.replace(".", "", regex=False) == main.str.replace(".", "", regex=False)
    )
    variant = same_box & (email != main)
    assert same_box.sum() > 150
    _close(variant.sum() / same_box.sum(), world.config.gmail_dot_variant_rate, 0.07)


def test_junk_identifier_rates(world) -> None:
    cfg = world.config
    guests = world["orders"]["guest_email"].dropna().str.strip().str.lower()
    _close(
        _share(guests.isin(["test@test.com", "noemail@example.com"])), cfg.junk_email_rate, 0.008
    )
    phones = pd.concat([world["shop_customers"]["phone"], world["crm_contacts"]["phone"]])
    _close(_share(phones.isin(["0000000000", "1111111111"])), cfg.junk_phone_rate, 0.006)
    web = world["web_events"]
    junk = web["anonymous_id"].isin(["0", "null", "anonymous", "undefined"])
    _close(_share(junk), cfg.junk_anonymous_id_rate, 0.0015)
    identify = world["app_events"].query("type == 'identify'")
    _close(_share(identify["user_id"] == "0"), cfg.junk_user_id_rate, 0.01)


def test_moves_and_marriages_and_old_records(world) -> None:
    people = world.people
    _close(_share(people["moved_at"].notna()), world.config.move_rate, 0.03)
    _close(_share(people["maiden_name"].notna()), world.config.name_change_rate, 0.015)
    shop = world["shop_customers"].assign(
        person_id=lambda f: f["customer_id"].map(world.owner("shop_customers"))
    )
    shop = shop.merge(world.people, left_on="person_id", right_index=True, suffixes=("", "_true"))
    before_move = shop["moved_at"].notna() & (shop["updated_at"] < shop["moved_at"])
    after_move = shop["moved_at"].notna() & (shop["updated_at"] >= shop["moved_at"])
    with_address = shop["postcode"].notna()
    assert (before_move & with_address).sum() > 10 and (after_move & with_address).sum() > 10
    old = shop[before_move & with_address]
    assert (old["postcode"] == old["previous_postcode"]).all()
    new = shop[after_move & with_address]
    assert (new["postcode"] == new["postcode_true"]).all()
    married = shop[shop["maiden_name"].notna()]
    before = married["updated_at"] < married["name_changed_at"]
    names = married["last_name"].str.strip().str.lower()
    assert (names[before] == married.loc[before, "maiden_name"].str.lower()).mean() > 0.8
    assert (names[~before] == married.loc[~before, "last_name_true"].str.lower()).mean() > 0.8


def test_households_twins_and_name_collisions(world) -> None:
    people = world.people
    homes = people.groupby("household_id")["address_line"].nunique()
    movers = people.loc[people["moved_at"].notna(), "household_id"]
    assert (homes.drop(movers, errors="ignore") == 1).all()
    twins = people[people["is_twin"]]
    children = people[people["household_role"] == "child"].groupby("household_id").size()
    _close(twins["household_id"].nunique() / (children >= 2).sum(), world.config.twin_rate, 0.08)
    for _, pair in twins.groupby("household_id"):
        assert pair["date_of_birth"].nunique() == 1 and pair["last_name"].nunique() == 1
        assert pair["first_name"].nunique() == len(pair)
    sizes = people.groupby("household_id").size()
    assert set(sizes.unique()) == {1, 2, 3, 4, 5}
    shared = people.groupby("household_id")["last_name"].nunique()
    assert _share(shared[sizes[sizes > 1].index] == 1) > 0.6
    # Common names really are common: distinct people share a full name.
    full = people["first_name"] + " " + people["last_name"]
    assert full.duplicated().sum() >= 10
    assert people["last_name"].value_counts().index[0] in {"Smith", "Johnson", "Williams"}


@pytest.mark.parametrize(
    ("name", "column", "low", "high"),
    [
        ("orders", None, 1.3, 2.6),
        ("order_lines", None, 2.5, 4.5),
        ("web_events", None, 9, 16),
        ("app_events", None, 2.5, 6),
        ("email_events", None, 7, 13),
        ("call_center_interactions", None, 0.15, 0.45),
        ("consents", None, 1.8, 3.5),
    ],
)
def test_volumes_per_person_stay_in_budget(world, name, column, low, high) -> None:
    per_person = len(world[name]) / len(world.people)
    assert low <= per_person <= high, f"{name}: {per_person:.2f} per person"
