"""Chance agreement: u of the comparison levels too rare for Splink's random sample to see.

Splink estimates u (how often two different people fall in a level) from a random sample of
record pairs, two million here. Levels such as 'same surname and address' or 'same email' hold
about one random pair in a million, so the sample sees them zero, one or two times: one more
record in the data can turn 'not observed' (Splink then keeps its generic default, u 0.0009 for
that level, +9 bits) into one sighting (u 7e-7, +19 bits). At a million records that swing,
and what EM learns around it, moved pairwise F1 from 0.96 to 0.86 on the same world less 1%
of its records.

Every pair in such a level agrees exactly on some columns (its blocking columns, read from the
level's SQL: 'same surname and address' needs last_name and address equal). The pairs of a
block are counted exactly from group sizes, and how many of them fall in the level is measured
on the block's pairs: all of them when few, else the pairs of a seeded hash sample of its
groups. That is the same quantity Splink's random sample estimates (the share of all pairs in
the level, among pairs where the comparison is not null), without the sampling noise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlglot
from sqlglot import expressions as exp

log = logging.getLogger("cdp.identity")

# A level seen fewer times than this in the random sample is counted within its blocks
# instead (Splink's own min_count_per_level for stopping its sampling early).
MIN_SAMPLED = 100
# Pairs of one block measured at most (whole groups sampled by a seeded hash past that).
BLOCK_PAIRS = 300_000
# Random pairs drawn to measure how often a comparison is null (common: a precise share).
NULL_PAIRS = 100_000


@dataclass(frozen=True)
class RareLevel:
    """A level's u from its blocks: the pairs counted in it and its share of non-null pairs."""

    comparison: str
    label: str
    sampled_u: float | None  # Splink's estimate; None when not observed
    pairs: float
    u: float


def blocks_of(sql_condition: str) -> list[tuple[str, ...]] | None:
    """Column sets one of which every pair satisfying the condition agrees on, or None.

    `"last_name_l" = "last_name_r" AND "address_l" = "address_r"` -> [("address",
    "last_name")]; an OR needs blocks on each side and gives them all.
    """
    if sql_condition.strip().upper() == "ELSE":
        return None
    try:
        tree = sqlglot.parse_one(sql_condition, read="duckdb")
    except sqlglot.errors.ParseError:
        return None
    return _blocks(tree)


def _same_column(node: exp.Expression) -> str | None:
    """'x' for `"x_l" = "x_r"` (either order), else None."""
    if not isinstance(node, exp.EQ):
        return None
    left, right = node.this, node.expression
    if not (isinstance(left, exp.Column) and isinstance(right, exp.Column)):
        return None
    names = sorted([left.name, right.name])
    if names[0].endswith("_l") and names[1].endswith("_r") and names[0][:-2] == names[1][:-2]:
        return names[0][:-2]
    return None


def _blocks(node: exp.Expression) -> list[tuple[str, ...]] | None:
    while isinstance(node, exp.Paren):
        node = node.this
    column = _same_column(node)
    if column is not None:
        return [(column,)]
    if isinstance(node, exp.Or):
        left, right = _blocks(node.this), _blocks(node.expression)
        return left + right if left is not None and right is not None else None
    if isinstance(node, exp.And):
        conjuncts = list(node.flatten())
        equal = sorted({c for c in (_same_column(_unwrap(n)) for n in conjuncts) if c})
        if equal:
            return [tuple(equal)]
        for conjunct in conjuncts:
            found = _blocks(conjunct)
            if found is not None:
                return found
    return None


def _unwrap(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _hash_sql(columns: tuple[str, ...], seed: int) -> str:
    keys = ", ".join(f'"{c}"' for c in columns)
    return f"hash({keys}, {int(seed)})"


def _not_null_sql(columns: tuple[str, ...]) -> str:
    return " AND ".join(f'"{c}" IS NOT NULL' for c in columns)


def _pair_select(columns: list[str]) -> str:
    return ", ".join(f'l."{c}" AS "{c}_l", r."{c}" AS "{c}_r"' for c in columns)


def _pair_filter(link_only: bool) -> str:
    if link_only:
        return "l.source_dataset < r.source_dataset"
    return "(l.source_dataset, l.unique_id) < (r.source_dataset, r.unique_id)"


def _block_pairs(con, table: str, block: tuple[str, ...], link_only: bool) -> float:
    """How many pairs agree on every column of `block` (exactly, from group sizes)."""
    return float(count_block_pairs(con, table, [f'"{c}"' for c in block], link_only))


def count_block_pairs(
    con, rows: str, keys: list[str], link_only: bool, dataset: str = "source_dataset"
) -> int:
    """How many pairs of `rows` (a table, or a query in parentheses) agree on every one of
    `keys` (columns or SQL expressions; a missing value agrees with nothing), from group sizes:
    the sum of n(n-1)/2 per block, no pairs built. `link_only` counts only pairs whose
    `dataset` values differ."""
    named = ", ".join(f"k{i}" for i in range(len(keys)))
    select = ", ".join(f"{k} AS k{i}" for i, k in enumerate(keys))
    present = " AND ".join(f"k{i} IS NOT NULL" for i in range(len(keys)))
    keyed = f"(SELECT {select}, {dataset} AS dataset FROM {rows}) AS keyed WHERE {present}"
    if link_only:
        sql = (
            f"SELECT SUM(n * n - sq) / 2 FROM (SELECT SUM(k) AS n, SUM(k * k) AS sq FROM"
            f" (SELECT {named}, dataset, COUNT(*) AS k FROM {keyed} GROUP BY ALL) GROUP BY {named})"
        )
    else:
        sql = (
            f"SELECT SUM(n * (n - 1)) / 2 FROM (SELECT COUNT(*) AS n FROM {keyed} GROUP BY {named})"
        )
    [(pairs,)] = con.execute(sql).fetchall()
    return int(pairs or 0)


def _all_pairs(con, table: str, link_only: bool) -> float:
    counts = [r[0] for r in con.execute(
        f"SELECT COUNT(*) FROM {table} GROUP BY source_dataset"
    ).fetchall()]  # fmt: skip
    total = sum(counts)
    if link_only:
        return float((total * total - sum(c * c for c in counts)) / 2)
    return float(total * (total - 1) / 2)


def gamma_sql(comparison) -> str:
    """Splink's own CASE expression of the comparison's levels, without its alias."""
    return comparison._case_statement.removesuffix(f" as {comparison._gamma_column_name}")


def _level_counts(
    con, table: str, comparison, blocks: list[tuple[str, ...]], columns: list[str], *,
    link_only: bool, seed: int,
) -> dict[int, float]:  # fmt: skip
    """Estimated pairs of each level among pairs in any of `blocks` (in order, no overlap)."""
    totals: dict[int, float] = {}
    case = gamma_sql(comparison)
    for k, block in enumerate(blocks):
        pairs = _block_pairs(con, table, block, link_only)
        if pairs == 0:
            continue
        rate = min(1.0, BLOCK_PAIRS / pairs)
        # Whole groups are kept or dropped by a seeded hash of the key: the kept pairs are an
        # unbiased sample of the block's pairs, and the choice never depends on row order.
        keep = "" if rate >= 1 else f"AND {_hash_sql(block, seed)} % 1000000 < {int(rate * 1e6)}"
        earlier = " OR ".join(
            "(" + " AND ".join(f'"{c}_l" = "{c}_r"' for c in b) + ")" for b in blocks[:k]
        )
        join = " AND ".join(f'l."{c}" = r."{c}"' for c in block)
        rows = con.execute(
            f"WITH side AS (SELECT * FROM {table} WHERE {_not_null_sql(block)} {keep}), "
            f"pairs AS (SELECT {_pair_select(columns)} FROM side AS l JOIN side AS r "
            f"ON {join} AND {_pair_filter(link_only)}) "
            f"SELECT {case} AS gamma, {earlier or 'FALSE'} AS earlier, COUNT(*) AS n "
            "FROM pairs GROUP BY ALL"
        ).fetchall()
        measured = sum(n for _, _, n in rows)  # every measured pair of the block
        for gamma, in_earlier, n in rows:
            if not in_earlier:  # pairs of an earlier block were counted there
                totals[int(gamma)] = totals.get(int(gamma), 0.0) + n * pairs / measured
    return totals


def _null_shares(con, table: str, comparisons: list, columns: list[str], *, link_only: bool,
                 seed: int) -> list[float]:  # fmt: skip
    """Share of random pairs where each comparison is null, from about NULL_PAIRS pairs.

    Two seeded hash samples of about NULL_PAIRS records each, paired off in hash order.
    """
    total = con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    cut = int(min(1.0, 1.2 * NULL_PAIRS / max(total, 1)) * 1e6)

    def side(salt: int) -> str:
        key = f"hash(unique_id, {int(seed) + salt})"
        return (f"(SELECT *, row_number() OVER (ORDER BY {key}, unique_id) AS i FROM {table} "
                f"WHERE {key} % 1000000 < {cut})")  # fmt: skip

    nulls = ", ".join(
        f"AVG(CASE WHEN ({gamma_sql(c)}) = -1 THEN 1 ELSE 0 END)" for c in comparisons
    )
    [row] = con.execute(
        f"WITH pairs AS (SELECT {_pair_select(columns)} FROM {side(0)} AS l "
        f"JOIN {side(1)} AS r USING (i) WHERE l.unique_id <> r.unique_id"
        + (" AND l.source_dataset <> r.source_dataset" if link_only else "")
        + f") SELECT {nulls} FROM pairs"
    ).fetchall()
    return [float(v or 0.0) for v in row]


def _rare_levels(comparison, max_pairs: float) -> dict:
    """Levels of `comparison` the sample saw fewer than MIN_SAMPLED times that have blocks."""
    rare = {}
    for level in comparison._comparison_levels_excluding_null:
        if level._fix_u_probability:
            continue
        sampled = [r["probability"] for r in level._trained_u_probabilities]
        u = next((p for p in sampled if isinstance(p, (int, float))), None)
        if u is not None and u * max_pairs >= MIN_SAMPLED:
            continue
        blocks = blocks_of(level.sql_condition)
        if blocks:
            rare[level] = (u, blocks)
    return rare


def count_rare_levels(linker, con, tables: list[tuple[str, str]], *, max_pairs: float,
                      seed: int) -> list[RareLevel]:  # fmt: skip
    """Replace the sampled u of every rare level that has blocks with its count in them.

    `tables` are (source_dataset, physical table) as registered with Splink; `max_pairs` is
    the size of Splink's random sample, whose u estimates are already in `linker`. Returns
    what was replaced, for the run report.
    """
    settings = linker._settings_obj
    link_only = settings._link_type == "link_only"
    union = " UNION ALL ".join(
        f"SELECT '{name}' AS source_dataset, * FROM {physical}" for name, physical in tables
    )
    con.execute(f"CREATE OR REPLACE TEMP VIEW __cdp_chance AS {union}")
    table = "__cdp_chance"
    columns = [c for c in con.execute(f"SELECT * FROM {table} LIMIT 0").df().columns
               if c not in ("source_dataset",)]  # fmt: skip
    total = _all_pairs(con, table, link_only)
    replaced: list[RareLevel] = []
    try:
        rare = {c: _rare_levels(c, max_pairs) for c in settings.comparisons}
        rare = {c: levels for c, levels in rare.items() if levels}
        if not rare:
            return replaced
        shares = _null_shares(con, table, list(rare), columns, link_only=link_only, seed=seed)
        for (comparison, levels), null in zip(rare.items(), shares, strict=True):
            counted: dict[tuple, dict[int, float]] = {}
            for level, (sampled_u, blocks) in levels.items():
                key = tuple(blocks)
                if key not in counted:
                    counted[key] = _level_counts(con, table, comparison, blocks, columns,
                                                 link_only=link_only, seed=seed)  # fmt: skip
                pairs = counted[key].get(level.comparison_vector_value, 0.0)
                if pairs == 0 or null >= 1:
                    continue  # never seen at all: Splink's 'not observed' stands
                u = min(pairs / (total * (1 - null)), 1.0)
                level._trained_u_probabilities = [
                    p for p in level._trained_u_probabilities
                    if p["description"] != "estimate u by random sampling"
                ] + [{"probability": u, "description": "u counted within blocks",
                      "m_or_u": "u"}]  # fmt: skip
                level.u_probability = u
                replaced.append(RareLevel(comparison.output_column_name,
                                          level.label_for_charts, sampled_u, pairs, u))  # fmt: skip
                log.info("u of %s / %s counted within blocks: %.3g (sample: %s)",
                         comparison.output_column_name, level.label_for_charts, u,
                         "not observed" if sampled_u is None else f"{sampled_u:.3g}")  # fmt: skip
    finally:
        con.execute(f"DROP VIEW IF EXISTS {table}")
    return replaced
