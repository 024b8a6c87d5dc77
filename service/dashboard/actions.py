"""Admin actions the policy page offers: move a care setting's policy from shadow to live.

They write the same rows as the service's own state changes (a ``policy_events`` row and the
``policy_states`` row it sets, in one transaction), with the dashboard user's role as the actor.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from service.dashboard import queries as q

ACTIONS = {"go_live": "Move from shadow to live"}


def check(store: Any, routing: Any, action: str, setting: str) -> str | None:
    """Why ``action`` cannot run now (None when it can)."""
    states = q.policy_states(store, str(routing.model_version), str(routing.policy.version))
    current = states.get(setting)
    if action == "go_live":
        if current is None or current["state"] != "shadow":
            return f"care setting {setting[:32]!r} is not in shadow mode under the policy in force"
    return None


def run(request: Request, routing: Any, action: str, setting: str, session: Any) -> None:
    store = request.app.state.store
    if action == "go_live":
        store.set_policy_state(model_version=str(routing.model_version),
                               policy_version=str(routing.policy.version), care_setting=setting,
                               new_state="live", kind="state_change", actor_role=session.role,
                               reason="dashboard_go_live")
