"""The comparisons of the linkage model: one per role a record carries, built for Splink 5.

Names with term-frequency adjustments, nicknames and first/last-name swaps; email, phone, date
of birth, postcode and address with fuzzy levels; a surname's rarity weighed by place. Which
comparisons exist depends only on the roles present (`build_comparisons`); features.identity.
model trains them.
"""

from __future__ import annotations

import pandas as pd
import splink.comparison_level_library as cll
import splink.comparison_library as cl

# Columns a comparison reads only in its swapped-names level. An EM session blocked on one of
# them still trains the comparison (features.identity.model): the block forces nothing but
# that one level, which it merely under-samples, whereas leaving the comparison out would, with
# names and a birth date alone, leave no session that trains the birth date.
SWAP_ONLY_COLUMNS: dict[str, frozenset[str]] = {
    "first_name": frozenset({"last_name"}),
    "last_name": frozenset({"first_name"}),
    "surname_location": frozenset({"first_name"}),
}


def _name(column: str) -> cl.CustomComparison:
    """Exact (term-frequency adjusted), swapped with the other name, nickname, fuzzy, else."""
    other = "last_name" if column == "first_name" else "first_name"
    levels = [
        cll.NullLevel(column),
        cll.ExactMatchLevel(column, term_frequency_adjustments=True),
        cll.ColumnsReversedLevel(column, other).configure(label_for_charts="first/last swapped"),
    ]
    if column == "first_name":
        # One name is a nickname of the other (Bill, William). Not "both share a nickname":
        # Melissa and Elizabeth share Lisa, yet are two names, and mostly two housemates.
        levels.append(cll.CustomLevel(
            'list_contains("first_name_aliases_l", "first_name_r")'
            ' OR list_contains("first_name_aliases_r", "first_name_l")',
            label_for_charts="nickname",
        ))  # fmt: skip
    levels += [
        cll.JaroWinklerLevel(column, 0.92),
        cll.JaroWinklerLevel(column, 0.80),
        cll.ElseLevel(),
    ]
    return cl.CustomComparison(comparison_levels=levels, output_column_name=column)


def _fuzzy_exact(column: str, *, jaro: float | None = None, edits: int = 1) -> cl.CustomComparison:
    levels = [
        cll.NullLevel(column),
        cll.ExactMatchLevel(column, term_frequency_adjustments=True),
        cll.DamerauLevenshteinLevel(column, edits),
    ]
    if jaro is not None:
        levels.append(cll.JaroWinklerLevel(column, jaro))
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(comparison_levels=levels, output_column_name=column)


def _location(columns: list[str]) -> cl.CustomComparison:
    """Address, postcode and city as ONE comparison, most specific agreement first.

    They are one piece of evidence (where someone lives): scored as three independent
    comparisons they would count it three times, and everyone in a household would look like
    one person.
    """

    def both(column: str) -> str:
        return f'("{column}_l" IS NOT NULL AND "{column}_r" IS NOT NULL)'

    null_sql = " AND ".join(f"NOT {both(c)}" for c in columns)
    levels = [cll.CustomLevel(null_sql, label_for_charts="no location on both").configure(
        is_null_level=True
    )]  # fmt: skip
    if "address" in columns:
        exact_address = cll.ExactMatchLevel("address", term_frequency_adjustments=True)
        if "postcode" in columns:
            levels.append(
                cll.And(cll.ExactMatchLevel("address"), cll.ExactMatchLevel("postcode")).configure(
                    label_for_charts="same address and postcode"
                )
            )
        levels.append(exact_address)
        fuzzy = cll.JaroWinklerLevel("address", 0.88)
        if "postcode" in columns:
            fuzzy = cll.And(fuzzy, cll.ExactMatchLevel("postcode"))
        levels.append(fuzzy.configure(label_for_charts="similar address, same area"))
    if "postcode" in columns:
        levels.append(cll.ExactMatchLevel("postcode", term_frequency_adjustments=True))
    if "city" in columns:
        levels.append(cll.ExactMatchLevel("city", term_frequency_adjustments=True))
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(comparison_levels=levels, output_column_name="location")


def _places(location: list[str], together: bool) -> list[cl.CustomComparison]:
    """Where someone lives: one comparison (`_location`), or one per column when the data shows
    the columns independent of one another (then each is its own evidence)."""
    if together or len(location) == 1:
        return [_location(location)]
    comparisons = []
    for column in location:
        levels = [
            cll.NullLevel(column),
            cll.ExactMatchLevel(column, term_frequency_adjustments=True),
        ]
        if column == "address":
            levels.append(cll.JaroWinklerLevel(column, 0.88))
        comparisons.append(cl.CustomComparison(
            comparison_levels=[*levels, cll.ElseLevel()], output_column_name=column
        ))  # fmt: skip
    return comparisons


def _surname_location(location: list[str], swaps: bool = False) -> cl.CustomComparison:
    """Surname and where someone lives, scored together.

    Among different people, sharing a surname and sharing an address are far from
    independent: housemates share both. Scored separately, Splink would multiply two small u
    values and count a household as overwhelming evidence; scored jointly, u of 'same surname
    and same address' is learned from how often different people really share both. With
    `swaps` (first names present), a record whose first and last name are swapped keeps its
    surname at a shared place: 'Bowman Albert' and 'Albert Bowman' at one address are not
    two surnames at one address.
    """
    places = [c for c in ("address", "postcode") if c in location]
    null_sql = " AND ".join(
        f'("{c}_l" IS NULL OR "{c}_r" IS NULL)' for c in ["last_name", *location]
    )
    same_place = [cll.ExactMatchLevel(c) for c in places]
    levels = [cll.CustomLevel(null_sql, label_for_charts="nothing on both").configure(
        is_null_level=True
    )]  # fmt: skip
    for name in places:
        levels.append(
            cll.And(cll.ExactMatchLevel("last_name"), cll.ExactMatchLevel(name)).configure(
                label_for_charts=f"same surname and {name}"
            )
        )
    if same_place:
        any_place = cll.Or(*same_place) if len(same_place) > 1 else same_place[0]
        levels.append(cll.And(cll.JaroWinklerLevel("last_name", 0.9), any_place).configure(
            label_for_charts="similar surname, same place"
        ))  # fmt: skip
        if swaps:
            swapped = cll.ColumnsReversedLevel("first_name", "last_name", symmetrical=True)
            levels.append(cll.And(swapped, any_place).configure(
                label_for_charts="names swapped, same place"
            ))  # fmt: skip
        levels.append(any_place.configure(label_for_charts="same place, other surname"))
    if "city" in location:
        levels.append(cll.And(cll.ExactMatchLevel("last_name"), cll.ExactMatchLevel("city"))
                      .configure(label_for_charts="same surname and city"))  # fmt: skip
    if places:
        # Both records say where they live, and it is not the same place: a person who moved,
        # or (far more often) a namesake. Kept apart from a surname with no place to compare,
        # which says nothing about where either lives.
        known = " OR ".join(f'("{c}_l" IS NOT NULL AND "{c}_r" IS NOT NULL)' for c in places)
        levels.append(
            cll.And(cll.ExactMatchLevel("last_name"), cll.CustomLevel(f"({known})")).configure(
                label_for_charts="same surname, elsewhere"
            )
        )
    # How rare the surname is counts in `_surname_rarity`, not here: see there.
    levels += [
        cll.ExactMatchLevel("last_name"),
        cll.JaroWinklerLevel("last_name", 0.9),
        cll.ElseLevel(),
    ]
    return cl.CustomComparison(comparison_levels=levels, output_column_name="surname_location")


def _same_place_sql(places: list[str]) -> str:
    """SQL true where the records share an address or postcode, false otherwise (never NULL)."""
    return " OR ".join(
        f'("{c}_l" IS NOT NULL AND "{c}_r" IS NOT NULL AND "{c}_l" = "{c}_r")' for c in places
    )


def _surname_rarity(places: list[str], agreement: float) -> cl.CustomComparison:
    """The rarity of a shared surname, where the surname is shared by chance.

    Splink adjusts an exact match by term frequency relative to the u of the comparison's
    plain exact-match level. In `surname_location` that level holds only the surnames shared
    with no place in common (the rest sit in the joint levels), so its u is a fraction of how
    often two people share a surname, and every adjusted surname would lose that fraction's
    log. Here the adjustment stands alone: a level whose m equals its u (no evidence of its
    own) and whose u is `agreement`, the chance that two records share a surname (the sum of
    the squared surname frequencies), so a shared surname weighs log2(agreement / frequency):
    more than average when rare, less when common. Shared surnames at a shared place are left
    out: among housemates the surname is shared by kinship, not by chance, and its rarity says
    nothing.
    """
    shared = '"last_name_l" = "last_name_r"'
    if places:
        shared += f" AND NOT ({_same_place_sql(places)})"
    return cl.CustomComparison(
        output_column_name="surname_rarity",
        comparison_levels=[
            cll.NullLevel("last_name"),
            cll.CustomLevel(shared).configure(
                label_for_charts="surname shared by chance",
                m_probability=agreement,
                u_probability=agreement,
                fix_m_probability=True,
                fix_u_probability=True,
                tf_adjustment_column="last_name",
                tf_adjustment_weight=1.0,
                disable_tf_exact_match_detection=True,
            ),
            cll.ElseLevel().configure(
                m_probability=1 - agreement,
                u_probability=1 - agreement,
                fix_m_probability=True,
                fix_u_probability=True,
            ),
        ],
    )


def surname_agreement(tables: dict[str, pd.DataFrame] | list[pd.DataFrame]) -> float:
    """The chance that two records with a surname share it: the sum of squared frequencies."""
    frames = tables.values() if isinstance(tables, dict) else tables
    names = [f["last_name"].dropna() for f in frames if "last_name" in f.columns]
    counts = pd.concat(names).value_counts() if names else pd.Series(dtype=float)
    total = counts.sum()
    return float((counts.astype(float) ** 2).sum() / total**2) if total else 0.01


def build_comparisons(
    columns: set[str],
    extras: tuple[str, ...] = (),
    surname_agreement: float = 0.001,
    households: bool = True,
    places_together: bool = True,
) -> list:
    """One comparison per role present (and per extra column), in a fixed order.

    `surname_agreement` is the chance that two records share a surname (see
    `surname_agreement()`), the base of the surname's term-frequency adjustment. With
    `households` (people sharing a surname live together far more often than chance: see
    features.identity.dependence), surname and place are scored together; without, each on
    its own, as independent evidence. With `places_together` (address, postcode and city
    depend on one another, as real places do), they are one comparison; without (drawn
    independently, as in FEBRL), one comparison each.
    """
    comparisons: list = []
    location = [c for c in ("address", "postcode", "city") if c in columns]
    if "first_name" in columns:
        comparisons.append(_name("first_name"))
    if "last_name" in columns and location and not households:
        comparisons += [_name("last_name"), *_places(location, places_together)]
    elif "last_name" in columns and location:
        comparisons.append(_surname_location(location, swaps="first_name" in columns))
        places = [c for c in ("address", "postcode") if c in location]
        comparisons.append(_surname_rarity(places, surname_agreement))
    elif "last_name" in columns:
        comparisons.append(_name("last_name"))
    elif location:
        comparisons += _places(location, places_together)
    if "dob" in columns:
        comparisons.append(
            cl.DateOfBirthComparison(
                "dob",
                input_is_string=False,
                datetime_metrics=["month", "year", "year"],
                datetime_thresholds=[1, 1, 10],
            )
        )
    if "email" in columns:
        comparisons.append(
            cl.CustomComparison(
                output_column_name="email",
                comparison_levels=[
                    cll.NullLevel("email"),
                    cll.ExactMatchLevel("email", term_frequency_adjustments=True),
                    # No 'same user part' or 'similar user part' level: user parts are built
                    # from names (james.s@, echan@), so they would count the name agreement a
                    # second time, and random sampling, which almost never sees them agree,
                    # would make them look decisive.
                    cll.ElseLevel(),
                ],
            )
        )
    if "phone" in columns:
        comparisons.append(_fuzzy_exact("phone"))
    if "gender" in columns:
        comparisons.append(cl.ExactMatch("gender"))
    for column in extras:  # user-supplied identifiers: exact with term frequencies, or one typo
        comparisons.append(_fuzzy_exact(column))
    return comparisons
