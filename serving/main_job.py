"""The tail of `cdp run`: train and register the models, make demo keys, print ready-to-paste
curl examples, then serve. (The head — generate, ingest, resolve, materialise — is in cli.py.)"""

from __future__ import annotations

import json
import shlex
import sqlite3

from features.settings import Settings
from serving.console import console, out


def train_and_promote(settings: Settings, *, data_changed: bool) -> dict[str, object]:
    """Train challengers unless champions exist and no new rows came in; then run the
    promotion gate (the first models become champions)."""
    from training.config import load_config
    from training.tracking import MODELS, PromotionRefusedError, _client, _version_by_alias
    from training.tracking import promote as promote_model
    from training.train import rebacktest, train_warehouse

    client = _client(settings)
    have = all(_version_by_alias(client, name, "champion") for name in MODELS)
    if have and not data_changed:
        console.print("models: champions exist and no new data came in; not retraining")
        return {"trained": False}
    with console.status("training the ranker and the propensity model"):
        report = train_warehouse(settings, load_config(None))
    metrics = report["metrics"]
    out.print(
        f"models: ranker MAP@12 {metrics.get('ranker.model.map_at_12', float('nan')):.3f} "
        f"(baseline {metrics.get('ranker.frequency_baseline.map_at_12', float('nan')):.3f}), "
        f"propensity AUC {metrics.get('propensity.any.model.auc', float('nan')):.3f} "
        f"({report['seconds']:.0f}s)"
    )
    promoted = {}
    for name in MODELS:
        try:
            promoted[name] = promote_model(settings, name, rebacktest(settings))["promoted"]
        except PromotionRefusedError as exc:
            promoted[name] = False
            console.print(f"[yellow]not promoted:[/] {exc.message}", highlight=False)
    from serving.activation.scores import score_profiles

    with console.status("scoring every profile for audiences"):
        scored = score_profiles(settings)
    out.print(f"scores: {scored.profiles:,} profiles scored with propensity "
              f"v{scored.model_version} ({scored.seconds:.1f}s)")  # fmt: skip
    return {"trained": True, "versions": report["versions"], "promoted": promoted}


def make_demo_keys(settings: Settings) -> dict[str, str]:
    """A fresh key per role for the examples (older demo keys stay until revoked)."""
    from serving.keys import add_key

    return {role: add_key(settings, role)[1] for role in ("agent", "marketer", "admin")}


def _example_person(settings: Settings) -> dict[str, object]:
    """A profile with an email and purchases, to fill the examples with."""
    con = sqlite3.connect(settings.online_store_path)
    try:
        row = con.execute(
            "SELECT p.profile_id, p.email, p.first_name, p.last_name FROM profiles p "
            "JOIN online_features f ON f.entity_id = p.profile_id WHERE p.email IS NOT NULL "
            "AND p.first_name IS NOT NULL AND f.rfm__orders__365d > 1 "
            "AND f.consent__personalization__all = 1 ORDER BY p.profile_id LIMIT 1"
        ).fetchone()
    finally:
        con.close()
    if row is None:
        return {"profile_id": "prf_unknown", "email": "someone@mail.example",
                "first_name": "Ann", "last_name": "Lee"}  # fmt: skip
    return dict(zip(("profile_id", "email", "first_name", "last_name"), row, strict=True))


def curl_examples(settings: Settings, port: int, keys: dict[str, str]) -> list[str]:
    """Ready-to-paste commands for each role against a local service."""
    person = _example_person(settings)
    base = f"http://127.0.0.1:{port}"

    def curl(path: str, role: str, body: dict) -> str:
        data = shlex.quote(json.dumps(body))
        return (f"curl -s -X POST {base}/{path} -H 'Authorization: Bearer {keys[role]}' "
                f"-H 'Content-Type: application/json' -d {data}")  # fmt: skip

    return [
        f"curl -s {base}/readyz",
        curl("next_best_offer", "agent",
             {"identifier": {"type": "email", "value": person["email"]}, "k": 5}),
        curl("profile", "agent", {"identifier": {"type": "profile_id",
                                                 "value": person["profile_id"]}}),
        curl("match", "agent", {"first_name": person["first_name"],
                                "last_name": person["last_name"], "email": person["email"]}),
        curl("propensity", "marketer", {"profile_ids": [person["profile_id"]], "target": "any"}),
        curl("audience", "marketer", {"target": "any", "top_n": 100, "channel": "ads",
                                      "format": "hashed", "platform": "google"}),
    ]  # fmt: skip


def print_examples(settings: Settings, port: int) -> None:
    """Make demo keys and print the curl examples (keys are shown here once)."""
    keys = make_demo_keys(settings)
    out.print("\nDemo keys (shown once; `cdp keys list` / `cdp keys revoke NAME`):")
    for role, key in keys.items():
        out.print(f"  {role:<9} {key}", highlight=False, soft_wrap=True)
    out.print("\nOnce /readyz answers 200, try:")
    for line in curl_examples(settings, port, keys):
        out.print(line, highlight=False, soft_wrap=True)
    out.print("")
