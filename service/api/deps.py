"""Dependencies the routes share: the current router, the store, the settings, the caller's role.

They are ``async def`` because they only read app state: FastAPI runs a plain ``def`` dependency
in the threadpool, and four such hops cost more than the routing decision itself (measured).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status

from service.core.config import Settings
from service.security import Role, require_admin, require_router
from service.store import DecisionStore
from triage.router import Router


class RouterHolder:
    """The live router reference.

    A request takes the reference once and keeps that object to the end, so swapping in a new
    router (reload, policy change) never disturbs requests already running: they finish on the
    old object, new requests see the new one. Swaps and read-modify-write updates hold a lock so
    two admin calls cannot lose each other's change.
    """

    def __init__(self, router: Any = None, model_uri: str | None = None) -> None:
        self._router = router
        self.model_uri = model_uri
        self.lock = threading.RLock()
        #: the router as loaded from its bundle (stored policies are applied to it, not to a
        #: router already re-chosen), and the id of the stored policy in force (None: the bundle's)
        self.base = router
        self.generation: int | None = None

    def install(self, loaded: Any, routing: Any, generation: int | None,
                model_uri: str | None = None) -> Any:
        """Install a freshly loaded bundle and the router its stored policy gives."""
        with self.lock:
            self.base = loaded
            self.generation = generation
            return self.swap(routing, model_uri=model_uri)

    def get(self) -> Any:
        return self._router

    def swap(self, router: Any, model_uri: str | None = None) -> Any:
        """Install a new router; return the old one."""
        with self.lock:
            old, self._router = self._router, router
            if model_uri is not None:
                self.model_uri = model_uri
            return old

    def update(self, change: Callable[[Any], Any]) -> tuple[Any, Any]:
        """Replace the router by ``change(current)`` atomically; return (old, new)."""
        with self.lock:
            old = self._router
            new = change(old)
            self._router = new
            return old, new


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_store(request: Request) -> DecisionStore:
    return request.app.state.store


async def get_holder(request: Request) -> RouterHolder:
    return request.app.state.router_holder


def allocator_for(state: Any, routing: Any) -> Any:
    """The model's allocator, else the shipped default (built once per app and kept in ``state``)."""
    alloc = getattr(routing, "allocator", None)
    if alloc is not None:
        return alloc
    if getattr(state, "default_allocator", None) is None:
        from triage.allocation import Allocator

        state.default_allocator = Allocator()
    return state.default_allocator


async def get_router(request: Request) -> Router:
    """The router this request will use from start to finish."""
    router = request.app.state.router_holder.get()
    if router is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="no model is loaded")
    return router


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[DecisionStore, Depends(get_store)]
HolderDep = Annotated[RouterHolder, Depends(get_holder)]
RouterDep = Annotated[Router, Depends(get_router)]
RouterRole = Annotated[Role, Depends(require_router)]
AdminRole = Annotated[Role, Depends(require_admin)]
