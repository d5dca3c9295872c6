"""BentoML runtime settings that keep the tail latency of `bentoml serve` near plain uvicorn.

Why (issue #6, measured in docs/benchmarks.md, "BentoML tail latency"): under load a BentoML 1.4
worker stalls its event loop for 40-650 ms about once a second. The stalls are CPython's full
(generation 2) garbage collections, which walk every tracked object in the process:

* the worker holds ~100k objects after start-up (BentoML, pydantic, OpenTelemetry, starlette),
  and its per-request path keeps enough objects alive across young collections that a full
  collection comes round about once a second (plain uvicorn: 27k objects, none in 10 s);
* `TimeoutMiddleware` (bentoml/_internal/server/http/traffic.py) schedules a `call_later` per
  request for `traffic.timeout` (60 s by default) and never cancels it; the handle keeps a copy
  of the request's context, and with it the request's OpenTelemetry span, so the heap grows by
  ~20 objects per request for a minute and each full collection gets slower.

The fix, in three parts, none of which runs at import time of this module:

* `patch_timeout_middleware()` cancels that timer as soon as the response starts and schedules
  it in an empty context (the upstreamable fix, see `UPSTREAM_NOTE`);
* `freeze_gc()`, called once the service is up, moves the start-up heap into the permanent
  generation (`gc.freeze`), so a full collection walks only what was allocated since;
* `service_config()` gives the `@bentoml.service(...)` options for the hot path: BentoML's
  access log, Prometheus middleware and per-request OpenTelemetry span cost throughput (not
  tail), so they are off there by default.

Adoption in `serving/service.py`::

    from serving import runtime

    runtime.patch_timeout_middleware()

    @bentoml.asgi_app(app, path="/v1")
    @bentoml.service(**runtime.service_config(hot_paths=["/v1"]))
    class Cdp:
        @bentoml.on_startup
        def zz_freeze_gc(self) -> None:  # hooks run in name order: this one last
            runtime.freeze_gc()
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import logging
import re
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from typing import Any

log = logging.getLogger(__name__)

# The BentoML minor versions whose TimeoutMiddleware was read and measured (1.4.40); on any
# other version the patch stands aside rather than replace code it has not seen.
PATCHED_SERIES = ("1.4",)

UPSTREAM_NOTE = """\
bentoml/_internal/server/http/traffic.py, TimeoutMiddleware.__call__: the handle returned by
`loop.call_later(self.timeout, self._set_timer_out, waiter)` is never cancelled, so every request
leaves a TimerHandle, its waiter future and a copy of the request's contextvars Context (which
holds the OpenTelemetry span and its attributes) alive for `traffic.timeout` seconds (60 by
default). At 1,000 requests/s that is ~60,000 requests' worth of objects, and CPython's full
collections, which come round about once a second under load, walk all of them (up to 650 ms
each on a 2-core machine). Fix: keep the handle, cancel it once the waiter resolves (and in a
`finally`), and pass `context=contextvars.Context()`: a cancelled handle stays in the loop's
heap until it reaches the head or asyncio prunes the heap (over 100 timers, half cancelled), so
behind one slow request's live timer it would otherwise still pin its request's context."""

_EMPTY_CONTEXT = contextvars.Context()

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def bentoml_series() -> str:
    """The installed BentoML's `major.minor`, e.g. "1.4"."""
    import bentoml

    return ".".join(bentoml.__version__.split(".")[:2])


async def _timeout_middleware_call(self: Any, scope: Scope, receive: Receive, send: Send) -> None:
    """BentoML 1.4's `TimeoutMiddleware.__call__` with its per-request timer cancelled.

    Same contract as the original: 504 if the app has not started its response within
    `self.timeout` seconds, otherwise wait for the app to finish.
    """
    from starlette.responses import JSONResponse

    if scope["type"] not in ("http", "websocket"):
        return await self.app(scope, receive, send)
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()
    # The callback needs none of the request's context, and a copy would pin the request's span
    # for as long as the cancelled handle waits in the loop's heap.
    timer = loop.call_later(self.timeout, self._set_timer_out, waiter, context=_EMPTY_CONTEXT)

    async def _send(message: Message) -> None:
        if not waiter.done():
            waiter.set_result(None)
        await send(message)

    fut = asyncio.ensure_future(self.app(scope, receive, _send), loop=loop)
    try:
        await waiter
    except TimeoutError:  # set by _set_timer_out
        if fut.cancel():
            resp = JSONResponse(
                {"error": f"Not able to process the request in {self.timeout} seconds"},
                status_code=504,
            )
            await resp(scope, receive, send)
    else:
        timer.cancel()  # the response has started: the deadline no longer applies
        await fut
    finally:
        timer.cancel()


def patch_timeout_middleware() -> bool:
    """Replace BentoML's `TimeoutMiddleware.__call__` with one that cancels its timer.

    Call it in the service module before the service class is defined (the worker process
    imports that module before it builds the ASGI app). Idempotent. Returns True when the patch
    is in place, False (with a warning) on a BentoML series it was not written for.
    """
    from bentoml._internal.server.http.traffic import TimeoutMiddleware

    if getattr(TimeoutMiddleware, "__cdp_patched__", False):
        return True
    series = bentoml_series()
    if series not in PATCHED_SERIES or not hasattr(TimeoutMiddleware, "_set_timer_out"):
        log.warning(
            "BentoML %s: TimeoutMiddleware left as it is (patch written for %s); "
            "re-measure benchmarks/serve_tail.py",
            series,
            ", ".join(PATCHED_SERIES),
        )
        return False
    # The original stays reachable: a test shows the bug it has, so an upstream fix is noticed.
    TimeoutMiddleware.__cdp_original_call__ = TimeoutMiddleware.__call__  # type: ignore[attr-defined]
    TimeoutMiddleware.__call__ = _timeout_middleware_call  # type: ignore[method-assign]
    TimeoutMiddleware.__cdp_patched__ = True  # type: ignore[attr-defined]
    return True


def freeze_gc() -> int:
    """Collect once, then move every live object into the permanent generation.

    The CLI does it too (`frozen_heap`), once a long command has imported what it needs
    (`cdp resolve`, `cdp link`, `cdp run`): a full run at a million records made ten full
    collections that walked the imported modules' objects (Splink, sqlglot, pandas, MLflow)
    every time, 1.60 s, and 0.70 s with them frozen (docs/benchmarks.md, "Garbage collection
    in a resolve run").

    In the service, call it once the service is up, after models are loaded: from a
    `@bentoml.on_startup` method whose name sorts after the other start-up hooks' (BentoML runs
    them in `dir()` order, after the class's `__init__`), or at the end of the last start-up
    step. Later full collections then walk only objects allocated since, a few thousand
    instead of ~100k. Frozen objects are never collected, so call it once, not per request.
    Returns the number of frozen objects.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


@contextlib.contextmanager
def frozen_heap() -> Iterator[int]:
    """`freeze_gc()` for the length of a command, then the frozen objects are handed back to
    the collector, so that a caller in a longer-lived process (a test, a notebook) is left as
    it was. Yields the number of frozen objects."""
    frozen = freeze_gc()
    try:
        yield frozen
    finally:
        gc.unfreeze()


def untraced_url_pattern(path_prefix: str) -> str:
    """The regular expression that makes BentoML's OpenTelemetry middleware skip `path_prefix`.

    The middleware searches its excluded-URL patterns in the full URL ("http://host:port/path"),
    so the pattern is anchored after the authority and ends at a path boundary: "/v1" matches
    "/v1" and "/v1/score", not "/v10".
    """
    prefix = "/" + path_prefix.strip("/") if path_prefix.strip("/") else ""
    return rf"^[a-z][a-z0-9+.-]*://[^/]*{re.escape(prefix)}(?:/|\?|$)"


def service_config(
    *,
    hot_paths: Sequence[str] = (),
    workers: int = 1,
    access_log: bool = False,
    metrics: bool = False,
    timeout_s: float = 60.0,
) -> dict[str, Any]:
    """Keyword arguments for `@bentoml.service(...)` on the serving hot path.

    None of these is the tail's cause (that is `patch_timeout_middleware` and `freeze_gc`):
    each costs CPU per request, hence throughput, hence latency under load. Measured on the
    2-core machine (docs/benchmarks.md), a mounted Starlette app, patched and frozen, served
    ~1,200 requests/s with all three on and ~2,900 with all three off; plain uvicorn ~3,500.

    `hot_paths`: URL path prefixes (e.g. the `@bentoml.asgi_app` mount path) that BentoML's
    OpenTelemetry middleware skips. BentoML records a span for every request even at sample
    rate 0 (its sampler answers RECORD_ONLY), the largest of the three costs; skipped requests
    have no span, so no trace or request id in logs or exports. `access_log`: BentoML's access
    log line per request. `metrics`: the Prometheus middleware and `/metrics` (multiprocess
    files under BENTOML_HOME). `workers`: worker processes; one leaves the second core to the
    load generator or the rest of the machine. `timeout_s`: BentoML's per-request deadline
    (504 if the response has not started by then), kept at its default.
    """
    config: dict[str, Any] = {
        "workers": workers,
        "traffic": {"timeout": timeout_s},
        "logging": {"access": {"enabled": access_log}},
        "metrics": {"enabled": metrics},
    }
    if hot_paths:
        config["tracing"] = {"excluded_urls": [untraced_url_pattern(p) for p in hot_paths]}
    return config


def configure_logging(level: str) -> None:
    """Send the product's own loggers (`cdp.*`) to stderr at `level` inside the worker, where
    BentoML, not `cdp`, has set logging up. Nothing they log carries PII (docs/privacy.md)."""
    import sys

    number = logging.getLevelName(level.upper())
    if not isinstance(number, int):
        number = logging.WARNING
    logger = logging.getLogger("cdp")
    logger.setLevel(number)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logger.addHandler(handler)
