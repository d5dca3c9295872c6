"""Registered models trained before an erasure learnt from the erased person: mark them.

A model cannot unlearn one person (the ranker even stores per-customer offer lists keyed by
profile id), so every registered version created before the erasure gets the tag
`retrain_needed_after_erasure = <erasure id>`; `cdp models` shows it, and the next `cdp train`
builds its sets from the cleaned warehouse. The newest erasure's id is kept on a version marked
several times.
"""

from __future__ import annotations

from features.settings import Settings

RETRAIN_TAG = "retrain_needed_after_erasure"


def mark_models_for_retraining(settings: Settings, erasure_id: str, before_ms: int) -> list[str]:
    """Tag every registered model version created before `before_ms` (epoch ms); return
    "name:version" of those tagged. No MLflow database: nothing to mark."""
    if not (settings.home / "mlflow.db").exists():
        return []
    from mlflow.tracking import MlflowClient  # slow import: only when there are models

    client = MlflowClient(tracking_uri=settings.mlflow_uri, registry_uri=settings.mlflow_uri)
    marked = []
    for model in client.search_registered_models():
        for version in client.search_model_versions(f"name = '{model.name}'"):
            if version.creation_timestamp is not None and version.creation_timestamp <= before_ms:
                client.set_model_version_tag(model.name, version.version, RETRAIN_TAG, erasure_id)
                marked.append(f"{model.name}:{version.version}")
    return sorted(marked)
