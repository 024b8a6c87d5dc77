"""POST /v1/allocate: share routed decisions out among today's coders (triage.allocation)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from service.api.deps import RouterDep, RouterRole, StoreDep
from service.api.errors import FieldErrors, field_error
from service.schemas import AllocateIn, AllocateOut
from triage.allocation import RosterError
from triage.codes.labels import truncate_label
from triage.jsonsafe import finite_json

router = APIRouter(prefix="/v1", tags=["allocation"])


def _allocation_episode(row: dict[str, Any]) -> dict[str, Any]:
    d = row["decision"]
    codes = [c["code"] for c in d.get("codes", [])]
    # nothing predicted (manual): the strongest candidate still says which queue should code it
    candidates = codes or [s["code"] for s in d.get("suggestions", [])]
    out = {
        "episode_id": row["decision_id"],  # unique even when an episode was routed twice
        "route": d["route"],
        "p_correct": d["p_correct"],
        "principal": d.get("principal") or (candidates[0] if candidates else None),
        "drg": d.get("drg"),
        "mdc": None if d.get("mdc") in (None, "PRE") else d.get("mdc"),
        "drg_weight": d.get("drg_weight"),
        "n_codes": len(codes),
        "n_categories": len({truncate_label(c, 3) for c in codes}),
    }
    if d.get("discharge_date"):
        out["discharge_date"] = d["discharge_date"]
    return out


def _allocator(request: Request, routing: Any) -> Any:
    if getattr(routing, "allocator", None) is not None:
        return routing.allocator
    state = request.app.state
    if getattr(state, "default_allocator", None) is None:
        from triage.allocation import Allocator

        state.default_allocator = Allocator()
    return state.default_allocator


@router.post(
    "/allocate",
    response_model=AllocateOut,
    summary="Assign routed decisions to today's roster",
    responses={422: {"description": "Bad roster or unknown decision ids"}},
)
def allocate(
    body: AllocateIn, request: Request, store: StoreDep, routing: RouterDep, _role: RouterRole
) -> Any:
    """Optimal assignment by priority under each coder's minutes, specialty and level; every
    decision lands in assignments, backlog (with the reason) or automated."""
    ids = list(body.decision_ids)
    seen: set[str] = set()
    for i, did in enumerate(ids):
        if did in seen:
            raise FieldErrors([field_error(["body", "decision_ids", i], "repeated decision", did)])
        seen.add(did)
    rows = store.get_decisions(ids)
    missing = [
        field_error(["body", "decision_ids", i], "unknown decision", did)
        for i, did in enumerate(ids) if did not in rows
    ]
    if missing:
        raise FieldErrors(missing[:20])
    episodes = [_allocation_episode(rows[did]) for did in ids]
    roster = [c.model_dump() for c in body.roster]
    try:
        result = _allocator(request, routing).allocate(
            episodes, roster, as_of=body.as_of.isoformat() if body.as_of else None,
            source="decisions", roster_source="roster",
        ).to_dict()
    except RosterError as exc:  # names the coder and the column
        raise FieldErrors([field_error(["body", "roster"], str(exc))]) from None
    except ValueError as exc:  # EpisodeInputError: names the decision and the column
        raise FieldErrors([field_error(["body", "decision_ids"], str(exc))]) from None
    for table in ("assignments", "backlog", "automated"):
        for rec in result[table]:
            rec["decision_id"] = rec.pop("episode_id")
            rec["episode_id"] = rows[rec["decision_id"]]["episode_id"]
    return {
        # JSON has no NaN/inf: the solver's gap or bound may be either
        "summary": finite_json(result["summary"]),
        **{t: finite_json(result[t]) for t in ("assignments", "backlog", "automated", "coders")},
    }
