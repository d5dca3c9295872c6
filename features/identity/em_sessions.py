"""The model's training sessions: which blocks EM learns m in, and the prior's rules.

Splink estimates m by expectation maximisation within a blocking rule, leaving out every
comparison that reads a blocking column. Which blocks to use depends on the roles a table has:
names with a birth date and a place (FEBRL), or emails and phones as well (the warehouse).
`choose_em_rules` picks them from the comparisons actually built, so that every session leaves
at least two comparisons to learn from and every comparison is learned in some session;
`train_m` runs them. Also here: the deterministic rules of the prior (`deterministic_rules`)
and two narrow adjustments to Splink's EM, each explained where it is made.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

from splink import block_on

from features.identity.comparisons import SWAP_ONLY_COLUMNS

log = logging.getLogger("cdp.identity")


@contextmanager
def zero_m_as_unobserved():
    """During EM, treat a level whose m comes out exactly 0 as not observed among matches.

    On small data a level can be seen only in pairs whose match probability underflows to 0
    (a 200-person world's first/last-name swaps, say); Splink 5 then refuses m = 0.0, or any m
    below 1e-300, with a ValueError and the whole run fails. Not observed is what such an
    estimate means: Splink leaves that level's m unset (weight 0) and warns, as it does for a
    level it never saw.
    """
    from splink.internals import expectation_maximisation as em

    original = em.populate_m_u_from_lookup

    def populate(fixed, level, column, lookup):
        entry = lookup.get(column, {}).get(level.comparison_vector_value)
        m = entry.get("m_probability") if entry is not None else None
        if isinstance(m, float | int) and m < 1e-300:  # 0, or a subnormal Splink refuses
            trimmed = {k: v for k, v in entry.items() if k != "m_probability"}
            lookup = {**lookup, column: {**lookup[column],
                                         level.comparison_vector_value: trimmed}}  # fmt: skip
        return original(fixed, level, column, lookup)

    em.populate_m_u_from_lookup = populate
    try:
        yield
    finally:
        em.populate_m_u_from_lookup = original


@contextmanager
def swap_levels_stay_trained():
    """During EM, a session blocked on a column that a comparison reads only in its swapped-
    names level (comparisons.SWAP_ONLY_COLUMNS) still trains that comparison.

    Splink leaves out every comparison reading any blocking column. Here the swapped level would
    make the first-name comparison unusable in every block on a surname (and the reverse), so
    that with names and a birth date alone no session could train the birth date. The narrowed
    column list applies only while a session decides what to leave out.
    """
    from splink.internals import em_training_session as ets
    from splink.internals.comparison import Comparison

    original_init = ets.EMTrainingSession.__init__
    full = Comparison._input_columns_used_by_case_statement

    def narrowed(self):
        skip = SWAP_ONLY_COLUMNS.get(self.output_column_name, frozenset())
        return [c for c in full.fget(self) if c.input_name not in skip]

    def init(self, *args, **kwargs):
        Comparison._input_columns_used_by_case_statement = property(narrowed)
        try:
            original_init(self, *args, **kwargs)
        finally:
            Comparison._input_columns_used_by_case_statement = full

    ets.EMTrainingSession.__init__ = init
    try:
        yield
    finally:
        ets.EMTrainingSession.__init__ = original_init


def deterministic_rules(columns: set[str], extras: tuple[str, ...]) -> list:
    """Rules whose pairs are almost all matches, for Splink's estimate of the prior.

    Records identical in every compared column reach Splink as one record (the pipeline
    collapses them first), so a rule on all of those columns finds no pair at all and would
    estimate a prior of 0; such rules are left out.
    """
    rules: list[tuple[str, ...]] = []
    if {"first_name", "last_name", "dob"} <= columns:
        rules.append(("first_name", "last_name", "dob"))
    if {"email", "last_name"} <= columns:
        rules.append(("email", "last_name"))
    if {"phone", "last_name"} <= columns:
        rules.append(("phone", "last_name"))
    rules += [(c, "last_name") for c in extras if "last_name" in columns]
    compared = columns - {"first_name_aliases"}
    rules = [rule for rule in rules if not compared <= set(rule)]
    if not rules and {"first_name", "last_name"} < compared:
        rules.append(("first_name", "last_name"))
    return [block_on(*rule) for rule in rules or [(sorted(compared)[0],)]]


# EM sessions to consider, preferred first. Blocks of personal identifiers come first: blocks
# that also gather housemates (a shared phone line, a surname in a postcode) teach EM that first
# names often differ between matches, which is exactly the mistake that merges households. The
# single places come late: a postcode block trains names and birth dates where nothing more
# personal is left to block on.
_EM_CANDIDATES: tuple[tuple[str, ...], ...] = (
    ("email",), ("dob",), ("first_name", "last_name"), ("phone",), ("first_name", "postcode"),
    ("postcode",), ("address",), ("city",), ("last_name",), ("first_name",), ("email_user",),
)  # fmt: skip
MIN_ACTIVE = 2  # with one comparison left, EM cannot tell matches from the chance agreements
MIN_EM_PAIRS = 100  # too few pairs to hold both matches and non-matches


@dataclass(frozen=True)
class TrainableComparison:
    """What choosing EM sessions needs of a comparison: its name, the input columns its
    levels read, and whether any of its m probabilities is left to estimate."""

    name: str
    columns: frozenset[str]
    trainable: bool


def choose_em_rules(
    comparisons: list[TrainableComparison],
    candidates: list[tuple[str, ...]],
    pairs: Callable[[tuple[str, ...]], int],
    sessions: int = 3,
) -> tuple[list[tuple[str, ...]], list[str]]:
    """EM sessions (blocking columns) and the comparisons none of them can train.

    Splink leaves out of a session every comparison reading a blocking column (its agreement is
    forced there). A session is usable when it leaves at least MIN_ACTIVE trainable comparisons
    and generates at least MIN_EM_PAIRS pairs (`pairs(rule)`, asked only of candidates that
    could be taken). The first `sessions`
    usable candidates are taken in order; later ones only if they train a comparison not yet
    trained.
    """
    chosen: list[tuple[str, ...]] = []
    trained: set[str] = set()
    for rule in candidates:
        active = active_comparisons(comparisons, rule)
        if len(active) < MIN_ACTIVE or not (len(chosen) < sessions or active - trained):
            continue
        if pairs(rule) >= MIN_EM_PAIRS:
            chosen.append(rule)
            trained |= active
    return chosen, [c.name for c in comparisons if c.trainable and c.name not in trained]


def active_comparisons(comparisons: list[TrainableComparison], rule: tuple[str, ...]) -> set[str]:
    """The trainable comparisons an EM session blocked on `rule` estimates."""
    return {c.name for c in comparisons if c.trainable and not c.columns & set(rule)}


def train_m(
    linker,
    columns: set[str],
    extras: tuple[str, ...],
    pairs: Callable[[tuple[str, ...]], int],
    *,
    max_pairs: float | None,
) -> tuple[list[str], dict[str, str], list[str]]:
    """m probabilities by EM, in the sessions `choose_em_rules` picks for the linker's
    comparisons and this data (`pairs(rule)`: how many pairs a block on `rule` generates).

    Returns (sessions run, sessions EM could not complete with the reason, comparisons no
    session trained). Raises ContractError when no comparison could be trained at all.
    """
    from splink.internals.exceptions import EMTrainingException

    comparisons = [
        TrainableComparison(
            cc.output_column_name,
            frozenset(c.input_name for c in cc._input_columns_used_by_case_statement)
            - SWAP_ONLY_COLUMNS.get(cc.output_column_name, frozenset()),
            any(not level._fix_m_probability for level in cc._comparison_levels_excluding_null),
        )
        for cc in linker._settings_obj.comparisons
    ]  # fmt: skip
    available = columns | ({"email_user"} if "email" in columns else set())
    candidates = [
        rule
        for rule in [*_EM_CANDIDATES[:2], *[(e,) for e in extras], *_EM_CANDIDATES[2:]]
        if set(rule) <= available
    ]
    rules, _ = choose_em_rules(comparisons, candidates, pairs)
    done, failed, trained = [], {}, set()
    with zero_m_as_unobserved(), swap_levels_stay_trained():
        for rule in rules:
            # EM needs enough pairs to see matches and non-matches, not all of them: past
            # half a million pairs the estimates stop moving while the cost keeps growing
            # (clustered F1 identical to 4 places with 5e5 and 1e6 at 230k and 1M records).
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(
                    block_on(*rule), max_pairs=max_pairs
                )
            except (EMTrainingException, ValueError) as exc:
                # Splink's own refusals (no pairs after sampling; every pair in the block
                # scored a non-match, so the session's prior is 0): this block cannot
                # train, the others still can.
                failed[" AND ".join(rule)] = type(exc).__name__
                log.warning("EM session on %s skipped: %s", " AND ".join(rule),
                            type(exc).__name__)  # fmt: skip
                continue
            done.append(" AND ".join(rule))
            trained |= active_comparisons(comparisons, rule)
    untrained = sorted({c.name for c in comparisons if c.trainable} - trained)
    if untrained:
        log.warning("comparisons left at Splink's default m: %s", ", ".join(untrained))
    if not trained:  # Splink's generic defaults are not a model of these records
        from features.errors import ContractError

        roles = ", ".join(sorted(columns - {"first_name_aliases"}))
        raise ContractError(
            f"cannot train a linkage model on {roles} alone: every training block would "
            "fix what it is meant to learn. Map at least one more role (dob, email, phone, "
            "postcode, city or address) or an --extra column"
        )
    return done, failed, untrained
