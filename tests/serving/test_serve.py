"""One real `cdp serve` (BentoML) on a free loopback port: open probes, keys and roles over
HTTP, an event visible to the next lookup, and `bentoml build` from the same lock."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from serving.keys import add_key
from tests.serving.conftest import clone

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
CDP = str(Path(sys.executable).parent / "cdp")


def stop_server(process: subprocess.Popen, *, crash: bool = False) -> None:
    """Stop `cdp serve` and every process it started. BentoML's workers run in sessions of
    their own, so signalling the server's process group alone leaves them running (and still
    listening); `crash=True` is kill -9 of all of them at once."""
    import psutil

    try:
        family = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    sig = signal.SIGKILL if crash else signal.SIGTERM
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    for child in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.send_signal(sig)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    _, alive = psutil.wait_procs(family, timeout=30)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(home: Path, port: int, log_path: Path, *options: str) -> subprocess.Popen:
    """`cdp [OPTIONS] serve --port PORT` on `home`, its output appended to `log_path`; returns
    once /readyz answers 200 (fails with the log's tail if the server dies or is slow)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    env["CDP_HOME"] = str(home)
    with log_path.open("a") as log:
        process = subprocess.Popen([CDP, *options, "serve", "--port", str(port)], env=env,
                                   stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 240
    while True:
        if process.poll() is not None:
            raise AssertionError(log_path.read_text()[-3000:])
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            stop_server(process)
            raise AssertionError("the service did not get ready in 240 s")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def server(served_home, tmp_path_factory):
    settings = clone(served_home, tmp_path_factory.mktemp("serve"))
    port = _free_port()
    process = start_server(settings.home, port, settings.home / "serve.log")
    try:
        keys = {role: add_key(settings, role)[1] for role in ("agent", "marketer", "admin")}
        yield f"http://127.0.0.1:{port}", keys, settings
    finally:
        stop_server(process)


def _post(base, path, body, key=None):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{base}/{path}", json=body, headers=headers, timeout=30)


def test_probes_are_open_and_endpoints_need_the_right_role(server):
    base, keys, _settings = server
    assert httpx.get(f"{base}/livez", timeout=5).status_code == 200
    assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
    assert httpx.get(f"{base}/metrics", timeout=5).status_code == 200
    assert httpx.get(f"{base}/api/openapi.json", timeout=5).status_code == 200
    body = {"first_name": "Ann", "last_name": "Lee", "email": "ann.lee@mail.example"}
    assert _post(base, "match", body).status_code == 401
    assert _post(base, "match", body, keys["marketer"]).status_code == 403
    assert _post(base, "match", body, keys["agent"]).status_code == 200
    malformed = _post(base, "match", {"first_name": ["not", "text"]}, keys["agent"])
    assert malformed.status_code == 422 and "first_name" in malformed.json()["message"]


def test_an_event_is_visible_to_the_next_lookup_within_a_second(server):
    import sqlite3

    base, keys, settings = server
    con = sqlite3.connect(settings.online_store_path)
    profile_id, customer = con.execute(
        "SELECT entity_id, identifier_value FROM identifiers WHERE identifier_type = "
        "'customer_id' ORDER BY entity_id LIMIT 1").fetchone()  # fmt: skip
    con.close()
    lookup = {"identifier": {"type": "customer_id", "value": customer}, "k": 3}
    before = _post(base, "next_best_offer", lookup, keys["agent"])
    assert before.status_code == 200, before.text
    product = before.json()["offers"][0]["product_id"]
    order = {"order_id": "ord_serve_test", "customer_id": customer, "channel": "web",
             "ordered_at": datetime.now(UTC).isoformat(),
             "lines": [{"line_number": 1, "product_id": product, "quantity": 1,
                        "unit_price": 5.0}]}  # fmt: skip
    started = time.perf_counter()
    sent = _post(base, "events", {"events": [{"source": "orders", "event": order}]},
                 keys["admin"])  # fmt: skip
    after = _post(base, "next_best_offer", lookup, keys["agent"]).json()
    assert time.perf_counter() - started < 1.0
    assert sent.status_code == 200 and profile_id in sent.json()["affected_profiles"]
    assert product in {s["product_id"] for s in after["suppressed"]}
    assert product not in {o["product_id"] for o in after["offers"]}


def test_bentoml_build_packages_the_lock(tmp_path):
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "bentoml")}
    built = subprocess.run([str(Path(sys.executable).parent / "bentoml"), "build"], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    [requirements] = (tmp_path / "bentoml").glob("bentos/cdp/*/env/python/requirements.txt")
    pins = {line.split("==")[0].strip(): line.split("==")[1].split(";")[0].strip()
            for line in requirements.read_text().splitlines() if "==" in line}  # fmt: skip
    lock = {line.split("==")[0].strip(): line.split("==")[1].split(";")[0].strip()
            for line in (ROOT / "requirements.lock").read_text().splitlines()
            if "==" in line and not line.startswith(" ")}  # fmt: skip
    assert pins == lock
    [service] = (tmp_path / "bentoml").glob("bentos/cdp/*/src/serving/service.py")
    assert "CdpService" in service.read_text()
