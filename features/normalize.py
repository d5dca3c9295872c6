"""Normalisers applied to source columns as they are loaded.

Each takes a pandas Series and returns a Series of the same index. They never raise on bad
values: a value that cannot be normalised is returned unchanged (still a string) so the data
contract rejects it with a reason, and the row goes to quarantine instead of being silently
altered or lost.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

# Placeholders that source systems write where they mean "no value". They are turned into missing
# values for person attributes only; event identifiers keep them, because identity stitching has to
# see a literal 'null' cookie to refuse merging on it.
NULL_TOKENS = frozenset(
    {"", "null", "none", "nil", "nan", "n/a", "na", "-", "--", "undefined", "unknown"}
)


def _strip(series: pd.Series) -> pd.Series:
    """Trim, collapse inner whitespace and turn null tokens into missing values."""
    # Per distinct value: names, cities and placeholders repeat, and the regex is the cost.
    codes, uniques = pd.factorize(series.astype("string"))
    text = pd.Series(uniques, dtype="string").str.strip().str.replace(r"\s+", " ", regex=True)
    text = text.mask(text.str.lower().isin(NULL_TOKENS))
    return pd.Series(text.array.take(codes, allow_fill=True), index=series.index, dtype="string")


def normalise_text(series: pd.Series) -> pd.Series:
    """Free text and categorical strings: trimmed, whitespace collapsed, null tokens missing."""
    return _strip(series)


def normalise_identifier(series: pd.Series) -> pd.Series:
    """Identifiers are trimmed only; empty strings become missing, every other token is kept."""
    text = series.astype("string").str.strip()
    return text.mask(text == "")


def normalise_email(series: pd.Series) -> pd.Series:
    """Emails trimmed and lower-cased; provider-specific canonical forms are identity's job."""
    return _strip(series).str.lower().str.replace(" ", "", regex=False)


def normalise_name(series: pd.Series) -> pd.Series:
    """Person names: Unicode NFKC, trimmed; ALL CAPS or all lower case becomes Title Case.

    Mixed case is kept as written, since 'McDonald' or 'van Dyke' are already right and a blind
    title-casing would break them.
    """
    text = _strip(series.astype("string").str.normalize("NFKC"))
    flat = (text.str.isupper() | text.str.islower()).fillna(False)
    titled = text.where(~flat, text.str.title())
    # Title-casing can itself produce text that normalises differently (ligatures, digraphs);
    # keep the first form when it is not a fixed point, so the normaliser stays idempotent.
    stable = titled.str.normalize("NFKC") == titled
    return titled.where(stable.fillna(True), text)


def normalise_postcode(series: pd.Series) -> pd.Series:
    """Postcodes upper-cased with single spaces (UK 'sw1a 1aa' -> 'SW1A 1AA')."""
    return _strip(series).str.upper()


@lru_cache(maxsize=8)
def _phone_formatter(region: str):
    import phonenumbers

    fmt = phonenumbers.PhoneNumberFormat.E164

    def to_e164(raw: str) -> str:
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            return raw
        if not phonenumbers.is_possible_number(number):
            return raw
        return phonenumbers.format_number(number, fmt)

    return to_e164


def phone_to_e164(phone: str, region: str = "US") -> str:
    """One already-stripped phone to E.164, as `normalise_phone` does it (no pandas)."""
    return _phone_formatter(region)(phone)


def normalise_phone(series: pd.Series, region: str = "US") -> pd.Series:
    """Phones to E.164 with `phonenumbers`, assuming `region` when no country code is given.

    Parsing is per distinct value, so repeated numbers (household landlines, junk) cost once.
    Impossible numbers are returned as written for the contract to reject.
    """
    text = _strip(series)
    present = text.dropna()
    if present.empty:
        return text
    to_e164 = _phone_formatter(region)
    uniques = present.unique()
    mapping = dict(zip(uniques, (to_e164(str(v)) for v in uniques), strict=True))
    return text.map(mapping).astype("string")


def normalise_timestamp(series: pd.Series, assume_tz: str = "UTC") -> tuple[pd.Series, pd.Series]:
    """Timestamps to UTC (microseconds); values without an offset are read in `assume_tz`.

    Returns (timestamps, bad) where `bad` marks values that were present but not parseable, so
    the caller can quarantine them with a reason instead of loading a silent NaT.
    """
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC").astype("datetime64[us, UTC]"), _no_bad(series)
    if pd.api.types.is_datetime64_dtype(series.dtype):
        local = series.dt.tz_localize(assume_tz, ambiguous="NaT", nonexistent="NaT")
        return local.dt.tz_convert("UTC").astype("datetime64[us, UTC]"), _no_bad(series)
    text = _strip(series)
    has_offset = text.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True).fillna(False)
    out = pd.Series(pd.NaT, index=series.index, dtype="datetime64[us, UTC]")
    if has_offset.any():
        aware = pd.to_datetime(text[has_offset], utc=True, errors="coerce", format="ISO8601")
        out[has_offset] = aware.astype("datetime64[us, UTC]")
    naive_mask = text.notna() & ~has_offset
    if naive_mask.any():
        naive = pd.to_datetime(text[naive_mask], errors="coerce", format="ISO8601")
        if isinstance(naive.dtype, pd.DatetimeTZDtype):  # mixed input pandas already localised
            local = naive.dt.tz_convert("UTC")
        else:
            local = naive.dt.tz_localize(assume_tz, ambiguous="NaT", nonexistent="NaT")
        out[naive_mask] = local.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    bad = text.notna() & out.isna()
    return out, bad


def normalise_date(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """ISO dates (YYYY-MM-DD) to datetime64 at midnight; returns (dates, bad) like timestamps."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        values = (
            series.dt.tz_localize(None) if isinstance(series.dtype, pd.DatetimeTZDtype) else series
        )
        return values.dt.normalize().astype("datetime64[us]"), _no_bad(series)
    if series.dtype == object and len(series.dropna()) and hasattr(series.dropna().iloc[0], "year"):
        series = series.astype("string")  # datetime.date objects from Parquet date32
    text = _strip(series)
    parsed = pd.to_datetime(text, errors="coerce", format="%Y-%m-%d").astype("datetime64[us]")
    return parsed, text.notna() & parsed.isna()


def _no_bad(series: pd.Series) -> pd.Series:
    return pd.Series(np.zeros(len(series), dtype=bool), index=series.index)
