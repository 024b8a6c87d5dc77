"""POST /v1/outcomes: the final human code list for a routed episode."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from service.api.deps import RouterDep, RouterRole, StoreDep
from service.schemas import OutcomeIn, OutcomeOut
from service.store import OutcomeExists
from triage.codes.normalize import label_exists, normalize_label

router = APIRouter(prefix="/v1", tags=["outcomes"])


def _readings(code: str) -> list[str]:
    """Every existing label a human-entered spelling could denote (ICD-10 first, then ICD-9)."""
    out = []
    for version, kind in ((10, None), (10, "dx"), (10, "px"), (9, None), (9, "dx"), (9, "px")):
        try:
            label = normalize_label(code, version, kind)
        except ValueError:
            continue
        if label not in out and label_exists(label, version):
            out.append(label)
    return out


def final_labels(predicted: set[str], final_codes: list[str]) -> tuple[list[str], list[str]]:
    """(labels of the final codes in the order sent, principal first; unknown spellings); an
    ambiguous spelling takes the reading the decision used. A code in no code system is returned
    as unknown (as sent), never guessed."""
    labels: list[str] = []
    unknown: list[str] = []
    for code in final_codes:
        readings = [r for r in _readings(code)] or [p for p in predicted if _same(p, code)]
        if not readings:
            unknown.append(code)
            continue
        label = next((r for r in readings if r in predicted), readings[0])
        if label not in labels:
            labels.append(label)
    return labels, unknown


def _same(label: str, code: str) -> bool:
    """A predicted label (perhaps a retired code the model knows) written another way."""
    return label.replace(".", "") == "".join(code.split()).replace(".", "").upper()


def realised_correct(
    routing: Any, decision: dict[str, Any], final_codes: list[str]
) -> tuple[bool, list[str]]:
    """Whether the decision's codes were right by the human's final codes, judged by the router
    under its own target (:meth:`triage.router.Router.outcome_correct`: the error the policy
    guarantees), and the unknown final codes (an unknown final code is a disagreement)."""
    predicted = [c["code"] for c in decision.get("codes", [])]
    labels, unknown = final_labels(set(predicted), final_codes)
    if unknown:
        return False, unknown
    return routing.outcome_correct(labels, predicted, decision.get("metadata")), unknown


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
    correct, unknown = realised_correct(routing, row["decision"], body.final_codes)
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
