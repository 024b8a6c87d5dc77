"""POST /v1/admin/reload: load the model again (e.g. after the registry alias moved)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request, status

from service.api.deps import AdminRole, HolderDep, SettingsDep, StoreDep
from service.api.errors import FieldErrors, field_error
from service.loading import freeze_long_lived, load_router, reload_target
from service.schemas import ReloadIn, ReloadOut

router = APIRouter(prefix="/v1", tags=["admin"])
log = logging.getLogger("service")


def load_with_saved_policy(loaded: Any, store: Any) -> tuple[Any, int | None]:
    """(the router the stored policy gives, the stored policy's id or None)."""
    saved = store.latest_policy(loaded.model_version)
    return apply_saved_policy(loaded, store, saved), (saved["id"] if saved else None)


def sync_policy(holder: Any, store: Any) -> bool:
    """Apply a policy another worker stored (a change, a re-certification) to this worker's
    router; True when it changed. Each worker runs this every second."""
    current = holder.get()
    if current is None or holder.base is None:
        return False
    # the id alone first: the stored row of a re-certified policy carries its labelled outcomes
    # (thousands of numbers), read and decoded only when it changed, not every second
    if store.latest_policy_id(current.model_version) == holder.generation:
        return False
    saved = store.latest_policy(current.model_version)
    generation = saved["id"] if saved else None
    with holder.lock:
        if holder.generation == generation:
            return False
        routing = apply_saved_policy(holder.base, store, saved)
        holder.generation = generation
        holder.swap(routing)
    return True


def apply_saved_policy(routing: Any, store: Any, saved: Any = "latest") -> Any:
    """Re-apply the last policy an admin set (or re-certification chose) for this model, so it
    survives reloads and restarts: a re-chosen policy from its parameters, a re-certified one as
    stored with the labelled episodes it was certified on."""
    if saved == "latest":
        saved = store.latest_policy(routing.model_version)
    if saved is None:
        return routing
    params = dict(saved["params"])
    calibration = params.pop("recertified_on", None)
    if calibration is not None:
        return routing.with_calibration(saved["policy"], calibration["p"],
                                        calibration["correct"], calibration["care_setting"])
    return routing.with_policy(**params)


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
            loaded = loader(uri)
            new, generation = load_with_saved_policy(loaded, store)
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
        request.app.state.warm.set()  # the loader warmed the new router before this swap
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
        holder.install(loaded, new, generation, model_uri=uri)
        request.app.state.operation.deploy(new)
    previous = old.model_version if old is not None else None
    del old, loaded
    if loader is load_router:  # the real loader: a whole new bundle's tables now live
        freeze_long_lived()
    request.app.state.metrics.reloads.inc()
    return {
        "model_uri": uri,
        "model_version": new.model_version,
        "policy_version": new.policy.version,
        "previous_model_version": previous,
    }
