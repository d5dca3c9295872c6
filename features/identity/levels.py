"""The trained Splink model's comparison levels, evaluated in numpy instead of SQL.

Each level's `sql_condition` (read from the saved model, never re-typed here) is parsed with
sqlglot, the parser Splink itself uses, and compiled into a function over one query record and
an array of candidate records, with SQL's three-valued logic: a NULL operand makes a comparison
unknown, and an unknown condition does not select its level, exactly as in Splink's CASE WHEN.
Only the constructs our models use are supported (column equality, IS NULL, NOT/AND/OR,
Jaro-Winkler, (Damerau-)Levenshtein, date differences, list intersections, list membership,
casts to text); any
other SQL is refused when the matcher loads, never guessed. Match weights, Splink's defaults for
untrained levels and the term-frequency adjustment come from Splink's own objects, so only the
choice of level is computed here, and tests hold it equal to DuckDB's on generated pairs.

`read_levels` gives the same levels with their SQL and weights but uncompiled, for scoring many
pairs in the warehouse instead (`Comparison.case_sql`; features.identity.score_pairs).
"""

from __future__ import annotations

import datetime as dt
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import sqlglot
from sqlglot import expressions as exp

from features.errors import ContractError
from features.identity import metrics
from features.identity.pool import EncodedColumn

Vector = tuple[np.ndarray, np.ndarray]  # (values, null); for conditions (is true, is unknown)
Compiled = Callable[["Pairs"], Vector]
_EPOCH = dt.date(1970, 1, 1)


class Pairs:
    """One query record against candidate records, the candidates' values decoded on demand.

    `index` selects the candidates still undecided, so each level only looks at those.
    """

    def __init__(self, query: dict[str, object], columns: dict[str, EncodedColumn],
                 rows: np.ndarray) -> None:  # fmt: skip
        self.query, self.columns, self.rows = query, columns, rows
        self.index = np.arange(len(rows))
        self.memo: dict[Callable, dict[tuple, object]] = {}
        self._decoded: dict[str, Vector] = {}

    def right(self, column: str) -> Vector:
        """The candidates' values of `column` and where they are NULL."""
        return self._decode(column, self.rows, self._decoded)

    def _decode(self, column: str, rows: np.ndarray, cache: dict[str, Vector]) -> Vector:
        """Values of `column` at pool rows `rows` and where they are NULL, decoded once into
        `cache`, then restricted to the current index."""
        if column not in cache:
            encoded = self.columns[column]
            codes = encoded.codes[rows]
            cache[column] = encoded.values[codes], codes == encoded.null_code
        values, null = cache[column]
        return values[self.index], null[self.index]

    def left(self, column: str) -> Vector:
        """The query's value of `column`, repeated once per candidate."""
        value, size = self.query.get(column), len(self.index)
        values = np.empty(size, dtype=object)
        values.fill(value)
        return values, np.full(size, value is None)

    def frequencies(self, column: str) -> tuple[np.ndarray | float, np.ndarray]:
        """Term frequencies (NaN: none) of the query's and of every candidate's `column`."""
        encoded = self.columns[column]
        table = encoded.frequencies()
        code = encoded.code_of(self.query.get(column))
        return (np.nan if code is None else table[code]), table[encoded.codes[self.rows]]


def _apply(function: Callable, arguments: list[Compiled], numeric: bool) -> Compiled:
    """An SQL function of its arguments, NULL in -> NULL out, computed once per distinct input
    per request (levels of one comparison often share a similarity, at other thresholds)."""

    def run(pairs: Pairs) -> Vector:
        vectors = [argument(pairs) for argument in arguments]
        null = np.logical_or.reduce([v[1] for v in vectors])
        out = np.full(len(null), np.nan) if numeric else np.empty(len(null), dtype=object)
        valid = np.flatnonzero(~null)
        memo = pairs.memo.setdefault(function, {})
        results = []
        for key in zip(*[v[0][valid].tolist() for v in vectors], strict=True):
            if key not in memo:
                memo[key] = function(*key)
            results.append(memo[key])
        if results:
            out[valid] = results
        return out, null

    return run


def _condition(values: Compiled) -> Compiled:
    """A boolean-valued function as a condition: (is true, is unknown)."""

    def run(pairs: Pairs) -> Vector:
        out, null = values(pairs)
        true = np.zeros(len(null), dtype=bool)
        true[~null] = out[~null].astype(bool)
        return true, null

    return run


def _compare(symbol: Callable, left: Compiled, right: Compiled) -> Compiled:
    def run(pairs: Pairs) -> Vector:
        (a, a_null), (b, b_null) = left(pairs), right(pairs)
        null = a_null | b_null
        if (a.dtype != object and b.dtype != object) or symbol in (operator.eq, operator.ne):
            with np.errstate(invalid="ignore"):  # NaN stands for NULL, masked below
                true = np.asarray(symbol(a, b), dtype=bool)
        else:
            true = np.zeros(len(null), dtype=bool)
            for i in np.flatnonzero(~null):
                true[i] = bool(symbol(a[i], b[i]))
        return true & ~null, null

    return run


def _logic(node: exp.Expression, parts: list[Compiled]) -> Compiled:
    def run(pairs: Pairs) -> Vector:
        (t1, u1), *rest = [part(pairs) for part in parts]
        if isinstance(node, exp.Not):
            return ~t1 & ~u1, u1
        (t2, u2) = rest[0]
        f1, f2 = ~t1 & ~u1, ~t2 & ~u2
        true, false = (t1 & t2, f1 | f2) if isinstance(node, exp.And) else (t1 | t2, f1 & f2)
        return true, ~true & ~false

    return run


def _text(value: object) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _epoch_seconds(value: dt.date) -> float:
    return float((value - _EPOCH).days * 86400)


_COMPARE = {exp.EQ: operator.eq, exp.NEQ: operator.ne, exp.GT: operator.gt,
            exp.GTE: operator.ge, exp.LT: operator.lt, exp.LTE: operator.le}  # fmt: skip
_NAMED = {
    exp.JarowinklerSimilarity: "jaro_winkler_similarity",
    exp.Levenshtein: "levenshtein",
    exp.ArraySize: "array_length",
}
_FUNCTIONS = {  # name -> (Python function, numeric result)
    "jaro_winkler_similarity": (metrics.jaro_winkler, True),
    "jaro_similarity": (metrics.jaro, True),
    "levenshtein": (metrics.levenshtein, True),
    "damerau_levenshtein": (metrics.damerau_levenshtein, True),
    "list_intersect": (lambda a, b: a & b, False),
    "array_length": (len, True),
    "list_contains": (lambda values, value: value in values, False),
}  # fmt: skip


class _Compiler:
    def __init__(self, types: dict[str, str], sql: str) -> None:
        self.types, self.sql = types, sql

    def refuse(self, node: exp.Expression) -> ContractError:
        return ContractError(
            f"real-time matching cannot evaluate {node.sql('duckdb')!r} in comparison level "
            f"{self.sql!r}; extend features/identity/levels.py (and its test) to support it"
        )

    def column(self, node: exp.Expression) -> str | None:
        """The input column of a `"x_l"`/`"x_r"` reference, or None for other expressions."""
        if isinstance(node, exp.Paren):
            return self.column(node.this)
        if isinstance(node, exp.Column) and not node.table and node.name[-2:] in ("_l", "_r"):
            return node.name[:-2]
        return None

    def numeric(self, node: exp.Expression) -> bool:
        """Whether `node` yields a number (arithmetic on anything else is refused)."""
        if isinstance(node, exp.Paren):
            return self.numeric(node.this)
        if isinstance(node, exp.Literal):
            return not node.is_string
        if isinstance(node, exp.Anonymous):
            return _FUNCTIONS.get(node.name.lower(), (None, False))[1]
        return type(node) in _NAMED or isinstance(node, exp.TimeToUnix | exp.Sub | exp.Abs)

    def compile(self, node: exp.Expression, lists: bool = False) -> Compiled:
        """`node` as a function of the pairs; `lists`: list columns allowed (set operations)."""
        if isinstance(node, exp.Paren):
            return self.compile(node.this, lists)
        if isinstance(node, exp.Column):
            name = self.column(node)
            if name not in self.types or self.types[name].endswith("[]") != lists:
                raise self.refuse(node)
            side = node.name[-1]
            return lambda pairs: pairs.left(name) if side == "l" else pairs.right(name)
        if isinstance(node, exp.Literal):
            value = node.this if node.is_string else float(node.this)
            dtype = object if node.is_string else float
            return lambda pairs: (np.full(len(pairs.index), value, dtype=dtype),
                                  np.zeros(len(pairs.index), dtype=bool))  # fmt: skip
        if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
            inner = self.compile(node.this)
            return lambda pairs: (inner(pairs)[1], np.zeros(len(pairs.index), dtype=bool))
        if isinstance(node, exp.Not):
            return _logic(node, [self.compile(node.this)])
        if isinstance(node, exp.And | exp.Or):
            return _logic(node, [self.compile(node.this), self.compile(node.expression)])
        if type(node) in _COMPARE:
            return _compare(_COMPARE[type(node)], self.compile(node.this),
                            self.compile(node.expression))  # fmt: skip
        return self.compile_function(node)

    def compile_function(self, node: exp.Expression) -> Compiled:
        if isinstance(node, exp.Sub | exp.Abs):
            operands = [node.this] + ([node.expression] if isinstance(node, exp.Sub) else [])
            if not all(self.numeric(o) for o in operands):
                raise self.refuse(node)
            compiled = [self.compile(o) for o in operands]

            def arithmetic(pairs: Pairs) -> Vector:
                vectors = [c(pairs) for c in compiled]
                null = np.logical_or.reduce([v[1] for v in vectors])
                if len(vectors) == 1:
                    return np.abs(vectors[0][0].astype(float)), null
                return vectors[0][0].astype(float) - vectors[1][0].astype(float), null

            return arithmetic
        if isinstance(node, exp.Cast) and node.to.is_type("text", "varchar"):
            if self.types.get(self.column(node.this) or "") not in ("VARCHAR", "DATE"):
                raise self.refuse(node)
            return _apply(_text, [self.compile(node.this)], numeric=False)
        if isinstance(node, exp.TimeToUnix):  # EPOCH(date): seconds since 1970 at midnight
            if self.types.get(self.column(node.this) or "") != "DATE":
                raise self.refuse(node)
            return _apply(_epoch_seconds, [self.compile(node.this)], numeric=True)
        if isinstance(node, exp.ArrayContains):  # list_contains(list column, scalar column)
            if {k for k, v in node.args.items() if v is not None} != {"this", "expression"}:
                raise self.refuse(node)
            contains = _apply(_FUNCTIONS["list_contains"][0], [self.compile(node.this, lists=True),
                              self.compile(node.expression)], numeric=False)  # fmt: skip
            return _condition(contains)
        name = _NAMED.get(type(node))
        if isinstance(node, exp.Anonymous):
            name, arguments = node.name.lower(), node.expressions
        elif isinstance(node, exp.Levenshtein | exp.JarowinklerSimilarity):
            extra = {k for k, v in node.args.items() if v is not None} - {"this", "expression"}
            arguments = [node.this, node.expression] if not extra else None
        else:
            arguments = [node.this] if name and not node.expressions else None
        if name not in _FUNCTIONS or arguments is None:
            raise self.refuse(node)
        function, numeric = _FUNCTIONS[name]
        lists = name == "list_intersect"  # of list columns only; everything else of scalars
        if name == "array_length" and not (
            isinstance(arguments[0], exp.Anonymous)
            and arguments[0].name.lower() == "list_intersect"
        ):
            raise self.refuse(node)
        return _apply(function, [self.compile(a, lists) for a in arguments], numeric=numeric)


@dataclass(frozen=True)
class Level:
    """One comparison level: its SQL and compiled condition (both None for ELSE) and Splink's
    weight for it."""

    gamma: int
    label: str
    condition: Compiled | None
    weight: float
    sql: str | None = None
    tf_column: str | None = None
    tf_weight: float = 0.0
    tf_minimum_u: float = 0.0
    log2_u_exact: float = 0.0


@dataclass(frozen=True)
class Comparison:
    """A comparison's levels in CASE order (null level first)."""

    name: str
    levels: tuple[Level, ...]

    def gammas(self, pairs: Pairs) -> np.ndarray:
        """The level (comparison vector value) of every candidate: the first level that holds."""
        gamma = np.zeros(len(pairs.rows), dtype=np.int8)
        undecided = np.arange(len(pairs.rows))
        for level in self.levels:
            if level.condition is None:
                gamma[undecided] = level.gamma
                break
            pairs.index = undecided
            holds = level.condition(pairs)[0]
            gamma[undecided[holds]] = level.gamma
            undecided = undecided[~holds]
            if not len(undecided):
                break
        pairs.index = np.arange(len(pairs.rows))
        return gamma

    def case_sql(self) -> str:
        """Splink's own CASE for the level of a pair (columns `x_l`, `x_r`), as a TINYINT."""
        whens = " ".join(
            f"WHEN {level.sql} THEN {level.gamma}" for level in self.levels if level.sql
        )
        otherwise = next(level.gamma for level in self.levels if not level.sql)
        return f"CAST(CASE {whens} ELSE {otherwise} END AS TINYINT)"

    def weights(self, gamma: np.ndarray, pairs: Pairs) -> np.ndarray:
        """Splink's match weight per candidate: the level's log2(m/u) plus its tf adjustment
        (only `pairs.frequencies` is read, so any object that has it will do)."""
        weight = np.zeros(len(gamma))
        for level in self.levels:
            chosen = gamma == level.gamma
            if not chosen.any():
                continue
            weight[chosen] = level.weight
            if level.tf_column and level.tf_weight:
                weight[chosen] += self._tf_adjustment(level, pairs)[chosen]
        return weight

    @staticmethod
    def _tf_adjustment(level: Level, pairs: Pairs) -> np.ndarray:
        """w * (log2(u of the exact level) - log2(greatest(tf_l, tf_r, tf_minimum_u)));
        0 when neither side's value has a term frequency."""
        left, right = pairs.frequencies(level.tf_column)
        greatest = np.fmax(right, left)
        floored = np.fmax(greatest, level.tf_minimum_u)
        with np.errstate(divide="ignore"):  # log2(0) where neither side has a tf: masked below
            adjusted = level.tf_weight * (level.log2_u_exact - np.log2(floored))
        return np.where(np.isnan(greatest), 0.0, adjusted)


def read_levels(model: dict) -> tuple[float, list[Comparison]]:
    """(prior match weight, comparisons) of a saved Splink model, each level with its SQL and
    weights but no compiled condition (`compile_model` adds those)."""
    from splink.internals.misc import prob_to_match_weight
    from splink.internals.settings_creator import SettingsCreator

    settings = SettingsCreator.from_path_or_dict(model).get_settings("duckdb")
    comparisons = []
    for comparison in settings.comparisons:
        levels = comparison.comparison_levels
        if levels[-1].sql_condition.strip().upper() != "ELSE":
            raise ContractError(f"comparison {comparison.output_column_name!r} has no ELSE level")
        read = []
        for level in levels:
            sql = level.sql_condition
            tf = {}
            if level._has_tf_adjustments and not level.is_null_level:
                tf = {"tf_column": level._tf_adjustment_input_column.input_name.strip('"'),
                      "tf_weight": float(level._tf_adjustment_weight),
                      "tf_minimum_u": float(level._tf_minimum_u_value),
                      "log2_u_exact": math.log2(
                          level._u_probability_corresponding_to_exact_match(levels))}  # fmt: skip
            weight = 0.0 if level.is_null_level else float(level._match_weight)
            label = "null" if level.is_null_level else level.label_for_charts
            sql = None if sql.strip().upper() == "ELSE" else sql
            read.append(Level(level.comparison_vector_value, label, None, weight, sql, **tf))
        comparisons.append(Comparison(comparison.output_column_name, tuple(read)))
    prior = prob_to_match_weight(settings._probability_two_random_records_match)
    return prior, comparisons


def compile_model(model: dict, types: dict[str, str]) -> tuple[float, list[Comparison]]:
    """(prior match weight, compiled comparisons) of a saved Splink model.

    `types` are the DuckDB types of the record columns. Raises ContractError for SQL this
    module cannot evaluate exactly.
    """
    prior, comparisons = read_levels(model)
    compiled = [
        Comparison(comparison.name, tuple(
            replace(level, condition=_Compiler(types, level.sql).compile(
                sqlglot.parse_one(level.sql, read="duckdb")))
            if level.sql else level
            for level in comparison.levels
        ))
        for comparison in comparisons
    ]  # fmt: skip
    return prior, compiled
