"""Normalise a batch of raw rows and split it by its contract into loadable and quarantined rows.

Validation is the contract's pandera schema, run lazily so every failing row is found at once.
When a value cannot be coerced to its type, pandera cannot evaluate that column's other checks
for the rest of the batch; the failing rows are set aside and the rest validated again, so one
bad value never hides (or condemns) the others.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow

from features.contracts import SourceContract
from features.errors import ContractError
from features.normalize import (
    normalise_date,
    normalise_email,
    normalise_identifier,
    normalise_name,
    normalise_phone,
    normalise_postcode,
    normalise_text,
    normalise_timestamp,
)

_MAX_PASSES = 4


@dataclass
class ValidatedBatch:
    """The outcome of one batch: rows to load and rows to quarantine with reasons."""

    good: pd.DataFrame  # contract columns plus _row_number, timestamps naive UTC
    bad_rows: list[int]  # 1-based row numbers within the file
    bad_reasons: list[str]
    bad_records: list[str]  # the raw values of each bad row, as JSON


def normalise_frame(
    raw: pd.DataFrame, contract: SourceContract, *, phone_region: str, source_timezone: str
) -> tuple[pd.DataFrame, dict[int, list[str]]]:
    """Apply each column's normaliser; returns the frame and reasons for unparseable values."""
    out = pd.DataFrame(index=raw.index)
    reasons: dict[int, list[str]] = defaultdict(list)
    for column in contract.columns:
        if column.name not in raw.columns:
            out[column.name] = _missing(column.type, len(raw), raw.index)
            continue
        values = raw[column.name]
        if column.role in ("timestamp", "date"):
            if column.role == "timestamp":
                parsed, bad = normalise_timestamp(values, source_timezone)
                label = "must be an ISO-8601 timestamp"
            else:
                parsed, bad = normalise_date(values)
                label = "must be a date YYYY-MM-DD"
            for row in bad[bad].index:
                reasons[row].append(f"{column.name}: {label}")
            out[column.name] = parsed
        elif column.role == "email":
            out[column.name] = normalise_email(values)
        elif column.role == "phone":
            out[column.name] = normalise_phone(values, phone_region)
        elif column.role == "name":
            out[column.name] = normalise_name(values)
        elif column.role == "postcode":
            out[column.name] = normalise_postcode(values)
        elif column.role == "identifier":
            out[column.name] = normalise_identifier(values)
        elif column.type == "string":
            out[column.name] = normalise_text(values)
        else:
            out[column.name] = values
    return out, reasons


def validate_frame(frame: pd.DataFrame, contract: SourceContract) -> tuple[pd.DataFrame, dict]:
    """Validate with the contract; returns (valid rows coerced, {index: [reasons]})."""
    reasons: dict[int, list[str]] = defaultdict(list)
    remaining = frame
    for _ in range(_MAX_PASSES):
        try:
            return contract.schema.validate(remaining, lazy=True), reasons
        except pa.errors.SchemaErrors as exc:
            cases = exc.failure_cases
            located = cases[cases["index"].notna()]
            unlocated = cases[cases["index"].isna()]
            if located.empty:
                first = unlocated.iloc[0]
                raise ContractError(
                    f"column '{first['column']}' fails '{first['check']}' as a whole"
                ) from exc
            for row, column, check in zip(
                located["index"], located["column"], located["check"], strict=True
            ):
                reason = _reason(column, check)
                if reason not in reasons[int(row)]:
                    reasons[int(row)].append(reason)
            remaining = remaining.drop(index=[int(i) for i in located["index"].unique()])
            if remaining.empty:
                return remaining, reasons
    raise ContractError(f"{contract.name}: validation did not settle after {_MAX_PASSES} passes")


def validate_batch(
    batch: pa_arrow.RecordBatch,
    contract: SourceContract,
    first_row_number: int,
    *,
    phone_region: str,
    source_timezone: str,
) -> ValidatedBatch:
    """Normalise and validate one batch whose first row is `first_row_number` (1-based)."""
    raw = batch.to_pandas(date_as_object=False)
    raw.index = pd.RangeIndex(first_row_number, first_row_number + len(raw))
    frame, reasons = normalise_frame(
        raw, contract, phone_region=phone_region, source_timezone=source_timezone
    )
    # Rows with unparseable values stay in for validation (the value is missing there), so a
    # row's every problem is reported at once; only the parse reason is kept for that column.
    valid, contract_reasons = validate_frame(frame, contract)
    for row, items in contract_reasons.items():
        parsed_columns = {r.split(":", 1)[0] for r in reasons.get(row, [])}
        reasons[row].extend(i for i in items if i.split(":", 1)[0] not in parsed_columns)
    bad_index = sorted(reasons)
    valid = valid.drop(index=[i for i in bad_index if i in valid.index])
    good = _to_load(valid, contract)
    return ValidatedBatch(
        good=good,
        bad_rows=bad_index,
        bad_reasons=["; ".join(reasons[i]) for i in bad_index],
        bad_records=_records_json(raw.loc[bad_index]) if bad_index else [],
    )


def _to_load(valid: pd.DataFrame, contract: SourceContract) -> pd.DataFrame:
    good = valid[contract.column_names].copy()
    for column in contract.columns:
        if column.type == "timestamp":
            good[column.name] = good[column.name].dt.tz_convert("UTC").dt.tz_localize(None)
    good["_row_number"] = good.index.astype("int64")
    return good.reset_index(drop=True)


def _reason(column: object, check: object) -> str:
    check_text = str(check)
    if check_text.startswith("coerce_dtype") or check_text.startswith("dtype("):
        check_text = "has the wrong type, expected " + check_text.split("(", 1)[1].rstrip(")")
    elif check_text == "not_nullable":
        check_text = "is missing"
    if column is None or (isinstance(column, float) and np.isnan(column)):
        return check_text
    if check_text.startswith("needs ") or " is required when " in check_text:
        return check_text
    return f"{column}: {check_text}"


def _missing(kind: str, length: int, index: pd.Index) -> pd.Series:
    dtype = {"string": "string", "float": "Float64", "int": "Int64"}.get(kind)
    if dtype:
        return pd.Series(pd.NA, index=index, dtype=dtype)
    if kind == "timestamp":
        return pd.Series(pd.NaT, index=index, dtype="datetime64[us, UTC]")
    return pd.Series(pd.NaT, index=index, dtype="datetime64[us]")


def _records_json(rows: pd.DataFrame) -> list[str]:
    clean = rows.astype(object).where(rows.notna(), None)
    return [
        json.dumps(record, default=str, ensure_ascii=False) for record in clean.to_dict("records")
    ]
