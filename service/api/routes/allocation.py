"""POST /v1/allocate: share routed decisions out among today's coders (triage.allocation)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from service.api.deps import RouterDep, RouterRole, SettingsDep, StoreDep, allocator_for
from service.api.errors import FieldErrors, field_error
from service.schemas import AllocateIn, AllocateOut
from triage.allocation import RosterError
from triage.jsonsafe import finite_json

router = APIRouter(prefix="/v1", tags=["allocation"])


def check_size(n_decisions: int, n_coders: int, settings: Any) -> None:
    """The documented limits of one allocate call: 422 past the list sizes, 413 past the
    decisions x coders product (the solver's memory and time grow with it)."""
    errors = []
    if n_decisions > settings.allocate_max_decisions:
        errors.append(field_error(["body", "decision_ids"], f"{n_decisions} decisions; the limit is "
                                  f"{settings.allocate_max_decisions}", n_decisions, "too_long"))
    if n_coders > settings.allocate_max_coders:
        errors.append(field_error(["body", "roster"], f"{n_coders} coders; the limit is "
                                  f"{settings.allocate_max_coders}", n_coders, "too_long"))
    if errors:
        raise FieldErrors(errors)
    cells = n_decisions * n_coders
    if cells > settings.allocate_max_cells:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            detail=f"{n_decisions} decisions x {n_coders} coders = {cells} cells; the limit is "
            f"{settings.allocate_max_cells} (TRIAGE_ALLOCATE_MAX_CELLS): split the call",
        )


@router.post(
    "/allocate",
    response_model=AllocateOut,
    summary="Assign routed decisions to today's roster",
    responses={
        404: {"description": "Unknown decision ids (the first 20 are named)"},
        413: {"description": "decisions x coders past TRIAGE_ALLOCATE_MAX_CELLS (default 500,000)"},
        422: {"description": "Bad roster, repeated decision ids, or more decisions/coders than "
              "TRIAGE_ALLOCATE_MAX_DECISIONS / _MAX_CODERS (default 5,000 / 500)"},
    },
)
def allocate(
    body: AllocateIn,
    request: Request,
    store: StoreDep,
    routing: RouterDep,
    settings: SettingsDep,
    _role: RouterRole,
) -> Any:
    """Optimal assignment by priority under each coder's minutes, specialty and level; every
    decision lands in assignments, backlog (with the reason) or automated. The solver stops at
    TRIAGE_ALLOCATE_TIME_LIMIT_S (default 10 s) with the best assignment found and its gap."""
    check_size(len(body.decision_ids), len(body.roster), settings)
    ids = list(body.decision_ids)
    seen: set[str] = set()
    for i, did in enumerate(ids):
        if did in seen:
            raise FieldErrors([field_error(["body", "decision_ids", i], "repeated decision", did)])
        seen.add(did)
    rows = store.get_decisions(ids)
    missing = [f"decision_ids[{i}] {did}" for i, did in enumerate(ids) if did not in rows]
    if missing:  # a reference to nothing stored: not found, like any unknown resource
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"{len(missing)} unknown decision(s): " + ", ".join(missing[:20]),
        )
    # keyed by decision id: unique even when an episode was routed twice
    episodes = [routing.allocation_episode({**rows[did]["decision"], "episode_id": did}) for did in ids]
    roster = [c.model_dump() for c in body.roster]
    try:
        allocator = allocator_for(request.app.state, routing).with_time_limit(settings.allocate_time_limit_s)
        result = allocator.allocate(
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
