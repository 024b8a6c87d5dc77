"""Re-certification from the hospital's own outcomes: the bundle's risk control, re-run on labelled
shadow/holdout episodes.

After a fallback (or before going live), the guarantee is re-established on episodes of *this*
hospital: the service decided them in shadow mode, or drew them for holdout
(:func:`triage.operation.sampling.holdout_draw`), and people coded them, so their outcome
(automated codes right or wrong under the router's target) is known. Selection rule: an episode
is labelled because of a rule fixed before its outcome was seen (shadow period, seeded holdout
draw), never because of its outcome or its confidence, so the labelled episodes are
exchangeable with the live traffic of the same period, which is what the risk control assumes
of its calibration data.

The risk control is the bundle's own: the router's policy kind, method, family-wise procedure and
costs (:meth:`triage.router.Router.policy_estimator`), fitted with
``fit(p, correct, groups=settings, certify_groups=...)`` on the stored confidences and outcomes.
Which settings share delta is planned without these labels: settings with at least
``min_labelled`` labelled episodes whose expected correct rate (from the bundle's calibration
episodes, never the new labels) can pass a test (:func:`triage.policy.evidence.evidence_plan`).
The guarantee is the bundle's: with probability >= 1 - delta over the labelled draw, the error
among automated episodes of every certified setting is <= alpha on traffic exchangeable with
them. The new router keeps ``model_version``; its policy gets a new content hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from triage.jsonsafe import to_plain
from triage.policy.costs import check_correct, check_probabilities
from triage.policy.evidence import evidence_plan
from triage.policy.human import human_parity_alpha
from triage.router import Router

#: Fewest labelled episodes of a setting before it is given a share of delta.
DEFAULT_MIN_LABELLED = 100


@dataclass
class Recertification:
    """What re-certification found, per care setting (``"all"`` for a policy without settings)."""

    router: Router | None            # the re-certified router, None when nothing certifies
    policy_dict: dict[str, Any] | None
    certified: dict[str, bool]
    automated_share: dict[str, float]  # on the labelled episodes
    n_used: dict[str, int]
    needed_more: dict[str, int | None]  # planning figure for a setting that certifies nothing
    alpha: float
    delta: float
    method: str
    reason: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, without the router itself (``recertified`` says whether there is one)."""
        out = {f: getattr(self, f) for f in self.__dataclass_fields__ if f != "router"}
        out["recertified"] = self.router is not None
        return to_plain(out, nonfinite="null")


def _expected_correct_rates(router: Router) -> dict[str, float]:
    """Per setting (and "all"), the correct rate of the bundle's calibration episodes: labels the
    new outcomes play no part in, so planning from them keeps the plan fixed before those labels."""
    correct = np.asarray(router.correct_calibration, dtype=bool)
    out = {"all": float(correct.mean()) if correct.size else float("nan")}
    if router.settings_calibration is not None:
        labels = np.asarray(router.settings_calibration).astype(str)
        for name in np.unique(labels):
            out[str(name)] = float(correct[labels == name].mean())
    return out


def recertify(router: Router, p: Any, correct: Any, settings: Sequence[str] | None, *,
              alpha: float | None = None, delta: float | None = None,
              min_labelled: int = DEFAULT_MIN_LABELLED, **policy_overrides: Any) -> Recertification:
    """Re-run the router's risk control on labelled shadow/holdout episodes (see the module docstring).

    ``p`` are the confidences stored with the decisions (not recomputed), ``correct`` their
    outcomes, ``settings`` their care settings (required for a per-setting policy).
    ``policy_overrides`` are further :meth:`Router.policy_estimator` arguments (kind, costs,
    method, fwer, per_setting).
    """
    p_arr = check_probabilities("p", p)
    ok = check_correct("correct", correct, p_arr.shape[0])
    if isinstance(min_labelled, bool) or not isinstance(min_labelled, int) or min_labelled < 1:
        raise ValueError(f"min_labelled must be a positive integer, got {min_labelled!r}")
    estimator, grouped = router.policy_estimator(alpha=alpha, delta=delta, **policy_overrides)
    a = (human_parity_alpha(estimator.reference) if estimator.kind == "human_parity"
         else getattr(estimator, "alpha", None))
    if a is None:
        raise ValueError(f"policy kind {estimator.kind!r} without alpha certifies nothing: give alpha")
    d = float(estimator.delta)
    method = estimator.method if estimator.method == "sgr" else f"ltt_{estimator.fwer}"
    if grouped:
        if settings is None:
            raise ValueError("settings: the router's policy is per care setting, so the labelled episodes need theirs")
        labels = np.asarray(settings, dtype=object).astype(str)
        if labels.shape != p_arr.shape:
            raise ValueError(f"settings has {labels.size} values, p has {p_arr.size}")
    else:
        labels = np.full(p_arr.shape, "all", dtype=object).astype(str)
    names = sorted(np.unique(labels).tolist())
    counts = {n: int((labels == n).sum()) for n in names}
    enough = [n for n in names if counts[n] >= min_labelled]
    plan = evidence_plan(labels[np.isin(labels, enough)], _expected_correct_rates(router), a, d,
                         estimator.method, estimator.fwer, per_setting=True) if enough else None
    certify = [] if plan is None else plan.loc[plan["certify"], "setting"].astype(str).tolist()
    rows = {} if plan is None else {r["setting"]: r for r in plan.to_dict("records")}

    new_router = policy_dict = None
    certified: dict[str, bool] = {n: False for n in names}
    share: dict[str, float] = {n: 0.0 for n in names}
    reason: dict[str, str] = {}
    if certify:
        if grouped:
            estimator.fit(p_arr, ok, groups=labels, certify_groups=certify)
        else:
            estimator.fit(p_arr, ok)
        policy = estimator.policy_
        for n in names:
            g = policy.groups.get(n) if grouped else {"feasible": policy.feasible,
                                                      "automation_rate": policy.expected.get("automation_rate", 0.0),
                                                      "note": policy.note}
            certified[n] = bool(g["feasible"]) and n in certify
            share[n] = float(g.get("automation_rate") or 0.0) if certified[n] else 0.0
            if not certified[n] and n in certify:
                reason[n] = g.get("note") or "no threshold certifies alpha on these outcomes"
        if any(certified.values()):
            policy_dict = policy.to_dict()
            new_router = replace(router, policy=policy, p_calibration=p_arr, correct_calibration=ok,
                                 settings_calibration=labels if grouped else None)
    needed: dict[str, int | None] = {}
    for n in names:
        row = rows.get(n)
        if certified[n]:
            needed[n] = None
            reason[n] = f"certified: error among automated <= {a:g} with probability >= 1 - {d:g}"
            continue
        if counts[n] < min_labelled:
            needed[n] = min_labelled - counts[n]
            reason[n] = f"only {counts[n]} labelled episodes (< min_labelled = {min_labelled}): no share of delta"
        elif row is not None and row["episodes_needed"] is not None and not np.isnan(row["episodes_needed"]):
            needed[n] = max(0, int(row["episodes_needed"]) - counts[n]) or None
            if n not in certify:
                reason[n] = ("too few correct episodes expected to certify anything at this size: no share of delta"
                             f" (planning figure: {int(row['episodes_needed'])} labelled episodes)")
        else:
            needed[n] = None
            reason.setdefault(n, "the expected correct rate is too low for any threshold to certify alpha")
    return Recertification(router=new_router, policy_dict=policy_dict, certified=certified,
                           automated_share=share, n_used=counts, needed_more=needed, alpha=float(a), delta=d,
                           method=method, reason=reason)
