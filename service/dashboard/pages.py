"""What each dashboard page shows, built from the store's aggregates and the library's judgements.

The judgements come from the library: exact intervals from ``triage.policy.guarantees``, DNFC days
and the time to clear from ``triage.allocation.backlog``; this module only arranges numbers.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from service.dashboard import charts
from service.dashboard import queries as q
from service.store import DecisionStore
from triage.data.settings import CARE_SETTINGS
from triage.policy.guarantees import clopper_pearson_interval

ROUTES = ("automate", "assist", "manual")


def _settings_order(names: set[str]) -> list[str]:
    known = [s for s in CARE_SETTINGS if s in names]
    return known + sorted(names - set(known))


def policy_in_force(routing: Any, store: DecisionStore) -> dict[str, Any] | None:
    """Model and policy versions with the policy record (the live router's, else the last stored)."""
    if routing is None:
        return None
    policy = routing.policy.to_dict()
    constraints = policy.get("constraints") or {}
    return {"model_version": str(routing.model_version), "policy_version": str(routing.policy.version),
            "policy": policy, "alpha": constraints.get("alpha"), "delta": constraints.get("delta"),
            "group_delta": constraints.get("group_delta"), "method": constraints.get("method"),
            "fwer": constraints.get("fwer"), "groups": policy.get("groups") or {},
            "guarantee": (policy.get("expected") or {}).get("automated_error_guarantee")}


# -- Today ------------------------------------------------------------------------------------
def today(store: DecisionStore, routing: Any, now: datetime, window: str, level: float) -> dict[str, Any]:
    start = q.window_start(window, now)
    vol = q.volumes(store, start, now)
    settings = _settings_order({s for s, _, _ in vol})
    table = {s: dict.fromkeys(ROUTES, 0) for s in settings}
    for s, r, n in vol:
        table[s][r] = table[s].get(r, 0) + n
    rows = []
    for s in settings:
        total = sum(table[s].values())
        rows.append({"setting": s, **table[s], "total": total,
                     "automation_rate": table[s]["automate"] / total if total else None})
    totals = {r: sum(row[r] for row in rows) for r in ROUTES}
    total = sum(totals.values())
    days = _day_range(start, now)
    per_day = {d: dict.fromkeys(ROUTES, 0) for d in days}
    for d, r, n in q.daily_volumes(store, start, now):
        per_day.setdefault(d, dict.fromkeys(ROUTES, 0))[r] = n
    days = sorted(per_day)
    chart = charts.stacked_bars([d[5:] for d in days], {r: [per_day[d][r] for d in days] for r in ROUTES},
                                title="Episodes routed per day", colours=charts.ROUTE_COLOURS)
    force = policy_in_force(routing, store)
    guarantee_rows, states, watch = [], {}, []
    if force:
        labelled = q.automated_outcomes(store, force["model_version"], force["policy_version"], start, now)
        states = q.policy_states(store, force["model_version"], force["policy_version"])
        watch = q.watch_states(store, force["model_version"], force["policy_version"])
        risk_watch = {w["care_setting"]: w for w in watch if w["kind"] == "risk"}
        names = _settings_order(set(force["groups"]) | set(labelled) | set(states))
        for s in names:
            n, k = labelled.get(s, (0, 0))
            g = force["groups"].get(s, {})
            lo = hi = None
            if n:
                lo_a, hi_a = clopper_pearson_interval(k, n, level)
                lo, hi = float(lo_a), float(hi_a)
            # a policy with thresholds per setting certifies each; an ungrouped one all at once
            guarantee = g.get("guarantee") if force["groups"] else force["guarantee"]
            rows_state = states.get(s)
            w = risk_watch.get(s)
            guarantee_rows.append({
                "watch_status": w["status"] if w else None, "watch_n": w["n"] if w else None,
                "watch_errors": w["errors"] if w else None,
                "watch_lower": w["lower"] if w else None, "watch_upper": w["upper"] if w else None,
                "label": s, "n": n, "errors": k, "point": k / n if n else None, "lower": lo,
                "upper": hi, "guarantee": guarantee, "alpha": force["alpha"],
                "state": rows_state["state"] if rows_state else None,
                "since": rows_state["since"] if rows_state else None,
                "within": None if guarantee is None or hi is None else (
                    "yes" if hi <= guarantee else ("no" if lo is not None and lo > guarantee else "inconclusive")),
            })
    error_chart = charts.interval_chart(
        [r for r in guarantee_rows if r["point"] is not None or r["guarantee"] is not None],
        title="Realised error among automated vs the guarantee")
    return {"window": window, "start": start, "rows": rows, "totals": totals, "total": total,
            "automation_rate": totals["automate"] / total if total else None,
            "days": [(d, per_day[d]) for d in days], "volume_chart": chart, "force": force,
            "guarantee_rows": guarantee_rows, "error_chart": error_chart, "watch": watch,
            "alarms": q.open_alarms(store), "level": level,
            "changes": [e for e in q.policy_events(store, 50) if e["created_at"] is not None
                        and _aware(e["created_at"]) >= start][:8]}


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _day_range(start: datetime, end: datetime) -> list[str]:
    out, d = [], start.date()
    while d <= end.date():
        out.append(d.isoformat())
        d += timedelta(days=1)
    return out


# -- Work waiting -----------------------------------------------------------------------------
@lru_cache(maxsize=4)
def _roster(path: str, mtime: float, allocator: Any) -> Any:
    """The roster file, read again when it changes (its modification time is in the cache key)."""
    import pandas as pd

    from triage.allocation import make_roster

    return make_roster(pd.read_csv(path), allocator.config, source=path)


def work(store: DecisionStore, allocator: Any, roster_path: str | None, now: datetime) -> dict[str, Any]:
    from triage.allocation.backlog import dnfc_days, expected_minutes, project_clear

    cells = q.waiting(store, now)
    queues: dict[str, dict[str, Any]] = {}
    bands: dict[tuple[str, str], int] = defaultdict(int)
    ages = [0] * len(q.AGE_BUCKETS)
    waiting_by: dict[tuple[str, str], int] = defaultdict(int)
    total, age_sum, oldest = 0, 0.0, 0.0
    for c in cells:
        row = queues.setdefault(c["queue"], {"queue": c["queue"], "assist": 0, "manual": 0, "n": 0,
                                             "age_sum": 0.0, "oldest": 0.0})
        row[c["route"]] += c["n"]
        row["n"] += c["n"]
        row["age_sum"] += c["age_sum"]
        row["oldest"] = max(row["oldest"], c["age_max"])
        bands[(c["queue"], c["band"])] += c["n"]
        ages[c["bucket"]] += c["n"]
        waiting_by[(c["queue"], c["route"])] += c["n"]
        total += c["n"]
        age_sum += c["age_sum"]
        oldest = max(oldest, c["age_max"])
    queue_rows = sorted(queues.values(), key=lambda r: -r["n"])
    for r in queue_rows:
        r["mean_age"] = r["age_sum"] / r["n"] if r["n"] else None
        r.update({name: bands.get((r["queue"], name), 0) for name, _ in q.PRIORITY_BANDS})
    labels = [f"{lo}–{hi} d" if hi is not None else f"{lo}+ d" for lo, hi in q.AGE_BUCKETS]
    age_chart = charts.stacked_bars(labels, {"episodes waiting": ages}, title="Age of episodes not yet coded",
                                    colours={"episodes waiting": "#2f6f9f"})
    span = 30
    discharges = q.decisions_between(store, now - timedelta(days=span), now)
    coded = q.coded_between(store, now - timedelta(days=span), now)
    dnfc = dnfc_days(total, discharges, span)
    projection, roster_error = None, None
    if roster_path:
        try:
            roster = _roster(roster_path, os.path.getmtime(roster_path), allocator)
            projection = project_clear(dict(waiting_by), roster, allocator)
        except (OSError, ValueError) as exc:
            roster_error = f"{type(exc).__name__}: {exc}"[:300]
    queue_chart = charts.hbars([(r["queue"], r["n"]) for r in queue_rows], title="Episodes waiting by queue")
    minutes = {r: expected_minutes(allocator, r) for r in ("assist", "manual")}
    return {"queues": queue_rows, "total": total, "mean_age": age_sum / total if total else None,
            "oldest": oldest if total else None, "ages": list(zip(labels, ages)), "age_chart": age_chart,
            "queue_chart": queue_chart, "dnfc": dnfc, "discharges": discharges, "coded": coded,
            "span": span, "projection": projection, "roster_path": roster_path,
            "roster_error": roster_error, "minutes": minutes, "bands": [b for b, _ in q.PRIORITY_BANDS],
            "inf": math.inf}


# -- Policy -----------------------------------------------------------------------------------
def policy(store: DecisionStore, routing: Any) -> dict[str, Any]:
    force = policy_in_force(routing, store)
    states = {}
    versions: list[dict] = []
    if force:
        states = q.policy_states(store, force["model_version"], force["policy_version"])
        versions = q.policy_versions(store, force["model_version"])
    groups = []
    if force:
        for s in _settings_order(set(force["groups"]) | set(states)):
            # an ungrouped policy applies one set of thresholds and one guarantee to every setting
            g = force["groups"].get(s, {}) if force["groups"] else {
                "t_automate": force["policy"].get("t_automate"), "t_assist": force["policy"].get("t_assist"),
                "guarantee": force["guarantee"]}
            st = states.get(s)
            groups.append({"setting": s, **g, "state": st["state"] if st else None,
                           "since": st["since"] if st else None})
    return {"force": force, "groups": groups, "events": q.policy_events(store),
            "versions": [{k: v for k, v in r.items() if k != "policy"} for r in versions]}


# -- Quality ----------------------------------------------------------------------------------
def quality(store: DecisionStore, now: datetime, window: str) -> dict[str, Any]:
    start = q.window_start(window, now)
    bins = q.calibration_bins(store, start, now)
    per: dict[str, dict[str, Any]] = {}
    for b in bins:
        s = per.setdefault(b["setting"], {"setting": b["setting"], "n": 0, "p_sum": 0.0, "correct": 0,
                                          "gap_sum": 0.0, "bins": {}})
        s["n"] += b["n"]
        s["p_sum"] += b["p_sum"]
        s["correct"] += b["correct"]
        s["gap_sum"] += abs(b["p_sum"] - b["correct"])  # n_b * |mean p_b - accuracy_b|
        s["bins"][b["bin"]] = b
    calibration = []
    for s in per.values():
        calibration.append({"setting": s["setting"], "n": s["n"], "mean_p": s["p_sum"] / s["n"],
                            "correct_rate": s["correct"] / s["n"], "ece": s["gap_sum"] / s["n"]})
    calibration.sort(key=lambda r: -r["ece"])
    ece_chart = charts.hbars([(r["setting"], round(r["ece"] * 100, 2)) for r in calibration],
                             title="Expected calibration error by care setting", unit=" pp",
                             colour="#a8475a", width=1100)
    audits = q.blind_audits(store, start, now)
    for a in audits:
        a["error_rate"] = a["errors"] / a["returned"] if a["returned"] else None
    return {"window": window, "calibration": calibration, "ece_chart": ece_chart, "audits": audits,
            "flags": q.audit_flags(store, start, now), "assist": q.assist_counts(store, start, now),
            "acceptance": q.suggestion_acceptance(store, start, now), "bins": q.CALIBRATION_BINS}
