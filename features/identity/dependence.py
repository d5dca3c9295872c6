"""Which attributes the data shows to depend on one another among different people.

The model scores two attributes as one comparison when they are not independent evidence:
housemates share a surname and an address, and a postcode mostly tells the city. Whether that
holds is measured, not assumed: of the pairs of records sharing the rarer of the two attributes,
the share that are plainly two people (first names unlike, birth years apart, where known) and
share the other attribute too. Where the attributes were drawn independently that share is
about the chance of sharing the other one (FEBRL: at most 0.018); where one tells the other, or
people live together, it is large (synthetic worlds: 0.72-0.94 for two place columns, 0.57 for
surname and address). Pairs sharing an attribute are counted from group sizes; the pairs
sharing both are joined within their groups, so the cost follows the groups, not the square of
the records.
"""

from __future__ import annotations

# The share above which two attributes are scored together (see the module docstring: below
# 0.02 where independent, above 0.5 where dependent, in every data set measured).
DEPENDENT_SHARE = 0.2
MIN_SHARED = 20  # fewer plainly distinct pairs sharing both show nothing either way
SAMPLED_PAIRS = 100_000  # pairs sharing both compared at most (whole groups, by seeded hash)
PLACES = ("address", "postcode", "city")


def shared_share(
    con, rows: str, columns: set[str], first: str, second: str, seed: int = 42
) -> float | None:
    """Of the pairs sharing the rarer of `first` and `second`, the share that are plainly two
    people sharing both; None when either is missing or fewer than MIN_SHARED such pairs are
    seen.

    `rows` is a table or a query in parentheses with the prepared records' columns. Past
    SAMPLED_PAIRS pairs sharing both (a postcode and its city: 79 million at a million
    records), whole groups are compared by a seeded hash sample and the count scaled up.
    """
    if first not in columns or second not in columns:
        return None
    person = [c for c in ("first_name", "dob") if c in columns and c not in (first, second)]
    selected = ", ".join([f'"{first}" AS a', f'"{second}" AS b', *person])
    base = f'(SELECT {selected} FROM {rows} WHERE "{first}" IS NOT NULL AND "{second}" IS NOT NULL)'
    unlike = ["TRUE"]
    if "first_name" in person:
        unlike.append("(l.first_name IS NULL OR r.first_name IS NULL OR "
                      "jaro_winkler_similarity(l.first_name, r.first_name) < 0.7)")  # fmt: skip
    if "dob" in person:
        unlike.append("(l.dob IS NULL OR r.dob IS NULL OR abs(year(l.dob) - year(r.dob)) > 1)")
    shared = "(SELECT SUM(c * (c - 1) / 2) FROM (SELECT COUNT(*) AS c FROM {} GROUP BY {}))"
    [(share_a, share_b, share_both)] = con.execute(
        f"SELECT {shared.format(base, 'a')}, {shared.format(base, 'b')}, "
        f"{shared.format(base, 'a, b')}"
    ).fetchall()
    if not share_both:
        return None
    rate = min(1.0, SAMPLED_PAIRS / share_both)
    keep = "" if rate >= 1 else f"WHERE hash(a, b, {int(seed)}) % 1000000 < {int(rate * 1e6)}"
    [(seen, both)] = con.execute(
        f"WITH p AS (SELECT *, row_number() OVER () AS i FROM {base} {keep}) "
        f"SELECT COUNT(*), COUNT(*) FILTER (WHERE {' AND '.join(unlike)}) FROM p l "
        f"JOIN p r ON l.a = r.a AND l.b = r.b AND l.i < r.i"
    ).fetchall()
    if both < MIN_SHARED:
        return None
    return float(both / seen * share_both / min(share_a, share_b))


def household_share(con, rows: str, columns: set[str], seed: int = 42) -> float | None:
    """`shared_share` of the surname and the most specific place (address, postcode, city)."""
    place = next((c for c in PLACES if c in columns), None)
    return shared_share(con, rows, columns, "last_name", place, seed) if place else None


def place_shares(con, rows: str, columns: set[str], seed: int = 42) -> dict[str, float | None]:
    """`shared_share` of two place columns present at a time, by 'first+second', most specific
    first, until one pair shows dependence (then the places are one comparison whatever the
    others show, and they are not measured)."""
    present = [c for c in PLACES if c in columns]
    shares: dict[str, float | None] = {}
    for i, a in enumerate(present):
        for b in present[i + 1 :]:
            shares[f"{a}+{b}"] = share = shared_share(con, rows, columns, a, b, seed)
            if (share or 0.0) > DEPENDENT_SHARE:
                return shares
    return shares
