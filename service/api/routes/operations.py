"""Admin actions of the operation loop: move a setting's state; re-certify from the store."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from service.api.deps import AdminRole, HolderDep, StoreDep
from service.api.errors import FieldErrors, field_error
from service.schemas import PolicyStateIn, PolicyStateOut, RecertifyIn, RecertifyOut

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post(
    "/policy-state",
    response_model=PolicyStateOut,
    summary="Move a care setting shadow -> live (or pause, or pull the switch) (admin)",
    responses={403: {"description": "Needs an admin key"},
               409: {"description": "Not allowed from the current state, or another version "
                                    "is in force"}},
)
def set_policy_state(body: PolicyStateIn, request: Request, holder: HolderDep,
                     role: AdminRole) -> Any:
    """Recorded with who (role and key fingerprint), when and why. A setting in fallback stays
    there for this version: only a re-certified version automates it again."""
    routing = holder.get()
    if routing is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="no model is loaded")
    if body.policy_version is not None and body.policy_version != routing.policy.version:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            detail=f"policy version {routing.policy.version} is in force")
    try:
        changed = request.app.state.operation.set_state(
            routing, body.care_setting, body.state, reason=body.reason, role=role,
            key_fingerprint=getattr(request.state, "key_fingerprint", None))
    except ValueError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    return {"model_version": routing.model_version, "policy_version": routing.policy.version,
            "states": request.app.state.operation.states(routing), "changed": changed}


@router.post(
    "/recertify",
    response_model=RecertifyOut,
    summary="Re-certify the policy from the hospital's own labelled outcomes (admin)",
    responses={403: {"description": "Needs an admin key"}},
)
def recertify(body: RecertifyIn, request: Request, holder: HolderDep, store: StoreDep,
              role: AdminRole) -> Any:
    """Runs the bundle's risk control on the store's shadow and holdout outcomes (a rule fixed
    before their outcomes were seen) and proposes a new policy version with its guarantee, or says
    how many more labelled episodes each setting needs. With ``apply`` it is deployed."""
    try:
        return request.app.state.operation.recertify(
            holder, since=body.since, alpha=body.alpha, delta=body.delta, apply=body.apply,
            go_live=body.go_live, role=role,
            key_fingerprint=getattr(request.state, "key_fingerprint", None))
    except ValueError as exc:
        raise FieldErrors([field_error(["body"], str(exc))]) from None
