"""The numpy evaluation of comparison levels equals Splink's own SQL run by DuckDB.

Every comparison `build_comparisons` can produce is compiled and run on generated record pairs
made to land on every level (typos, swapped and nicknamed names, dates a digit, days, months or
years apart, one-edit phones, NULLs); the chosen level must equal the CASE statement Splink puts
in its predict SQL, pair by pair. The string metrics are held equal to DuckDB bit for bit.
"""

from __future__ import annotations

import datetime as dt
import math
import random

import duckdb
import numpy as np
import pandas as pd
import pytest
from splink import SettingsCreator, block_on

from features.identity import metrics
from features.identity.canonical import name_aliases
from features.identity.comparisons import build_comparisons
from features.identity.levels import Pairs, compile_model
from features.identity.pool import encode_columns, read_pool

FIRST = ["william", "bill", "robert", "bob", "roberta", "ann", "anne", "annie", "jon", "john",
         "jonathan", "maria", "marie", "mario", "lee", "kim"]  # fmt: skip
LAST = ["smith", "smyth", "smithe", "jones", "johns", "lee", "leigh", "kim", "nguyen", "ngyuen",
        "brown", "browne", "williams", "john"]  # fmt: skip
STREETS = ["1 main st", "1 main st apt 2", "12 main st", "3 oak rd", "3 oak road", "5 elm ave"]
ROLES = {"first_name", "last_name", "first_name_aliases", "dob", "email", "phone", "postcode",
         "city", "address", "gender", "loyalty_id"}  # fmt: skip


def _typo(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text))
    kind = rng.choice(["swap", "drop", "change", "add"])
    if kind == "swap" and len(text) > 1:
        i = min(i, len(text) - 2)
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if kind == "drop" and len(text) > 2:
        return text[:i] + text[i + 1 :]
    if kind == "add":
        return text[:i] + rng.choice("aeiou7") + text[i:]
    return text[:i] + rng.choice("xyz3") + text[i + 1 :]


def _person(rng: random.Random) -> dict:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return {
        "first_name": first, "last_name": last,
        "dob": dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(20000)),
        "email": f"{first}.{last}{rng.randrange(9)}@mail.com",
        "phone": "+1212555" + f"{rng.randrange(10000):04d}",
        "postcode": rng.choice(["02110", "02111", "10001"]), "city": rng.choice(["boston", "nyc"]),
        "address": rng.choice(STREETS), "gender": rng.choice(["m", "f"]),
        "loyalty_id": f"L{rng.randrange(100000):05d}",
    }  # fmt: skip


def _variant(rng: random.Random, person: dict) -> dict:
    """A copy of `person` with one to three of the changes real duplicates show."""
    out = dict(person)
    for _ in range(rng.randint(1, 3)):
        change = rng.choice(["typo_first", "typo_last", "swap", "nick", "dob_digit", "dob_days",
                             "dob_months", "dob_years", "dob_decades", "phone", "typo_text",
                             "null", "move", "bare", "nowhere"])  # fmt: skip
        if change == "typo_first":
            out["first_name"] = _typo(rng, out["first_name"] or "x")
        elif change == "typo_last":
            out["last_name"] = _typo(rng, out["last_name"] or "x")
        elif change == "swap":
            out["first_name"], out["last_name"] = out["last_name"], out["first_name"]
        elif change == "nick":
            out["first_name"] = rng.choice(FIRST)
        elif change.startswith("dob") and out["dob"]:
            days = {"dob_digit": rng.choice([1, 10, -1]), "dob_days": rng.randint(-40, 40),
                    "dob_months": rng.randint(-400, 400), "dob_years": rng.randint(-4000, 4000),
                    "dob_decades": rng.randint(-9000, 9000)}[change]  # fmt: skip
            out["dob"] = out["dob"] + dt.timedelta(days=days)
        elif change == "phone" and out["phone"]:
            out["phone"] = _typo(rng, out["phone"][2:]).join(["+1", ""])
        elif change == "typo_text":
            column = rng.choice(["email", "address", "loyalty_id", "postcode"])
            out[column] = _typo(rng, out[column] or "x")
        elif change == "bare":  # a sign-up form: no surname, no address
            out.update(dict.fromkeys(["last_name", "address", "postcode", "city"]))
        elif change == "nowhere":  # a surname, no place to compare it at
            out.update(dict.fromkeys(["address", "postcode", "city"]))
        elif change == "null":
            out.update(dict.fromkeys(rng.sample(sorted(ROLES - {"first_name_aliases"}), 3)))
        else:
            out.update({k: v for k, v in _person(rng).items() if k in ("address", "postcode")})
    return out


def _records(seed: int) -> pd.DataFrame:
    rng = random.Random(seed)
    people = [_person(rng) for _ in range(30)]
    rows = people + [_variant(rng, rng.choice(people)) for _ in range(120)]
    frame = pd.DataFrame(rows)
    frame["first_name_aliases"] = [
        list(name_aliases(n)) if n else None for n in frame["first_name"]
    ]
    frame.insert(0, "key", [f"k{i:04d}" for i in range(len(frame))])
    return frame


@pytest.mark.parametrize(
    "absent",
    [set(), {"last_name"}, {"address", "postcode", "city"}, {"address"}, {"address", "postcode"}],
    ids=["all-roles", "no-surname", "no-location", "no-address", "city-only"],
)
def test_levels_equal_splinks_case_statements_in_duckdb(absent: set[str]) -> None:
    roles = ROLES - absent - {"loyalty_id"}
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=build_comparisons(roles, extras=("loyalty_id",)),
        blocking_rules_to_generate_predictions=[block_on("email")],
    ).get_settings("duckdb")
    # An absent role is an all-NULL column, as `prepare_records` leaves it.
    records = _records(seed=len(absent)).assign(**dict.fromkeys(absent))
    con = duckdb.connect()
    con.register("frame", records)
    kinds = {"dob": "DATE", "first_name_aliases": "VARCHAR[]"}
    typed = ", ".join(f'CAST("{c}" AS {kinds.get(c, "VARCHAR")}) AS "{c}"' for c in records.columns)
    con.execute(f"CREATE TABLE records AS SELECT {typed} FROM frame")
    types, table = read_pool(con, "records")
    columns = encode_columns(table, types)
    _, comparisons = compile_model(settings.as_dict(), {c: t for c, t in types.items()
                                                        if c != "key"})  # fmt: skip
    sides = ", ".join(f'l."{c}" AS "{c}_l", r."{c}" AS "{c}_r"' for c in types if c != "key")
    cases = ", ".join(c._case_statement for c in settings.comparisons)
    expected = con.execute(
        f"SELECT {cases} FROM (SELECT l.key AS k_l, r.key AS k_r, {sides} FROM records l "
        "CROSS JOIN records r WHERE l.key < 'k0060') ORDER BY k_l, k_r"
    ).df()
    size = len(records)
    seen: dict[str, set[int]] = {c.name: set() for c in comparisons}
    for left in range(60):
        query = {c: column.values[column.codes[left]] for c, column in columns.items()}
        pairs = Pairs(query, columns, np.arange(size))
        for comparison in comparisons:
            ours = comparison.gammas(pairs)
            theirs = expected[f"gamma_{comparison.name}"].to_numpy()[
                left * size : (left + 1) * size
            ]
            assert (ours == theirs).all(), (comparison.name, left, np.flatnonzero(ours != theirs))
            seen[comparison.name] |= set(ours.tolist())
    # The pairs reached every level that can occur, or the test would prove little.
    for comparison in settings.comparisons:
        possible = {level.comparison_vector_value for level in comparison.comparison_levels
                    if not any(f'"{a}_' in level.sql_condition for a in absent)}  # fmt: skip
        assert seen[comparison.output_column_name] == possible, comparison.output_column_name


def _random_pairs(seed: int, count: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    alphabets = ["ab", "abc ", "abcdefghij", "abcdefghijklmnopqrstuvwxyz 0123",
                 "ae\u0301\u0308é😀\u200d\r\n"]  # fmt: skip
    pairs = []
    for _ in range(count):
        alphabet = rng.choice(alphabets)
        left = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        right = left
        for _ in range(rng.randint(0, 5)):
            right = _typo(rng, right) if right else rng.choice(alphabet)
        pairs.append((left, right) if rng.random() < 0.8 else (left, left[::-1]))
    return pairs


def test_string_metrics_equal_duckdb_bit_for_bit() -> None:
    pairs = _random_pairs(seed=1, count=6000)
    con = duckdb.connect()
    con.execute("CREATE TABLE p (a VARCHAR, b VARCHAR)")
    con.executemany("INSERT INTO p VALUES (?, ?)", pairs)
    rows = con.execute(
        "SELECT a, b, jaro_similarity(a, b), jaro_winkler_similarity(a, b), "
        "levenshtein(a, b), damerau_levenshtein(a, b) FROM p"
    ).fetchall()
    for a, b, jaro, jaro_winkler, lev, damerau in rows:
        assert metrics.jaro(a, b) == jaro, (a, b)
        assert metrics.jaro_winkler(a, b) == jaro_winkler, (a, b)
        assert metrics.levenshtein(a, b) == lev, (a, b)
        assert metrics.damerau_levenshtein(a, b) == damerau, (a, b)
    assert metrics.jaro_winkler("babbb", "bbaab") == 0.805  # one rounding, as DuckDB


@pytest.mark.parametrize(
    "sql",
    ['"aliases_l" = "aliases_r"', 'lower("name_l") = lower("name_r")', '"unknown_l" = "unknown_r"',
     'ABS("dob_l" - "dob_r") <= 3', 'array_length(list_intersect("name_l", "name_r")) >= 1',
     'jaro_winkler_similarity("name_l", "name_r", 0.9) >= 0.9'],
)  # fmt: skip
def test_sql_it_cannot_evaluate_exactly_is_refused_at_load(sql: str) -> None:
    from features.errors import ContractError

    model = {"probability_two_random_records_match": 0.001, "link_type": "dedupe_only",
             "comparisons": [{"output_column_name": "x", "comparison_levels": [
                 {"sql_condition": sql, "label_for_charts": "odd"},
                 {"sql_condition": "ELSE", "label_for_charts": "else"}]}]}  # fmt: skip
    types = {"name": "VARCHAR", "dob": "DATE", "aliases": "VARCHAR[]"}
    with pytest.raises(ContractError, match="cannot evaluate"):
        compile_model(model, types)


def _labeller(roles: set[str], records: pd.DataFrame, comparison: str):
    """level(a, b) -> the label of the level records a and b reach in `comparison`, checked
    equal to Splink's CASE statement run by DuckDB."""
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=build_comparisons(roles),
        blocking_rules_to_generate_predictions=[block_on("last_name")],
    ).get_settings("duckdb")
    records = records.assign(key=[f"k{i}" for i in range(len(records))])
    if "first_name" in records:
        records["first_name_aliases"] = [
            list(name_aliases(n)) if n else None for n in records["first_name"]
        ]
    con = duckdb.connect()
    con.register("frame", records)
    kinds = {"first_name_aliases": "VARCHAR[]"}
    typed = ", ".join(f'CAST("{c}" AS {kinds.get(c, "VARCHAR")}) AS "{c}"' for c in records)
    con.execute(f"CREATE TABLE records AS SELECT {typed} FROM frame")
    types, table = read_pool(con, "records")
    columns = encode_columns(table, types)
    _, comparisons = compile_model(settings.as_dict(), {c: t for c, t in types.items()
                                                        if c != "key"})  # fmt: skip
    [compiled] = [c for c in comparisons if c.name == comparison]
    label = {level.gamma: level.label for level in compiled.levels}
    case = next(c for c in settings.comparisons if c.output_column_name == comparison)
    sides = ", ".join(f'l."{c}" AS "{c}_l", r."{c}" AS "{c}_r"' for c in types if c != "key")
    expected = (
        con.execute(
            f"SELECT k_l, k_r, {case._case_statement} FROM (SELECT l.key AS k_l, r.key AS k_r,"
            f" {sides} FROM records l CROSS JOIN records r)"
        )
        .df()
        .set_index(["k_l", "k_r"])[f"gamma_{comparison}"]
    )

    def level(a: int, b: int) -> str:
        query = {c: column.values[column.codes[a]] for c, column in columns.items()}
        ours = compiled.gammas(Pairs(query, columns, np.array([b])))[0]
        assert ours == expected[(f"k{a}", f"k{b}")]
        return label[ours]

    return level


def test_nickname_level_needs_one_name_to_be_a_nickname_of_the_other() -> None:
    """Bill is William; Melissa and Elizabeth, who only share the nickname Lisa, are not one
    name. Splink's SQL and the compiled level agree on both."""
    names = ["william", "bill", "melissa", "elizabeth", "liz", None, "lisa"]
    records = pd.DataFrame({"first_name": names, "last_name": "morgan"})
    level = _labeller({"first_name", "first_name_aliases", "last_name"}, records, "first_name")
    assert level(0, 1) == level(1, 0) == "nickname"  # william / bill
    assert level(3, 4) == "nickname"  # elizabeth / liz
    assert level(2, 3) != "nickname" and level(3, 2) != "nickname"  # melissa / elizabeth
    assert level(2, 6) == level(3, 6) == "nickname"  # Lisa may be either of them
    assert level(2, 5) == "null"


def test_a_surname_somewhere_else_is_not_a_surname_with_no_place() -> None:
    """Two records that both say where they live, in different places, agree on a surname
    only: a namesake or a move. A record with no place says nothing about where it lives."""
    records = pd.DataFrame(
        {
            "last_name": ["smith", "smith", "smith", "smith", "jones"],
            "address": ["1 main st", "3 oak rd", None, "1 main st", "1 main st"],
            "postcode": ["02110", "10001", None, "02110", "02110"],
        }
    )
    level = _labeller({"last_name", "address", "postcode"}, records, "surname_location")
    assert level(0, 1) == "same surname, elsewhere"
    assert level(0, 2) == level(1, 2) == "Exact match on last_name"
    assert level(0, 3) == "same surname and address"
    assert level(0, 4) == "same place, other surname"


def test_a_record_with_its_names_swapped_keeps_its_surname_at_a_shared_place() -> None:
    """'Bowman Albert' at Albert Bowman's address is Albert Bowman's surname at his address,
    not another surname there; a swapped record beside a housemate ('Allen Sarah' and
    'John Allen') is not a swap of him."""
    records = pd.DataFrame(
        {
            "first_name": ["albert", "bowman", "allen", "john"],
            "last_name": ["bowman", "albert", "sarah", "allen"],
            "address": ["3201 cardenas st", "3201 cardenas st", "1 elm st", "1 elm st"],
            "postcode": ["80086", "80086", "22993", "22993"],
        }
    )
    level = _labeller({"first_name", "first_name_aliases", "last_name", "address", "postcode"},
                      records, "surname_location")  # fmt: skip
    assert level(0, 1) == level(1, 0) == "names swapped, same place"
    assert level(2, 3) == level(3, 2) == "same place, other surname"


def test_a_surname_shared_by_chance_weighs_by_its_rarity_and_by_nothing_among_housemates():
    """Two namesakes elsewhere: the rarer the surname, the stronger the evidence, by exactly
    log2 of the frequency ratio; housemates share a surname by kinship, so rarity adds
    nothing there. The adjustment's own level has m = u (no evidence but the rarity)."""
    import logging

    from splink import DuckDBAPI, Linker

    from features.identity.comparisons import surname_agreement

    records = pd.DataFrame(
        {
            "unique_id": [f"r{i}" for i in range(10)],
            "last_name": ["smith"] * 6 + ["zeta", "zeta", "smith", "zeta"],
            "address": ["1 a st", "2 b st", None, "7 g st", "7 g st", "6 f st", "3 c st",
                        "5 e st", "8 h st", "5 e st"],
            "postcode": ["01", "02", None, "07", "07", "06", "03", "05", "08", "05"],
        }
    )  # fmt: skip
    agreement = surname_agreement([records])
    assert agreement == pytest.approx((7**2 + 3**2) / 10**2)
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=build_comparisons(
            {"last_name", "address", "postcode"}, surname_agreement=agreement
        ),
        blocking_rules_to_generate_predictions=[block_on("last_name"), block_on("address")],
        retain_intermediate_calculation_columns=True,
    )
    db_api = DuckDBAPI(connection=duckdb.connect())
    linker = Linker(db_api.register(records), settings, log_level=logging.ERROR)
    scored = linker.inference.predict().as_pandas_dataframe()
    scored = scored.set_index(["unique_id_l", "unique_id_r"])
    weights = scored["match_weight"]
    # The rarity's Bayes factor: the chance of sharing a surname over this surname's frequency
    rarity = 2 ** (scored["mw_surname_rarity"] + scored["mw_tf_adj_surname_rarity"])
    assert rarity[("r6", "r7")] == pytest.approx(agreement / 0.3)  # zeta: rarer than usual
    assert rarity[("r0", "r1")] == pytest.approx(agreement / 0.7)  # smith: commoner
    assert rarity[("r3", "r4")] == pytest.approx(1.0)
    # smith (7 of 10 surnames) and zeta (3 of 10), each between two different places
    assert weights[("r6", "r7")] - weights[("r0", "r1")] == pytest.approx(math.log2(7 / 3))
    # the same surname at the same address (smith r3, r4; zeta r7, r9): rarity adds nothing
    assert weights[("r7", "r9")] == pytest.approx(weights[("r3", "r4")])
    model = linker.misc.save_model_to_json()
    [rarity] = [c for c in model["comparisons"] if c["output_column_name"] == "surname_rarity"]
    for level in rarity["comparison_levels"][1:]:
        assert level["m_probability"] == level["u_probability"]
        assert level["fix_m_probability"] and level["fix_u_probability"]
