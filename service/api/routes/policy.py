"""GET/PUT /v1/policy: the live policy, and re-choosing it from the bundle's calibration data."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from service.api.deps import AdminRole, HolderDep, RouterDep, RouterRole, StoreDep
from service.api.errors import FieldErrors, field_error
from service.schemas import PolicyOut, PolicyUpdate

router = APIRouter(prefix="/v1", tags=["policy"])


def policy_view(routing: Any) -> dict[str, Any]:
    return {
        "model_version": routing.model_version,
        "policy_version": routing.policy.version,
        "policy": routing.policy.to_dict(),
        "calibration": routing.calibration_summary(),
    }


@router.get("/policy", response_model=PolicyOut, summary="The live routing policy")
def get_policy(routing: RouterDep, _role: RouterRole) -> Any:
    return policy_view(routing)


@router.put(
    "/policy",
    response_model=PolicyOut,
    summary="Re-choose the policy (admin)",
    responses={403: {"description": "Needs an admin key"}},
)
def put_policy(
    body: PolicyUpdate,
    request: Request,
    holder: HolderDep,
    store: StoreDep,
    _current: RouterDep,
    role: AdminRole,
) -> Any:
    """New costs / alpha / delta / capacity; no retraining. Versioned and audited."""
    params = body.params()
    with holder.lock:  # read-modify-write: concurrent admin calls must not lose a change
        current = holder.get()
        try:
            new = current.with_policy(**params)
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise FieldErrors([field_error(["body"], f"policy rejected: {exc}")]) from None
        holder.generation = store.record_policy_change(
            action="set_policy",
            role=role,
            key_fingerprint=getattr(request.state, "key_fingerprint", None),
            model_version=new.model_version,
            old_policy_version=current.policy.version,
            new_policy_version=new.policy.version,
            params=new.policy_params(),  # complete, so a reload re-creates this very policy
            policy=new.policy.to_dict(),
        )
        holder.swap(new)
        request.app.state.operation.deploy(new)
    return policy_view(new)
