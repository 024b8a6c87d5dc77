"""GET /v1/monitoring: routed counts, automation rate and realised error per model and policy."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from service.api.deps import RouterRole, SettingsDep, StoreDep
from service.monitoring import summarise
from service.schemas import Monitoring

router = APIRouter(prefix="/v1", tags=["monitoring"])


@router.get("/monitoring", response_model=Monitoring, summary="Realised performance")
def monitoring(
    store: StoreDep,
    settings: SettingsDep,
    _role: RouterRole,
    confidence: Annotated[
        float | None,
        Query(gt=0, lt=1, allow_inf_nan=False, description="Interval level (default configured)"),
    ] = None,
) -> Any:
    level = confidence if confidence is not None else settings.monitoring_confidence
    return {"groups": summarise(store.group_stats(), level)}
