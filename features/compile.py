"""Compile a catalogue into SQL: the same text runs on DuckDB (every entity) and SQLite (one).

The query has three layers of CTEs: `<relation>_all` (every row with its entity and known_at),
`<relation>_v` (cut at known_at < $as_of: the point-in-time rule, applied once, here), then one
CTE per feature view; the spine is every entity with at least one row before $as_of.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from features.definitions import DAY_US, Catalogue, category_slugs, quote, window_us
from features.event_log import relation_sql
from features.views.purchases import OWNED_PRODUCTS_SQL


def _relation_ctes(catalogue: Catalogue, one_entity: bool) -> list[str]:
    ctes = []
    for relation in catalogue.relations:
        ctes.append(f"{relation}_all AS (\n  {relation_sql(relation, one_entity=one_entity)}\n)")
        ctes.append(f"{relation}_v AS (SELECT * FROM {relation}_all WHERE known_at < $as_of)")
    return ctes


def _spine(catalogue: Catalogue) -> str:
    firsts = "\n  UNION ALL ".join(
        f"SELECT entity_id, MIN(day) AS first_day FROM {r}_v GROUP BY entity_id"
        for r in catalogue.relations
    )
    return (
        f"spine AS (SELECT entity_id, MIN(first_day) AS first_day FROM (\n  {firsts}\n) f "
        "GROUP BY entity_id)"
    )


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    return repr(value)


def _view_body(view) -> str:
    return view.query.replace("{features}", view.select_list())


def compile_features(catalogue: Catalogue, *, one_entity: bool = False) -> str:
    """SELECT <entity_key>, <every feature> at $as_of ($as_of_day; online also $entity_id)."""
    ctes = [*_relation_ctes(catalogue, one_entity), _spine(catalogue)]
    for view in catalogue.views:
        ctes.append(f"{view.name} AS (\n  {_view_body(view)}\n)")
    return "WITH " + ",\n".join(ctes) + "\n" + _final_select(catalogue)


@dataclass(frozen=True)
class Staged:
    """The offline query in steps, each run into a temporary table, then the final join.

    `relations` (table `<relation>_all`, SELECT) do not depend on $as_of: run once per source.
    `views` (the spine, then each view) read them cut at $as_of. The SQL of relations and views
    is the same as compile_features'; run step by step, each aggregation holds one view's state
    at a time, which keeps a million profiles within the warehouse's memory limit.
    """

    relations: list[tuple[str, str]]
    views: list[tuple[str, str]]
    final: str


def compile_staged(catalogue: Catalogue) -> Staged:
    """The offline query as Staged steps."""
    relations = [(f"{r}_all", relation_sql(r, one_entity=False)) for r in catalogue.relations]
    cuts = [
        f"{r}_v AS (SELECT * FROM {r}_all WHERE known_at < $as_of)" for r in catalogue.relations
    ]
    views = [("spine", "WITH " + ",\n".join([*cuts, _spine(catalogue)]) + "\nSELECT * FROM spine")]
    for view in catalogue.views:
        views.append((view.name, "WITH " + ",\n".join(cuts) + "\n" + _view_body(view)))
    return Staged(relations, views, _final_select(catalogue))


def _final_select(catalogue: Catalogue) -> str:
    columns = [f's.entity_id AS "{catalogue.entity_key}"']
    joins = []
    for view in catalogue.views:
        joins.append(f"LEFT JOIN {view.name} ON {view.name}.entity_id = s.entity_id")
        for f in view.features:
            value = f'{view.name}."{f.column}"'
            if f.default is not None:
                value = f"COALESCE({value}, {_literal(f.default)})"
            columns.append(f'CAST({value} AS {f.sql_type}) AS "{f.column}"')
    return "SELECT " + ",\n       ".join(columns) + "\nFROM spine s\n" + "\n".join(joins)


def compile_expiry(
    catalogue: Catalogue, *, one_entity: bool = False, relations_ready: bool = False
) -> str:
    """Per entity, the first moment after $as_of at which a feature can change with no new event.

    A row not yet known changes things when it becomes known (known_at + 1 microsecond); a row
    inside a window changes things when it leaves the window (t + window + 1). Day counters
    change at midnight, which the caller adds. Rows in the shortest window they are in give
    their earliest exit, so one CASE per relation suffices. With `relations_ready`, the
    `<relation>_all` tables of compile_staged are read instead of being defined here.
    """
    arms = []
    for relation in catalogue.relations:
        whens = " ".join(
            f"WHEN t >= $as_of - {window_us(w)} THEN t + {window_us(w) + 1}"
            for w in catalogue.windows_of(relation)
        )
        case = f"CASE WHEN known_at >= $as_of THEN known_at + 1 {whens} END"
        arms.append(f"SELECT entity_id, MIN({case}) AS next_change FROM {relation}_all "
                    "GROUP BY entity_id")  # fmt: skip
    with_relations = (
        ""
        if relations_ready
        else ("WITH " + ",\n".join(_relation_ctes(catalogue, one_entity)[0::2]) + "\n")
    )
    return (
        with_relations + "SELECT entity_id, MIN(next_change) AS next_change FROM (\n  "
        + "\n  UNION ALL ".join(arms) + "\n) x GROUP BY entity_id"
    )  # fmt: skip


def compile_owned_products(catalogue: Catalogue, *, one_entity: bool = False) -> str:
    """Products owned and when, one row per entity and product kept (net quantity > 0)."""
    ctes = [c for c in _relation_ctes(catalogue, one_entity) if c.startswith("purchases_")]
    return "WITH " + ",\n".join(ctes) + "\n" + OWNED_PRODUCTS_SQL


def compile_labels(catalogue: Catalogue) -> str:
    """Labels in [$as_of, $label_end): any purchase, a purchase per category."""
    bought = "quantity > 0 AND t >= $as_of AND t < $label_end"
    columns = ["1 AS label__any_purchase"] + [
        f'MAX(CASE WHEN category = {quote(value)} THEN 1 ELSE 0 END) AS "label__purchase_{name}"'
        for value, name in category_slugs(catalogue.categories).items()
    ]
    ctes = [c for c in _relation_ctes(catalogue, False) if c.startswith("purchases_all")]
    return (
        "WITH " + ",\n".join(ctes) + f"\nSELECT entity_id, {', '.join(columns)} "
        f"FROM purchases_all WHERE {bought} GROUP BY entity_id"
    )


def compile_label_products() -> str:
    """Products bought in [$as_of, $label_end), for the ranker: entity, product, units."""
    return (
        f"WITH purchases_all AS (\n  {relation_sql('purchases', one_entity=False)}\n)\n"
        "SELECT entity_id, product_id, SUM(quantity) AS units FROM purchases_all "
        "WHERE quantity > 0 AND t >= $as_of AND t < $label_end GROUP BY entity_id, product_id"
    )


def parameters(sql: str, as_of_us: int, **extra: object) -> dict[str, object]:
    """The named parameters `sql` uses (DuckDB refuses unused ones)."""
    values = {"as_of": as_of_us, "as_of_day": as_of_us // DAY_US, **extra}
    return {k: v for k, v in values.items() if re.search(rf"\${k}\b", sql)}
