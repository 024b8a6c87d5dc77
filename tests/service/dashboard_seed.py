"""A seeded store for the dashboard tests: decisions, outcomes, policy states, events (one open
alarm), watch rows and assist records, with the figures the pages must show worked out here in
Python from the seeded rows (independently of the dashboard's SQL)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa

from service.dashboard.auth import hash_password

SETTINGS = ("inpatient", "observation", "day_case")
QUEUES = ("cardiology", "general", "oncology", "renal")
PASSWORDS = {"alice": "viewer-pass-123", "bob": "admin-pass-456"}
_HASHES = {name: hash_password(pw, salt=bytes([i + 1]) * 16) for i, (name, pw) in enumerate(PASSWORDS.items())}
USERS = f"viewer:alice:{_HASHES['alice']},admin:bob:{_HASHES['bob']}"
SECRET = "s" * 40


def seed(store: Any, routing: Any, *, n: int = 600, seed: int = 0, now: datetime | None = None) -> dict:
    """Write the rows; return what the pages must show."""
    rng = np.random.default_rng(seed)
    now = now or datetime.now(UTC)
    mv, pv = str(routing.model_version), str(routing.policy.version)
    decisions, outcomes = [], []
    for i in range(n):
        setting = SETTINGS[i % 3]
        age_h = float(rng.uniform(0, 10 * 24))  # within the last 10 days
        created = now - timedelta(hours=age_h)
        route = str(rng.choice(["automate", "assist", "manual"], p=[0.4, 0.35, 0.25]))
        policy_route = route
        mode = {"inpatient": "live", "observation": "shadow", "day_case": "fallback"}[setting]
        if mode == "shadow" and route == "automate":
            route = "assist"  # shadow: people code what the policy would automate
        did = f"d{i:05d}"
        decisions.append({
            "decision_id": did, "episode_id": f"ep{i:05d}", "route": route,
            "p_correct": float(rng.uniform(0.2, 1.0)), "model_version": mv, "policy_version": pv,
            "decision": {"route": route}, "text": None, "created_at": created,
            "care_setting": setting, "policy_route": policy_route, "mode": mode,
            "audit": bool(policy_route == "automate" and rng.random() < 0.3), "holdout": False,
            "queue": QUEUES[i % 4], "priority": float(rng.uniform(0, 3)),
            "discharge_date": (created - timedelta(days=int(rng.integers(0, 3)))).date(),
        })
        d = decisions[-1]
        human = route in ("assist", "manual")
        if (human and rng.random() < 0.5) or (d["audit"] and rng.random() < 0.8):
            outcomes.append({"decision_id": did, "final_codes": ["I50.9", "I10"],
                             "correct": bool(rng.random() < d["p_correct"]),
                             "created_at": min(now - timedelta(minutes=1), created + timedelta(hours=6))})
    store.record_decisions(decisions)
    with store.engine.begin() as conn:
        conn.execute(store.outcomes.insert(), outcomes)
        dt = store.decisions  # as the store's own outcome path does: the decision is now coded
        conn.execute(dt.update().where(dt.c.decision_id == sa.bindparam("did"))
                     .values(coded_at=sa.bindparam("at")),
                     [{"did": o["decision_id"], "at": o["created_at"]} for o in outcomes])
        events = [
            ("deployed", None, None, "shadow", "system", None, 30),
            ("state_change", "inpatient", "shadow", "live", "admin", None, 20),
            ("drift_warning", "inpatient", None, None, "system", "drift", 15),
            ("recertified", "inpatient", None, None, "system", None, 10),
            ("watch_violated", "day_case", "live", "fallback", "system", "risk_bound_exceeded", 2),
        ]
        ids = {}
        for kind, setting, old, new, actor, reason, days_ago in events:
            res = conn.execute(store.policy_events.insert().values(
                created_at=now - timedelta(days=days_ago), kind=kind, model_version=mv, policy_version=pv,
                care_setting=setting, old_state=old, new_state=new, actor_role=actor, reason=reason,
                details={}))
            ids[kind] = res.inserted_primary_key[0]
        st = store.policy_states  # the service deployed its initial states at start-up: replace them
        conn.execute(st.delete().where(st.c.model_version == mv, st.c.policy_version == pv))
        for setting, state in (("inpatient", "live"), ("observation", "shadow"), ("day_case", "fallback")):
            conn.execute(store.policy_states.insert().values(
                model_version=mv, policy_version=pv, care_setting=setting, state=state,
                since=now - timedelta(days=2), event_id=ids["deployed"]))
        conn.execute(store.watch_state.insert().values(
            model_version=mv, policy_version=pv, care_setting="day_case", kind="risk", status="violated",
            n=40, errors=9, e_value=25.0, lower=0.11, upper=0.39, alpha=0.1, delta=0.1, state={},
            updated_at=now - timedelta(days=2)))
        assist = []
        for j in range(12):
            kind = "audit" if j % 2 else "suggest"
            record = ({"flags": [{"type": "missing", "code": "N18.3", "drg_changes": j % 3 == 0},
                                 {"type": "unsupported", "code": "E11.9", "drg_changes": False}]}
                      if kind == "audit" else {"prefilled": ["I50.9", "J18.9"], "offered": []})
            assist.append({"record_id": f"a{j:03d}", "kind": kind, "episode_id": f"ep{j:05d}",
                           "model_version": mv, "record": record, "created_at": now - timedelta(hours=j + 1)})
        conn.execute(store.assist_records.insert(), assist)
    return expected(decisions, outcomes, now, assist)


def expected(decisions: list[dict], outcomes: list[dict], now: datetime, assist: list[dict]) -> dict:
    coded = {o["decision_id"]: o for o in outcomes}
    week = [d for d in decisions if d["created_at"] >= now - timedelta(days=7)]
    by_setting = Counter((d["care_setting"], d["route"]) for d in week)
    waiting = [d for d in decisions if d["route"] != "automate" and d["decision_id"] not in coded]
    labelled = Counter()
    errors = Counter()
    for d in week:
        if d["policy_route"] == "automate" and d["decision_id"] in coded:
            labelled[d["care_setting"]] += 1
            errors[d["care_setting"]] += not coded[d["decision_id"]]["correct"]
    audits_drawn = sum(d["audit"] for d in week)
    audits_back = sum(d["audit"] and d["decision_id"] in coded for d in week)
    coded_ep = {d["episode_id"] for d in decisions if d["decision_id"] in coded}
    sugg = [a for a in assist if a["kind"] == "suggest" and a["episode_id"] in coded_ep]
    return {
        "week_total": len(week),
        "week_automated": sum(d["route"] == "automate" for d in week),
        "week_by_setting": by_setting,
        "waiting": len(waiting),
        "waiting_by_queue": Counter(d["queue"] for d in waiting),
        "labelled": labelled, "errors": errors,
        "audits_drawn": audits_drawn, "audits_returned": audits_back,
        "flags": sum(len(a["record"]["flags"]) for a in assist if a["kind"] == "audit"),
        "prefilled": 2 * len(sugg), "kept": len(sugg),  # I50.9 is in every final code list, J18.9 never
        "decisions_30d": len(decisions),
    }
