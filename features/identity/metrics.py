"""String similarities exactly as DuckDB computes them, the engine Splink scored with.

DuckDB counts Unicode code points and, for Jaro-Winkler, adds the prefix bonus with a fused
multiply-add (one rounding), so a similarity that lands on a level's threshold (0.8 is a common
value) falls on the same side as in Splink. jellyfish gives the same counts for ASCII text (its
unit is the grapheme, which differs from the code point only outside ASCII and for CR LF), so
ASCII goes to jellyfish (compiled) and anything else to the plain Python below. A test holds
both paths equal to DuckDB, bit for bit, on thousands of generated pairs.
"""

from __future__ import annotations

from functools import cache

import jellyfish


def _plain(left: str, right: str) -> bool:
    """True when every code point is its own grapheme, so jellyfish counts what DuckDB counts."""
    return left.isascii() and right.isascii() and "\r" not in left and "\r" not in right


def jaro(left: str, right: str) -> float:
    """DuckDB's jaro_similarity."""
    if not left or not right:
        return 0.0
    if _plain(left, right):
        return jellyfish.jaro_similarity(left, right)
    return _jaro_python(left, right)


def _jaro_python(left: str, right: str) -> float:
    bound = max(max(len(left), len(right)) // 2 - 1, 0)
    used = [False] * len(right)
    matched_left = []
    for i, char in enumerate(left):
        for j in range(max(0, i - bound), min(len(right), i + bound + 1)):
            if not used[j] and right[j] == char:
                used[j] = True
                matched_left.append(char)
                break
    common = len(matched_left)
    if not common:
        return 0.0
    matched_right = [char for char, hit in zip(right, used, strict=True) if hit]
    transpositions = sum(a != b for a, b in zip(matched_left, matched_right, strict=True)) // 2
    # This summation order is DuckDB's; another order can differ in the last bit.
    return (common / len(left) + common / len(right) + (common - transpositions) / common) / 3.0


def _fused_multiply_add(a: float, b: float, c: float) -> float:
    """a * b + c rounded once, as FMA hardware does (Python int division rounds correctly)."""
    (na, da), (nb, db), (nc, dc) = a.as_integer_ratio(), b.as_integer_ratio(), c.as_integer_ratio()
    return (na * nb * dc + nc * da * db) / (da * db * dc)


@cache
def _duckdb_fuses() -> bool:
    """Whether this DuckDB build rounds the Winkler bonus once (FMA) or twice; asked once."""
    import duckdb

    con = duckdb.connect()
    try:
        [(value,)] = con.execute("SELECT jaro_winkler_similarity('babbb', 'bbaab')").fetchall()
    finally:
        con.close()
    return value == 0.805  # fused; two roundings give 0.8049999999999999


def jaro_winkler(left: str, right: str) -> float:
    """DuckDB's jaro_winkler_similarity: prefix weight 0.1, prefix up to 4, boost above 0.7."""
    similarity = jaro(left, right)
    if similarity <= 0.7:
        return similarity
    prefix = 0
    for a, b in zip(left[:4], right[:4], strict=False):
        if a != b:
            break
        prefix += 1
    if _duckdb_fuses():
        return _fused_multiply_add(prefix * 0.1, 1.0 - similarity, similarity)
    return similarity + prefix * 0.1 * (1.0 - similarity)


def levenshtein(left: str, right: str) -> int:
    """DuckDB's levenshtein (insertions, deletions, substitutions)."""
    if _plain(left, right):
        return jellyfish.levenshtein_distance(left, right)
    previous = list(range(len(right) + 1))
    for i, a in enumerate(left, 1):
        current = [i]
        for j, b in enumerate(right, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b)))
        previous = current
    return previous[-1]


def damerau_levenshtein(left: str, right: str) -> int:
    """DuckDB's damerau_levenshtein: Levenshtein plus transpositions, unrestricted (a
    transposed pair may be edited again, unlike optimal string alignment)."""
    if _plain(left, right):
        return jellyfish.damerau_levenshtein_distance(left, right)
    # Lowrance-Wagner, with a sentinel row and column of `far`.
    far = len(left) + len(right)
    table = [[far] * (len(right) + 2)] + [[far, i] + [0] * len(right) for i in range(len(left) + 1)]
    table[1] = [far, *range(len(right) + 1)]
    last_row: dict[str, int] = {}
    for i in range(1, len(left) + 1):
        last_match_column = 0
        for j in range(1, len(right) + 1):
            k, ell = last_row.get(right[j - 1], 0), last_match_column
            cost = 0 if left[i - 1] == right[j - 1] else 1
            if not cost:
                last_match_column = j
            table[i + 1][j + 1] = min(
                table[i][j] + cost,
                table[i + 1][j] + 1,
                table[i][j + 1] + 1,
                table[k][ell] + (i - k - 1) + 1 + (j - ell - 1),
            )
        last_row[left[i - 1]] = i
    return table[len(left) + 1][len(right) + 1]
