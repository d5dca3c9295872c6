"""Stable profile ids, lineage, survivorship and the clustering helpers, on small frames."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.identity.clusters import consistent_identifier_edges, constrained_components
from features.identity.issued import IssuedIds, candidate_id
from features.identity.profiles import build_golden_records, build_identity_index
from features.identity.stable_ids import assign_profile_ids, assign_profile_ids_sql


def clusters(**groups: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        [(key, cluster) for cluster, keys in groups.items() for key in keys],
        columns=["key", "cluster_id"],
    )


def test_first_run_ids_are_deterministic_and_distinct() -> None:
    first, _ = assign_profile_ids(clusters(a=["a", "b"], c=["c"]), None, {})
    again, _ = assign_profile_ids(clusters(a=["a", "b"], c=["c"]), None, {})
    assert first.equals(again)
    assert first["profile_id"].nunique() == 2


def test_new_record_joining_a_profile_keeps_its_id() -> None:
    issued: dict[str, int] = {}
    before, _ = assign_profile_ids(clusters(a=["a", "b"]), None, issued)
    after, lineage = assign_profile_ids(clusters(a=["a", "b", "n"]), before, issued)
    assert after["profile_id"].nunique() == 1
    assert after["profile_id"].iloc[0] == before["profile_id"].iloc[0]
    assert lineage.empty


def test_merge_keeps_the_older_id_and_records_lineage() -> None:
    issued: dict[str, int] = {}
    before, _ = assign_profile_ids(clusters(a=["a"]), None, issued)
    second, _ = assign_profile_ids(clusters(a=["a"], b=["b"]), before, issued)
    old_id = second.set_index("key").loc["a", "profile_id"]
    young_id = second.set_index("key").loc["b", "profile_id"]
    merged, lineage = assign_profile_ids(clusters(a=["a", "b"]), second, issued)
    assert set(merged["profile_id"]) == {old_id}
    assert lineage.to_dict("records") == [
        {"kind": "merged", "from_profile_id": young_id, "to_profile_id": old_id}
    ]


def test_split_gets_new_ids_with_lineage_and_old_id_is_never_reused() -> None:
    issued: dict[str, int] = {}
    before, _ = assign_profile_ids(clusters(a=["a", "b", "c"]), None, issued)
    old_id = before["profile_id"].iloc[0]
    after, lineage = assign_profile_ids(clusters(a=["a", "b"], c=["c"]), before, issued)
    assert old_id not in set(after["profile_id"])
    assert after["profile_id"].nunique() == 2
    assert set(lineage["kind"]) == {"split"} and set(lineage["from_profile_id"]) == {old_id}
    assert set(lineage["to_profile_id"]) == set(after["profile_id"])


def test_golden_record_survivorship() -> None:
    t = pd.Timestamp
    records = pd.DataFrame(
        {
            "key": ["s:1", "c:1", "e:1", "o:1"],
            "source": ["shop_customers", "crm_contacts", "email_subscribers", "orders"],
            "record_id": ["1", "1", "1", "1"],
            "profile_id": ["p"] * 4,
            "first_name": ["William", "Bill", None, "Will"],
            "last_name": ["Smith"] * 4,
            "phone": [None, "+12125550134", None, None],
            "email": ["w@x.com", None, "b@y.com", "b@y.com"],
            "date_of_birth": ["1980-01-01", "1980-01-01", None, None],
            "address_line": ["1 Old Rd", "1 Old Rd", None, "9 New St"],
            "city": ["Old", "Old", None, "New"],
            "postcode": ["11111", "11111", None, "22222"],
            "seen_at": [t("2024-01-01"), t("2024-02-01"), t("2024-03-01"), t("2025-01-01")],
        }
    )
    [golden] = build_golden_records(records).to_dict("records")
    assert golden["first_name"] == "William"  # most trusted source
    assert golden["phone"] == "+12125550134"  # the only one, from the CRM
    assert golden["email"] == "b@y.com"  # most frequent
    assert golden["address_line"] == "9 New St" and golden["postcode"] == "22222"  # most recent
    assert golden["record_count"] == 4
    assert golden["sources"] == "crm_contacts,email_subscribers,orders,shop_customers"
    index = build_identity_index(records)
    assert {"customer_id", "contact_id", "subscriber_id", "order_id", "email", "phone"} == set(
        index["identifier_type"]
    )


def test_shared_email_with_conflicting_first_names_is_not_deterministic() -> None:
    records = pd.DataFrame(
        {
            "record_id": ["1", "2", "3", "4", "5"],
            "email": ["fam@x.com", "fam@x.com", "bill@x.com", "bill@x.com", "bill@x.com"],
            "first_name": ["anna", "peter", "william", "bill", None],
        }
    )
    edges = consistent_identifier_edges(records, "email")
    pairs = {tuple(sorted(p)) for p in edges.itertuples(index=False)}
    assert pairs == {("3", "4"), ("3", "5")}  # nickname-compatible; the family address is not


def test_shared_email_names_are_compared_as_whole_names() -> None:
    """A record with first and last name swapped, or a typo, still shares its own email; two
    given names that only share a nickname (Melissa, Elizabeth: Lisa) do not."""
    records = pd.DataFrame(
        {
            "record_id": ["1", "2", "3", "4", "5", "6", "7"],
            "email": ["jh@x.com"] * 3 + ["fam@x.com"] * 2 + ["cy@x.com"] * 2,
            "first_name": ["jordan", "hensley", "jordan", "melissa", "elizabeth", "cynthia",
                           "cytnhia"],
            "last_name": ["hensley", "jordan", "hensley", "morgan", "morgan", "hernandez",
                          "hernandez"],
        }
    )  # fmt: skip
    edges = consistent_identifier_edges(records, "email")
    pairs = {tuple(sorted(p)) for p in edges.itertuples(index=False)}
    assert pairs == {("1", "2"), ("1", "3"), ("6", "7")}
    # The same records read by SQL from a DuckDB, the pairs left there as a table.
    con = duckdb.connect()
    con.register("records_frame", records)
    assert consistent_identifier_edges(
        "SELECT * FROM records_frame", "email", con, into="email_pairs"
    ) is None  # fmt: skip
    in_sql = {tuple(sorted(p)) for p in con.execute("SELECT * FROM email_pairs").fetchall()}
    assert in_sql == pairs


def test_components_are_named_by_their_smallest_member() -> None:
    edges = pd.DataFrame({"unique_id_l": ["b", "d"], "unique_id_r": ["c", "c"], "strength": 1.0})
    records = pd.DataFrame({"record_id": ["d", "c", "b", "a"]})
    components, refused = constrained_components(records, edges)
    assert components.to_dict() == {"a": "a", "b": "b", "c": "b", "d": "b"}
    assert refused == 0


def test_name_and_date_compatibility() -> None:
    from datetime import date

    from features.identity.clusters import dates_compatible, names_compatible
    from features.identity.metrics import jaro_winkler

    assert jaro_winkler("martha", "marhta") > 0.95
    assert names_compatible(("bill", "smith"), ("william", "smith"))  # nickname
    assert names_compatible(("apirl", "jones"), ("april", "jones"))  # typo
    assert names_compatible(("sanchez", "bela"), ("william", "sanchez"))  # swap + nickname
    assert names_compatible(("audrey", None), ("turner", "audrey"))  # swap, surname missing
    assert not names_compatible(("rhonda", "wiley"), ("marvin", "wiley"))  # housemates
    assert dates_compatible(date(1980, 2, 3), date(1980, 3, 3))  # one field typo
    assert not dates_compatible(date(1980, 2, 3), date(1981, 3, 3))


def test_constrained_components_refuse_a_bridge_between_two_people() -> None:
    from features.identity.clusters import constrained_components

    records = pd.DataFrame(
        {
            "record_id": ["buyer", "gift", "partner"],
            "first_name": ["rhonda", "marvin", "marvin"],
            "last_name": ["wiley"] * 3,
            "dob": [None, None, None],
        }
    )
    edges = pd.DataFrame(
        {"unique_id_l": ["buyer", "gift"], "unique_id_r": ["gift", "partner"],
         "strength": [2.0, 0.99]}
    )  # fmt: skip
    trusted = pd.Series([True, False, True])  # the gift order carries the recipient's name
    components, refused = constrained_components(records, edges, trusted)
    assert components["gift"] == components["buyer"] != components["partner"]
    assert refused == 1
    plain, refused = constrained_components(records, edges, trusted, check_names=False)
    assert plain.nunique() == 1 and refused == 0


def test_the_union_applies_the_strongest_edge_first_then_the_smaller_ids() -> None:
    """A nameless record between two people joins whichever edge comes first: the stronger,
    and between equals the one with the smaller ids in code-point order ('z' before 'é')."""
    from features.identity.clusters import constrained_union

    records = pd.DataFrame(
        {"record_id": ["é1", "z1", "m"], "first_name": ["anna", "bella", None],
         "last_name": ["ray", "ray", None], "dob": [None, None, None]}
    )  # fmt: skip

    def joined(strengths: list[float]) -> str:
        edges = pd.DataFrame(
            {"unique_id_l": ["é1", "z1"], "unique_id_r": ["m", "m"], "strength": strengths}
        )
        clusters, refused = constrained_union(records, edges)
        assert refused == 1  # the second edge would make anna and bella one person
        return next(r for r in ("é1", "z1") if clusters[r] == clusters["m"])

    assert joined([0.8, 0.8]) == "z1"
    assert joined([0.9, 0.8]) == "é1"
    assert joined([0.8, 0.9]) == "z1"
    with pytest.raises(KeyError, match="not among the records"):
        constrained_union(records, pd.DataFrame(
            {"unique_id_l": ["é1"], "unique_id_r": ["nobody"], "strength": [1.0]}
        ))  # fmt: skip


def test_display_records_come_only_from_sources_the_golden_record_ranks() -> None:
    """Golden records list a profile's sources from SOURCE_TRUST's names: a source read into
    display records without a rank would be left out of that list."""
    from features.identity.collect import _SOURCES, SOURCE_TRUST

    assert {source for source, *_ in _SOURCES} == set(SOURCE_TRUST)


def test_constraints_are_chosen_from_how_sure_matches_behave() -> None:
    from datetime import date

    from features.identity.clusters import RELIABLE_BELOW, reliable_attributes

    clean = pd.DataFrame(
        {"first_name_l": ["ann"] * 200, "first_name_r": ["ann"] * 200,
         "last_name_l": ["lee"] * 200, "last_name_r": ["lee"] * 200,
         "dob_l": [date(1980, 1, 1)] * 200, "dob_r": [date(1980, 1, 1)] * 200}
    )  # fmt: skip
    noisy = clean.copy()
    noisy.loc[:20, "first_name_r"] = "zygmunt"  # replaced values, as FEBRL's duplicates have
    assert reliable_attributes(clean)["first_name"] < RELIABLE_BELOW
    assert reliable_attributes(noisy)["first_name"] >= RELIABLE_BELOW
    assert reliable_attributes(noisy)["dob"] < RELIABLE_BELOW


def test_fast_components_equal_the_edge_by_edge_union() -> None:
    """Taking conflict-free components whole must give exactly the edge-by-edge result, also
    with groups (existing profiles) joined first."""
    import numpy as np

    from features.identity.clusters import constrained_union

    rng = np.random.default_rng(11)
    dates = [pd.Timestamp("1980-01-01"), pd.Timestamp("1990-05-05"), None]
    checked_groups = 0
    for _ in range(40):
        n = int(rng.integers(5, 60))
        records = pd.DataFrame(
            {
                "record_id": [f"r{i:03d}" for i in range(n)],
                "first_name": rng.choice(["ann", "anna", "bob", "robert", "cy", None], n),
                "last_name": rng.choice(["lee", "li", None], n),
                "dob": rng.choice(dates, n),
            }
        )
        m = int(rng.integers(1, 3 * n))
        edges = pd.DataFrame(
            {
                "unique_id_l": records["record_id"].to_numpy()[rng.integers(0, n, m)],
                "unique_id_r": records["record_id"].to_numpy()[rng.integers(0, n, m)],
                "strength": rng.random(m).round(2),
            }
        )
        trusted = pd.Series(rng.random(n) < 0.8, index=records.index)
        pins = {"r000": {"r001"}} if rng.random() < 0.3 else None
        # Half the time some records belong to existing profiles, joined unchecked (an
        # incremental run's scope), whatever names they hold.
        grouped = rng.random(n) < 0.6
        groups = None
        if rng.random() < 0.5:
            labels = rng.integers(0, max(2, n // 4), int(grouped.sum()))
            groups = pd.Series([f"p{x}" for x in labels], index=records["record_id"][grouped])
        fast = constrained_components(records, edges, trusted, cannot_link=pins, groups=groups)
        slow = constrained_union(records, edges, trusted, cannot_link=pins, groups=groups)
        assert fast[0].sort_index().equals(slow[0].sort_index())
        assert fast[1] == slow[1]
        checked_groups += groups is not None and fast[0].nunique() < n
    assert checked_groups >= 10


@settings(max_examples=150, deadline=None)
@given(
    clustering=st.lists(st.integers(0, 6), min_size=1, max_size=25),
    previous=st.lists(st.one_of(st.none(), st.integers(0, 5)), min_size=25, max_size=25),
    orders=st.lists(st.integers(1, 9), min_size=6, max_size=6),
)
def test_id_rules_hold_on_any_clustering(clustering, previous, orders) -> None:
    """Any clustering of keys k0.. against any earlier assignment: one id per cluster, ids of
    distinct clusters differ, a cluster keeps the oldest unsplit earlier id among its records,
    and an id not kept is never issued again."""
    keys = [f"k{i:02d}" for i in range(len(clustering))]
    now = pd.DataFrame({"key": keys, "cluster_id": [f"c{c}" for c in clustering]})
    before = pd.DataFrame(
        [(k, f"prf_{p}") for k, p in zip(keys, previous, strict=False) if p is not None],
        columns=["key", "profile_id"],
    )
    issued = {f"prf_{p}": orders[p] for p in range(6)}
    known_before = set(issued)
    out, lineage = assign_profile_ids(now, before, issued)
    assert out["key"].tolist() == keys
    per_cluster = now.assign(profile_id=out["profile_id"]).groupby("cluster_id")["profile_id"]
    assert (per_cluster.nunique() == 1).all()
    assert per_cluster.first().is_unique
    earlier = now.merge(before, on="key")
    clusters_of = earlier.groupby("profile_id")["cluster_id"].nunique()
    for cluster_id, ids in earlier.groupby("cluster_id")["profile_id"]:
        whole = [p for p in set(ids) if clusters_of[p] == 1]
        got = per_cluster.first()[cluster_id]
        if whole:
            assert got == min(whole, key=lambda p: (issued[p], p))
        else:
            assert got not in known_before
    split = set(clusters_of[clusters_of > 1].index)
    assert not split & set(out["profile_id"])
    # A part of a split profile that lands in a cluster of its own gets a new id, with lineage.
    for profile_id in split:
        parts = earlier.loc[earlier["profile_id"] == profile_id, "cluster_id"].unique()
        fresh = [
            per_cluster.first()[c] for c in parts if per_cluster.first()[c] not in known_before
        ]
        recorded = lineage[
            (lineage["kind"] == "split") & (lineage["from_profile_id"] == profile_id)
        ]
        assert sorted(recorded["to_profile_id"]) == sorted(fresh)


@settings(max_examples=60, deadline=None)
@given(
    clustering=st.lists(st.integers(0, 6), min_size=1, max_size=20),
    previous=st.lists(st.one_of(st.none(), st.integers(0, 5)), min_size=20, max_size=20),
    taken=st.lists(st.integers(0, 6), max_size=4),
)
def test_ids_read_from_the_warehouse_equal_ids_from_a_dict(clustering, previous, taken) -> None:
    """IssuedIds (what an incremental run passes) names every cluster as a dict of every id
    ever issued does, also when new ids collide with issued ones (`taken`: clusters whose
    first and second candidate ids were issued before)."""
    keys = [f"k{i:02d}" for i in range(len(clustering))]
    now = pd.DataFrame({"key": keys, "cluster_id": [f"c{c}" for c in clustering]})
    before = pd.DataFrame(
        [(k, f"prf_{p}") for k, p in zip(keys, previous, strict=False) if p is not None],
        columns=["key", "profile_id"],
    )
    issued = {f"prf_{p}": p + 1 for p in range(6)}
    for c in taken:
        for attempt in (0, 1):
            issued.setdefault(candidate_id(f"c{c}", attempt), len(issued) + 1)
    con = duckdb.connect()
    con.execute("CREATE TABLE profile_ids_issued (profile_id VARCHAR, issue_order BIGINT)")
    con.executemany("INSERT INTO profile_ids_issued VALUES (?, ?)", list(issued.items()))
    from_db = IssuedIds(con, before["profile_id"], now["cluster_id"])
    count = len(issued)
    expected = assign_profile_ids(now, before, issued)
    got = assign_profile_ids(now, before, from_db)
    pd.testing.assert_frame_equal(got[0], expected[0])
    pd.testing.assert_frame_equal(got[1], expected[1])
    assert from_db.new == dict(list(issued.items())[count:])


@settings(max_examples=60, deadline=None)
@given(
    clustering=st.lists(st.integers(0, 6), min_size=1, max_size=20),
    previous=st.lists(st.one_of(st.none(), st.integers(0, 5)), min_size=24, max_size=24),
    orders=st.lists(st.one_of(st.none(), st.integers(1, 9)), min_size=6, max_size=6),
    taken=st.lists(st.integers(0, 6), max_size=4),
)
def test_ids_assigned_in_the_warehouse_equal_ids_assigned_in_pandas(
    clustering, previous, orders, taken
) -> None:
    """A full run names clusters in SQL (assign_profile_ids_sql): the same ids, lineage and
    newly issued ids as the pandas rules, with records that left (previous keys beyond the
    clustering), ids never recorded as issued (order None) and colliding new ids."""
    keys = [f"k{i:02d}" for i in range(len(clustering))]
    now = pd.DataFrame({"key": keys, "cluster_id": [f"c{c}" for c in clustering]})
    before = pd.DataFrame(
        [(f"k{i:02d}", f"prf_{p}") for i, p in enumerate(previous) if p is not None],
        columns=["key", "profile_id"],
    )
    issued = {f"prf_{p}": order for p, order in enumerate(orders) if order is not None}
    for c in taken:
        for attempt in (0, 1):
            issued.setdefault(candidate_id(f"c{c}", attempt), len(issued) + 1)
    con = duckdb.connect()
    con.execute("CREATE TABLE profile_ids_issued (profile_id VARCHAR, issue_order BIGINT)")
    if issued:
        con.executemany("INSERT INTO profile_ids_issued VALUES (?, ?)", list(issued.items()))
    con.execute("CREATE TABLE identity_records (key VARCHAR, profile_id VARCHAR)")
    rows = [*before.itertuples(index=False), ("k99", None)]  # a detached record
    con.executemany("INSERT INTO identity_records VALUES (?, ?)", rows)
    con.register("now_frame", now)
    con.execute("CREATE TABLE now_clusters AS SELECT * FROM now_frame")
    count = len(issued)
    expected, expected_lineage = assign_profile_ids(now, before, issued)
    lineage, new = assign_profile_ids_sql(con, "now_clusters")
    got = con.execute(
        "SELECT key, profile_id FROM now_clusters JOIN profile_of_cluster USING (cluster_id) "
        "ORDER BY key"
    ).df()
    pd.testing.assert_frame_equal(got, expected.sort_values("key", ignore_index=True))
    pd.testing.assert_frame_equal(lineage, expected_lineage)
    assert new == dict(list(issued.items())[count:])
    tables = {name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert not {"ids_clusters", "ids_previous", "ids_pairs"} & tables  # its working tables are gone
