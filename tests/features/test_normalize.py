from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from features.normalize import (
    normalise_date,
    normalise_email,
    normalise_name,
    normalise_phone,
    normalise_postcode,
    normalise_timestamp,
)


def test_email_trimmed_lowercased_and_null_tokens_missing() -> None:
    out = normalise_email(pd.Series([" John.Smith@GMAIL.com ", "NULL", "", None, "n/a"]))
    assert out.iloc[0] == "john.smith@gmail.com"
    assert out.iloc[1:].isna().all()


def test_phone_formats_of_one_number_collapse_to_one_e164() -> None:
    variants = ["(212) 555-0134", "212.555.0134", "+1 212 555 0134", "2125550134", "1-212-555-0134"]
    assert set(normalise_phone(pd.Series(variants), "US")) == {"+12125550134"}


def test_phone_keeps_foreign_country_code_and_returns_garbage_unchanged() -> None:
    out = normalise_phone(pd.Series(["+44 20 7946 0958", "call me", None]), "US")
    assert out.iloc[0] == "+442079460958"
    assert out.iloc[1] == "call me"  # for the contract to reject, not silently dropped
    assert pd.isna(out.iloc[2])


def test_phone_default_region_applies_to_national_numbers() -> None:
    assert normalise_phone(pd.Series(["020 7946 0958"]), "GB").iloc[0] == "+442079460958"


def test_name_fixes_shouting_but_keeps_mixed_case() -> None:
    out = normalise_name(pd.Series(["JOHN", "mary  ann", "McDonald", " null "]))
    assert out.tolist()[:3] == ["John", "Mary Ann", "McDonald"]
    assert pd.isna(out.iloc[3])


def test_postcode_upper_single_spaced() -> None:
    assert normalise_postcode(pd.Series(["sw1a   1aa"])).iloc[0] == "SW1A 1AA"


def test_timestamps_to_utc_with_offsets_and_assumed_zone() -> None:
    raw = pd.Series(
        ["2024-01-01T10:00:00Z", "2024-01-01T10:00:00+02:00", "2024-07-01 10:00:00", "x"]
    )
    out, bad = normalise_timestamp(raw, "America/New_York")
    assert out.iloc[0] == pd.Timestamp("2024-01-01 10:00", tz="UTC")
    assert out.iloc[1] == pd.Timestamp("2024-01-01 08:00", tz="UTC")
    assert out.iloc[2] == pd.Timestamp("2024-07-01 14:00", tz="UTC")  # EDT is UTC-4
    assert bad.tolist() == [False, False, False, True]


def test_typed_naive_timestamps_are_localised_and_aware_converted() -> None:
    naive = pd.Series(pd.to_datetime(["2024-01-01 10:00"]))
    out, _ = normalise_timestamp(naive, "Europe/Paris")
    assert out.iloc[0] == pd.Timestamp("2024-01-01 09:00", tz="UTC")
    aware = pd.Series(pd.to_datetime(["2024-01-01 10:00"]).tz_localize("Asia/Tokyo"))
    out, _ = normalise_timestamp(aware, "UTC")
    assert out.iloc[0] == pd.Timestamp("2024-01-01 01:00", tz="UTC")


def test_dates_iso_only() -> None:
    out, bad = normalise_date(pd.Series(["1980-02-03", "03/02/1980", None]))
    assert out.iloc[0] == pd.Timestamp("1980-02-03")
    assert bad.tolist() == [False, True, False]


@given(st.lists(st.text(max_size=30), max_size=20))
def test_email_and_name_normalisers_are_idempotent(values: list[str]) -> None:
    series = pd.Series(values, dtype="string")
    once = normalise_email(series)
    assert once.equals(normalise_email(once))
    named = normalise_name(series)
    assert named.fillna("<NA>").tolist() == normalise_name(named).fillna("<NA>").tolist()


@given(
    st.integers(min_value=201, max_value=989),
    st.integers(min_value=200, max_value=999),
    st.integers(min_value=0, max_value=9999),
)
def test_phone_normaliser_is_idempotent_on_us_numbers(area: int, exchange: int, line: int) -> None:
    raw = f"({area}) {exchange}-{line:04d}"
    once = normalise_phone(pd.Series([raw]), "US")
    assert once.equals(normalise_phone(once, "US"))
    if once.iloc[0].startswith("+"):
        assert once.iloc[0] == f"+1{area}{exchange}{line:04d}"
