"""POST /v1/outcomes: the final human code list for a routed episode."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from service.api.deps import RouterRole, StoreDep
from service.api.errors import FieldErrors, field_error
from service.schemas import OutcomeIn, OutcomeOut
from service.store import OutcomeExists
from triage.codes.normalize import normalize_label

router = APIRouter(prefix="/v1", tags=["outcomes"])


def _readings(code: str) -> list[str]:
    """Every label a human-entered spelling could denote (ICD-10 first, then ICD-9 dx/px)."""
    out = []
    for version, kind in ((10, None), (9, None), (9, "dx"), (9, "px")):
        try:
            label = normalize_label(code, version, kind)
        except ValueError:
            continue
        if label not in out:
            out.append(label)
    return out


def final_labels(predicted: set[str], final_codes: list[str]) -> set[str]:
    """Labels of the final codes; an ambiguous spelling takes the reading the decision used.

    Raises FieldErrors naming the index of a code that is no ICD-9 or ICD-10 code.
    """
    labels: set[str] = set()
    for i, code in enumerate(final_codes):
        readings = _readings(code)
        if not readings:
            raise FieldErrors(
                [field_error(["body", "final_codes", i], "not an ICD-9 or ICD-10 code", code)]
            )
        labels.add(next((r for r in readings if r in predicted), readings[0]))
    return labels


def realised_correct(decision: dict[str, Any], final_codes: list[str]) -> bool:
    """Exact set match of the decision's predicted codes and the human's final codes."""
    predicted = {c["code"] for c in decision.get("codes", [])}
    return final_labels(predicted, final_codes) == predicted


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
def record_outcome(body: OutcomeIn, request: Request, store: StoreDep, _role: RouterRole) -> Any:
    if body.decision_id is not None:
        row = store.get_decision(body.decision_id)
        missing = f"no decision {body.decision_id}"
    else:
        row = store.latest_decision_for_episode(str(body.episode_id))
        missing = f"no decision for episode {body.episode_id}"
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=missing)
    correct = realised_correct(row["decision"], body.final_codes)
    try:
        recorded_at = store.record_outcome(row["decision_id"], list(body.final_codes), correct)
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
    }
