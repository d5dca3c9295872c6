"""`cdp resolve --incremental`: equals a full run within tolerance, and keeps every guarantee.

The small world is split into a base and a 3% delta (features.world.delta.hold_back). Home
"incremental" resolves the base in full, then ingests the delta and resolves incrementally;
home "full" resolves base and delta together in one full run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from features.identity.collect import display_sql
from features.identity.evaluate import evaluate_clusters
from features.identity.incremental import resolve_incremental
from features.identity.profiles import identity_index_sql
from features.identity.resolve import evaluate_against_truth, resolve_profiles
from features.identity.stitching import EVIDENCE_TABLE, evidence_sql, stitch_devices
from features.identity.unmerge import unmerge_record
from features.ingest import ingest_folder
from features.settings import load_settings
from features.world.delta import hold_back
from tests.features.identity.conftest import CDP, query_warehouse

JUNK_BASE = (
    "customer_id,email,first_name,last_name,phone,created_at\n"
    "inc_junk_1,test@test.com,Zelda,Quartermaine,0000000000,2024-02-01T00:00:00Z\n"
)
JUNK_DELTA = (
    "customer_id,email,first_name,last_name,phone,created_at\n"
    "inc_junk_2,test@test.com,Brutus,Oyelaran,0000000000,2024-03-01T00:00:00Z\n"
)
LONER = "contact_id,first_name,created_at\ninc_lone_1,Prudence,2024-03-01T00:00:00Z\n"
EVENTS = "event_id,anonymous_id,device_id,user_id,type,product_id,platform,at\n"


def _cdp(home: Path, *args: str) -> dict:
    result = subprocess.run(
        [CDP, "--home", str(home), *args, "--json"], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder


def _shop_record_of_a_big_profile(home: Path) -> tuple[str, str]:
    """(profile id, a shop account's key) of a profile of three records or more."""
    [row] = query_warehouse(
        home,
        "SELECT profile_id, MIN(key) FILTER (WHERE source = 'shop_customers') AS shop "
        "FROM identity_records GROUP BY profile_id HAVING COUNT(*) >= 3 AND shop IS NOT NULL"
        " ORDER BY profile_id LIMIT 1",
    )
    return row


def _assert_consistent(home: Path) -> None:
    """Every identity table agrees with identity_records, as after a full run."""
    checks = {
        "duplicate keys": "SELECT COUNT(*) - COUNT(DISTINCT key) FROM identity_records",
        "records without a profile row": "SELECT COUNT(*) FROM identity_records WHERE "
        "profile_id NOT IN (SELECT profile_id FROM profiles)",
        "profiles without records": "SELECT COUNT(*) FROM profiles WHERE profile_id NOT IN "
        "(SELECT profile_id FROM identity_records)",
        "wrong record counts": "SELECT COUNT(*) FROM profiles p JOIN (SELECT profile_id, "
        "COUNT(*) AS n FROM identity_records GROUP BY 1) r USING (profile_id) "
        "WHERE p.record_count <> r.n",
        "index entries of no profile": "SELECT COUNT(*) FROM identity_index WHERE profile_id "
        "NOT IN (SELECT profile_id FROM profiles)",
        "pool records of another profile": "SELECT COUNT(*) FROM identity_match_records m "
        "JOIN identity_records r USING (key) WHERE m.profile_id <> r.profile_id",
        "pool records no longer resolved": "SELECT COUNT(*) FROM identity_match_records "
        "WHERE key NOT IN (SELECT key FROM identity_records)",
        "stitched to no profile": "SELECT COUNT(*) FROM anonymous_links WHERE profile_id NOT IN "
        "(SELECT profile_id FROM profiles)",
    }
    found = {name: query_warehouse(home, sql)[0][0] for name, sql in checks.items()}
    assert not any(found.values()), found
    # The evidence kept for the next incremental run sums to the evidence of every event.
    group = "identifier_type, identifier_value, known_type, via, known_value"
    kept = (
        f"SELECT {group}, MIN(first_seen_at), MAX(last_seen_at), SUM(evidence) "
        f"FROM {EVIDENCE_TABLE} GROUP BY ALL"
    )
    events = f"SELECT {group}, first_seen_at, last_seen_at, evidence FROM ({evidence_sql()})"
    differ = (
        f"SELECT COUNT(*) FROM (({kept}) EXCEPT ({events}) UNION ALL (({events}) EXCEPT ({kept})))"
    )
    assert query_warehouse(home, differ) == [(0,)]
    # The identity index holds exactly the entries a full rebuild would write from the records
    # and the links, each once (an incremental run rewrites only the entries that changed).
    resolved = (
        f"(SELECT d.*, r.profile_id FROM ({display_sql()}) d JOIN identity_records r USING (key))"
    )
    rebuilt = (
        f"SELECT * FROM ({identity_index_sql(resolved)}) UNION ALL "
        "SELECT identifier_type, identifier_value, profile_id FROM anonymous_links"
    )
    stored = "SELECT identifier_type, identifier_value, profile_id FROM identity_index"
    differ = (
        f"SELECT COUNT(*) FROM (({stored}) EXCEPT ALL ({rebuilt}) "
        f"UNION ALL (({rebuilt}) EXCEPT ALL ({stored})))"
    )
    assert query_warehouse(home, differ) == [(0,)]
    # The links and refusals are exactly those stitching every cookie and device afresh from
    # the events and this index gives (an incremental run re-stitches only some of them).
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        links, audit = stitch_devices(con)
        stored_links = con.execute("SELECT * FROM anonymous_links").df()
        stored_audit = con.execute("SELECT * EXCLUDE (run_id) FROM stitching_audit").df()
    finally:
        con.close()
    for fresh, stored in ((links, stored_links), (audit, stored_audit)):
        key = ["identifier_type", "identifier_value"]
        pd.testing.assert_frame_equal(
            fresh.sort_values([*key, *fresh.columns.drop(key)]).reset_index(drop=True),
            stored[fresh.columns]
            .sort_values([*key, *fresh.columns.drop(key)])
            .reset_index(drop=True),
            check_dtype=False,
        )


def _assignments(home: Path) -> pd.DataFrame:
    rows = query_warehouse(home, "SELECT key, source, record_id, profile_id FROM identity_records")
    return pd.DataFrame(rows, columns=["key", "source", "record_id", "profile_id"])


@pytest.fixture(scope="module")
def homes(tmp_path_factory, small_world):
    """(incremental home, full home, state before the incremental run, its printed report)."""
    root = tmp_path_factory.mktemp("incremental")
    split = hold_back(small_world, root / "base", root / "delta", fraction=0.03, seed=5)
    customer = pd.read_parquet(root / "delta" / "shop_customers.parquet")["customer_id"].iloc[0]
    base_customers = pd.read_parquet(root / "base" / "shop_customers.parquet")["customer_id"]
    events = (
        f"inc_e1,inc_cookie_1,inc_device_1,{customer},identify,,ios,2025-04-01T10:00:00Z\n"
        f"inc_e2,inc_cookie_2,inc_shared,{base_customers.iloc[0]},identify,,ios,"
        "2025-04-01T10:00:00Z\n"
        f"inc_e3,inc_cookie_3,inc_shared,{base_customers.iloc[1]},identify,,ios,"
        "2025-04-02T10:00:00Z\n"
    )
    extra_base = _write(root / "extra_base", "shop_customers.csv", JUNK_BASE)
    extra_delta = _write(root / "extra_delta", "shop_customers.csv", JUNK_DELTA)
    _write(extra_delta, "crm_contacts.csv", LONER)
    _write(extra_delta, "app_events.csv", EVENTS + events)
    incremental, full = root / "incremental", root / "full"
    for folder in (root / "base", extra_base):
        ingest_folder(load_settings(home=incremental), folder)
    first = _cdp(incremental, "resolve")
    before = {
        "assignments": _assignments(incremental),
        "profiles": query_warehouse(incremental, "SELECT * FROM profiles ORDER BY profile_id"),
        "first": first,
    }
    for folder in (root / "delta", extra_delta):
        ingest_folder(load_settings(home=incremental), folder)
    report = _cdp(incremental, "resolve", "--incremental")
    for folder in (root / "base", extra_base, root / "delta", extra_delta):
        ingest_folder(load_settings(home=full), folder)
    resolve_profiles(load_settings(home=full))
    return {
        "incremental": incremental,
        "full": full,
        "before": before,
        "report": report,
        "split": split,
        "customer": customer,
        "root": root,
    }


@pytest.fixture
def copy_of_incremental(homes, tmp_path) -> Path:
    """A scratch copy of the incremental home, for tests that change it."""
    home = tmp_path / "home"
    shutil.copytree(homes["incremental"], home)
    return home


@pytest.mark.slow
def test_incremental_equals_full_within_tolerance(homes, small_world) -> None:
    _assert_consistent(homes["full"])  # the checks hold for a full run
    inc, full = _assignments(homes["incremental"]), _assignments(homes["full"])
    assert len(inc) == len(full)
    both = inc.merge(full, on="key", suffixes=("_inc", "_full"))
    agreement = evaluate_clusters(both, cluster="profile_id_inc", truth="profile_id_full")
    assert agreement["pairwise"]["f1"] >= 0.99, agreement["pairwise"]
    truth = small_world / "truth"
    f1_inc = evaluate_against_truth(load_settings(home=homes["incremental"]), truth)["pairwise"]
    f1_full = evaluate_against_truth(load_settings(home=homes["full"]), truth)["pairwise"]
    assert abs(f1_inc["f1"] - f1_full["f1"]) <= 0.005, (f1_inc, f1_full)
    # Cookies and devices: the same ones stitched, to the profile of the same records.
    sql = (
        "SELECT a.identifier_type, a.identifier_value, MIN(r.key) FROM anonymous_links a "
        "JOIN identity_records r USING (profile_id) GROUP BY ALL"
    )
    stitched = [set(query_warehouse(homes[h], sql)) for h in ("incremental", "full")]
    differ = len(stitched[0] ^ stitched[1]) / len(stitched[0] | stitched[1])
    assert differ <= 0.01, differ


@pytest.mark.slow
def test_run_is_recorded_with_mode_counts_and_seconds(homes) -> None:
    report = homes["report"]
    assert report["mode"] == "incremental" and report["note"] is None
    counts = report["incremental"]
    assert counts["base_run_id"] == homes["before"]["first"]["run_id"]
    delta_keys = len(_assignments(homes["incremental"])) - len(homes["before"]["assignments"])
    assert counts["new_records"] == delta_keys > 0
    assert counts["changed_records"] == counts["removed_records"] == 0
    assert 0 < report["seconds"] < homes["before"]["first"]["seconds"]
    assert (
        report["threshold_match_probability"]
        == homes["before"]["first"]["threshold_match_probability"]
    )  # the full run's threshold, not retrained
    [(stored,)] = query_warehouse(
        homes["incremental"], f"SELECT report FROM identity_runs WHERE run_id = {report['run_id']}"
    )
    assert json.loads(stored) == report
    _assert_consistent(homes["incremental"])
    assignments = _assignments(homes["incremental"])
    assert report["records"] == len(assignments)
    [(profiles, records)] = query_warehouse(
        homes["incremental"], "SELECT COUNT(*), SUM(record_count) FROM profiles"
    )
    assert (profiles, records) == (report["profiles"], report["records"])


@pytest.mark.slow
def test_existing_profiles_keep_their_ids_and_merges_keep_the_older(homes) -> None:
    home, before = homes["incremental"], homes["before"]
    now = _assignments(home).set_index("key")["profile_id"]
    old = before["assignments"].set_index("key")["profile_id"]
    moved = old[now.loc[old.index] != old]
    lineage = query_warehouse(
        home,
        "SELECT kind, from_profile_id, to_profile_id FROM "
        f"profile_lineage WHERE run_id = {homes['report']['run_id']}",
    )
    merged = {(src, dst) for kind, src, dst in lineage if kind == "merged"}
    assert all((o, now[k]) in merged for k, o in moved.items()), "an id changed without lineage"
    issued = dict(query_warehouse(home, "SELECT profile_id, issue_order FROM profile_ids_issued"))
    assert all(issued[dst] < issued[src] for src, dst in merged)  # the older id survives
    joined = set(now.index) - set(old.index)
    assert now.loc[list(joined)].isin(set(old)).sum() > 0  # new records joined old profiles
    # Profiles the delta did not touch are left exactly as they were.
    touched = set(old[moved.index]) | set(now.loc[list(joined)]) | {s for s, _ in merged}
    untouched = [row for row in before["profiles"] if row[0] not in touched]
    after = {row[0]: row for row in query_warehouse(home, "SELECT * FROM profiles")}
    assert len(untouched) > 0.9 * len(before["profiles"])
    assert all(after[row[0]] == row for row in untouched)


@pytest.mark.slow
def test_junk_is_never_evidence_and_low_evidence_stays_a_flagged_singleton(homes) -> None:
    home = homes["incremental"]
    rows = query_warehouse(
        home, "SELECT record_id, profile_id FROM identity_records WHERE record_id LIKE 'inc_junk_%'"
    )
    assert len({profile for _, profile in rows}) == 2
    [(profile_id, low)] = query_warehouse(
        home, "SELECT profile_id, low_evidence FROM identity_records WHERE record_id = 'inc_lone_1'"
    )
    assert low is True
    [(count, flag)] = query_warehouse(
        home, f"SELECT record_count, low_evidence FROM profiles WHERE profile_id = '{profile_id}'"
    )
    assert (count, flag) == (1, True)


@pytest.mark.slow
def test_index_golden_records_and_stitching_follow_the_new_records(homes, small_world) -> None:
    home, customer = homes["incremental"], homes["customer"]
    [(profile_id,)] = query_warehouse(
        home, f"SELECT profile_id FROM identity_records WHERE key = 'shop_customers:{customer}'"
    )
    index = set(
        query_warehouse(
            home,
            "SELECT identifier_type, identifier_value FROM "
            f"identity_index WHERE profile_id = '{profile_id}'",
        )
    )
    assert {("customer_id", customer), ("device_id", "inc_device_1")} <= index
    assert query_warehouse(
        home,
        f"SELECT COUNT(*) FROM profiles WHERE profile_id = "
        f"'{profile_id}' AND sources LIKE '%shop_customers%'",
    ) == [(1,)]
    audit = dict(query_warehouse(home, "SELECT identifier_value, rule FROM stitching_audit"))
    assert audit["inc_shared"] == "shared_identifier"  # two people's accounts, one device
    scores = evaluate_against_truth(load_settings(home=home), small_world / "truth")
    assert scores["stitching"]["over_merges"] == 0
    # The index has no entry for a profile that no longer exists.
    orphans = query_warehouse(
        home,
        "SELECT COUNT(*) FROM identity_index WHERE profile_id NOT IN "
        "(SELECT profile_id FROM profiles)",
    )
    assert orphans == [(0,)]


@pytest.mark.slow
def test_realtime_matching_reads_the_incremental_state(homes) -> None:
    from features.identity.realtime import RealtimeMatcher

    home, customer = homes["incremental"], homes["customer"]
    matcher = RealtimeMatcher(load_settings(home=home))
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    record = (
        con.execute(
            "SELECT first_name, last_name, email, phone, postcode, address_line AS address, city, "
            "CAST(date_of_birth AS VARCHAR) AS dob FROM shop_customers WHERE customer_id = ?",
            [customer],
        )
        .df()
        .iloc[0]
        .to_dict()
    )
    con.close()
    [(profile_id,)] = query_warehouse(
        home, f"SELECT profile_id FROM identity_records WHERE key = 'shop_customers:{customer}'"
    )
    assert matcher.match(record).profile_id == profile_id


@pytest.mark.slow
def test_nothing_new_changes_nothing(copy_of_incremental) -> None:
    before = _assignments(copy_of_incremental)
    report = resolve_incremental(load_settings(home=copy_of_incremental))
    counts = report.incremental
    assert (counts["new_records"], counts["changed_records"], counts["relinked_records"]) == (
        0,
    ) * 3
    pd.testing.assert_frame_equal(
        _assignments(copy_of_incremental).sort_values("key").reset_index(drop=True),
        before.sort_values("key").reset_index(drop=True),
    )


@pytest.mark.slow
def test_a_delta_of_one_low_evidence_record_adds_one_flagged_profile(copy_of_incremental) -> None:
    home = copy_of_incremental
    folder = _write(home.parent / "loner", "crm_contacts.csv", LONER.replace("inc_lone_1", "x_1"))
    ingest_folder(load_settings(home=home), folder)
    report = resolve_incremental(load_settings(home=home))
    assert (report.incremental["new_records"], report.incremental["profiles_written"]) == (1, 1)
    [(profile_id, low)] = query_warehouse(
        home, "SELECT profile_id, low_evidence FROM identity_records WHERE record_id = 'x_1'"
    )
    assert low is True
    assert query_warehouse(
        home, f"SELECT record_count, low_evidence FROM profiles WHERE profile_id = '{profile_id}'"
    ) == [(1, True)]
    _assert_consistent(home)


@pytest.mark.slow
def test_new_events_whose_claims_are_all_refused_are_audited(copy_of_incremental) -> None:
    home = copy_of_incremental
    events = EVENTS + "x_e1,x_cookie,x_device,0,identify,,ios,2025-05-01T10:00:00Z\n"
    ingest_folder(load_settings(home=home), _write(home.parent / "junk", "app_events.csv", events))
    report = resolve_incremental(load_settings(home=home))
    assert report.incremental["restitched_identifiers"] == 2  # the cookie and the device
    audit = dict(query_warehouse(home, "SELECT identifier_value, rule FROM stitching_audit"))
    assert audit["x_device"] == audit["x_cookie"] == "blocked_value"  # user id '0' is junk
    _assert_consistent(home)


@pytest.mark.slow
def test_evidence_dropped_by_an_erasure_is_rebuilt_with_the_same_links(copy_of_incremental):
    home = copy_of_incremental
    events = EVENTS + "x_e2,x_cookie_2,x_device_2,0,identify,,ios,2025-05-01T10:00:00Z\n"
    ingest_folder(load_settings(home=home), _write(home.parent / "more", "app_events.csv", events))
    kept = home.parent / "kept"
    shutil.copytree(home, kept)
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.execute(f"DROP TABLE {EVIDENCE_TABLE}")  # as an erasure leaves it
    reports = [resolve_incremental(load_settings(home=h)) for h in (home, kept)]
    assert reports[0].incremental["restitched_identifiers"] == 2
    assert reports[1].incremental["restitched_identifiers"] == 2
    for table in ("anonymous_links", "stitching_audit"):
        sql = (
            f"SELECT * EXCLUDE (run_id) FROM {table}"
            if table == "stitching_audit"
            else (f"SELECT * FROM {table}")
        )
        assert sorted(query_warehouse(home, sql)) == sorted(query_warehouse(kept, sql)), table
    _assert_consistent(home)
    _assert_consistent(kept)


@pytest.mark.slow
def test_changed_record_is_relinked_and_removed_record_drops_out(copy_of_incremental) -> None:
    home = copy_of_incremental
    profile_id, key = _shop_record_of_a_big_profile(home)
    customer = key.split(":", 1)[1]
    [(gone, gone_profile)] = query_warehouse(
        home,
        "SELECT record_id, profile_id FROM identity_records WHERE source = 'crm_contacts' "
        "AND profile_id IN (SELECT profile_id FROM profiles WHERE record_count = 1) "
        "ORDER BY record_id LIMIT 1",
    )
    changed = _write(
        home.parent / "changed",
        "shop_customers.csv",
        "customer_id,email,first_name,last_name,date_of_birth,created_at\n"
        f"{customer},wzzyzx1931@gmail.com,Wilhelmina,Zzyzx,1931-07-04,"
        "2024-05-01T00:00:00Z\n",
    )
    ingest_folder(load_settings(home=home), changed)
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    con.execute("DELETE FROM crm_contacts WHERE contact_id = ?", [gone])  # e.g. an erasure
    con.close()
    report = resolve_incremental(load_settings(home=home))
    counts = report.incremental
    assert (counts["changed_records"], counts["removed_records"]) == (1, 1)
    [(mine,)] = query_warehouse(
        home, f"SELECT profile_id FROM identity_records WHERE key = '{key}'"
    )
    partners = query_warehouse(
        home, f"SELECT COUNT(*) FROM identity_records WHERE profile_id = '{mine}'"
    )
    assert partners == [(1,)]  # a new person now, alone
    kinds = {
        k
        for (k,) in query_warehouse(
            home, f"SELECT kind FROM profile_lineage WHERE from_profile_id = '{profile_id}'"
        )
    }
    assert "split" in kinds  # its former profile fell apart, as a full run would say
    for table, column in (
        ("identity_records", "record_id"),
        ("identity_index", "identifier_value"),
    ):
        assert query_warehouse(home, f"SELECT COUNT(*) FROM {table} WHERE {column} = '{gone}'") == [
            (0,)
        ]
    assert query_warehouse(
        home, f"SELECT COUNT(*) FROM profiles WHERE profile_id = '{gone_profile}'"
    ) == [(0,)]
    _assert_consistent(home)


@pytest.mark.slow
def test_unmerge_pins_hold_in_incremental_runs(copy_of_incremental) -> None:
    home = copy_of_incremental
    profile_id, key = _shop_record_of_a_big_profile(home)
    others = {
        k
        for (k,) in query_warehouse(
            home,
            "SELECT key FROM identity_records WHERE "
            f"profile_id = '{profile_id}' AND key <> '{key}'",
        )
    }
    moved = unmerge_record(load_settings(home=home), profile_id, key)  # pins, then re-links
    assert moved["mode"] == "incremental" and moved["to_profile_id"] != profile_id
    _assert_consistent(home)
    # The record and the rest of its profile were re-linked (the rest may fall apart without it)
    [(report,)] = query_warehouse(home, "SELECT report FROM identity_runs ORDER BY run_id DESC"
                                        " LIMIT 1")  # fmt: skip
    assert json.loads(report)["incremental"]["relinked_records"] == 1 + len(others)
    listed = ", ".join(f"'{k}'" for k in sorted(others))
    rest = {
        p
        for (p,) in query_warehouse(
            home, f"SELECT DISTINCT profile_id FROM identity_records WHERE key IN ({listed})"
        )
    }
    split = query_warehouse(home, "SELECT COUNT(*) FROM profile_lineage WHERE kind = 'split' "
                                  f"AND from_profile_id = '{profile_id}'")[0][0]  # fmt: skip
    assert rest == {profile_id} or split, rest  # the rest keeps its id unless it fell apart
    # A full re-resolve of the same state, as unmerge did before, agrees with the incremental
    # one (its model is retrained on the records the incremental runs added, hence tolerance).
    full = home.parent / "full_after_unmerge"
    shutil.copytree(home, full)
    resolve_profiles(load_settings(home=full))
    both = _assignments(home).merge(_assignments(full), on="key", suffixes=("_inc", "_full"))
    agreement = evaluate_clusters(both, cluster="profile_id_inc", truth="profile_id_full")
    assert agreement["pairwise"]["f1"] >= 0.99, agreement["pairwise"]
    for where in (home, full):
        [(mine,)] = query_warehouse(
            where, f"SELECT profile_id FROM identity_records WHERE key = '{key}'"
        )
        mates = query_warehouse(
            where, f"SELECT key FROM identity_records WHERE profile_id = '{mine}'"
        )
        assert not {k for (k,) in mates} & others, where
    customer = key.split(":", 1)[1]
    again = home.parent / "again"
    again.mkdir()
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    con.execute(  # the same account exported again, touched since
        "COPY (SELECT * EXCLUDE (_load_id, _row_number) REPLACE (TIMESTAMP '2025-06-01' AS "
        f"updated_at) FROM shop_customers WHERE customer_id = '{customer}') "
        f"TO '{again / 'shop_customers.csv'}' (HEADER)"
    )
    con.close()
    ingest_folder(load_settings(home=home), again)
    report = resolve_incremental(load_settings(home=home))
    assert report.incremental["changed_records"] == 1 and report.mode == "incremental"
    [(mine,)] = query_warehouse(
        home, f"SELECT profile_id FROM identity_records WHERE key = '{key}'"
    )
    together = {
        k
        for (k,) in query_warehouse(
            home, f"SELECT key FROM identity_records WHERE profile_id = '{mine}'"
        )
    }
    assert not together & others
    _assert_consistent(home)


@pytest.mark.slow
def test_without_a_previous_run_or_with_a_large_delta_it_runs_in_full(homes, tmp_path) -> None:
    home = tmp_path / "fresh"
    ingest_folder(load_settings(home=home), homes["root"] / "base")
    report = _cdp(home, "resolve", "--incremental")
    assert report["mode"] == "full" and "no previous run" in report["note"]
    [(stored,)] = query_warehouse(home, "SELECT report FROM identity_runs")
    assert json.loads(stored)["note"] == report["note"]
    ingest_folder(load_settings(home=home), homes["root"] / "delta")
    again = resolve_incremental(load_settings(home=home), max_delta=0.001)
    assert again.mode == "full" and "more than" in again.note
