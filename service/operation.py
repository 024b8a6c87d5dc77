"""The service's side of the operation loop (shadow -> live -> watch -> fallback -> re-certify).

Thin: the states, draws, watch and re-certification are the library's (:mod:`triage.operation`);
this module reads and writes them through the store, so every worker and replica sees the same
state from its next request on (nothing here is kept only in process memory).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from service.core.config import Settings
from service.store import DecisionStore, WatchStep
from triage.data.settings import CARE_SETTINGS
from triage.operation.modes import SamplingPlan, serve

log = logging.getLogger("service")


class Operation:
    """Per app: the sampling plan and the store's operation tables."""

    def __init__(self, settings: Settings, store: DecisionStore, metrics: Any = None) -> None:
        self.settings = settings
        self.store = store
        self.ops = store.operation
        self.metrics = metrics
        self.plan = SamplingPlan(
            seed=settings.sampling_seed,
            audit_probability=settings.audit_probability,
            audit_minimum=dict(settings.audit_minimum),
            holdout_probability=settings.holdout_probability,
        )

    # deployment and states ---------------------------------------------------------------
    def deploy(self, routing: Any) -> dict[str, str]:
        """Give a newly loaded policy version its initial state in every care setting (once)."""
        return self.ops.ensure_states(
            routing.model_version, routing.policy.version, list(CARE_SETTINGS),
            self.settings.initial_policy_state,
            details={"alpha": _constraint(routing, "alpha"), "delta": _constraint(routing, "delta"),
                     "target": getattr(routing, "target", None)})

    def states(self, routing: Any) -> dict[str, str]:
        """care setting -> state for the router's version; a setting never deployed (a store
        shared with an older service) takes the configured initial state."""
        have = self.ops.current_states(routing.model_version, routing.policy.version)
        return {s: have.get(s, self.settings.initial_policy_state) for s in CARE_SETTINGS}

    def serve_rule(self, routing: Any, decision_ids: list[str]) -> Any:
        """The ``serve`` callable the router applies per decision (one state read per call)."""
        states = self.states(routing)
        plan = self.plan

        def rule(i: int, route: str, setting: str | None) -> Any:
            mode = states.get(setting or "", self.settings.initial_policy_state)
            return serve(route, mode, decision_id=decision_ids[i], care_setting=setting, plan=plan)

        return rule

    def set_state(self, routing: Any, care_setting: str, new: str, *, reason: str, role: str,
                  key_fingerprint: str | None) -> list[str]:
        """An admin's move of one setting (or ``all``); returns the settings that changed.
        Raises ValueError when a transition is not allowed (fallback -> anything)."""
        from triage.operation.modes import check_transition

        self.deploy(routing)
        settings = list(CARE_SETTINGS) if care_setting == "all" else [care_setting]
        current = self.states(routing)
        for s in settings:  # all or nothing: check every setting before moving any
            check_transition(current[s], new)
        changed = []
        for s in settings:
            old, _ = self.ops.set_state(
                routing.model_version, routing.policy.version, s, new, kind="state_change",
                actor_role=role, key_fingerprint=key_fingerprint, reason=reason,
                details={"alpha": _constraint(routing, "alpha")}, check=check_transition)
            if old != new:
                changed.append(s)
        return changed

    def recertify(self, holder: Any, *, since: Any = None, alpha: float | None = None,
                  delta: float | None = None, apply: bool = False, go_live: bool = False,
                  role: str = "admin", key_fingerprint: str | None = None) -> dict[str, Any]:
        """Re-certify from the store's shadow and holdout outcomes (the library's risk control);
        with ``apply``, store the new version (it survives restarts and reaches every worker),
        swap it in and deploy its states; with ``go_live``, its certified settings go live."""
        from triage.operation.recertify import recertify

        apply = apply or go_live  # going live deploys the version first
        with holder.lock:
            routing = holder.get()
            if routing is None:
                raise ValueError("no model is loaded")
            data = self.ops.labelled_stream(routing.model_version, since=since)
            result = recertify(routing, data["p"], data["correct"], data["care_setting"],
                               alpha=alpha, delta=delta)
            new = result.router
            out = {
                "model_version": routing.model_version,
                "based_on_policy_versions": data["policy_versions"],
                "labelled": len(data["p"]), "without_outcome": data["without_outcome"],
                "certified": dict(result.certified), "automated_share": dict(result.automated_share),
                "n_used": dict(result.n_used), "needed_more": dict(result.needed_more),
                "reason": dict(result.reason), "alpha": float(result.alpha),
                "delta": float(result.delta),
                "proposed_policy_version": new.policy.version if new is not None else None,
                "policy": new.policy.to_dict() if new is not None else None,
                "applied": False, "states": None,
            }
            if not apply or new is None or not any(result.certified.values()):
                self.ops.record_event(
                    kind="recertify_proposed", model_version=routing.model_version,
                    policy_version=routing.policy.version, actor_role=role,
                    key_fingerprint=key_fingerprint, reason="recertified",
                    details={k: out[k] for k in ("labelled", "certified", "needed_more",
                                                 "proposed_policy_version", "alpha", "delta")})
                return out
            params = {**new.policy_params(), "recertified_on": {
                "p": [float(x) for x in new.p_calibration],
                "correct": [bool(x) for x in new.correct_calibration],
                "care_setting": [str(x) for x in new.settings_calibration]
                if new.settings_calibration is not None else None}}
            holder.generation = self.store.record_policy_change(
                action="recertify", role=role, key_fingerprint=key_fingerprint,
                model_version=new.model_version, old_policy_version=routing.policy.version,
                new_policy_version=new.policy.version, params=params,
                policy=new.policy.to_dict())
            holder.swap(new)
            self.ops.record_event(
                kind="recertified", model_version=new.model_version,
                policy_version=new.policy.version, actor_role=role,
                key_fingerprint=key_fingerprint, reason="recertified",
                details={"previous_policy_version": routing.policy.version,
                         **{k: out[k] for k in ("labelled", "certified", "n_used", "alpha",
                                                "delta")}})
            self.deploy(new)
            if go_live:
                certified = {s for s, ok in result.certified.items() if ok}
                if "all" in certified:  # a policy without settings certifies every setting
                    certified = set(CARE_SETTINGS)
                for setting in sorted(certified):
                    self.ops.set_state(
                        new.model_version, new.policy.version, setting, "live",
                        kind="state_change", actor_role=role, key_fingerprint=key_fingerprint,
                        reason="recertified", details={"alpha": float(result.alpha)})
            out["applied"] = True
            out["states"] = self.states(new)
            return out

    def watch_view(self, routing: Any, n_events: int = 50) -> dict[str, Any]:
        return watch_view(self, routing, n_events)

    def drift_reading(self, routing: Any) -> dict[str, Any] | None:
        """Bring the drift watch up to date with the stored decisions, then read it."""
        self.refresh_drift(routing)
        rows = [r for r in self.ops.watch_rows(routing.model_version, routing.policy.version)
                if r["kind"] == "drift"]
        if not rows:
            return None
        from triage.operation.drift import StreamDrift

        row = rows[0]
        reading = StreamDrift.from_state(row["state"]["drift"]).reading()
        return {"status": row["status"], "routed": row["n"], "fallback_on_warning":
                self.settings.drift_fallback, **reading}

    def refresh_drift(self, routing: Any) -> bool:
        """Advance the label-free drift test over the decisions stored since it last read
        (every worker may call it: the store serialises them). Returns whether it newly warned;
        with ``drift_fallback`` a warning also puts the live settings in fallback."""
        reference = drift_reference(routing)
        if reference is None:
            return False
        delta = self.settings.drift_delta
        values, newly = self.ops.advance_drift(
            routing.model_version, routing.policy.version,
            lambda state, rows: drift_step(state, rows, reference, delta))
        if newly:
            log.warning("drift warning: model %s policy %s (label-free test of the routed stream)",
                        routing.model_version, routing.policy.version)
            if self.settings.drift_fallback:
                for setting, state in self.states(routing).items():
                    if state == "live":
                        self.ops.set_state(
                            routing.model_version, routing.policy.version, setting, "fallback",
                            kind="fallback", actor_role="system", key_fingerprint=None,
                            reason="drift_warning", details={"routed": values["n"]})
        return newly

    # outcomes and the watch ----------------------------------------------------------------
    def watch_delta(self, routing: Any, care_setting: str) -> float:
        """This setting's share of the watch's false-alarm budget: split equally, in advance,
        over the settings the policy can automate (a fixed property of the version)."""
        from triage.operation.watch import split_delta

        automating = [s for s in CARE_SETTINGS if _automates(routing, s)] or list(CARE_SETTINGS)
        shares = split_delta(self.settings.watch_delta, automating)
        return shares.get(care_setting, self.settings.watch_delta / len(CARE_SETTINGS))

    def record_outcome(self, routing: Any, row: dict[str, Any], final_codes: list[str],
                       correct: bool) -> tuple[Any, WatchStep | None, bool]:
        """Store an outcome; an audited automated decision also advances its setting's watch over
        the audits now complete in decision order, and a newly violated watch puts the setting in
        fallback in the same transaction."""
        watched = bool(row.get("audit")) and row["route"] == "automate" and row.get("care_setting")
        if not watched:
            recorded = self.ops.record_outcome(row["decision_id"], final_codes, correct)
            return recorded
        alpha = row["decision"].get("policy_alpha")
        if alpha is None and "policy_alpha" not in row["decision"]:
            alpha = _constraint(routing, "alpha")  # stored before alpha was kept: the version's
        if alpha is None:  # a policy kind with no error bound (chow, capacity): nothing to watch
            return self.ops.record_outcome(row["decision_id"], final_codes, correct)
        setting = row["care_setting"]
        delta = self.watch_delta(routing, setting)
        key = (row["model_version"], row["policy_version"], setting)
        recorded_at, step, fell_back = self.ops.record_outcome(
            row["decision_id"], final_codes, correct, watch_key=key,
            step=lambda previous, errors: watch_step(previous, errors, float(alpha), delta))
        if fell_back:
            self._alarm(key, step)
        return recorded_at, step, fell_back

    def _alarm(self, key: tuple[str, str, str], step: WatchStep | None) -> None:
        mv, pv, setting = key
        # no PHI: versions, setting and numbers only
        log.warning("watch violated: model %s policy %s setting %s in fallback (audited n=%s, "
                    "errors=%s, e-value %.3g)", mv, pv, setting, step.n if step else "?",
                    step.errors if step else "?", step.e_value if step and step.e_value else 0.0)
        if self.metrics is not None:
            self.metrics.fallbacks.labels(setting).inc()


def watch_step(previous: dict[str, Any] | None, errors: list[bool], alpha: float,
               delta: float) -> WatchStep:
    """Advance the library's watch by audited outcomes in decision order (the store calls this
    inside the outcome's transaction, with the watch row locked)."""
    from triage.operation.watch import RiskWatch

    watch = RiskWatch.from_state(previous["watch"]) if previous else RiskWatch(alpha, delta)
    watch.update([bool(e) for e in errors])
    reading = watch.reading()
    return WatchStep(
        status=reading.state, n=reading.n, errors=reading.errors,
        e_value=_finite(reading.e_value), lower=_finite(reading.lower),
        upper=_finite(reading.upper), alpha=reading.alpha, delta=reading.delta,
        state={"watch": watch.to_state()}, details=reading.to_dict())


def _finite(x: Any) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


def _constraint(routing: Any, name: str) -> Any:
    return routing.policy.constraints.get(name)


def _automates(routing: Any, setting: str) -> bool:
    t_automate, _ = routing.policy.thresholds_for(setting)
    return t_automate is not None and math.isfinite(t_automate) and t_automate <= 1.0


def watch_view(operation: Operation, routing: Any, n_events: int = 50) -> dict[str, Any]:
    """GET /v1/watch's answer for the version in force (store rows, shaped; no judgement)."""
    mv, pv = routing.model_version, routing.policy.version
    drift = operation.drift_reading(routing)  # first: a warning may move the states
    states = operation.states(routing)
    rows = {r["care_setting"]: r for r in operation.ops.watch_rows(mv, pv) if r["kind"] == "risk"}
    alpha = _constraint(routing, "alpha")
    pending = operation.ops.pending_audits(mv, pv)
    settings = []
    for setting in CARE_SETTINGS:
        row = rows.get(setting)
        delta = operation.watch_delta(routing, setting)
        out, oldest = pending.get(setting, (0, None))
        common = {"care_setting": setting, "policy_state": states[setting],
                  "automates": _automates(routing, setting), "audits_pending": out,
                  "oldest_pending_audit": oldest}
        if row is None:
            settings.append({
                **common, "status": "no_audits", "alpha": alpha, "delta": delta, "audited": 0,
                "errors": 0, "realised_error": None, "interval": None, "e_value": None})
            continue
        n, k = int(row["n"]), int(row["errors"])
        settings.append({
            **common, "status": row["status"], "alpha": row["alpha"], "delta": row["delta"],
            "audited": n, "errors": k, "realised_error": k / n if n else None,
            "interval": {"lower": row["lower"], "upper": row["upper"],
                         "confidence": 1.0 - float(row["delta"])},
            "e_value": row["e_value"]})
    return {
        "model_version": mv, "policy_version": pv, "alpha": alpha,
        "watch_delta": operation.settings.watch_delta, "settings": settings, "drift": drift,
        "events": operation.ops.recent_events(mv, None, limit=n_events) if n_events else [],
    }


def drift_reference(routing: Any) -> Any:
    """The drift test's reference for the version in force: its calibration episodes."""
    from triage.operation.drift import DriftReference

    p = getattr(routing, "p_calibration", None)
    if p is None or len(p) < 10:
        return None
    settings = routing.settings_calibration
    if settings is None or routing.policy.group_by is None:
        settings = ["all"] * len(p)
        thresholds = {"all": routing.policy.thresholds_for(None)[0]}
    else:
        thresholds = {s: routing.policy.thresholds_for(s)[0] for s in CARE_SETTINGS}
    return DriftReference.from_calibration(p, settings, thresholds)


def drift_step(state: dict[str, Any] | None, rows: list[Any], reference: Any,
               delta: float) -> tuple[dict[str, Any], bool]:
    """Advance the library's drift test by stored decision rows (p, setting, policy_route,
    the decision's unknown codes, ...): the store calls this with the watch row locked."""
    from triage.operation.drift import StreamDrift

    drift = StreamDrift.from_state(state["drift"]) if state else StreamDrift(reference, delta)
    before = drift.reading()["warning"]
    if rows:
        grouped = reference.setting_mix.keys() != {"all"}
        drift.update(
            [float(r[0]) for r in rows],
            [(r[1] or "inpatient") if grouped else "all" for r in rows],
            [r[2] == "automate" for r in rows],
            [bool(r[3]) for r in rows])
    reading = drift.reading()
    stats = reading["statistics"]
    n = max((v["n"] for v in stats.values()), default=0)
    values = {"status": "warning" if reading["warning"] else "ok", "n": int(n), "errors": 0,
              "e_value": max((v["max_e_value"] or 0.0) for v in stats.values()),
              "lower": None, "upper": None, "alpha": None, "delta": delta,
              "state": {"drift": drift.to_state()}}
    return values, bool(reading["warning"] and not before)
