"""Benchmark: tail latency of a trivial JSON POST handler, plain uvicorn against `bentoml serve`.

Each setup is started as a subprocess on a free 127.0.0.1 port, from modules this script writes
to a temporary folder, warmed up, loaded with wrk at each connection count and stopped; setups
take turns within each repeat, so that the noise of a shared machine falls on all of them.
`--rates` adds runs of the paced open-loop client (wrk_load.run_paced) at those requests/s. It
prints the medians over `--repeat` runs: requests/s, p50/p90/p99 (wrk's are corrected for
coordinated omission, the paced client's run from each request's due time; see
benchmarks/wrk_load.py), errors (non-2xx + socket + timeouts, summed over the repeats), the
worker's full garbage collections during the load (per second, longest), and the machine's
1-minute load average as each run started (other jobs share the cores).

    .venv/bin/python benchmarks/serve_tail.py --repeat 3 [--duration 10] [--setups a,b]
        [--connections 1,16] [--rates 1000]

Setups (docs/benchmarks.md, "BentoML tail latency (issue #6)"):
  uvicorn               the Starlette app on plain uvicorn (h11, asyncio loop, no access log)
  bento-api-sync        `@bentoml.api def`, BentoML defaults
  bento-api-async       `@bentoml.api async def`, BentoML defaults
  bento-asgi            the Starlette app mounted with `@bentoml.asgi_app`, BentoML defaults
  bento-asgi-quiet      bento-asgi, access log and metrics off
  bento-asgi-patch      bento-asgi-quiet + serving.runtime.patch_timeout_middleware()
  bento-asgi-freeze     bento-asgi-quiet + serving.runtime.freeze_gc() at start-up
  bento-asgi-fixed      bento-asgi + patch + freeze + runtime.service_config(hot_paths=["/app"])
  bento-api-sync-fixed  bento-api-sync, fixed the same way (hot path "/echo")
  bento-api-async-fixed bento-api-async, fixed the same way
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wrk_load import run_paced, run_wrk  # beside this script, first on the path when it runs

BODY = {"text": "hello world"}
PERCENTILES = (50, 90, 99)

GCTRACE_PY = '''\
"""Appends "unix_time pause_ms" for each full collection to $GCTRACE_DIR/gc.<pid>.log."""
import gc, os, time

_dir = os.environ.get("GCTRACE_DIR")
if _dir and not getattr(gc, "_gctrace_on", False):
    gc._gctrace_on = True
    _out = open(os.path.join(_dir, f"gc.{os.getpid()}.log"), "a", buffering=1)
    _start = [0.0]

    def _trace(phase, info):
        if info["generation"] != 2:
            return
        if phase == "start":
            _start[0] = time.perf_counter()
        else:
            _out.write(f"{time.time():.4f} {(time.perf_counter() - _start[0]) * 1000:.3f}\\n")

    gc.callbacks.append(_trace)
'''

HOT_APP_PY = """\
import gctrace  # noqa: F401
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def echo(request: Request) -> JSONResponse:
    body = await request.json()
    return JSONResponse({"n": len(body.get("text", ""))})


app = Starlette(routes=[Route("/echo", echo, methods=["POST"])])
"""

SERVICE_PY = """\
import gctrace  # noqa: F401
import bentoml
from serving import runtime
from hot_app import app

if {patch}:
    assert runtime.patch_timeout_middleware()


class Echo:
    if {freeze}:
        @bentoml.on_startup
        def zz_freeze_gc(self) -> None:  # hooks run in name order: this one last
            runtime.freeze_gc()

    if {api!r} == "sync":
        @bentoml.api
        def echo(self, text: str) -> dict:
            return {{"n": len(text)}}

    if {api!r} == "async":
        @bentoml.api
        async def echo(self, text: str) -> dict:
            return {{"n": len(text)}}


Echo = bentoml.service(**{config!r})(Echo)
if {api!r} == "asgi":
    Echo = bentoml.asgi_app(app, path="/app")(Echo)
"""

QUIET = {"logging": {"access": {"enabled": False}}, "metrics": {"enabled": False}}


@dataclass(frozen=True)
class Setup:
    """One server to measure: plain uvicorn, or a BentoML service built from SERVICE_PY."""

    name: str
    api: str = "asgi"  # "uvicorn", "sync", "async" or "asgi"
    config: dict[str, Any] = field(default_factory=dict)
    patch: bool = False
    freeze: bool = False
    fixed: bool = False  # config = runtime.service_config(hot_paths=[its path]) at run time

    @property
    def path(self) -> str:
        return "/app/echo" if self.api == "asgi" else "/echo"


SETUPS = [
    Setup("uvicorn", api="uvicorn"),
    Setup("bento-api-sync", api="sync"),
    Setup("bento-api-async", api="async"),
    Setup("bento-asgi"),
    Setup("bento-asgi-quiet", config=QUIET),
    Setup("bento-asgi-patch", config=QUIET, patch=True),
    Setup("bento-asgi-freeze", config=QUIET, freeze=True),
    Setup("bento-asgi-fixed", patch=True, freeze=True, fixed=True),
    Setup("bento-api-sync-fixed", api="sync", patch=True, freeze=True, fixed=True),
    Setup("bento-api-async-fixed", api="async", patch=True, freeze=True, fixed=True),
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_modules(folder: Path, setup: Setup) -> None:
    """The app (and for BentoML, service) modules `setup` serves, written to `folder`."""
    from serving import runtime

    (folder / "gctrace.py").write_text(GCTRACE_PY)
    (folder / "hot_app.py").write_text(HOT_APP_PY)
    if setup.api != "uvicorn":
        hot = "/app" if setup.api == "asgi" else "/echo"
        config = runtime.service_config(hot_paths=[hot]) if setup.fixed else setup.config
        source = SERVICE_PY.format(
            patch=setup.patch, freeze=setup.freeze, api=setup.api, config=config
        )
        (folder / "svc.py").write_text(source)


def start(setup: Setup, folder: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """Start the server in its own session (so that stopping it reaches its workers only)."""
    bindir = Path(sys.executable).parent
    env = {
        **os.environ,
        "GCTRACE_DIR": str(folder),
        "BENTOML_HOME": str(folder / "bentoml_home"),
        "BENTOML_DO_NOT_TRACK": "True",  # no usage reports over the network
    }
    if setup.api == "uvicorn":
        cmd = [str(bindir / "uvicorn"), "hot_app:app", "--no-access-log", "--log-level=warning"]
        cmd += ["--host=127.0.0.1", f"--port={port}"]
    else:
        cmd = [str(bindir / "bentoml"), "serve", "svc:Echo", "--host=127.0.0.1", f"--port={port}"]
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd, cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 90.0) -> None:
    """Until a POST to `url` answers 200; raise if the server exits or the time runs out."""
    deadline = time.monotonic() + timeout_s
    data = json.dumps(BODY).encode()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before it was ready")
        request = urllib.request.Request(
            url, data=data, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} not ready after {timeout_s:.0f} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (ours: started in a new session), SIGKILL if needed."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass
    time.sleep(0.5)  # circus workers leave after the arbiter; let the port go quiet
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def full_gcs(folder: Path, since: float, until: float) -> list[float]:
    """Pauses (ms) of the full collections the server's processes logged in [since, until]."""
    pauses = []
    for path in folder.glob("gc.*.log"):
        for line in path.read_text().splitlines():
            stamp, pause = line.split()
            if since <= float(stamp) <= until:
                pauses.append(float(pause))
    return pauses


def measure(
    setup: Setup, connections: list[int], duration_s: float, rates: Sequence[float] = ()
) -> list[dict[str, Any]]:
    """One start-warm-load-stop cycle of `setup`: wrk at each connection count, then the paced
    open-loop client at each rate. Each result's "load" is "c=N" or "N/s"."""
    results = []
    with tempfile.TemporaryDirectory(prefix=f"serve-tail-{setup.name}-") as tmp:
        folder = Path(tmp)
        write_modules(folder, setup)
        port = free_port()
        url = f"http://127.0.0.1:{port}{setup.path}"
        proc = start(setup, folder, port, folder / "server.log")
        try:
            wait_ready(url, proc)
            run_wrk(url, [BODY], connections=max(connections, default=16), duration_s=2)  # warm-up
            runs = [(f"c={c}", run_wrk, {"connections": c}) for c in connections]
            runs += [(f"{r:g}/s", run_paced, {"rate": r}) for r in rates]
            for label, client, options in runs:
                load = os.getloadavg()[0]
                since = time.time()
                result = client(
                    url, [BODY], duration_s=duration_s, percentiles=PERCENTILES, **options
                )
                pauses = full_gcs(folder, since, time.time())
                result.update(
                    setup=setup.name,
                    load=label,
                    errors=result["non_2xx"] + result["socket_errors"] + result["timeouts"],
                    gc_per_s=len(pauses) / result["duration_s"],
                    gc_max_ms=max(pauses, default=0.0),
                    load1=load,
                )
                results.append(result)
        except Exception:
            sys.stderr.write((folder / "server.log").read_text()[-3000:])
            raise
        finally:
            stop(proc)
    return results


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Medians per (setup, load) over the repeats; errors summed."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["setup"], run["load"]), []).append(run)
    rows = []
    for (name, load), group in groups.items():
        row: dict[str, Any] = {"setup": name, "load": load, "runs": len(group)}
        for key in ("rps", *(f"p{p}_ms" for p in PERCENTILES), "gc_per_s", "gc_max_ms", "load1"):
            row[key] = statistics.median(r[key] for r in group)
        row["errors"] = sum(r["errors"] for r in group)
        rows.append(row)
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    """The medians as a Markdown table."""
    print(
        "| setup | load | rps | p50 ms | p90 ms | p99 ms | errors | full GC/s | max GC ms | load1 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['setup']} | {r['load']} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | "
            f"{r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} | {r['gc_per_s']:.2f} | "
            f"{r['gc_max_ms']:.1f} | {r['load1']:.1f} |"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--connections", default="1,16", help="comma-separated wrk counts")
    parser.add_argument(
        "--rates", default="", help="comma-separated requests/s for the paced open-loop client"
    )
    parser.add_argument("--setups", default=",".join(s.name for s in SETUPS))
    parser.add_argument("--json", type=Path, help="also write every run here")
    args = parser.parse_args(argv)
    by_name = {s.name: s for s in SETUPS}
    unknown = [n for n in args.setups.split(",") if n not in by_name]
    if unknown:
        parser.error(f"unknown setups {unknown}; known: {', '.join(by_name)}")
    setups = [by_name[n] for n in args.setups.split(",")]
    connections = [int(c) for c in args.connections.split(",") if c]
    rates = [float(r) for r in args.rates.split(",") if r]
    print(f"# {os.cpu_count()} cores, {args.repeat} repeats, {args.duration:.0f} s per run")
    runs: list[dict[str, Any]] = []
    for repeat in range(args.repeat):
        for setup in setups:
            for result in measure(setup, connections, args.duration, rates):
                runs.append({**result, "repeat": repeat})
                print(
                    f"  [{repeat + 1}/{args.repeat}] {setup.name} {result['load']}: "
                    f"{result['rps']:,.0f} rps, p99 {result['p99_ms']:.2f} ms, "
                    f"{result['gc_per_s']:.2f} full GC/s (max {result['gc_max_ms']:.1f} ms)",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))
    print_table(summarise(runs))


if __name__ == "__main__":
    main()
