"""The BentoML service: `bentoml serve serving.service:CdpService` (or `cdp serve`).

BentoML is the runtime and the packaging (bentofile.yaml): it runs the worker, serves `/livez`,
`/readyz` (through `__is_ready__`) and `/metrics`, and builds the Bento. The endpoints are the
FastAPI app of serving.api, mounted at the root; the service instance owns the ServingState that
app reads. The home comes from `CDP_HOME`, as for every command.
"""

from __future__ import annotations

import os

import bentoml

from features.settings import Settings
from serving import runtime
from serving.api import ENDPOINTS, build_api
from serving.state import ServingState

# Building the app object only declares routes; nothing is loaded until a worker starts.
api = build_api()
# BentoML 1.4 leaks a timer per request, which makes full GCs pause for 100s of ms under load
# (docs/benchmarks.md, "BentoML tail latency"): cancel it. Must precede the app's creation.
runtime.patch_timeout_middleware()


@bentoml.asgi_app(api, path="/")
@bentoml.service(name="cdp", **runtime.service_config(hot_paths=ENDPOINTS, metrics=True))
class CdpService:
    """Loads the stores and the champion models in the background once the worker starts."""

    def __init__(self) -> None:
        runtime.configure_logging(os.environ.get("CDP_SERVICE_LOG_LEVEL", "warning"))
        self.state = ServingState(Settings(), on_loaded=runtime.freeze_gc).start()
        api.state.cdp = self.state

    def __is_ready__(self) -> bool:
        """`/readyz` answers 200 only once models and stores are loaded."""
        return self.state.ready
