"""Every identity run logged to MLflow (sqlite backend in CDP_HOME): parameters, figures, the
trained Splink model as JSON and its charts, so a run can be reproduced and explained.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from features.settings import Settings

EXPERIMENT = "identity_resolution"
log = logging.getLogger("cdp.identity")


def open_identity_experiment(settings: Settings) -> tuple[object, str]:
    """(MLflow client, experiment id) of the identity experiment, created if missing.

    Importing MLflow and opening its store take seconds of Python; a resolve run does this in
    a thread while DuckDB writes the profiles.
    """
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=settings.mlflow_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        artifacts = (settings.home / "mlartifacts").resolve()
        artifacts.mkdir(parents=True, exist_ok=True)
        return client, client.create_experiment(EXPERIMENT, artifact_location=artifacts.as_uri())
    return client, experiment.experiment_id


def log_identity_run(
    settings: Settings,
    report: dict[str, object],
    model_json: dict,
    charts: dict[str, Path],
    opened: tuple[object, str] | None = None,
) -> str:
    """Log one resolve run (to `opened`, from `open_identity_experiment`, if given); returns
    the MLflow run id."""
    from mlflow.entities import Metric, Param

    client, experiment_id = opened or open_identity_experiment(settings)
    run = client.create_run(experiment_id, run_name=f"resolve-{report['run_id']}")
    run_id = run.info.run_id
    params = {
        "threshold_match_probability": report["threshold_match_probability"],
        "blocking_rules": " | ".join(report["blocking_rules"]),
        "comparisons": ", ".join(c["output_column_name"] for c in model_json["comparisons"]),
        "prior": model_json["probability_two_random_records_match"],
        "seed": settings.seed,
        "contradiction_rates": json.dumps(report.get("contradiction_rates", {})),
    }
    metrics = {
        key: float(report[key])
        for key in ("records", "distinct_records", "low_evidence_records", "profiles", "merged",
                    "split", "stitched_identifiers", "refused_identifiers", "seconds")
        if key in report
    }  # fmt: skip
    client.log_batch(
        run_id,
        params=[Param(k, str(v)[:6000]) for k, v in params.items()],
        metrics=[Metric(k, v, 0, 0) for k, v in metrics.items()],
    )
    client.log_dict(run_id, model_json, "splink_model.json")
    # Which levels' u was counted within their blocks rather than sampled, and by how much
    # that moved it: needed to explain the weights in the charts.
    client.log_dict(run_id, {"rare_levels": report.get("rare_levels") or []}, "rare_levels.json")
    for chart in charts.values():
        client.log_artifact(run_id, str(chart), "charts")
    client.set_terminated(run_id)
    log.info("identity run %s logged to MLflow run %s", report["run_id"], run_id)
    return run_id
