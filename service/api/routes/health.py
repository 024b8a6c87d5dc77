"""Liveness, readiness and Prometheus metrics (no API key: probes and scrapers call these)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> Any:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: model loaded and database reachable",
    responses={503: {"model": Readiness, "description": "Not ready"}},
)
def readyz(request: Request) -> Any:
    routing = request.app.state.router_holder.get()
    database = request.app.state.store.ping()
    ready = routing is not None and database
    body = Readiness(
        status="ready" if ready else "not ready",
        model_loaded=routing is not None,
        database=database,
        model_version=getattr(routing, "model_version", None),
        warm=routing is not None and request.app.state.warm.is_set(),
    )
    if ready:
        return body
    return JSONResponse(status_code=503, content=body.model_dump())


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
def metrics(request: Request) -> Response:
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
