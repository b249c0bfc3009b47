"""``POST /events/{type}``: an agency system's intake record over HTTP.

The body is the event's data as JSON; the envelope comes from CloudEvents HTTP headers
(``ce-subject``, ``ce-source``, ``ce-correlationid``, ``ce-id``, ``ce-time``) or the same
names as query parameters. 202 with the event id once the record is committed to the
outbox; 422 with a reason code and the failing fields otherwise.

The agency system posting it shows its token (``Authorization: Bearer``; no cookie, so no
cross-site form can post): 401 without a known one, 403 when the type belongs to an intake
topic its agency does not write (``services.runtime.auth.postable_types``).
"""

from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from starlette.requests import ClientDisconnect

from contracts.codec import MAX_PAYLOAD_BYTES
from contracts.ids import new_event_id
from services.intake_api.outbox import IdReused, write_intake
from services.intake_api.validation import ATTRIBUTES, Refusal, intake_types, validate
from services.runtime.auth import AgencyTokens, postable_types
from services.runtime.failures import is_transient
from services.runtime.service import ServiceRuntime

log = structlog.get_logger()


async def _bounded_body(request: Request, limit: int) -> bytes:
    """At most ``limit + 1`` bytes: enough to tell an oversize body without holding it."""
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks)


def _attributes(request: Request) -> dict[str, str | None]:
    return {a: request.headers.get(f"ce-{a}") or request.query_params.get(a) for a in ATTRIBUTES}


def _refusal(refusal: Refusal) -> JSONResponse:
    return JSONResponse(
        {"reason": refusal.reason.value,
         "errors": [{"field": e.field, "message": e.message} for e in refusal.errors]},
        status_code=422,
    )


def create_app(runtime: ServiceRuntime, tokens: AgencyTokens | None = None) -> FastAPI:
    """The intake endpoint; ``tokens`` default to the runtime's ``SINERGI_API_TOKENS``."""
    # No /docs, /redoc or /openapi.json: unauthenticated pages loading scripts from a CDN.
    app = FastAPI(title="Sinergi intake", version="1", docs_url=None, redoc_url=None,
                  openapi_url=None)
    known = tokens if tokens is not None else \
        AgencyTokens.parse(runtime.settings.api_tokens.get_secret_value())
    requests = Counter(
        "sinergi_intake_requests", "Intake posts by event type and outcome (accepted, "
        "duplicate or the refusal's reason)", ["event_type", "outcome"],
        registry=runtime.metrics.registry)
    types = intake_types()

    @app.post("/events/{event_type}", status_code=202,
              responses={401: {}, 403: {}, 422: {}})
    async def post_event(event_type: str, request: Request) -> Any:
        label = event_type if event_type in types else "unknown"
        agency = known.caller(request, cookie=False)
        if agency is None:
            requests.labels(label, "unauthorized").inc()
            return JSONResponse({"detail": "a valid agency token is required"},
                                status_code=401, headers={"WWW-Authenticate": "Bearer"})
        if event_type in types and event_type not in postable_types(agency):
            requests.labels(label, "forbidden").inc()
            return JSONResponse({"detail": f"{agency} may not post {event_type}"},
                                status_code=403)
        try:
            body = await _bounded_body(request, MAX_PAYLOAD_BYTES)
        except ClientDisconnect:
            return JSONResponse({"reason": "client_disconnected"}, status_code=400)
        checked = validate(event_type, body, _attributes(request),
                           event_id=new_event_id(), now=datetime.now(UTC))
        if isinstance(checked, Refusal):
            requests.labels(label, checked.reason.value).inc()
            return _refusal(checked)
        try:
            new = await write_intake(runtime.engine, runtime.definition.tables, checked)
        except IdReused as reused:
            requests.labels(label, "id_reused").inc()
            return JSONResponse({"reason": "id_reused", "detail": f"{reused}: give each "
                                 "record its own ce-id (a retry sends the same record)"},
                                status_code=409)
        except Exception as exc:  # nothing was stored: the system may post it again
            transient = is_transient(exc)
            log.error("intake_not_stored", event_type=event_type, error=repr(exc),
                      transient=transient)
            requests.labels(label, "not_stored").inc()
            if transient:
                return JSONResponse({"reason": "store_unavailable", "detail": "the intake "
                                     "could not be stored just now; post it again"},
                                    status_code=503, headers={"Retry-After": "5"})
            return JSONResponse({"reason": "store_failed", "detail": "the intake could not "
                                 "be stored; nothing was kept"}, status_code=500)
        requests.labels(label, "accepted" if new else "duplicate").inc()
        return JSONResponse({"event_id": str(checked.envelope.id), "type": event_type,
                             "duplicate": not new}, status_code=202)

    return app
