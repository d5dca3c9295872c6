"""The service's endpoints as an ASGI app (FastAPI), mounted inside the BentoML service.

Every endpoint is JSON over POST and needs `Authorization: Bearer KEY` whose role allows it
(serving.keys). Bodies are validated by the pydantic models of serving.schemas, so a malformed
body is a 422 naming the field; every error the product raises on purpose carries its own
HTTP status (features.errors). The agent's lookups take well under a millisecond of work, so
they run on the event loop itself (a thread-pool hop cost more than the lookup); the heavier
endpoints (scores, audiences, events) are plain `def`s that FastAPI runs on its thread pool.
Each thread keeps its own SQLite connection (serving.state).
"""

from __future__ import annotations

import logging

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from features.errors import CdpError
from serving import handlers
from serving.activation.requests import AudienceRequest, SuppressionRequest
from serving.keys import Caller
from serving.schemas import (
    EventsRequest,
    ForgetRequest,
    MatchRequest,
    NextBestOfferRequest,
    ProfileRequest,
    PropensityRequest,
)
from serving.state import ServingState

log = logging.getLogger("cdp.serving")
ENDPOINTS = ("/next_best_offer", "/profile", "/match", "/propensity", "/audience",
             "/suppression", "/events", "/forget")  # fmt: skip
DESCRIPTION = """Real-time lookups for call-center agents, scores and audiences for marketers.

Send `Authorization: Bearer <key>`; make keys with `cdp keys add --role agent|marketer|admin`.
Roles: **agent** (next_best_offer, profile, match), **marketer** (propensity, audience,
suppression; hashed identifiers only), **admin** (everything, and events and erasures)."""


def _state(request: Request) -> ServingState:
    state = getattr(request.app.state, "cdp", None)
    if state is None:
        raise CdpError("the service has no state attached")
    return state


def _caller(action: str):
    # async: a sync dependency would cost a thread-pool hop on every request.
    async def check(request: Request,
              authorization: str | None = Header(default=None, include_in_schema=False)
              ) -> Caller:  # fmt: skip
        caller = _state(request).keys.verify(authorization)
        caller.require(action)
        request.state.caller = caller
        return caller

    return check


def _error(status: int, kind: str, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": kind, "message": message, **extra}, status_code=status)


def _field(location: tuple) -> str:
    parts = [str(p) for p in location if p != "body"]
    return ".".join(parts) or "body"


def build_api() -> FastAPI:
    """The FastAPI app with every endpoint; attach a ServingState as `app.state.cdp`."""
    api = FastAPI(
        title="cdp-engine", version="0.1.0", description=DESCRIPTION,
        docs_url="/api/docs", redoc_url=None, openapi_url="/api/openapi.json",
    )  # fmt: skip

    @api.exception_handler(CdpError)
    async def _cdp_error(request: Request, exc: CdpError) -> JSONResponse:
        return _error(exc.http_status, type(exc).__name__, exc.message)

    @api.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [{"field": _field(tuple(e.get("loc", ()))), "message": e.get("msg", "")}
                  for e in exc.errors()]  # fmt: skip
        first = fields[0] if fields else {"field": "body", "message": "invalid body"}
        return _error(422, "ValidationError", f"{first['field']}: {first['message']}",
                      fields=fields)  # fmt: skip

    @api.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Never a bare 500 page; the message names the class only (it may hold PII otherwise).
        log.error("unexpected %s on %s", type(exc).__name__, request.url.path, exc_info=exc)
        return _error(500, "InternalError", f"unexpected {type(exc).__name__}; see server log")

    @api.post("/next_best_offer", tags=["agent"], summary="Best offers for one person")
    async def next_best_offer(body: NextBestOfferRequest, request: Request,
                        caller: Caller = Depends(_caller("next_best_offer"))) -> dict:  # fmt: skip
        """Profile summary, ranked offers with reasons, what was suppressed and why."""
        result = handlers.next_best_offer(_state(request), body)
        _state(request).audit.record(caller, "next_best_offer", {"offers": len(result["offers"])})
        return JSONResponse(result)

    @api.post("/profile", tags=["agent"], summary="The unified profile")
    async def profile(body: ProfileRequest, request: Request,
                caller: Caller = Depends(_caller("profile"))) -> dict:  # fmt: skip
        """Golden record, identifiers, consents, products owned, recent activity."""
        result = handlers.profile(_state(request), body)
        _state(request).audit.record(caller, "profile", {"profiles": 1})
        return JSONResponse(result)

    @api.post("/match", tags=["agent"], summary="Real-time identity match")
    async def match(body: MatchRequest, request: Request,
              caller: Caller = Depends(_caller("match"))) -> dict:  # fmt: skip
        """The profile a person record belongs to (or none), its probability, and why."""
        result = handlers.match(_state(request), body)
        _state(request).audit.record(
            caller, "match", {"matched": int(result["profile_id"] is not None)}
        )
        return JSONResponse(result)

    @api.post("/propensity", tags=["marketer"], summary="Calibrated purchase probabilities")
    def propensity(body: PropensityRequest, request: Request,
                   caller: Caller = Depends(_caller("propensity"))) -> dict:  # fmt: skip
        """One probability per profile for the target, from the champion model."""
        result = handlers.propensity(_state(request), body)
        _state(request).audit.record(caller, "propensity", {"scores": len(result["scores"])})
        return result

    @api.post("/audience", tags=["marketer"], summary="An audience with suppression applied")
    def audience(body: AudienceRequest, request: Request,
                 caller: Caller = Depends(_caller("audience"))) -> dict:  # fmt: skip
        """Best-scored people for a target on a channel, minus the erased, the unconsented,
        those who already bought, and those contacted too recently; counts of each."""
        result = handlers.audience(_state(request), body)
        _state(request).audit.record(
            caller,
            "audience",
            {"members": result["counts"]["members"], "candidates": result["counts"]["candidates"]},
        )
        return result

    @api.post("/suppression", tags=["marketer"], summary="Hashed buyers of a product")
    def suppression(body: SuppressionRequest, request: Request,
                    caller: Caller = Depends(_caller("suppression"))) -> dict:  # fmt: skip
        """SHA-256 identifiers of everyone who bought a product or category, for ad platforms'
        exclusion lists."""
        result = handlers.suppression(_state(request), body)
        _state(request).audit.record(caller, "suppression", dict(result.get("counts") or {}))
        return result

    @api.post("/events", tags=["admin"], summary="Apply a batch of events in real time")
    def events(body: EventsRequest, request: Request,
               caller: Caller = Depends(_caller("events"))) -> JSONResponse:  # fmt: skip
        """Each event is durable before the answer, applied once by its id, and visible to the
        next lookup."""
        result = handlers.apply_events(_state(request), body)
        _state(request).audit.record(
            caller,
            "events",
            {
                k: result[k] if isinstance(result[k], int) else len(result[k])
                for k in ("applied", "duplicates", "rejected")
            },
        )
        return JSONResponse(result, status_code=422 if result["rejected"] else 200)

    @api.post("/forget", tags=["admin"], summary="Erase a person everywhere")
    def forget(body: ForgetRequest, request: Request,
               caller: Caller = Depends(_caller("forget"))) -> dict:  # fmt: skip
        """Removes the person behind the identifier from every store, blocks their identifiers
        (salted hashes) so no replay or re-ingest brings them back, and returns the receipt:
        counts per store and table, never a value. Forgetting twice is a no-op receipt."""
        return handlers.forget(_state(request), body, caller.key_id)

    return api
