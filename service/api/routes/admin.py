"""POST /v1/admin/reload: load the model again (e.g. after the registry alias moved)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request, status

from service.api.deps import AdminRole, HolderDep, SettingsDep, StoreDep
from service.api.errors import FieldErrors, field_error
from service.loading import reload_target
from service.schemas import ReloadIn, ReloadOut

router = APIRouter(prefix="/v1", tags=["admin"])
log = logging.getLogger("service")


def apply_saved_policy(routing: Any, store: Any) -> Any:
    """Re-apply the last policy an admin set for this model, so it survives reloads/restarts."""
    params = store.latest_policy_params(routing.model_version)
    return routing.with_policy(**params) if params else routing


@router.post(
    "/admin/reload",
    response_model=ReloadOut,
    summary="Reload the model (admin)",
    responses={
        403: {"description": "Needs an admin key; or the model is neither under the model root "
                            "(TRIAGE_MODEL_ROOT) nor a models:/ registry URI"},
        404: {"description": "No model at the given location"},
        422: {"description": "The given model exists but does not load"},
    },
)
def reload_model(
    request: Request,
    holder: HolderDep,
    store: StoreDep,
    settings: SettingsDep,
    role: AdminRole,
    body: Annotated[ReloadIn | None, Body()] = None,
) -> Any:
    """In-flight requests finish on the old router; new ones get the new router once swapped."""
    uri = (body.model if body and body.model else None) or settings.resolved_model_uri()
    if body and body.model:
        try:  # an API caller loads only from the model root or the registry
            uri = reload_target(uri, settings.model_root)
        except ValueError as exc:  # a place models are not loaded from: forbidden, whatever is there
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=str(exc)) from None
    loader = request.app.state.router_loader
    with holder.lock:
        try:
            new = apply_saved_policy(loader(uri), store)
        except Exception as exc:  # noqa: BLE001 - any load failure keeps the old model
            log.warning("reload of %s failed: %s", uri, type(exc).__name__)
            message = f"{type(exc).__name__}: {exc}"  # the error first: a message is cut at 120 characters
            if body and body.model:
                if isinstance(exc, OSError):  # no such bundle (or a name no file system takes)
                    raise HTTPException(
                        status.HTTP_404_NOT_FOUND,
                        detail=f"no model at {uri[:200]!r}: {type(exc).__name__}",
                    ) from None
                raise FieldErrors([field_error(["body", "model"], message, body.model)]) from None
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=message) from None
        old = holder.get()
        store.record_policy_change(
            action="reload",
            role=role,
            key_fingerprint=getattr(request.state, "key_fingerprint", None),
            model_version=new.model_version,
            old_policy_version=old.policy.version if old is not None else None,
            new_policy_version=new.policy.version,
            params={"model_uri": uri},
            policy=None,
        )
        holder.swap(new, model_uri=uri)
    request.app.state.metrics.reloads.inc()
    return {
        "model_uri": uri,
        "model_version": new.model_version,
        "policy_version": new.policy.version,
        "previous_model_version": old.model_version if old is not None else None,
    }
