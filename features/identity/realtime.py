"""Real-time matching: one new person record against the current profiles, explained.

The scorer is the trained Splink model itself, read from its JSON: each comparison level's own
SQL condition decides the level (evaluated by DuckDB, the engine Splink ran on, so levels can
never disagree with Splink's), and the match weight is Splink's formula: prior log-odds plus,
per comparison, log2(m/u) of the level plus its term-frequency adjustment
w * (log2(u of the exact level) - log2(max(tf_l, tf_r, tf_minimum_u))). Candidates come from
in-memory indexes of the same blocking rules the model predicted with, over the records the
model scored (`identity_match_records`), so no table is scanned per request.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

# Splink's own defaults for untrained levels, so weights equal Splink's exactly.
from splink.internals.comparison_level import _default_m_values, _default_u_values
from splink.internals.constants import LEVEL_NOT_OBSERVED_TEXT

from features.errors import ContractError
from features.identity.records import prepare_one
from features.settings import Settings
from features.warehouse import warehouse

CLAMP = 1e-300
_SUBSTR = re.compile(r"substr\((\w+), (\d+), (\d+)\)")
ROLES = {r: r for r in ("first_name", "last_name", "dob", "email", "phone", "postcode", "city",
                        "address", "gender")}  # fmt: skip


_QUERY = "\x00query"


def _probability(value: object, default: float) -> float:
    """An m or u as Splink reads it: untrained -> its default, never observed -> 1e-6."""
    if value is None:
        return default
    if value == LEVEL_NOT_OBSERVED_TEXT:
        return 1e-6
    return float(value)


def _rule_part(expression: str) -> tuple[str, int | None, int | None]:
    found = _SUBSTR.fullmatch(expression)
    if found:
        return found.group(1), int(found.group(2)), int(found.group(3))
    return expression, None, None


def _as_date(value: object):
    """Dates as datetime.date (DuckDB DATE, as Splink scored them), missing as None."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).date()


@dataclass
class Match:
    """The best matching profile (or None), its probability, and why."""

    profile_id: str | None
    match_probability: float
    match_weight: float | None
    matched_record: str | None
    explanation: dict[str, dict[str, object]] = field(default_factory=dict)
    candidates: int = 0


class RealtimeMatcher:
    """Load once, then `match(record)` per request. Thread-compatible for reads only."""

    def __init__(self, settings: Settings, *, max_candidates: int = 200) -> None:
        self.max_candidates = max_candidates
        self.phone_region = settings.phone_region
        with warehouse(settings, read_only=True) as wh:
            tables = {r[0] for r in wh.execute("SHOW TABLES").fetchall()}
            if "identity_match_records" not in tables:
                raise ContractError("no resolved identities; run `cdp resolve` first")
            report = json.loads(
                wh.execute("SELECT report FROM identity_runs ORDER BY run_id DESC LIMIT 1")
                .fetchone()[0]
            )  # fmt: skip
            pool = wh.execute("SELECT * FROM identity_match_records").df()
            self.types = {row[0]: row[1] for row in wh.execute("DESCRIBE identity_match_records")
                          .fetchall()}  # fmt: skip
            columns = ", ".join(f'"{c}"' for c in pool.columns if c != "profile_id")
            arrow_schema = (
                wh.sql(f"SELECT {columns} FROM identity_match_records LIMIT 0")
                .to_arrow_table()
                .schema
            )
        self.threshold = float(report["threshold_match_probability"])
        self.model = json.loads(Path(report["model_path"]).read_text())
        self.columns = [c for c in pool.columns if c not in ("key", "profile_id")]
        self.pool = pool.set_index("key", drop=False)
        self.rules = [tuple(r.split(" AND ")) for r in report["blocking_rules"]]
        self.index = {rule: self._build_index(pool, rule) for rule in self.rules}
        self.tf = self._term_frequencies(pool)
        self.rule_parts = {rule: [_rule_part(e) for e in rule] for rule in self.rules}
        records = pool[["key", *self.columns]].astype(object).where(pool.notna(), None)
        if "dob" in records.columns:
            records["dob"] = [_as_date(v) for v in records["dob"]]
        self.rows = {row["key"]: row for row in records.to_dict("records")}
        self.schema = arrow_schema
        self.con = duckdb.connect()
        self._sql = self._gamma_sql()

    # -- set-up ----------------------------------------------------------------------------------

    @staticmethod
    def _rule_values(frame: pd.DataFrame, rule: tuple[str, ...]) -> pd.Series:
        parts = []
        for expression in rule:
            found = _SUBSTR.fullmatch(expression)
            if found:
                column, start, length = found.group(1), int(found.group(2)), int(found.group(3))
                parts.append(frame[column].str.slice(start - 1, start - 1 + length))
            else:
                parts.append(frame[expression].astype("string"))
        valid = pd.concat(parts, axis=1).notna().all(axis=1)
        joined = parts[0].astype(str)
        for part in parts[1:]:
            joined = joined + "\x1f" + part.astype(str)
        return joined.where(valid)

    def _build_index(self, pool: pd.DataFrame, rule: tuple[str, ...]) -> dict[str, list[str]]:
        values = self._rule_values(pool, rule)
        index: dict[str, list[str]] = defaultdict(list)
        for value, key in zip(values, pool["key"], strict=True):
            if isinstance(value, str):
                index[value].append(key)
        return dict(index)

    def _term_frequencies(self, pool: pd.DataFrame) -> dict[str, dict[str, float]]:
        tf: dict[str, dict[str, float]] = {}
        for comparison in self.model["comparisons"]:
            for level in comparison["comparison_levels"]:
                column = level.get("tf_adjustment_column")
                if column and column not in tf:
                    present = pool[column].dropna()
                    tf[column] = (present.value_counts() / len(present)).to_dict()
        return tf

    def _gamma_sql(self) -> str:
        cases = []
        for comparison in self.model["comparisons"]:
            levels = comparison["comparison_levels"]
            whens, value = [], len([lv for lv in levels if not lv.get("is_null_level")]) - 1
            for level in levels:
                if level.get("is_null_level"):
                    whens.append(f"WHEN {level['sql_condition']} THEN -1")
                elif level["sql_condition"] == "ELSE":
                    whens.append("ELSE 0")
                else:
                    whens.append(f"WHEN {level['sql_condition']} THEN {value}")
                    value -= 1
            cases.append(f'CASE {" ".join(whens)} END AS "{comparison["output_column_name"]}"')
        pairs = ", ".join(f'l."{c}" AS "{c}_l", r."{c}" AS "{c}_r"' for c in self.columns)
        # Cast to the pool's declared types: a column with no value in the batch has no type.
        typed = ", ".join(f'CAST("{c}" AS {self.types[c]}) AS "{c}"' for c in self.columns)
        source = f"(SELECT key, {typed} FROM batch)"
        return (
            f"SELECT key, {', '.join(cases)} FROM (SELECT {pairs}, r.key FROM "
            f"(SELECT * FROM {source} WHERE key = '{_QUERY}') l CROSS JOIN "
            f"(SELECT * FROM {source} WHERE key <> '{_QUERY}') r)"
        )

    # -- per request -------------------------------------------------------------------------------

    def prepare(self, record: dict[str, object]) -> dict[str, object]:
        """The record in matching form (same preparation as `cdp link` / `cdp resolve`)."""
        prepared = prepare_one(record, phone_region=self.phone_region)
        return {"key": _QUERY, **{c: prepared.get(c) for c in self.columns}}

    def candidates_for(self, prepared: dict[str, object]) -> list[str]:
        """Pool keys sharing any blocking key with the record, in a stable order."""
        found: dict[str, None] = {}
        for rule, parts in self.rule_parts.items():
            values = []
            for column, start, length in parts:
                value = prepared.get(column)
                if value is None:
                    break
                value = str(value)
                values.append(value if start is None else value[start - 1 : start - 1 + length])
            else:
                for key in self.index[rule].get("\x1f".join(values), ()):
                    found.setdefault(key, None)
        return list(found)[: self.max_candidates]

    def score(self, prepared: dict[str, object], keys: list[str]) -> pd.DataFrame:
        """Match weight, probability and per-comparison explanation for each candidate key."""
        rows = [prepared, *(self.rows[k] for k in keys)]
        batch = pa.Table.from_pylist(rows, schema=self.schema)
        self.con.register("batch", batch)
        try:
            gammas = self.con.execute(self._sql).df()
        finally:
            self.con.unregister("batch")
        keys_out = gammas["key"].tolist()  # SQL output order is not the input order
        prior = self.model["probability_two_random_records_match"]
        weights = pd.Series(math.log2(prior / (1 - prior)), index=gammas.index)
        explain: list[dict] = [{} for _ in range(len(gammas))]
        for comparison in self.model["comparisons"]:
            name = comparison["output_column_name"]
            levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
            by_gamma = {len(levels) - 1 - i: lv for i, lv in enumerate(levels)}
            m_defaults, u_defaults = _default_m_values(len(levels)), _default_u_values(len(levels))
            for row, gamma in enumerate(gammas[name]):
                if gamma == -1:
                    explain[row][name] = {"level": "null", "match_weight": 0.0}
                    continue
                level = by_gamma[int(gamma)]
                m = _probability(level.get("m_probability"), m_defaults[int(gamma)])
                u = _probability(level.get("u_probability"), u_defaults[int(gamma)])
                weight = math.log2(max(m, CLAMP) / max(u, CLAMP))
                weight += self._tf_adjustment(level, levels, prepared, keys_out[row])
                weights.iloc[row] += weight
                explain[row][name] = {"level": level["label_for_charts"], "match_weight": weight}
        probability = 2**weights / (1 + 2**weights)
        return pd.DataFrame({"key": gammas["key"], "match_weight": weights,
                             "match_probability": probability, "explanation": explain})  # fmt: skip

    def _tf_adjustment(self, level, levels, prepared, key) -> float:
        column = level.get("tf_adjustment_column")
        weight = level.get("tf_adjustment_weight", 0)
        if not column or not weight:
            return 0.0
        position = next(
            i for i, lv in enumerate(levels)
            if lv["sql_condition"] == f'"{column}_l" = "{column}_r"'
        )  # fmt: skip
        u_exact = _probability(
            levels[position].get("u_probability"),
            _default_u_values(len(levels))[len(levels) - 1 - position],
        )
        left = self.tf[column].get(prepared[column])
        right = self.tf[column].get(self.rows[key][column])
        if left is None and right is None:
            return 0.0
        values = [v for v in (left, right) if v is not None]
        floor = level.get("tf_minimum_u_value", 0.0)
        return weight * (math.log2(u_exact) - math.log2(max(*values, floor)))

    def match(self, record: dict[str, object]) -> Match:
        """The profile `record` belongs to, if its best candidate clears the run's threshold."""
        prepared = self.prepare(record)
        keys = self.candidates_for(prepared)
        if not keys:
            return Match(None, 0.0, None, None)
        scored = self.score(prepared, keys).sort_values(
            ["match_probability", "key"], ascending=[False, True]
        )
        best = scored.iloc[0]
        matched = best["match_probability"] >= self.threshold
        return Match(
            profile_id=self.pool.at[best["key"], "profile_id"] if matched else None,
            match_probability=float(best["match_probability"]),
            match_weight=float(best["match_weight"]),
            matched_record=best["key"],
            explanation=best["explanation"],
            candidates=len(keys),
        )
