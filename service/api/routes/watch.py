"""GET /v1/watch: per care setting the policy state, the anytime-valid watch and its history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from service.api.deps import RouterDep, RouterRole
from service.schemas import WatchOut

router = APIRouter(prefix="/v1", tags=["monitoring"])


@router.get("/watch", response_model=WatchOut, summary="The guarantee in operation")
def get_watch(
    request: Request,
    routing: RouterDep,
    _role: RouterRole,
    events: Annotated[int, Query(ge=0, le=1000, description="Most recent events to list")] = 50,
) -> Any:
    """State (shadow / live / fallback), audited n, realised error with its anytime-valid interval
    and the e-process per care setting for the policy version in force; drift statistics; events."""
    return request.app.state.operation.watch_view(routing, n_events=events)
