"""benchmarks/wrk_load.py: the Lua it generates, the summary it parses, the paced client."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "wrk_load.py"
_spec = importlib.util.spec_from_file_location("wrk_load", _PATH)
assert _spec is not None and _spec.loader is not None
wrk_load = importlib.util.module_from_spec(_spec)
sys.modules["wrk_load"] = wrk_load
_spec.loader.exec_module(wrk_load)


def test_lua_string_escapes_quotes_backslashes_and_non_ascii() -> None:
    assert wrk_load.lua_string('a"b\\c') == '"a\\"b\\\\c"'
    assert wrk_load.lua_string("é\n") == '"\\195\\169\\010"'


def test_wrk_script_embeds_every_body_the_key_and_the_percentiles() -> None:
    script = wrk_load.wrk_script(
        [{"id": 1}, '{"id": 2}'], api_key="k-1", percentiles=(50, 95, 99.9)
    )
    assert '"{\\"id\\":1}"' in script and '"{\\"id\\": 2}"' in script
    assert 'local auth = "k-1"' in script
    assert "local percentiles = {50, 95, 99.9}" in script
    assert "local auth = nil" in wrk_load.wrk_script(["{}"])
    with pytest.raises(ValueError):
        wrk_load.wrk_script([])


def test_parse_wrk_output_reads_the_done_line_in_ms() -> None:
    raw = {
        "requests": 5000,
        "duration_us": 2_000_000,
        "non_2xx": 3,
        "socket_errors": 2,
        "connect_errors": 1,
        "timeouts": 1,
        "mean_us": 812.5,
        "max_us": 40_000,
        "p50_us": 700,
        "p95_us": 1500,
        "p99_us": 9000,
    }
    stdout = "Running 2s test\n  5000 requests\n" + wrk_load.JSON_MARK + json.dumps(raw) + "\n"
    out = wrk_load.parse_wrk_output(stdout)
    assert out["rps"] == 2500
    assert (out["p50_ms"], out["p95_ms"], out["p99_ms"]) == (0.7, 1.5, 9.0)
    assert (out["non_2xx"], out["socket_errors"], out["max_ms"]) == (3, 2, 40.0)
    with pytest.raises(RuntimeError):
        wrk_load.parse_wrk_output("no summary here")


class _Server:
    """A tiny keep-alive HTTP/1.1 server on 127.0.0.1: 200 for /ok, 401 without the key."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.bodies: list[bytes] = []
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(5)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.server = self.loop.run_until_complete(asyncio.start_server(self._handle, sock=sock))
        ready.set()
        self.loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode()
                headers = dict(
                    line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line
                )
                self.bodies.append(await reader.readexactly(int(headers["Content-Length"])))
                ok = headers.get("Authorization") == "Bearer k" and " /ok " in head
                status = "200 OK" if ok else "401 Unauthorized"
                writer.write(f"HTTP/1.1 {status}\r\nContent-Length: 2\r\n\r\nok".encode())
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    yield srv
    srv.close()


def test_run_paced_sends_at_the_rate_with_every_body(server: _Server) -> None:
    url = f"http://127.0.0.1:{server.port}/ok"
    out = wrk_load.run_paced(
        url, [{"a": 1}, {"a": 2}], rate=100, duration_s=0.5, api_key="k", max_connections=4
    )
    assert out["requests"] == 50
    assert out["non_2xx"] == out["socket_errors"] == out["timeouts"] == 0
    assert out["connections_opened"] == 4
    assert 0.45 <= out["duration_s"] < 1.5
    assert out["p50_ms"] <= out["p95_ms"] <= out["p99_ms"] <= out["max_ms"]
    assert set(server.bodies) == {b'{"a":1}', b'{"a":2}'}


def test_run_paced_counts_non_2xx_and_refused_connections(server: _Server) -> None:
    out = wrk_load.run_paced(f"http://127.0.0.1:{server.port}/ok", ["{}"], rate=40, duration_s=0.25)
    assert out["non_2xx"] == out["requests"] == 10
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    out = wrk_load.run_paced(f"http://127.0.0.1:{closed_port}/ok", ["{}"], rate=40, duration_s=0.1)
    assert out["requests"] == 0 and out["socket_errors"] == 4


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_run_wrk_reports_rps_percentiles_and_non_2xx(server: _Server) -> None:
    ok = wrk_load.run_wrk(
        f"http://127.0.0.1:{server.port}/ok", [{"a": 1}], api_key="k", connections=2, duration_s=1
    )
    assert ok["requests"] > 0 and ok["rps"] > 0
    assert ok["non_2xx"] == ok["socket_errors"] == 0
    assert ok["p50_ms"] <= ok["p95_ms"] <= ok["p99_ms"]
    denied = wrk_load.run_wrk(
        f"http://127.0.0.1:{server.port}/ok", ["{}"], connections=1, duration_s=1
    )
    assert denied["non_2xx"] == denied["requests"] > 0
