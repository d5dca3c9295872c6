"""Feature definitions: each feature declared once, as an object, and compiled to SQL.

A `Feature` is a name, a window, a description and one aggregate SQL expression over the rows
of its `FeatureView` (Feast's term: the features one aggregation over one relation computes).
The `Catalogue` is every view that can be computed from the relations at hand, for one entity
key (`profile_id` over the warehouse, `customer_id` over a bring-your-own transactions file).
The same catalogue compiles to the offline query (DuckDB, every entity) and to the online query
(SQLite, one entity): one definition, two uses.

SQL conventions, so every engine computes identical values: times are integer microseconds
since 1970 (`t`) and whole UTC days (`day`); money is integer cents, so sums are exact; a ratio
is one division of two exact sums (`CAST(a AS DOUBLE) / NULLIF(b, 0)`); parameters are `$as_of`
(microseconds), `$as_of_day` and, online, `$entity_id`. Only standard SQL: CASE, COALESCE,
NULLIF, COUNT(DISTINCT ...), CTEs, window functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from features.errors import ContractError

DAY_US = 86_400_000_000
WINDOW_DAYS = {"1d": 1, "7d": 7, "30d": 30, "90d": 90, "365d": 365}
ALL_WINDOWS = (*WINDOW_DAYS, "all")
RELATIONS = ("purchases", "behaviour", "email", "calls", "records", "consents")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def window_us(window: str) -> int:
    """Length of a window in microseconds."""
    return WINDOW_DAYS[window] * DAY_US


def within(window: str, column: str = "t") -> str:
    """SQL condition: the row lies in the last `window` before $as_of ('all': every row).

    Rows at or after $as_of never reach a view (the relations are cut there), so only the lower
    bound is needed.
    """
    if window == "all":
        return "1 = 1"
    return f"{column} >= $as_of - {window_us(window)}"


def slug(value: str) -> str:
    """A category or reason as it appears inside a feature name: lower snake_case."""
    text = re.sub(r"[^a-z0-9]+", "_", str(value).strip().lower()).strip("_")
    return text if text and text[0].isalpha() else f"c_{text}"


def quote(value: str) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


@dataclass(frozen=True)
class Feature:
    """One feature: `<group>__<name>__<window>`, computed by `sql` over its view's rows.

    `default` is the value when the entity has no rows in the view (0 for counts and sums,
    None where no value makes sense, e.g. days since a purchase that never happened).
    `model_input` is False for values kept beside the features for activation (consent).
    `dtype` is "int" (counts, whole days, flags) or "float" (money, ratios); every engine
    casts to it, so a sum never comes out as an engine's wide integer or decimal type.
    """

    group: str
    name: str
    window: str
    description: str
    sql: str
    default: int | float | None = 0
    model_input: bool = True
    dtype: str = "int"

    def __post_init__(self) -> None:
        if self.dtype not in ("int", "float"):
            raise ValueError(f"dtype must be int or float, not {self.dtype!r}")
        for part in (self.group, self.name):
            if not _NAME.match(part) or "__" in part:
                raise ValueError(f"feature part {part!r} must be snake_case without '__'")
        if self.window not in ALL_WINDOWS:
            raise ValueError(f"unknown window {self.window!r}; one of {ALL_WINDOWS}")

    @property
    def sql_type(self) -> str:
        """The SQL type the value is cast to."""
        return "BIGINT" if self.dtype == "int" else "DOUBLE"

    @property
    def column(self) -> str:
        """The column name: `<group>__<name>__<window>`."""
        return f"{self.group}__{self.name}__{self.window}"


@dataclass(frozen=True)
class FeatureView:
    """Features computed by one query: `query` selects `entity_id` and has a `{features}` slot.

    `query` reads the cut relations (`purchases_v`, `behaviour_v`, ...) or earlier views and
    groups by `entity_id`; `relations` names what it reads, so a view is only compiled where
    its inputs exist, and so the online store knows which windows can expire a value.
    """

    name: str
    relations: tuple[str, ...]
    query: str
    features: tuple[Feature, ...]

    def select_list(self) -> str:
        """The view's feature expressions, aliased by column."""
        return ",\n       ".join(f'{f.sql} AS "{f.column}"' for f in self.features)


@dataclass(frozen=True)
class Catalogue:
    """Every feature computable for one entity key from the available relations."""

    entity_key: str
    categories: tuple[str, ...]
    relations: tuple[str, ...]
    channels: tuple[str, ...]
    views: tuple[FeatureView, ...] = field(repr=False)

    def spec(self) -> dict[str, object]:
        """What rebuilds this catalogue (views.build_catalogue(**spec)); stored online."""
        return {"entity_key": self.entity_key, "categories": list(self.categories),
                "relations": list(self.relations), "channels": list(self.channels)}  # fmt: skip

    @property
    def features(self) -> list[Feature]:
        """All features, in output order."""
        return [f for view in self.views for f in view.features]

    @property
    def columns(self) -> list[str]:
        """All feature columns, in output order."""
        return [f.column for f in self.features]

    @property
    def model_inputs(self) -> list[str]:
        """The columns a model may learn from (consent flags are for activation only)."""
        return [f.column for f in self.features if f.model_input]

    def windows_of(self, relation: str) -> list[str]:
        """Windows of the features whose views read `relation`, shortest first."""
        used = {
            f.window
            for view in self.views
            if relation in view.relations
            for f in view.features
            if f.window != "all"
        }
        return sorted(used, key=WINDOW_DAYS.__getitem__)

    def describe(self) -> list[dict[str, object]]:
        """One plain dict per feature (for `cdp features list` and the docs)."""
        return [
            {"column": f.column, "group": f.group, "window": f.window,
             "entity": self.entity_key, "description": f.description,
             "model_input": f.model_input}
            for f in self.features
        ]  # fmt: skip


def check_unique(features: Iterable[Feature]) -> None:
    """Raise ValueError when two features share a column name."""
    seen: set[str] = set()
    for feature in features:
        if feature.column in seen:
            raise ValueError(f"feature {feature.column} is declared twice")
        seen.add(feature.column)


def category_slugs(categories: Sequence[str]) -> dict[str, str]:
    """Category value -> its slug; two categories whose slugs collide are a ContractError."""
    slugs: dict[str, str] = {}
    for category in sorted(set(categories)):
        name = slug(category)
        if name in slugs.values():
            raise ContractError(f"categories collide as feature names: {name!r}")
        slugs[category] = name
    return slugs
