"""The shape of a data contract: columns with a type, a normaliser role and value rules.

A `SourceContract` is declared once and used three ways: to build the pandera schema that
validates every incoming row, to create the warehouse table, and to tell the loader which
normaliser each column gets. Keeping these together is what stops them drifting apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Literal

import pandas as pd
import pandera.pandas as pa

ColumnType = Literal["string", "float", "int", "timestamp", "date"]
Role = Literal[
    "email", "phone", "name", "postcode", "text", "identifier", "timestamp", "date", None
]
SourceKind = Literal["entity", "event"]

# pandas dtype the contract checks, and the warehouse SQL type (portable: DuckDB, Spark, Postgres).
# Timestamps are stored as UTC without zone so the SQL stays portable across engines.
_PANDAS_DTYPE: dict[str, object] = {
    "string": "string",
    "float": "Float64",
    "int": "Int64",
    "timestamp": pd.DatetimeTZDtype("us", "UTC"),
    "date": "datetime64[us]",
}
SQL_TYPE: dict[str, str] = {
    "string": "VARCHAR",
    "float": "DOUBLE",
    "int": "BIGINT",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
}

EMAIL_PATTERN = r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$"
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
EARLIEST = pd.Timestamp("1990-01-01", tz="UTC")


@dataclass(frozen=True)
class Column:
    """One column of a source: its type, how it is normalised, and what values are allowed."""

    name: str
    type: ColumnType = "string"
    role: Role = None
    required: bool = True  # must be present in the file's header
    nullable: bool = True  # may hold missing values
    checks: tuple[pa.Check, ...] = ()
    description: str = ""
    aliases: tuple[str, ...] = ()  # other names a source file may use for this column

    def to_pandera(self) -> pa.Column:
        """The pandera column that validates this column's values."""
        coerce = self.type in ("float", "int")  # CSV numbers arrive as text
        return pa.Column(
            _PANDAS_DTYPE[self.type],
            checks=list(self.checks),
            nullable=self.nullable,
            coerce=coerce,
            required=True,  # the loader adds absent optional columns as all-missing first
            description=self.description,
            name=self.name,
        )


@dataclass(frozen=True)
class SourceContract:
    """What one source system must deliver: columns, key, kind, and row-level rules."""

    name: str
    description: str
    kind: SourceKind
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    row_checks: tuple[pa.Check, ...] = field(default=())

    @cached_property
    def schema(self) -> pa.DataFrameSchema:
        """The pandera schema; extra columns are dropped by the loader before validation."""
        return pa.DataFrameSchema(
            {c.name: c.to_pandera() for c in self.columns},
            checks=list(self.row_checks),
            name=self.name,
            strict=False,
        )

    @property
    def column_names(self) -> list[str]:
        """Every declared column, in table order."""
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        """Columns a file must carry in its header (under their name or an alias)."""
        return [c.name for c in self.columns if c.required]

    def resolve_header(self, header: list[str]) -> dict[str, str]:
        """Map each declared column present in `header` to the name the file uses for it."""
        present: dict[str, str] = {}
        for column in self.columns:
            for candidate in (column.name, *column.aliases):
                if candidate in header:
                    present[column.name] = candidate
                    break
        return present

    def column(self, name: str) -> Column:
        """The declared column called `name`."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def create_table_sql(self, table: str | None = None) -> str:
        """Portable CREATE TABLE for the warehouse, with lineage columns at the end."""
        cols = [f"{c.name} {SQL_TYPE[c.type]}" for c in self.columns]
        cols += ["_load_id BIGINT", "_row_number BIGINT"]
        return f"CREATE TABLE IF NOT EXISTS {table or self.name} ({', '.join(cols)})"


# Column builders: the value rules every source shares, written once.


def _now_plus_day() -> pd.Timestamp:
    return pd.Timestamp(datetime.now(UTC)) + pd.Timedelta(days=1)


def key_id(name: str, description: str = "") -> Column:
    """A record key: present, non-empty."""
    return Column(
        name,
        role="identifier",
        nullable=False,
        checks=(pa.Check.str_length(1, 128, error="must be 1-128 characters"),),
        description=description or "record key",
    )


def ref_id(
    name: str, *, nullable: bool = True, required: bool = True, description: str = ""
) -> Column:
    """A reference to another record or an identifier (kept as written, junk included)."""
    return Column(
        name,
        role="identifier",
        nullable=nullable,
        required=required,
        checks=(pa.Check.str_length(1, 256, error="must be 1-256 characters"),),
        description=description,
    )


def email(name: str = "email", *, nullable: bool = True, required: bool = True) -> Column:
    """An email address, trimmed and lower-cased before the shape check."""
    return Column(
        name,
        role="email",
        nullable=nullable,
        required=required,
        checks=(pa.Check.str_matches(EMAIL_PATTERN, error="must look like an email address"),),
        description="email address",
    )


def phone(name: str = "phone", *, required: bool = False) -> Column:
    """A phone number, normalised to E.164 before the check."""
    return Column(
        name,
        role="phone",
        required=required,
        checks=(
            pa.Check.str_matches(
                E164_PATTERN, error="must be a phone number (E.164 after normalising)"
            ),
        ),
        description="phone number in E.164",
    )


def person_name(name: str, *, required: bool = False) -> Column:
    """A given or family name."""
    return Column(
        name,
        role="name",
        required=required,
        checks=(pa.Check.str_length(1, 100, error="must be 1-100 characters"),),
        description="person name",
    )


def text(
    name: str, *, required: bool = False, nullable: bool = True, max_length: int = 500
) -> Column:
    """Free text such as an address line or a product name."""
    return Column(
        name,
        role="text",
        required=required,
        nullable=nullable,
        checks=(pa.Check.str_length(1, max_length, error=f"must be 1-{max_length} characters"),),
    )


def one_of(
    name: str, values: tuple[str, ...], *, nullable: bool = False, required: bool = True
) -> Column:
    """A categorical value from a closed set."""
    allowed = ", ".join(values)
    return Column(
        name,
        role="text",
        nullable=nullable,
        required=required,
        checks=(pa.Check.isin(list(values), error=f"must be one of: {allowed}"),),
    )


def postcode(name: str = "postcode") -> Column:
    """A postal code, upper-cased."""
    return Column(
        name,
        role="postcode",
        required=False,
        checks=(pa.Check.str_length(2, 12, error="must be 2-12 characters"),),
    )


def country_code(name: str = "country_code") -> Column:
    """ISO 3166-1 alpha-2 country code."""
    return Column(
        name,
        role="text",
        required=False,
        checks=(pa.Check.str_matches(r"^[A-Z]{2}$", error="must be an ISO 3166 alpha-2 code"),),
    )


def timestamp(
    name: str, *, nullable: bool = False, required: bool = True, aliases: tuple[str, ...] = ()
) -> Column:
    """A point in time, converted to UTC; not before 1990, not in the future (1 day of skew)."""
    return Column(
        name,
        aliases=aliases,
        type="timestamp",
        role="timestamp",
        nullable=nullable,
        required=required,
        checks=(
            pa.Check(
                lambda s: (s >= EARLIEST) & (s <= _now_plus_day()),
                element_wise=False,
                error="must be between 1990-01-01 and now",
            ),
        ),
    )


def birth_date(name: str = "date_of_birth") -> Column:
    """A date of birth: 1900-01-01 up to today."""
    return Column(
        name,
        type="date",
        role="date",
        required=False,
        checks=(
            pa.Check(
                lambda s: (s >= pd.Timestamp("1900-01-01")) & (s <= pd.Timestamp.now().normalize()),
                error="must be between 1900-01-01 and today",
            ),
        ),
    )


def amount(name: str, *, nullable: bool = False) -> Column:
    """A non-negative money amount."""
    return Column(
        name, type="float", nullable=nullable, checks=(pa.Check.ge(0, error="must be >= 0"),)
    )


def at_least_one(columns: tuple[str, ...]) -> pa.Check:
    """Row rule: at least one of `columns` holds a value."""
    names = " or ".join(columns)
    return pa.Check(lambda df: df[list(columns)].notna().any(axis=1), error=f"needs {names}")


def required_when(column: str, condition_column: str, values: tuple[str, ...]) -> pa.Check:
    """Row rule: `column` must hold a value where `condition_column` is one of `values`."""
    shown = ", ".join(values)
    return pa.Check(
        lambda df: df[column].notna() | ~df[condition_column].isin(list(values)),
        error=f"{column} is required when {condition_column} is {shown}",
    )
