"""serving.runtime: the BentoML config it returns, the TimeoutMiddleware patch, the GC freeze."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import json
import os
import re
import subprocess
import sys
import textwrap
import weakref
from pathlib import Path
from typing import Any

import pytest

from serving import runtime

traffic = pytest.importorskip("bentoml._internal.server.http.traffic")
TimeoutMiddleware = traffic.TimeoutMiddleware
REQUEST_VALUE: contextvars.ContextVar[object] = contextvars.ContextVar("request_value")


@pytest.fixture
def patched(monkeypatch: pytest.MonkeyPatch) -> type:
    """TimeoutMiddleware patched for one test, restored after it."""
    monkeypatch.setattr(TimeoutMiddleware, "__call__", TimeoutMiddleware.__call__)
    monkeypatch.setattr(TimeoutMiddleware, "__cdp_patched__", False, raising=False)
    assert runtime.patch_timeout_middleware()
    return TimeoutMiddleware


class Marker:
    """Something a request puts in its context, to see whether the middleware pins it."""


def _scope() -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/v1/x", "headers": []}


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"{}", "more_body": False}


async def _ok_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def _one_request(app: Any, timeout: float = 60.0) -> tuple[list[dict], bool, int]:
    """Messages sent, whether the request's marker is still alive, its live timers on the loop.

    A 30 s timer scheduled first stands for a slow request in flight: a cancelled handle behind
    it in the loop's heap is not dropped until it reaches the head. Everything is read before
    the loop closes, since closing it drops whatever its timers hold.
    """
    loop = asyncio.get_running_loop()
    ahead = loop.call_later(30, lambda: None)
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    middleware = TimeoutMiddleware(app, timeout=timeout)
    marker = Marker()
    ref = weakref.ref(marker)

    async def request(value: Marker) -> None:
        REQUEST_VALUE.set(value)  # as OpenTelemetry sets the request's span
        await middleware(_scope(), _receive, send)

    await asyncio.create_task(request(marker))
    del marker
    await asyncio.sleep(0)
    gc.collect()
    scheduled = loop._scheduled  # type: ignore[attr-defined]
    live = [h for h in scheduled if not h.cancelled() and h is not ahead]
    ahead.cancel()
    return sent, ref() is not None, len(live)


def test_unpatched_middleware_pins_the_request_for_its_timeout(monkeypatch) -> None:
    """The BentoML bug the patch exists for; when this fails, upstream fixed it: drop the patch."""
    if getattr(TimeoutMiddleware, "__cdp_patched__", False):  # patched earlier in this process
        monkeypatch.setattr(TimeoutMiddleware, "__call__",
                            TimeoutMiddleware.__cdp_original_call__)  # fmt: skip
    sent, pinned, live = asyncio.run(_one_request(_ok_app))
    assert sent[0]["status"] == 200
    assert live == 1 and pinned


def test_patched_middleware_cancels_its_timer_and_frees_the_request(patched: type) -> None:
    sent, pinned, live = asyncio.run(_one_request(_ok_app))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert live == 0
    assert not pinned


def test_patched_middleware_still_answers_504_past_the_timeout(patched: type) -> None:
    async def slow_app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(10)

    sent, _, live = asyncio.run(_one_request(slow_app, timeout=0.05))
    assert sent[0]["status"] == 504
    assert b"0.05 seconds" in sent[1]["body"]
    assert live == 0


def test_patched_middleware_waits_for_a_started_response_past_the_timeout(patched: type) -> None:
    """The deadline is for the start of the response, as in BentoML: a slow body is kept."""

    async def slow_body(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(0.1)
        await send({"type": "http.response.body", "body": b"late"})

    sent, _, _ = asyncio.run(_one_request(slow_body, timeout=0.05))
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"late"


def test_patched_middleware_cancels_its_timer_when_the_request_is_cancelled(
    patched: type,
) -> None:
    async def scenario() -> int:
        async def never_app(scope: Any, receive: Any, send: Any) -> None:
            await asyncio.sleep(10)

        async def send(message: dict) -> None:
            pass

        task = asyncio.create_task(
            TimeoutMiddleware(never_app, timeout=60)(_scope(), _receive, send)
        )
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        loop = asyncio.get_running_loop()
        return sum(not h.cancelled() and h.when() > loop.time() + 30 for h in loop._scheduled)

    assert asyncio.run(scenario()) == 0


def test_patch_is_idempotent_and_stands_aside_on_other_bentoml_series(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import bentoml

    original = TimeoutMiddleware.__call__
    monkeypatch.setattr(TimeoutMiddleware, "__call__", original)
    monkeypatch.setattr(TimeoutMiddleware, "__cdp_patched__", False, raising=False)
    monkeypatch.setattr(bentoml, "__version__", "1.5.0")
    assert runtime.bentoml_series() == "1.5"
    assert runtime.patch_timeout_middleware() is False
    assert TimeoutMiddleware.__call__ is original

    monkeypatch.setattr(bentoml, "__version__", "1.4.40")
    assert runtime.patch_timeout_middleware() is True
    patched_call = TimeoutMiddleware.__call__
    assert patched_call is not original
    assert runtime.patch_timeout_middleware() is True
    assert TimeoutMiddleware.__call__ is patched_call


def test_freeze_gc_moves_live_objects_to_the_permanent_generation() -> None:
    try:
        frozen = runtime.freeze_gc()
        assert frozen > 1000
        # Less any frozen object freed since (a thread of an earlier test in this worker may
        # still drop a few): CI once saw 2 of 629,845 go between the two counts.
        assert frozen - 100 < gc.get_freeze_count() <= frozen
        assert gc.get_count()[2] == 0
    finally:
        gc.unfreeze()


def test_frozen_heap_hands_the_objects_back_to_the_collector() -> None:
    """The CLI freezes the heap for a long command only: a test or notebook calling the
    command in its own process is left with nothing frozen."""
    assert gc.get_freeze_count() == 0
    with runtime.frozen_heap() as frozen:
        assert frozen > 1000
        assert gc.get_freeze_count() > 1000  # less any frozen object freed since
    assert gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), runtime.frozen_heap():
        raise RuntimeError("the command failed")
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize(
    ("url", "skipped"),
    [
        ("http://127.0.0.1:3000/v1", True),
        ("http://127.0.0.1:3000/v1/score", True),
        ("https://cdp.example:443/v1/score/x", True),
        ("http://127.0.0.1:3000/v10/score", False),
        ("http://127.0.0.1:3000/readyz", False),
        ("http://127.0.0.1:3000/api/v1/score", False),
    ],
)
def test_untraced_url_pattern_matches_the_prefix_only(url: str, skipped: bool) -> None:
    from opentelemetry.util.http import ExcludeList

    pattern = runtime.untraced_url_pattern("/v1/")
    assert bool(re.search(pattern, url)) is skipped
    assert ExcludeList([pattern]).url_disabled(url) is skipped


def test_service_config_passes_bentoml_validation() -> None:
    from _bentoml_sdk.service.config import validate

    config = runtime.service_config(hot_paths=["/v1"], access_log=True, workers=2)
    assert validate(config) == config
    assert config["logging"]["access"]["enabled"] is True
    assert config["tracing"]["excluded_urls"] == [runtime.untraced_url_pattern("/v1")]
    assert "tracing" not in runtime.service_config()


SERVICE_MODULE = """
import bentoml
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from serving import runtime

runtime.patch_timeout_middleware()


async def echo(request):
    return JSONResponse(await request.json())


app = Starlette(routes=[Route("/echo", echo, methods=["POST"])])
LOADED = []


@bentoml.asgi_app(app, path="/v1")
@bentoml.service(**runtime.service_config(hot_paths=["/v1"]))
class Cdp:
    @bentoml.on_startup
    def load_model(self) -> None:
        self.model = [{"weight": i} for i in range(1000)]
        LOADED.append(self.model)

    @bentoml.on_startup
    def zz_freeze_gc(self) -> None:  # hooks run in name order: this one last
        runtime.freeze_gc()
"""

DRIVER = """
import gc, json, sys
sys.path.insert(0, sys.argv[1])
from bentoml._internal.configuration.containers import BentoMLContainer
from starlette.testclient import TestClient
from svc import LOADED, Cdp

Cdp.inject_config()  # what `bentoml serve`'s worker does before building the app
app = Cdp.to_asgi(is_main=True)
names = []
with TestClient(app) as client:
    codes = [client.post("/v1/echo", json={"i": i}).status_code for i in range(20)]
    out = {
        "codes": sorted(set(codes)),
        "metrics": client.get("/metrics").status_code,
        "frozen": gc.get_freeze_count(),
        "model_frozen": not any(o is LOADED[0] for o in gc.get_objects()),
        "access_log": BentoMLContainer.api_server_config.logging.access.enabled.get(),
        "untraced": BentoMLContainer.tracing_excluded_urls.get().url_disabled(
            "http://testserver/v1/echo"),
        "timeout": BentoMLContainer.config.services["Cdp"].traffic.timeout.get(),
    }
    node = client.app.middleware_stack
    while node is not None:
        names.append(type(node).__name__)
        node = getattr(node, "app", None)
    out["middlewares"] = names
    from bentoml._internal.server.http.traffic import TimeoutMiddleware
    out["patched"] = bool(getattr(TimeoutMiddleware, "__cdp_patched__", False))
print("RESULT " + json.dumps(out))
"""


def test_service_adopting_the_runtime_serves_with_it(tmp_path: Path) -> None:
    """The docstring's adoption lines in a real BentoML app, in its own process (global state)."""
    (tmp_path / "svc.py").write_text(textwrap.dedent(SERVICE_MODULE))
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "BENTOML_HOME": str(tmp_path / "home"),
            "BENTOML_DO_NOT_TRACK": "True",  # no usage report over the network
        },
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    out = json.loads(line[len("RESULT ") :])
    assert out["codes"] == [200]
    assert out["metrics"] == 404
    assert out["access_log"] is False
    assert out["untraced"] is True
    assert out["timeout"] == 60.0
    assert out["patched"] is True
    assert "TimeoutMiddleware" in out["middlewares"]
    assert "AccessLogMiddleware" not in out["middlewares"]
    assert out["frozen"] > 10_000
    assert out["model_frozen"] is True  # the freeze ran after the other start-up hook
