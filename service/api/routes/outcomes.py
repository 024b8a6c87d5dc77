"""POST /v1/outcomes: the final human code list for a routed episode."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from service.api.deps import RouterDep, RouterRole, StoreDep
from service.schemas import OutcomeIn, OutcomeOut
from service.store import OutcomeExists

router = APIRouter(prefix="/v1", tags=["outcomes"])


@router.post(
    "/outcomes",
    response_model=OutcomeOut,
    status_code=status.HTTP_201_CREATED,
    summary="Record the final human code list of a routed episode",
    responses={
        404: {"description": "Unknown decision or episode"},
        409: {"description": "Outcome already recorded"},
    },
)
def record_outcome(
    body: OutcomeIn, request: Request, store: StoreDep, routing: RouterDep, _role: RouterRole
) -> Any:
    """An audited automated decision's outcome also advances its care setting's watch; when the
    watch then says violated, the setting falls back (automates nothing) from the next request."""
    if body.decision_id is not None:
        row = store.get_decision(body.decision_id)
        missing = f"no decision {body.decision_id}"
    else:
        row = store.latest_decision_for_episode(str(body.episode_id))
        missing = f"no decision for episode {body.episode_id}"
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=missing)
    correct, unknown = routing.judge_outcome(row["decision"], body.final_codes)
    try:
        recorded_at, step, fell_back = request.app.state.operation.record_outcome(
            routing, row, list(body.final_codes), correct)
    except OutcomeExists:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail=f"an outcome is already recorded for decision {row['decision_id']}",
        ) from None
    request.app.state.metrics.outcomes.labels(row["route"], str(correct).lower()).inc()
    return {
        "decision_id": row["decision_id"],
        "episode_id": row["episode_id"],
        "route": row["route"],
        "automated": row["route"] == "automate",
        "correct": correct,
        "model_version": row["model_version"],
        "policy_version": row["policy_version"],
        "recorded_at": recorded_at,
        "unknown_codes": unknown,
        "audit": bool(row.get("audit")),
        "watch": None if step is None else {
            "care_setting": row.get("care_setting"), "status": step.status, "n": step.n,
            "errors": step.errors, "fell_back": fell_back},
    }
