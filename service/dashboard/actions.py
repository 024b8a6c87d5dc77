"""Admin actions the policy page offers, through the same functions as the admin API
(``POST /v1/admin/policy-state`` and ``POST /v1/admin/recertify``): ``service.operation``.

The event rows record the actor's role (``admin``) and, in the key-fingerprint column, the
dashboard user (``user:<name>``): who moved what, never a key.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from triage.data.settings import CARE_SETTINGS

ACTIONS = {
    "go_live": "Move from shadow to live",
    "recertify": "Re-certify from the hospital's outcomes",
}
GO_LIVE_REASON = "shadow_evidence_reviewed"


def actor(session: Any) -> str:
    return f"user:{session.user}"[:16]


def check(request: Request, routing: Any, action: str, setting: str) -> str | None:
    """Why ``action`` cannot run now (None when it can)."""
    if action == "go_live":
        if setting not in CARE_SETTINGS:
            return f"care_setting must be one of {list(CARE_SETTINGS)}"
        state = request.app.state.operation.states(routing).get(setting)
        if state != "shadow":
            return f"care setting {setting} is {state}, not in shadow, under the policy in force"
    return None


def run(request: Request, routing: Any, action: str, setting: str, session: Any) -> dict | None:
    """Do it; the re-certification returns its report (certified settings, evidence still needed)."""
    operation = request.app.state.operation
    if action == "go_live":
        operation.set_state(routing, setting, "live", reason=GO_LIVE_REASON, role=session.role,
                            key_fingerprint=actor(session))
        return None
    # a certified new version is deployed with its settings in the initial state (shadow by
    # default): going live stays a separate, confirmed step
    return operation.recertify(request.app.state.router_holder, apply=True, go_live=False,
                               role=session.role, key_fingerprint=actor(session))
