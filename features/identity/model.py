"""The probabilistic linkage model: Splink 5 on DuckDB, configured from the data at hand.

`IdentityModel` follows scikit-learn's shape: parameters in `__init__`, `fit` chooses blocking
rules, estimates the prior, u by random sampling and m by EM, and returns self; learned state
ends in `_`. Nothing is tuned to one data set: comparisons are built from whichever roles are
present, blocking rules are kept or dropped by counting the comparisons they generate, and the
clustering threshold is the one that maximises the pairwise F1 the model itself expects.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

from features.identity.chance import count_block_pairs, count_rare_levels, gamma_sql
from features.identity.comparisons import build_comparisons, surname_agreement
from features.identity.dependence import (
    DEPENDENT_SHARE,
    PLACES,
    household_share,
    place_shares,
)
from features.identity.em_sessions import deterministic_rules, train_m

log = logging.getLogger("cdp.identity")


# Candidate blocking rules, most specific first. Each is kept only if present in the data and if
# the comparisons it generates stay within budget (see choose_blocking_rules).
_CANDIDATE_RULES: tuple[tuple[str, ...], ...] = (
    ("email",),
    ("phone",),
    ("first_name", "last_name", "dob"),
    ("last_name", "dob"),
    ("first_name", "dob"),
    ("last_name", "postcode"),
    ("first_name", "postcode"),
    ("last_name", "address"),
    ("first_name", "last_name"),
    ("email_user",),
    ("dob", "postcode"),
    ("address",),
)


# One attribute alone: blocks that find the records whose other attributes are all mistyped.
# Offered only when asked for (`cdp link`), each still within the budget.
_SINGLE_RULES: tuple[tuple[str, ...], ...] = (
    ("dob",), ("postcode",), ("last_name",), ("first_name",), ("city",),
)  # fmt: skip


@dataclass(frozen=True)
class BlockingChoice:
    """A candidate blocking rule with the comparisons it would generate and the verdict."""

    columns: tuple[str, ...]
    comparisons: int
    kept: bool


def candidate_rules(
    columns: set[str], extras: tuple[str, ...] = (), single_attribute: bool = False
) -> list[tuple[str, ...]]:
    """The candidate rules whose columns all exist, plus one rule per extra identifier (and,
    with `single_attribute`, one per name, birth date and place, least specific last)."""
    available = set(columns) | {"email_user"} if "email" in columns else set(columns)
    offered = _CANDIDATE_RULES + (_SINGLE_RULES if single_attribute else ())
    rules = [rule for rule in offered if set(rule) <= available]
    rules += [(column,) for column in extras]
    if "first_name" in columns and "last_name" in columns:
        # Typos in both names: first letters plus a location or birth date.
        for anchor in ("postcode", "dob", "city"):
            if anchor in columns:
                rules.append(("substr(first_name, 1, 2)", "substr(last_name, 1, 2)", anchor))
    return rules


class IdentityModel:
    """Splink linkage/deduplication model whose settings come from the data.

    Parameters: `link_type` ('dedupe_only', 'link_only' or 'link_and_dedupe'), `seed` for
    every sample, `max_pairs_u` for u estimation, `max_pairs_em` for each EM session (Splink
    samples records by hash so that about this many blocked pairs train; None trains on every
    pair, Splink's default), `comparisons_per_record` as the budget of one
    blocking rule (a rule generating more than this many comparisons per record is dropped:
    it blocks on something too common to be discriminating), `threshold` to fix the
    clustering threshold instead of choosing it, and `memory_limit` / `temp_directory` for
    Splink's DuckDB (None: DuckDB's defaults), and `count_rare` (False: u of every level
    from Splink's random sample alone, as plain Splink has it). After `fit`, `rare_levels_`
    lists the levels whose u was counted within their blocks rather than sampled
    (features.identity.chance). `single_attribute_rules` also offers blocking on one name, the
    birth date or one place alone (still within the budget): more of the heavily mistyped
    duplicates are found, at more comparisons. `copy_records` copies the records into
    Splink's DuckDB once (False: Splink reads the pandas frames themselves, its default).
    After `fit`: `em_rules_` (the EM sessions run,
    chosen by features.identity.em_sessions), `em_failed_`, `untrained_` (comparisons no
    session could train), and `household_share_`, `households_`, `place_shares_`,
    `places_together_` (which attributes are scored jointly: features.identity.dependence).
    """

    def __init__(
        self,
        *,
        link_type: str = "dedupe_only",
        extras: tuple[str, ...] = (),
        seed: int = 42,
        max_pairs_u: float = 2e6,
        max_pairs_em: float | None = 5e5,
        comparisons_per_record: float = 50.0,
        threshold: float | None = None,
        memory_limit: str | None = None,
        temp_directory: str | None = None,
        count_rare: bool = True,
        single_attribute_rules: bool = False,
        copy_records: bool = True,
    ) -> None:
        self.link_type = link_type
        self.extras = extras
        self.seed = seed
        self.max_pairs_u = max_pairs_u
        self.max_pairs_em = max_pairs_em
        self.comparisons_per_record = comparisons_per_record
        self.threshold = threshold
        self.memory_limit = memory_limit
        self.temp_directory = temp_directory
        self.count_rare = count_rare
        self.single_attribute_rules = single_attribute_rules
        self.copy_records = copy_records

    def fit(
        self, tables: dict[str, pd.DataFrame], columns: set[str], *, threads: int | None = None
    ) -> IdentityModel:
        """Register `tables` (name -> prepared records), choose blocking rules, train.

        One table is deduplicated; several are linked and deduplicated together, each table's
        name becoming its `source_dataset`.
        """
        import duckdb

        self.con_ = duckdb.connect()
        self.con_.execute("SET enable_progress_bar = false")
        if threads:
            self.con_.execute(f"SET threads = {int(threads)}")
        if self.temp_directory:
            self.con_.execute("SET temp_directory = ?", [str(self.temp_directory)])
        if self.memory_limit:
            # Past the limit DuckDB spills blocked pairs and scored comparisons to disk.
            self.con_.execute("SET memory_limit = ?", [self.memory_limit])
        self.db_api_ = DuckDBAPI(connection=self.con_)
        registered = [
            self.db_api_.register(
                self._copy_in(frame, f"records_{i}"), dataset_display_name=name,
                table_name=f"records_{i}",
            )
            for i, (name, frame) in enumerate(tables.items())
        ]  # fmt: skip
        self.record_tables_ = [t.physical_name for t in registered]
        if self.link_type == "dedupe_only" and len(registered) > 1:
            self.link_type = "link_and_dedupe"
        n_records = sum(len(frame) for frame in tables.values())
        self.columns_ = set(columns)
        rules = candidate_rules(self.columns_, self.extras, self.single_attribute_rules)
        self.blocking_choices_ = self._choose_blocking(registered, rules, n_records)
        kept = [block_on(*c.columns) for c in self.blocking_choices_ if c.kept]
        if not kept:
            raise ValueError("no blocking rule fits the data: nothing to compare")
        self._measure_dependence(registered)
        comparisons = build_comparisons(
            self.columns_, self.extras, surname_agreement(tables),
            households=self.households_, places_together=self.places_together_,
        )  # fmt: skip
        settings = SettingsCreator(
            link_type=self.link_type,
            unique_id_column_name="unique_id",
            comparisons=comparisons,
            blocking_rules_to_generate_predictions=kept,
            retain_intermediate_calculation_columns=False,
            retain_matching_columns=True,
        )
        source = registered if len(registered) > 1 else registered[0]
        self.linker_ = Linker(source, settings, log_level=logging.ERROR)
        training = self.linker_.training
        training.estimate_probability_two_random_records_match(
            deterministic_rules(self.columns_, self.extras), recall=0.8
        )
        if not 0 < self.linker_._settings_obj._probability_two_random_records_match < 1:
            # No pair at all agrees on the rules: nothing to estimate from. One match per record
            # on average; EM re-estimates it within each session anyway.
            log.warning("prior not estimable from the data; starting from one match per record")
            self.linker_._settings_obj._probability_two_random_records_match = 1 / max(
                n_records - 1, 1
            )
        training.estimate_u_using_random_sampling(max_pairs=self.max_pairs_u, seed=self.seed)
        # Levels the random sample barely sees (same surname and address, same email) would
        # swing by ten bits with one sighting more or less: counted within their blocks.
        self.rare_levels_ = []
        if self.count_rare:
            self.rare_levels_ = count_rare_levels(
                self.linker_,
                self.con_,
                [(name, t.physical_name) for name, t in zip(tables, registered, strict=True)],
                max_pairs=self.max_pairs_u,
                seed=self.seed,
            )
        self._train_m(registered)
        self.settings_ = self.linker_.misc.save_model_to_json()
        return self

    def _copy_in(self, frame: pd.DataFrame, table: str) -> str | pd.DataFrame:
        """Copy prepared records into a table of the model's DuckDB; returns its name, for
        Splink to register.

        Splink registers a pandas frame as a view: then every pass over the records (blocking
        counts, the prior's rules, u sampling, term frequencies, EM, predict) reads its Python
        strings one by one again, holding the GIL. One copy reads them once (docs/identity.md,
        "Time and memory"). Without `copy_records`, the frame itself, as Splink has it.
        """
        frame = frame.rename(columns={"record_id": "unique_id"})
        if not self.copy_records:
            return frame
        self.con_.register("cdp_records_frame", frame)
        try:
            self.con_.execute(f"CREATE TABLE {table} AS SELECT * FROM cdp_records_frame")
        finally:
            self.con_.unregister("cdp_records_frame")
        return table

    def records_arrow(self, key: str = "key"):
        """The records the model was fitted on, every table's in turn, as a pyarrow Table
        with the record id column named `key`: for writing elsewhere without converting Python
        strings a second time."""
        union = " UNION ALL BY NAME ".join(f"SELECT * FROM {t}" for t in self.record_tables_)
        # A relation streams into Arrow; a DB-API result would copy every row once more.
        return self.con_.sql(
            f"SELECT * RENAME (unique_id AS {key}) FROM ({union})"
        ).to_arrow_table()

    def _train_m(self, registered: list) -> None:
        """m probabilities by EM (features.identity.em_sessions); sets `em_rules_`,
        `em_failed_` and `untrained_`."""
        link_only = self.link_type == "link_only"
        counted = {choice.columns: choice.comparisons for choice in self.blocking_choices_}

        def pairs(rule: tuple[str, ...]) -> int:
            if rule not in counted:
                counted[rule] = count_rule_pairs(self.con_, registered, rule, link_only)
            return counted[rule]

        self.em_rules_, self.em_failed_, self.untrained_ = train_m(
            self.linker_, self.columns_, self.extras, pairs, max_pairs=self.max_pairs_em
        )

    def _measure_dependence(self, registered: list) -> None:
        """Which attributes to score jointly: only those the data shows dependent
        (features.identity.dependence); with too few pairs to show it, independently."""
        self.household_share_, self.place_shares_ = None, {}
        places = [c for c in PLACES if c in self.columns_]
        if not ("last_name" in self.columns_ and places) and len(places) < 2:
            wanted = []  # nothing to measure: no surname with a place, nor two places
        else:
            wanted = [c for c in ("first_name", "last_name", "dob", *places) if c in self.columns_]
        if wanted:
            self._measure_shares(registered, wanted)
        self.households_ = (self.household_share_ or 0.0) > DEPENDENT_SHARE
        self.places_together_ = any(
            (share or 0.0) > DEPENDENT_SHARE for share in self.place_shares_.values()
        )

    def _measure_shares(self, registered: list, wanted: list[str]) -> None:
        union = " UNION ALL ".join(
            f"SELECT {', '.join(wanted)} FROM {t.physical_name}" for t in registered
        )
        # One copy of the few columns measured, read seven times: without `copy_records` the
        # registered tables are pandas frames, whose strings DuckDB would convert each time.
        self.con_.execute(f"CREATE OR REPLACE TEMP TABLE cdp_dependence AS {union}")
        try:
            table, columns = "cdp_dependence", self.columns_
            self.household_share_ = household_share(self.con_, table, columns, self.seed)
            self.place_shares_ = place_shares(self.con_, table, columns, self.seed)
        finally:
            self.con_.execute("DROP TABLE cdp_dependence")

    def weight_sql(self, comparison: str) -> str | None:
        """SQL of the match weight (bits) one comparison adds to a scored pair, term frequencies
        aside, over the pair's `_l`/`_r` columns. None when the model has no such comparison."""
        found = [c for c in self.linker_._settings_obj.comparisons
                 if c.output_column_name == comparison]  # fmt: skip
        if not found:
            return None
        weights = {
            level.comparison_vector_value: level._log2_bayes_factor
            for level in found[0]._comparison_levels_excluding_null
            if level._bayes_factor not in (None, 0.0)
        }
        cases = " ".join(f"WHEN {gamma} THEN {weight!r}" for gamma, weight in weights.items())
        return f"CASE {gamma_sql(found[0])} {cases} ELSE 0 END"

    @property
    def training_summary_(self) -> dict[str, object]:
        """How the fit went, for run reports: EM sessions, what they could not train, and
        whether surname and place were scored together."""
        return {
            "em_sessions": list(self.em_rules_),
            "em_failed": dict(self.em_failed_),
            "untrained_comparisons": list(self.untrained_),
            "household_share": self.household_share_,
            "surname_and_place_together": self.households_,
            "place_shares": dict(self.place_shares_),
            "places_together": self.places_together_,
        }

    def _choose_blocking(self, tables: list, rules: list, n_records: int) -> list[BlockingChoice]:
        budget = max(self.comparisons_per_record * n_records, 10_000)
        choices = []
        for rule in rules:  # one rule at a time: its own count, not what it adds to the others
            own = count_rule_pairs(self.con_, tables, rule, self.link_type == "link_only")
            choices.append(BlockingChoice(rule, own, own <= budget))
            log.debug("blocking rule %s: %d comparisons, %s (budget %d)", " AND ".join(rule),
                      own, "kept" if own <= budget else "dropped", budget)  # fmt: skip
        return choices

    def save_charts(self, folder) -> dict[str, object]:
        """Match-weight and m/u charts as self-contained HTML (JavaScript inlined, no network)."""
        from pathlib import Path

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        charts = {
            "match_weights": self.linker_.visualisations.match_weights_chart(),
            "m_u_parameters": self.linker_.visualisations.m_u_parameters_chart(),
        }
        paths = {}
        for name, chart in charts.items():
            path = folder / f"{name}.html"
            chart.save(str(path), inline=True)
            paths[name] = path
        return paths

    def close(self) -> None:
        """Release Splink's DuckDB and everything it holds (scored pairs, term frequencies)."""
        self.con_.close()
        del self.linker_, self.db_api_

    def predict(self, floor: float = 0.01):
        """Score every blocked pair; keeps pairs with match probability >= floor."""
        return self.linker_.inference.predict(threshold_match_probability=floor)

    def choose_threshold(self, predictions) -> float:
        """The threshold maximising expected pairwise F1 under the model's own probabilities."""
        if self.threshold is not None:
            self.threshold_ = self.threshold
            return self.threshold_
        hist = self.con_.execute(
            "SELECT FLOOR(match_probability * 1000) AS bin, COUNT(*) AS n, "
            f"SUM(match_probability) AS p FROM {predictions.physical_name} GROUP BY 1 ORDER BY 1"
        ).df()
        self.threshold_ = expected_f1_threshold(hist)
        return self.threshold_

    def cluster(self, predictions, threshold: float):
        """Connected components of pairs at or above `threshold`."""
        return self.linker_.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=threshold
        )


def expected_f1_threshold(hist: pd.DataFrame) -> float:
    """Given a histogram of pair probabilities (bin of width 1/1000, count n, sum p), return the
    lower edge of the bin that maximises 2TP / (2TP + FP + FN), with TP = sum p above, FP = sum
    (1 - p) above, FN = sum p below."""
    hist = hist.sort_values("bin", ascending=False).reset_index(drop=True)
    tp_above = hist["p"].cumsum()
    fp_above = (hist["n"] - hist["p"]).cumsum()
    fn_below = hist["p"].sum() - tp_above
    f1 = 2 * tp_above / (2 * tp_above + fp_above + fn_below)
    best = int(f1.idxmax())
    return float(min(hist.loc[best, "bin"], 999) / 1000)


def count_rule_pairs(con, tables: list, rule: tuple[str, ...], link_only: bool) -> int:
    """How many pairs blocking rule `rule` generates on the registered `tables`: exactly the
    count of Splink's `count_comparisons_from_blocking_rules` at a sample proportion of 1, but
    from group sizes instead of by joining, which at a million records costs a few seconds per
    rule. `link_only` counts only pairs across tables."""
    keys = [f'"{c}"' if c.isidentifier() else c for c in rule]  # a column or an expression
    select = ", ".join(f"{k} AS key_{i}" for i, k in enumerate(keys))
    rows = " UNION ALL ".join(
        f"SELECT {i} AS source_dataset, {select} FROM {t.physical_name}"
        for i, t in enumerate(tables)
    )
    return count_block_pairs(con, f"({rows})", [f"key_{i}" for i in range(len(keys))], link_only)
