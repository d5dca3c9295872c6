"""`cdp resolve` on a generated world: accuracy floor, stability, junk, low evidence, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.features.identity.conftest import query_warehouse

CDP = str(Path(sys.executable).parent / "cdp")


def _query(home: Path, sql: str) -> list[tuple]:
    return query_warehouse(home, sql)


@pytest.mark.slow
def test_profiles_are_accurate_against_truth(resolved, small_world) -> None:
    home, report = resolved
    assert 0 < report["threshold_match_probability"] < 1
    result = subprocess.run(
        [CDP, "--home", str(home), "identity", "evaluate", "--truth", str(small_world / "truth"),
         "--json"], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    # Regression floor at the level reached so far; the product goal (0.97) is tracked in
    # docs/identity.md and not yet met.
    assert scores["pairwise"]["f1"] >= 0.85, scores["pairwise"]
    assert scores["bcubed"]["f1"] >= 0.92, scores["bcubed"]
    assert scores["records"] == report["records"] - 4  # the 4 injected rows have no truth


@pytest.mark.slow
def test_rerun_on_unchanged_data_keeps_every_id(resolved) -> None:
    home, report = resolved
    before = _query(home, "SELECT key, profile_id FROM identity_records ORDER BY key")
    again = subprocess.run([CDP, "--home", str(home), "resolve", "--json"],
                           capture_output=True, text=True, timeout=600)  # fmt: skip
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert second["run_id"] == report["run_id"] + 1
    assert (second["merged"], second["split"]) == (0, 0)
    assert _query(home, "SELECT key, profile_id FROM identity_records ORDER BY key") == before


@pytest.mark.slow
def test_junk_identifiers_never_merge_people(resolved) -> None:
    home, _ = resolved
    rows = _query(home, "SELECT record_id, profile_id FROM identity_records "
                        "WHERE record_id LIKE 'junk_%' ORDER BY 1")  # fmt: skip
    assert len({profile for _, profile in rows}) == 3


@pytest.mark.slow
def test_record_with_too_little_evidence_is_a_flagged_singleton(resolved) -> None:
    home, _ = resolved
    [(profile_id, low)] = _query(
        home, "SELECT profile_id, low_evidence FROM identity_records WHERE record_id = 'lone_1'"
    )
    assert low is True
    [(count, flag)] = _query(
        home, f"SELECT record_count, low_evidence FROM profiles WHERE profile_id = '{profile_id}'"
    )
    assert (count, flag) == (1, True)


@pytest.mark.slow
def test_export_writes_every_record_and_model_json_is_kept(resolved, tmp_path) -> None:
    home, report = resolved
    out = tmp_path / "identity.csv"
    result = subprocess.run([CDP, "--home", str(home), "identity", "export", "--out", str(out)],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "source,record_id,profile_id"
    assert len(lines) - 1 == report["records"] + report["stitched_identifiers"]
    assert (
        sum(line.startswith(("anonymous_id,", "device_id,")) for line in lines)
        == report["stitched_identifiers"]
    )
    model = json.loads(Path(report["model_path"]).read_text())
    assert model["link_type"] == "dedupe_only" and model["comparisons"]


def test_resolve_before_ingest_is_a_clear_error(tmp_path) -> None:
    result = subprocess.run([CDP, "--home", str(tmp_path / "h"), "resolve"],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 3
    assert "no known-person records" in result.stderr


@pytest.mark.slow
def test_stitching_never_over_merges_and_resists_attacks(resolved, small_world) -> None:
    home, report = resolved
    assert report["stitched_identifiers"] > 0
    result = subprocess.run(
        [CDP, "--home", str(home), "identity", "evaluate", "--truth", str(small_world / "truth"),
         "--json"], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    stitching = json.loads(result.stdout)["stitching"]
    assert stitching["over_merges"] == 0, stitching
    assert stitching["coverage"] > 0.3
    links = dict(_query(home, "SELECT identifier_value, profile_id FROM anonymous_links"))
    assert "attack_tablet" not in links  # one device, 50 people: refused
    assert "null" not in links and "0" not in links
    audit = dict(_query(home, "SELECT identifier_value, rule FROM stitching_audit"))
    assert audit["attack_tablet"] == "shared_identifier"
    assert audit["null"] == "blocked_value"
    assert audit["inst_z"] == "blocked_value"  # claimed only by user_id '0'
    assert audit["dev_zero2"] == "shared_identifier"  # two people's accounts, one device
    same_profile = _query(
        home, "SELECT COUNT(DISTINCT profile_id) FROM identity_index WHERE identifier_type = "
              "'customer_id' AND identifier_value IN (SELECT user_id FROM app_events "
              "WHERE device_id = 'dup_device')",
    )[0][0] == 1  # fmt: skip
    assert "dup_device" not in links
    assert audit["dup_device"] == ("several_user_ids" if same_profile else "shared_identifier")
    profiles_of_attackers = _query(
        home, "SELECT COUNT(DISTINCT profile_id) FROM identity_index "
              "WHERE identifier_type = 'customer_id' AND identifier_value IN "
              "(SELECT user_id FROM app_events WHERE device_id = 'attack_tablet')",
    )  # fmt: skip
    assert profiles_of_attackers[0][0] >= 45  # the tablet merged none of them
    indexed = _query(home, "SELECT COUNT(*) FROM identity_index WHERE identifier_type IN "
                           "('anonymous_id', 'device_id')")  # fmt: skip
    assert indexed[0][0] == report["stitched_identifiers"]


@pytest.mark.slow
def test_profiles_list_their_sources_and_the_index_holds_each_identifier_once(resolved) -> None:
    home, _ = resolved
    per_profile = (
        "SELECT profile_id, STRING_AGG(DISTINCT source, ',' ORDER BY source) AS sources,"
        " BOOL_AND(low_evidence) AS low_evidence, COUNT(*) AS n FROM identity_records"
        " GROUP BY profile_id"
    )
    [(profiles, several, flagged, wrong)] = _query(
        home, f"SELECT COUNT(*), COUNT(*) FILTER (WHERE r.sources LIKE '%,%'),"
              f" COUNT(*) FILTER (WHERE r.low_evidence), COUNT(*) FILTER (WHERE p.sources IS"
              f" DISTINCT FROM r.sources OR p.low_evidence IS DISTINCT FROM r.low_evidence"
              f" OR p.record_count IS DISTINCT FROM r.n)"
              f" FROM profiles p FULL JOIN ({per_profile}) r USING (profile_id)",
    )  # fmt: skip
    assert several > 0 and flagged > 0  # multi-source and low-evidence profiles exist
    assert wrong == 0, f"{wrong} of {profiles} profiles disagree with their records"
    [(entries, distinct)] = _query(
        home, "SELECT COUNT(*), COUNT(DISTINCT (identifier_type, identifier_value, profile_id))"
              " FROM identity_index",
    )  # fmt: skip
    assert entries == distinct
    unindexed = _query(
        home, "SELECT COUNT(*) FROM identity_records r ANTI JOIN identity_index i"
              " ON i.identifier_value = r.record_id AND i.profile_id = r.profile_id"
              " AND i.identifier_type NOT IN ('email', 'phone', 'anonymous_id', 'device_id')",
    )  # fmt: skip
    assert unindexed == [(0,)]


@pytest.mark.slow
def test_each_link_sums_its_kept_claims_and_lists_their_ways_once(resolved) -> None:
    home, _ = resolved
    kept = (
        "SELECT e.identifier_type, e.identifier_value, STRING_AGG(DISTINCT e.via, ','"
        " ORDER BY e.via) AS via, SUM(e.evidence) AS evidence FROM stitching_evidence e"
        " JOIN identity_index i ON i.identifier_type = e.known_type"
        " AND i.identifier_value = e.known_value WHERE NOT (e.junk_identifier OR e.junk_known)"
        " GROUP BY ALL"
    )
    [(links, several_ways, wrong)] = _query(
        home, f"SELECT COUNT(*), COUNT(*) FILTER (WHERE l.via LIKE '%,%'), COUNT(*) FILTER"
              f" (WHERE k.via IS DISTINCT FROM l.via OR k.evidence IS DISTINCT FROM l.evidence)"
              f" FROM anonymous_links l LEFT JOIN ({kept}) k"
              f" USING (identifier_type, identifier_value)",
    )  # fmt: skip
    assert links > 0 and several_ways > 0
    assert wrong == 0, f"{wrong} of {links} links"


@pytest.mark.slow
def test_unmerge_moves_the_record_and_later_runs_respect_it(resolved) -> None:
    home, _ = resolved
    [(profile_id, key)] = _query(
        home, "SELECT profile_id, MAX(key) FROM identity_records GROUP BY profile_id "
              "HAVING COUNT(*) >= 3 ORDER BY profile_id LIMIT 1",
    )  # fmt: skip
    sql = f"SELECT key FROM identity_records WHERE profile_id = '{profile_id}' AND key <> '{key}'"
    others = [k for (k,) in _query(home, sql)]
    result = subprocess.run(
        [CDP, "--home", str(home), "identity", "unmerge", profile_id, "--record", key],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    moved = json.loads(result.stdout)
    assert moved["from_profile_id"] == profile_id and moved["to_profile_id"] != profile_id
    assert moved["mode"] == "incremental"  # re-linked, not re-resolved in full

    def together() -> set[str]:
        [(mine,)] = _query(home, f"SELECT profile_id FROM identity_records WHERE key = '{key}'")
        return {k for (k,) in _query(home, f"SELECT key FROM identity_records "
                                           f"WHERE profile_id = '{mine}'")}  # fmt: skip

    assert not together() & set(others)
    rerun = subprocess.run([CDP, "--home", str(home), "resolve"],
                           capture_output=True, text=True, timeout=600)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    assert not together() & set(others)  # the pin holds on later runs
    kinds = {k for (k,) in _query(home, "SELECT kind FROM profile_lineage WHERE from_profile_id "
                                        f"= '{profile_id}'")}  # fmt: skip
    assert "unmerged" in kinds
    wrong = subprocess.run(
        [CDP, "--home", str(home), "identity", "unmerge", profile_id, "--record", "nope:1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert wrong.returncode == 4 and "no record" in wrong.stderr


@pytest.mark.slow
def test_each_run_is_logged_to_mlflow_with_model_and_charts(resolved) -> None:
    from mlflow import MlflowClient

    from features.identity.tracking import EXPERIMENT
    from features.settings import load_settings

    home, report = resolved
    client = MlflowClient(tracking_uri=load_settings(home=home).mlflow_uri)
    run = client.get_run(report["mlflow_run_id"])
    assert run.info.experiment_id == client.get_experiment_by_name(EXPERIMENT).experiment_id
    assert float(run.data.params["threshold_match_probability"]) == pytest.approx(
        report["threshold_match_probability"]
    )
    assert run.data.metrics["profiles"] == report["profiles"]
    assert run.data.metrics["stitched_identifiers"] == report["stitched_identifiers"]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    charts = {a.path for a in client.list_artifacts(run.info.run_id, "charts")}
    assert "splink_model.json" in artifacts
    assert {"charts/match_weights.html", "charts/m_u_parameters.html"} <= charts
    # The levels whose u was counted rather than sampled: in the report and in MLflow.
    from mlflow.artifacts import load_dict

    rare = report["rare_levels"]
    assert rare, "the small world has levels the random sample barely sees"
    names = {
        c["output_column_name"]
        for c in load_dict(f"{run.info.artifact_uri}/splink_model.json")["comparisons"]
    }
    assert all(r["comparison"] in names and 0 < r["u"] < 1 and r["pairs"] > 0 for r in rare)
    assert load_dict(f"{run.info.artifact_uri}/rare_levels.json") == {"rare_levels": rare}
    assert str(home.resolve()) in run.info.artifact_uri  # artifacts stay inside this home


def test_a_failed_run_leaves_no_staging_tables_and_the_last_state_intact(
    resolved, tmp_path
) -> None:
    """A full run that fails part-way (here the linkage engine runs out of memory, after the
    evidence and digests were staged in the background) drops its staging tables and leaves
    the profiles of the last run as they were: everything is written in one transaction."""
    import shutil

    from features.identity.resolve import STAGED_DIGESTS, resolve_profiles
    from features.identity.stitching import STAGED_EVIDENCE
    from features.settings import load_settings

    home, _ = resolved
    copy = tmp_path / "home"
    shutil.copytree(home, copy, ignore=shutil.ignore_patterns("tmp"))
    state = (
        "SELECT (SELECT COUNT(*) FROM identity_runs), (SELECT list(profile_id ORDER BY key) "
        "FROM identity_records), (SELECT COUNT(*) FROM identity_match_records), "
        "(SELECT COUNT(*) FROM anonymous_links), (SELECT COUNT(*) FROM profiles)"
    )
    before = _query(copy, state)
    with pytest.raises(Exception, match=r"(?i)memory"):
        resolve_profiles(load_settings(home=copy, linkage_memory="1KB"))
    tables = {name for (name,) in _query(copy, "SELECT table_name FROM duckdb_tables()")}
    assert not {STAGED_EVIDENCE, STAGED_DIGESTS} & tables
    assert _query(copy, state) == before
