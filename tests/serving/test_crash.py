"""Crash safety: kill -9 the server during a bounded event load on loopback, restart it, and
every acknowledged event is in the event log exactly once (issue #7)."""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from serving.keys import add_key
from tests.serving.conftest import clone
from tests.serving.test_serve import _free_port, start_server, stop_server

pytestmark = pytest.mark.slow
CDP = str(Path(sys.executable).parent / "cdp")


def test_acknowledged_events_survive_kill_9_exactly_once(served_home, tmp_path):
    settings = clone(served_home, tmp_path)
    key = add_key(settings, "admin")[1]
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = settings.home / "serve.log"
    process = start_server(settings.home, port, log_path)
    acknowledged: list[str] = []
    stop = threading.Event()

    def load() -> None:
        # Product views of one cookie, 5 per request, until the server dies under us.
        n = 0
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                ids = [f"crash_{n + i:06d}" for i in range(5)]
                n += 5
                body = {"events": [{"source": "web_events", "event": {
                    "event_id": i, "anonymous_id": "anon_crash_test", "type": "product_view",
                    "product_id": "prd_00001", "occurred_at": "2026-11-01T10:00:00Z"}}
                    for i in ids]}  # fmt: skip
                try:
                    answer = client.post(f"{base}/events", json=body,
                                         headers={"Authorization": f"Bearer {key}"})  # fmt: skip
                except httpx.TransportError:
                    return
                if answer.status_code == 200:
                    acknowledged.extend(ids)

    try:
        thread = threading.Thread(target=load)
        thread.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        stop_server(process, crash=True)  # mid-load, server and worker, no shutdown at all
        stop.set()
        thread.join(timeout=30)
        assert len(acknowledged) >= 200, "the load did not get going"
        process = start_server(settings.home, port, log_path)
        con = sqlite3.connect(settings.online_store_path)
        rows = con.execute("SELECT event_id, COUNT(*) FROM log_behaviour WHERE event_id LIKE "
                           "'web:crash_%' GROUP BY event_id").fetchall()  # fmt: skip
        con.close()
        counts = dict(rows)
        missing = [i for i in acknowledged if f"web:{i}" not in counts]
        assert not missing, f"{len(missing)} acknowledged events lost"
        assert all(c == 1 for c in counts.values())
        # A replay of everything acknowledged changes nothing.
        replay = {"events": [{"source": "web_events", "event": {
            "event_id": i, "anonymous_id": "anon_crash_test", "type": "product_view",
            "product_id": "prd_00001", "occurred_at": "2026-11-01T10:00:00Z"}}
            for i in acknowledged[:500]]}  # fmt: skip
        again = httpx.post(f"{base}/events", json=replay, timeout=60,
                           headers={"Authorization": f"Bearer {key}"}).json()  # fmt: skip
        assert again["applied"] == 0 and again["duplicates"] == len(replay["events"])
    finally:
        stop.set()
        stop_server(process, crash=True)
