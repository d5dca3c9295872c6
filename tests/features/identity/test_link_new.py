"""Candidate selection's rule pruning: the kept blocking rules join exactly the same pairs."""

from __future__ import annotations

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from features.identity.link_new import covering_rules

RULES = [
    'l."email" = r."email"',
    '(l."first_name" = r."first_name") AND (l."last_name" = r."last_name") AND (l."dob" = r."dob")',
    '(l."last_name" = r."last_name") AND (l."dob" = r."dob")',
    '(l."last_name" = r."last_name") AND (l."postcode" = r."postcode")',
    "(SUBSTRING(l.first_name, 1, 2) = SUBSTRING(r.first_name, 1, 2)) AND "
    '(l."postcode" = r."postcode")',
    '(l."first_name" = r."first_name") OR (l."email" = r."email")',
    'l."email" = r."email"',
]


def test_rules_covered_by_another_and_duplicates_are_dropped():
    kept = covering_rules(RULES)
    assert kept == [RULES[0], RULES[2], RULES[3], RULES[4], RULES[5]]
    # Parentheses inside a term are not taken for the rule's own.
    assert covering_rules(["(SUBSTRING(l.a, 1, 2) = SUBSTRING(r.a, 1, 2))", "l.b = r.b"]) == [
        "(SUBSTRING(l.a, 1, 2) = SUBSTRING(r.a, 1, 2))",
        "l.b = r.b",
    ]


def _pairs(con: duckdb.DuckDBPyConnection, rules: list[str]) -> set[tuple[int, int]]:
    union = " UNION ".join(
        f"SELECT l.id, r.id FROM people l JOIN people r ON ({rule}) AND l.id < r.id"
        for rule in rules
    )
    return set(con.execute(union).fetchall())


values = st.sampled_from(["ann", "anna", "bob", None])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(values, values, values, values, values), min_size=2, max_size=25))
def test_kept_rules_join_the_same_pairs_as_all_rules(rows):
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE people (id INTEGER, first_name VARCHAR, last_name VARCHAR, dob VARCHAR, "
        "postcode VARCHAR, email VARCHAR)"
    )
    con.executemany(
        "INSERT INTO people VALUES (?, ?, ?, ?, ?, ?)", [(i, *r) for i, r in enumerate(rows)]
    )
    assert _pairs(con, covering_rules(RULES)) == _pairs(con, RULES)
