"""Person records in the one shape the linkage model reads, from any table.

Bring-your-own tables name their columns as they like; a role map says which column holds the
first name, the email and so on. Every value goes through the same normalisers as ingest, then
into its matching form (canonical email, junk removed, nickname aliases), so `cdp link` on a
CSV and `cdp resolve` on the warehouse compare records identically.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from features.errors import ContractError
from features.identity.canonical import (
    canonical_email,
    canonical_name,
    canonical_phone,
    name_aliases,
)
from features.normalize import (
    normalise_email,
    normalise_identifier,
    normalise_name,
    normalise_phone,
    normalise_postcode,
    normalise_text,
    phone_to_e164,
)

ROLE_NAMES = (
    "record_id", "first_name", "last_name", "full_name", "dob", "email", "phone", "postcode",
    "city", "address", "gender",
)  # fmt: skip
MATCH_COLUMNS = (
    "first_name", "last_name", "first_name_aliases", "dob", "email", "email_user", "phone",
    "postcode", "city", "address", "gender",
)  # fmt: skip
_DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d")
# The same three forms, zero-padded, for the single-record path; years inside pandas' datetime64
# range only, so anything this does not match goes through `parse_dates` itself.
_PADDED_DATE = re.compile(
    r"(1[7-9][0-9]{2}|2[01][0-9]{2}|22[0-5][0-9])(-|/|)([0-9]{2})\2([0-9]{2})"
)
_ADDRESS_WORDS = {
    "street": "st", "road": "rd", "avenue": "ave", "drive": "dr", "lane": "ln", "court": "ct",
    "place": "pl", "boulevard": "blvd", "terrace": "tce", "crescent": "cres", "highway": "hwy",
    "apartment": "apt", "suite": "ste", "north": "n", "south": "s", "east": "e", "west": "w",
}  # fmt: skip
_GENDERS = {"m": "m", "male": "m", "man": "m", "f": "f", "female": "f", "woman": "f"}


def parse_role_map(text: str) -> dict[str, str]:
    """Parse 'role=column,role=column' into a dict; unknown roles are a ContractError."""
    roles: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        role, sep, column = part.partition("=")
        role, column = role.strip(), column.strip()
        if not sep or not column:
            raise ContractError(f"--map entry {part!r} is not ROLE=COLUMN")
        if role not in ROLE_NAMES:
            raise ContractError(f"--map: unknown role {role!r}; roles: {', '.join(ROLE_NAMES)}")
        roles[role] = column
    if "record_id" not in roles:
        raise ContractError("--map must name the record_id column (record_id=COLUMN)")
    if not ({"first_name", "last_name", "full_name"} & set(roles)) and len(roles) < 3:
        raise ContractError(
            "--map needs a name (first_name/last_name/full_name) or two other roles"
        )
    return roles


def prepare_records(
    frame: pd.DataFrame,
    roles: dict[str, str],
    *,
    extras: tuple[str, ...] = (),
    phone_region: str = "US",
    source_name: str = "input",
    phones_in_e164: bool = False,
) -> pd.DataFrame:
    """Turn a table into match-ready person records (one row per input row, same order).

    `phones_in_e164` skips re-parsing phones that ingest already normalised (the warehouse's):
    parsing is the costliest step of preparation and gives the same value again.

    Raises ContractError naming the missing columns, or duplicate/missing record ids.
    """
    missing = [c for c in [*roles.values(), *extras] if c not in frame.columns]
    if missing:
        raise ContractError(f"{source_name}: missing column(s) {', '.join(map(repr, missing))}")
    if frame.empty:
        raise ContractError(f"{source_name}: no rows")
    ids = normalise_identifier(frame[roles["record_id"]].astype("string"))
    if ids.isna().any():
        raise ContractError(f"{source_name}: {int(ids.isna().sum())} row(s) without record_id")
    if ids.duplicated().any():
        dup = ids[ids.duplicated()].iloc[0]
        raise ContractError(f"{source_name}: record_id {dup!r} appears more than once")

    def column(role: str) -> pd.Series | None:
        return frame[roles[role]].astype("string") if role in roles else None

    out = pd.DataFrame({"record_id": ids.to_numpy()})
    first, last = column("first_name"), column("last_name")
    if "full_name" in roles and (first is None or last is None):
        split = normalise_name(column("full_name")).str.extract(r"^(\S+)(?:.*\s(\S+))?$")
        first = first if first is not None else split[0]
        last = last if last is not None else split[1]
    for role, values in (("first_name", first), ("last_name", last)):
        out[role] = (
            _per_distinct(values, normalise_name, canonical_name) if values is not None else None
        )
    out["first_name_aliases"] = _per_distinct(
        pd.Series(out["first_name"], dtype=object), None, lambda n: list(name_aliases(n))
    )
    out["dob"] = _per_distinct(column("dob"), parse_dates) if "dob" in roles else pd.NaT
    if "dob" in roles:
        _refuse_unreadable_dates(column("dob"), out["dob"], f"{source_name}: {roles['dob']!r}")
    if "email" in roles:
        out["email"] = _per_distinct(column("email"), normalise_email, canonical_email)
        out["email_user"] = user_part(out["email"])
    if "phone" in roles:
        phones = column("phone")
        phones = phones if phones_in_e164 else normalise_phone(phones, phone_region)
        out["phone"] = _per_distinct(phones, None, canonical_phone)
    if "postcode" in roles:
        out["postcode"] = _per_distinct(column("postcode"), _postcode_form)
    if "city" in roles:
        out["city"] = _per_distinct(column("city"), normalise_text, canonical_name)
    if "address" in roles:
        out["address"] = _per_distinct(column("address"), normalise_text, canonical_address)
    if "gender" in roles:
        out["gender"] = normalise_text(column("gender")).str.lower().map(_GENDERS).to_numpy()
    for extra in extras:
        out[extra] = normalise_identifier(frame[extra].astype("string")).str.lower().to_numpy()
    return out.astype(object).where(out.notna(), None)


def _refuse_unreadable_dates(raw: pd.Series, parsed: pd.Series, where: str) -> None:
    """A ContractError when a date column has values and not one of them could be read: the
    model would otherwise run without birth dates and say nothing."""
    given = int(normalise_text(raw).notna().sum())
    if given and not pd.notna(parsed).any():
        raise ContractError(
            f"{where}: none of its {given:,} dates could be read. Write them as YYYY-MM-DD "
            "(YYYYMMDD and YYYY/MM/DD are read too; DD/MM/YYYY or MM/DD/YYYY only when a day "
            "above 12 shows which comes first)"
        )


def user_part(emails: pd.Series) -> pd.Series:
    """The part of each email before '@' (missing stays missing); a Python loop, because
    pandas' split-then-index costs ten times as much on a million emails."""
    return pd.Series(
        [e.partition("@")[0] if isinstance(e, str) else None for e in emails.to_numpy()],
        index=emails.index,
        dtype=object,
    )


def match_columns(records: pd.DataFrame, extras: tuple[str, ...] = ()) -> set[str]:
    """The roles that hold at least one value (a role that is all missing cannot match)."""
    present = {c for c in MATCH_COLUMNS if c in records.columns and records[c].notna().any()}
    return present | {e for e in extras if records[e].notna().any()}


def canonical_address(address: str | None) -> str | None:
    """Lower case, punctuation dropped, common street words abbreviated."""
    if not address:
        return None
    words = re.sub(r"[^a-z0-9 ]", " ", address.lower()).split()
    return " ".join(_ADDRESS_WORDS.get(w, w) for w in words) or None


def parse_dates(values: pd.Series) -> pd.Series:
    """Dates in ISO, YYYYMMDD or YYYY/MM/DD, and day/month/year forms (separated by '/', '-'
    or '.') when the column itself says which comes first; anything else (or impossible dates)
    -> missing.

    Day-first or month-first is read from the values that only one order can parse (a first
    number above 12: day-first; a second: month-first). With no such value, or values of both
    kinds, the day/month forms stay missing rather than guessed: a wrong guess would make two
    different birthdays agree.
    """
    text = normalise_text(values)
    parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    for fmt in _DATE_FORMATS:
        todo = parsed.isna() & text.notna()
        if not todo.any():
            break
        parsed[todo] = pd.to_datetime(text[todo], format=fmt, errors="coerce")
    todo = parsed.isna() & text.notna()
    if todo.any():
        parts = text[todo].str.extract(r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{4})$").dropna()
        first, second = parts[0].astype(int), parts[2].astype(int)
        day_first = ((first > 12) & (second <= 12)).any()
        month_first = ((second > 12) & (first <= 12)).any()
        if day_first != month_first:
            day, month = (first, second) if day_first else (second, first)
            ymd = pd.DataFrame({"year": parts[3].astype(int), "month": month, "day": day})
            parsed[parts.index] = pd.to_datetime(ymd, errors="coerce")
    return parsed.dt.date.to_numpy()


def _per_distinct(values: pd.Series, normalise=None, function=None) -> np.ndarray:
    """`function(normalise(values))` computed once per distinct value and spread back to every
    row (missing stays None). Both are elementwise, so this equals running them on the whole
    column; names, places and even emails repeat, and the string work is the cost."""
    codes, uniques = pd.factorize(values)
    distinct = pd.Series(uniques, dtype=values.dtype)
    if normalise is not None:
        distinct = normalise(distinct)
    if function is not None:
        done = [function(str(v)) if isinstance(v, str) else None for v in distinct.to_numpy()]
    else:
        done = list(np.asarray(distinct, dtype=object))
    return np.array([*done, None], dtype=object)[codes]  # code -1 (missing) takes the None


def _postcode_form(postcodes: pd.Series) -> pd.Series:
    """Postcodes as ingest normalises them, spaces removed ('SW1A 1AA' -> 'SW1A1AA')."""
    return normalise_postcode(postcodes).str.replace(" ", "")


def prepare_one(record: dict[str, object], *, phone_region: str = "US") -> dict[str, object]:
    """`prepare_records` for a single record, without pandas (the real-time path).

    Must give exactly what `prepare_records` gives for the same values; a test holds them equal.
    """
    import unicodedata

    from features.normalize import NULL_TOKENS

    def text(value: object) -> str | None:
        if value is None or (isinstance(value, float) and value != value):
            return None
        clean = re.sub(r"\s+", " ", str(value).strip())
        return None if clean.lower() in NULL_TOKENS else clean

    def name(value: object) -> str | None:
        raw = None if value is None else unicodedata.normalize("NFKC", str(value))
        clean = text(raw)
        return canonical_name(clean) if clean else None

    out: dict[str, object] = {"record_id": str(record.get("record_id", "query"))}
    first, last = record.get("first_name"), record.get("last_name")
    if record.get("full_name") and (first is None or last is None):
        full = text(unicodedata.normalize("NFKC", str(record["full_name"])))
        parts = full.split(" ") if full else []
        first = first if first is not None else (parts[0] if parts else None)
        last = last if last is not None else (parts[-1] if len(parts) > 1 else None)
    out["first_name"], out["last_name"] = name(first), name(last)
    out["first_name_aliases"] = list(name_aliases(out["first_name"])) if out["first_name"] else None
    dob = text(record.get("dob"))
    out["dob"] = _parse_date(dob) if dob else None
    email = text(record.get("email"))
    out["email"] = canonical_email(email.lower().replace(" ", "")) if email else None
    out["email_user"] = out["email"].split("@")[0] if out["email"] else None
    phone = text(record.get("phone"))
    if phone:
        phone = phone_to_e164(phone, phone_region)
    out["phone"] = canonical_phone(phone) if phone else None
    postcode = text(record.get("postcode"))
    out["postcode"] = postcode.upper().replace(" ", "") if postcode else None
    city = text(record.get("city"))
    out["city"] = canonical_name(city) if city else None
    address = text(record.get("address"))
    out["address"] = canonical_address(address) if address else None
    gender = text(record.get("gender"))
    out["gender"] = _GENDERS.get(gender.lower()) if gender else None
    return out


def _parse_date(text: str):
    """`parse_dates` of one value; the usual padded forms without building a pandas Series."""
    import datetime as dt

    found = _PADDED_DATE.fullmatch(text)
    if found:
        year, _, month, day = found.groups()
        try:
            return dt.date(int(year), int(month), int(day))
        except ValueError:  # 31 February: every format refuses it, as pandas does
            return None
    parsed = parse_dates(pd.Series([text]))[0]
    return None if pd.isna(parsed) else parsed
