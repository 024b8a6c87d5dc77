"""The coding manager's dashboard, served by the service at ``/dashboard`` (see routes.py)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import RedirectResponse

from service.dashboard.auth import SessionSigner, UserRegistry
from service.dashboard.routes import PREFIX, SignInNeeded, router


def install(app: Any) -> None:
    """Add the dashboard to ``app`` (its users and session signer from ``app.state.settings``)."""
    settings = app.state.settings
    app.state.dashboard_users = UserRegistry.from_spec(settings.dashboard_users)
    app.state.dashboard_signer = (
        SessionSigner(settings.dashboard_secret, settings.dashboard_session_minutes * 60)
        if len(app.state.dashboard_users) else None
    )

    async def to_sign_in(_request: Any, _exc: SignInNeeded) -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/login", status_code=303)

    app.add_exception_handler(SignInNeeded, to_sign_in)
    app.include_router(router)
