"""No PII in logs: the pipeline and the service run at debug level, and their whole output is
searched for the generated people's emails, phones and names (issue #7)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest

from serving.keys import add_key
from tests.serving.conftest import clone
from tests.serving.test_serve import _free_port, start_server, stop_server

pytestmark = pytest.mark.slow
CDP = str(Path(sys.executable).parent / "cdp")


def _cdp(home: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    env["CDP_HOME"] = str(home)
    done = subprocess.run([CDP, "--log-level", "debug", *args], env=env, capture_output=True,
                          text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


def find_pii(world: Path, text: str) -> list[str]:
    """The generated people's emails, phones (E.164 or national digits, as whole numbers) and
    full names that occur in `text`."""
    people = pd.read_parquet(world / "truth" / "people.parquet")
    emails = {v.lower() for c in ("email", "other_email") for v in people[c].dropna()}
    phones = {v for c in ("mobile_phone", "landline_phone") for p in people[c].dropna()
              for v in (p, p.removeprefix("+1"))}  # fmt: skip
    names = {n.lower() for n in (people["first_name"] + " " + people["last_name"]).dropna()}
    lowered = text.lower()
    found = set(re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", lowered)) & emails
    found |= set(re.findall(r"\+?\d{7,}", text)) & phones
    found |= {n for n in names if n in lowered}
    return sorted(found)


def test_pipeline_and_service_logs_at_debug_level_hold_no_pii(small_world, served_home, tmp_path):
    # The data steps that handle names, emails and phones, at debug level, on a fresh home...
    fresh = tmp_path / "fresh"
    logs = [
        _cdp(fresh, "ingest", str(small_world)),
        _cdp(fresh, "resolve"),
        _cdp(fresh, "features", "materialize"),
    ]
    # ...and the service at debug level over the same world with trained models.
    settings = clone(served_home, tmp_path / "served")
    home = settings.home
    people = pd.read_parquet(small_world / "truth" / "people.parquet").dropna(
        subset=["email", "mobile_phone"]).head(5)  # fmt: skip
    keys = {role: add_key(settings, role)[1] for role in ("agent", "marketer", "admin")}
    port = _free_port()
    log_path = tmp_path / "serve.log"
    process = start_server(home, port, log_path, "--log-level", "debug")
    base = f"http://127.0.0.1:{port}"
    try:
        agent = {"Authorization": f"Bearer {keys['agent']}"}
        for person in people.itertuples():
            for kind, value in (("email", person.email), ("phone", person.mobile_phone),
                                ("email", "x" + person.email)):  # fmt: skip
                httpx.post(f"{base}/next_best_offer", headers=agent, timeout=30,
                           json={"identifier": {"type": kind, "value": value}})  # fmt: skip
                httpx.post(f"{base}/profile", headers=agent, timeout=30,
                           json={"identifier": {"type": kind, "value": value}})  # fmt: skip
            httpx.post(f"{base}/match", headers=agent, timeout=30,
                       json={"first_name": person.first_name, "last_name": person.last_name,
                             "email": person.email, "phone": person.mobile_phone})  # fmt: skip
            httpx.post(
                f"{base}/match", headers=agent, timeout=30, json={"first_name": [person.first_name]}
            )  # malformed: a 422
            consent = {"consent_id": f"cns_log_{person.Index}", "identifier_type": "email",
                       "identifier_value": person.email, "purpose": "advertising",
                       "status": "withdrawn", "occurred_at": "2026-11-01T00:00:00Z"}  # fmt: skip
            httpx.post(f"{base}/events", timeout=30,
                       headers={"Authorization": f"Bearer {keys['admin']}"},
                       json={"events": [{"source": "consents", "event": consent}]})  # fmt: skip
        httpx.post(f"{base}/audience", timeout=60,
                   headers={"Authorization": f"Bearer {keys['marketer']}"},
                   json={"target": "any", "top_n": 50, "channel": "ads", "format": "hashed",
                         "platform": "meta"})  # fmt: skip
    finally:
        stop_server(process)
    logs.append(log_path.read_text())
    text = "\n".join(logs)
    assert "DEBUG" in text  # the levels really were debug
    found = find_pii(small_world, text)
    assert not found, f"PII in the logs: {found[:5]}"


def test_the_scan_finds_pii_when_it_is_there(small_world):
    people = pd.read_parquet(small_world / "truth" / "people.parquet").dropna(subset=["email"])
    person = people.iloc[0]
    line = f"INFO lookup {person.email.upper()} {person.first_name} {person.last_name}"
    assert len(find_pii(small_world, line)) == 2
