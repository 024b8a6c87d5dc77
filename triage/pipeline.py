"""`triage run`: data -> coder -> evaluation -> confidence -> policies -> bounds -> assist -> router.

Each step is a function of plain inputs so that ``triage route``, the notebooks and the tests can
call the parts they need. Which episodes play which role is fixed here, once:

* coder trained here: the deployed coder is cross-fitting fold 0's model. The confidence ranking
  learns from folds 1-4's out-of-fold scores (never from scores of episodes a model saw); the
  held-out pool (fold 0, scored by the deployed model itself, plus val) is split by patient into
  probability calibration and policy choice (its guarantee holds: neither the coder nor the
  confidence model touched it), sized from the evidence the guarantee needs; test is reported;
* bring-your-own predictions (val + test files, as the reference pipeline writes them): val is
  split by patient into a fitting part and the held-out pool; test is reported;
* test predictions only: test is split by patient into fitting, pool and report parts.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console

from triage.coder import CodeScores, DecisionRule, TextCoder, load_predictions
from triage.data.split import patient_folds, patient_parts
from triage.confidence import ConfidenceModel, RoutingFeatures, compare_models, correctness
from triage.confidence.evaluation import reliability_diagram
from triage.confidence.targets import REPORTED_TARGETS
from triage.config import RunConfig, config_to_dict
from triage.data import gold_labels, load_episodes_with_report
from triage.data.settings import episode_settings
from triage.data.summary import SEED_STATISTICS
from triage.jsonsafe import dumps
from triage.policy import (
    KINDS,
    CostModel,
    Policy,
    clopper_pearson_interval,
    evaluate_policy,
    make_policy,
)
from triage.policy.automation import automation_table, method_label
from triage.policy.curves import cost_coverage_curve, risk_coverage_curve
from triage.policy.evidence import certified_settings, evidence_plan, policy_share_of_pool, setting_deltas
from triage.policy.policies import oracle_automation_at
from triage.progress import Reporter, current, reporter_for
from triage.results import RunResult, write_tables
from triage.router import Router

#: Seed paper figures (MIMIC-IV ICD-10, Table 4 / §3.1 / Figure 4) shown beside the data's own.
SEED_TARGETS = SEED_STATISTICS  # the seed paper's figures, one home: triage.data.summary


#: Fewest correct (and incorrect) episodes each confidence-fitting part must hold.
MIN_CLASS_EPISODES = 5

#: Stand-in for a missing routing feature in subset discovery (below every real value).
MISSING_FEATURE = -1.0


class PipelineError(RuntimeError):
    """A run that cannot go on; the message says which step and why."""


# ---------------------------------------------------------------------------------- helpers
def synthetic_cohort_dir(config: RunConfig) -> Path:
    """The default synthetic cohort in the cache dir, generated once per (workload, size, seed, scale,
    generator version: a cohort from an older generator is never reused). The directory is keyed on the
    canonical workload, so "mixed" and its explicit shares share one cohort."""
    from triage.data.cache import cache_dir
    from triage.synth import GENERATOR_VERSION, generate, parse_workload

    d = config.data
    workload = parse_workload(d.synthetic_workload)
    name = (f"{workload.slug}-n{d.synthetic_episodes}-seed{config.seed}-w{d.synthetic_note_words:g}"
            f"-g{GENERATOR_VERSION}")
    target = cache_dir() / "synthetic" / name
    if (target / ".complete").is_file():
        return target
    tmp = target.with_name(target.name + f".tmp{time.time_ns()}")
    generate(tmp, n_episodes=d.synthetic_episodes, seed=config.seed, workload=workload,
             note_words_scale=d.synthetic_note_words)
    (tmp / ".complete").write_text("ok\n")
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    return target


@dataclass
class Scored:
    """Episodes with the coder's scores, predicted lists and correctness for one role."""

    episodes: pd.DataFrame
    scores: CodeScores
    gold: list[list[str]]
    predicted: list[list[str]] | None = None
    correct: np.ndarray | None = None
    X: np.ndarray | None = None
    p: np.ndarray | None = None
    #: correctness per (target, jaccard tau), computed once (DRG targets group every episode)
    correct_by_target: dict[tuple[str, float], np.ndarray] = field(default_factory=dict, repr=False)

    def take(self, mask: np.ndarray) -> Scored:
        idx = np.flatnonzero(mask)
        return Scored(self.episodes.iloc[idx].reset_index(drop=True), self.scores.subset(self.scores.episode_ids[idx]),
                      [self.gold[i] for i in idx],
                      None if self.predicted is None else [self.predicted[i] for i in idx])

    @classmethod
    def concat(cls, a: Scored, b: Scored) -> Scored:
        """Two roles' episodes as one (same coder, same classes)."""
        return cls(pd.concat([a.episodes, b.episodes], ignore_index=True), a.scores.concat(b.scores), a.gold + b.gold)

    @property
    def settings(self) -> np.ndarray:
        """Care setting per episode (the table's column, else mapped from admission_type)."""
        return episode_settings(self.episodes).astype(str).to_numpy()


# ---------------------------------------------------------------------------------- steps
def load_data(config: RunConfig) -> tuple[pd.DataFrame, dict[str, Any], Path]:
    """The episode table (synthetic by default), its load report and where it came from."""
    d = config.data
    path = d.path if d.path is not None else synthetic_cohort_dir(config)
    episodes, report = load_episodes_with_report(
        path, format=d.format, icd_version=d.icd_version, split_file=d.split_file, strict=d.strict,
        seed=config.seed, fractions=d.split_fractions,
    )
    return episodes, report.to_dict(), Path(path)


def data_fingerprint(episodes: pd.DataFrame) -> str:
    """Content hash of what the run learns from (ids, codes, split), not of file times."""
    h = hashlib.sha256()
    for col in ("episode_id", "split"):
        h.update(pd.util.hash_pandas_object(episodes[col].astype(str), index=False).values.tobytes())
    h.update(json.dumps([list(x) + ["|"] + list(y) for x, y in zip(episodes["diagnoses"], episodes["procedures"])]).encode())
    return h.hexdigest()[:16]


def _by_split(episodes: pd.DataFrame, name: str) -> pd.DataFrame:
    return episodes[episodes["split"] == name].reset_index(drop=True)


def score_episodes(config: RunConfig, episodes: pd.DataFrame) -> tuple[Scored, Scored, Scored, DecisionRule, Any]:
    """The coder's scores for three roles: (fitting, held-out pool, report), the decision rule and the coder.

    The fitting role teaches the confidence model its ranking; the held-out pool (split later
    into probability calibration and policy choice) and the report role are scored the way
    routing will score them. With a coder trained here and ``coder.deploy == "fold"`` the
    deployed coder is cross-fitting fold 0's model: the other folds' out-of-fold scores fit the
    confidence model, fold 0's (the deployed model's own, on episodes it never saw) and val form
    the pool, test the report.
    """
    c = config.coder
    test = _by_split(episodes, "test")
    if c.predictions is not None:
        coder = None
        test_scored = _from_predictions(c.predictions, episodes, "--predictions")
        if c.val_predictions is not None:
            val_scored = _from_predictions(c.val_predictions, episodes, "--val-predictions")
            parts = patient_parts(val_scored.episodes["subject_id"].to_numpy(), (0.45, 0.55), config.seed)
            fit, pool, rep = val_scored.take(parts == 0), val_scored.take(parts == 1), test_scored
        else:
            parts = patient_parts(test_scored.episodes["subject_id"].to_numpy(), (0.4, 0.3, 0.3), config.seed)
            fit, pool, rep = (test_scored.take(parts == i) for i in range(3))
    elif c.path is not None:
        coder = TextCoder.load(c.path)
        val = _by_split(episodes, "val")
        val_scored = Scored(val, coder.predict_proba(val), gold_labels(val))
        parts = patient_parts(val["subject_id"].to_numpy(), (0.45, 0.55), config.seed)
        fit, pool = val_scored.take(parts == 0), val_scored.take(parts == 1)
        rep = Scored(test, coder.predict_proba(test), gold_labels(test))
    else:
        train, val = _by_split(episodes, "train"), _by_split(episodes, "val")
        params = {"model": c.model, "min_count": c.min_count, "n_folds": c.n_folds, "random_state": config.seed,
                  **c.params}
        coder = TextCoder(**params)
        deploy_fold = 0 if c.deploy == "fold" else None
        oof = coder.fit_cross_fit(train, deploy_fold=deploy_fold)
        train_scored = Scored(train, oof, gold_labels(train))
        val_scored = Scored(val, coder.predict_proba(val), gold_labels(val))
        rep = Scored(test, coder.predict_proba(test), gold_labels(test))
        if deploy_fold is not None:
            folds = patient_folds(train["subject_id"].to_numpy(), coder.n_folds, coder.random_state)
            fit = train_scored.take(folds != deploy_fold)
            pool = Scored.concat(train_scored.take(folds == deploy_fold), val_scored)
        else:
            # a final coder scores val more sharply than the fold models scored train: only val
            # is deployment-like, so it alone forms the pool
            fit, pool = train_scored, val_scored
    for role, s in (("fitting", fit), ("held-out", pool), ("report", rep)):
        if len(s.episodes) == 0:
            raise PipelineError(f"coder step: no episodes for the {role} role; check the split and predictions files")
    # a fixed --threshold is kept by fit (which still records its micro-F1); otherwise fit tunes it
    rule = DecisionRule(kind="global" if c.threshold is not None else c.decision_rule, threshold=c.threshold,
                        k=c.top_k).fit(fit.scores, fit.gold)
    for s in (fit, pool, rep):
        s.predicted = rule.predict(s.scores)
    return fit, pool, rep, rule, coder


def _from_predictions(path: Path, episodes: pd.DataFrame, option: str) -> Scored:
    scores, _gold, _report = load_predictions(path, episodes=episodes)
    ids = pd.Index(episodes["episode_id"])
    pos = ids.get_indexer(scores.episode_ids)
    if (pos < 0).any():
        raise PipelineError(f"{option} {path}: {int((pos < 0).sum())} episode ids are not in the data")
    eps = episodes.iloc[pos].reset_index(drop=True)
    return Scored(eps, scores, gold_labels(eps))


def evaluate_coder(rule: DecisionRule, rep: Scored) -> dict[str, Any]:
    from triage.metrics import evaluate

    return evaluate(rep.predicted, rep.gold, rep.scores, threshold=float(rule.threshold_))


def _correct(config: RunConfig, s: Scored, target: str) -> np.ndarray:
    key = (target, config.confidence.jaccard_tau)
    if key not in s.correct_by_target:
        s.correct_by_target[key] = correctness(s.predicted, s.gold, target=target, tau=key[1],
                                               episodes=s.episodes)
    return s.correct_by_target[key]


def _rates_by_setting(settings: np.ndarray, correct: np.ndarray) -> dict[str, float]:
    out = {"all": float(correct.mean()) if correct.size else float("nan")}
    for name in np.unique(settings):
        out[str(name)] = float(correct[settings == name].mean())
    return out


def split_pool(config: RunConfig, fit: Scored, pool: Scored) -> tuple[Scored, Scored, pd.DataFrame]:
    """Split the held-out pool by patient into (calibration, policy) parts, sized from the evidence.

    The policy part gets what the guarantee needs in each care setting (planned from the fitting
    part's correct rates, never from the pool's labels), between 40% and 75% of the pool unless
    ``policy.policy_share`` fixes it; the rest calibrates the confidence probabilities. The plan
    returned (``evidence``) is recomputed on the policy part as split, and says which settings
    share delta (those that can certify anything at all).
    """
    pc = config.policy
    rates = _rates_by_setting(fit.settings, _correct(config, fit, config.confidence.target))
    plan = evidence_plan(pool.settings, rates, pc.alpha, pc.delta, pc.method, pc.fwer, per_setting=pc.per_setting,
                         one_start=True)
    share = pc.policy_share if pc.policy_share is not None else policy_share_of_pool(
        plan, pool.settings, floor=0.4, ceiling=0.75)
    parts = patient_parts(pool.episodes["subject_id"].to_numpy(), (1 - share, share), config.seed + 1)
    cal, pol = pool.take(parts == 0), pool.take(parts == 1)
    plan = evidence_plan(pol.settings, rates, pc.alpha, pc.delta, pc.method, pc.fwer, per_setting=pc.per_setting,
                         one_start=True)
    plan.insert(1, "policy_share_of_pool", share)
    return cal, pol, plan


def certify_groups(config: RunConfig, evidence: pd.DataFrame) -> list[str] | None:
    """The settings that share delta (the evidence plan's), or None for one policy for everyone."""
    if not config.policy.per_setting:
        return None
    return certified_settings(evidence)


def policy_reference(config: RunConfig, cal: Scored) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(p, correct, settings) of the calibration part: labelled episodes independent of the policy
    part's labels, which place the fixed sequence's one start per setting."""
    return (np.asarray(cal.p, dtype=np.float64), np.asarray(cal.correct, dtype=bool),
            cal.settings if config.policy.per_setting else None)


@dataclass
class TargetFit:
    """One correctness target's confidence model and its probabilities on every role."""

    target: str
    model: ConfidenceModel
    kind: str
    note: str
    correct: dict[str, np.ndarray]
    p: dict[str, np.ndarray]


def fit_target(config: RunConfig, target: str, fit: Scored, cal: Scored, pol: Scored, rep: Scored,
               kind: str | None = None) -> TargetFit:
    """Correctness under ``target`` and a confidence model: ranking on the fitting part, probability
    calibration on the deployment-like calibration part.

    A fitting part with fewer than MIN_CLASS_EPISODES correct (or wrong) episodes cannot train a
    model: the product-form baseline (no training) is used instead and the fit says why.
    """
    roles = {"fit": fit, "cal": cal, "pol": pol, "rep": rep}
    correct = {name: _correct(config, s, target) for name, s in roles.items()}
    model, kind, note = train_confidence(config, kind or config.confidence.model, target, fit, cal, correct)
    p = {name: model.predict_proba(s.X)[:, 1] for name, s in roles.items() if name != "fit"}
    return TargetFit(target, model, kind, note, correct, p)


def train_confidence(config: RunConfig, kind: str, target: str, fit: Scored, cal: Scored,
                     correct: dict[str, np.ndarray]) -> tuple[ConfidenceModel, str, str]:
    """(model, kind used, note): ``kind`` ranked on the fitting part and calibrated on the
    calibration part, or the product-form baseline when the fitting part cannot train it."""
    cc = config.confidence
    note = ""
    k_fit = int(correct["fit"].sum())
    if kind not in ("product", "min-accepted") and min(k_fit, correct["fit"].size - k_fit) < MIN_CLASS_EPISODES:
        note = (f"the fitting part has {k_fit} correct of {correct['fit'].size} episodes under target {target!r}: "
                f"too few to train a {kind} model (>= {MIN_CLASS_EPISODES} of each needed); the product-form "
                "baseline ranks instead")
        kind = "product"
    params = cc.params if kind == cc.model else {}
    # cal_fraction=0: every fitting episode trains the ranking; the calibration part calibrates
    model = ConfidenceModel(kind=kind, calibration=cc.calibration, random_state=config.seed, cal_fraction=0.0,
                            **{k: v for k, v in params.items() if k != "cal_fraction"})
    model.fit(fit.X, correct["fit"]).calibrate(cal.X, correct["cal"])
    return model, kind, note


def fit_confidence(config: RunConfig, rule: DecisionRule, fit: Scored, cal: Scored, pol: Scored, rep: Scored):
    """Routing features, then every target's confidence model; the headline target's compared against
    the other model kinds. Returns (features, {target: TargetFit}, comparison table, reliability)."""
    cc = config.confidence
    features = RoutingFeatures(threshold=float(rule.threshold_), n_jobs=cc.n_jobs).fit(fit.scores, fit.episodes)
    for s in (fit, cal, pol, rep):
        s.X = features.transform(s.scores, s.episodes)
    targets = list(dict.fromkeys([cc.target, *REPORTED_TARGETS]))
    if any(int(e) != 10 for e in rep.episodes["icd_version"].unique()):
        targets = [t for t in targets if t not in ("drg", "principal_drg")] or [cc.target]
    fits = {t: fit_target(config, t, fit, cal, pol, rep) for t in current().track(targets, "targets")}
    head = fits[cc.target]
    for s, role in ((fit, "fit"), (cal, "cal"), (pol, "pol"), (rep, "rep")):
        s.correct = head.correct[role]
        s.p = head.p.get(role)
    kinds = list(dict.fromkeys([cc.model, *cc.compare_models, "product", "min-accepted"]))
    models = {head.kind: head.model}
    for kind in kinds:
        if kind not in models:
            models[kind] = train_confidence(config, kind, cc.target, fit, cal, head.correct)[0]
    table = compare_models(models, rep.X, rep.correct).reset_index()
    table.insert(1, "calibration", [models[m].calibration_method_ for m in table["model"]])
    reliability = pd.concat(
        [reliability_diagram(rep.correct, models[k].predict_proba(rep.X)[:, 1]).assign(model=k) for k in models],
        ignore_index=True,
    )
    return features, fits, table, reliability, {k: models[k].predict_proba(rep.X)[:, 1] for k in ("product",)}


def confidence_check(p: np.ndarray, correct: np.ndarray, routes: np.ndarray,
                     ks: tuple[int, ...] = (25, 50, 100, 200), level: float = 0.95) -> pd.DataFrame:
    """Predicted vs observed error among the k most confident test episodes and the automated set.

    The exact (Clopper–Pearson) interval of the observed error says whether the confidence model is
    calibrated where automation happens.
    """
    order = np.argsort(-p, kind="stable")
    rows = []
    groups = [(f"top {k}", order[:k]) for k in ks if k <= p.size]
    groups.append(("automated", np.flatnonzero(routes == "automate")))
    for name, idx in groups:
        n = int(idx.size)
        k_err = int((~correct[idx]).sum())
        lo, hi = clopper_pearson_interval(k_err, n, level)
        rows.append({"episodes": name, "n": n, "predicted_error": float((1 - p[idx]).mean()) if n else np.nan,
                     "observed_error": k_err / n if n else np.nan, "observed_lower": float(lo),
                     "observed_upper": float(hi), "interval_level": level})
    return pd.DataFrame(rows)


def cost_model(config: RunConfig) -> CostModel:
    """The run's CostModel: the config's cost section field for field."""
    return CostModel(**config.policy.costs.model_dump())


def _policy_estimator(config: RunConfig, kind: str, costs: CostModel, alpha: float | None = None):
    pc = config.policy
    return make_policy(kind, costs, alpha=pc.alpha if alpha is None else alpha, delta=pc.delta, method=pc.method,
                       fwer=pc.fwer)


def _threshold_text(t_automate: float, t_assist: float | None) -> str:
    auto = f"automate p ≥ {t_automate:.3f}" if np.isfinite(t_automate) else "automate none"
    if t_assist is None or not np.isfinite(t_assist) or t_assist >= t_automate:
        return auto
    return f"{auto}, assist p ≥ {t_assist:.3f}"


def thresholds_by_setting(policy: Policy) -> str:
    """The thresholds a grouped policy applies, one ``setting: ...`` per group ("" when ungrouped):
    the top-level ``t_automate`` of such a policy is infinite and says nothing."""
    if policy.group_by is None:
        return ""
    parts = []
    for name in sorted(policy.groups):
        t_auto, t_assist = policy.thresholds_for(name)
        parts.append(f"{name}: {_threshold_text(t_auto, t_assist)}")
    return "; ".join(parts)


def choose_policies(config: RunConfig, pol: Scored, rep: Scored, certify: list[str] | None = None,
                    deltas: dict[str, float] | None = None,
                    reference: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None,
                    ) -> tuple[Policy, pd.DataFrame, dict[str, dict]]:
    """Every policy kind chosen on the policy part (per care setting by default, delta shared by the
    ``certify`` settings in the shares ``deltas`` gives, the fixed sequence started from the
    ``reference`` labels) and evaluated on test."""
    pc = config.policy
    costs = cost_model(config)
    groups_pol = pol.settings if pc.per_setting else None
    groups_rep = rep.settings if pc.per_setting else None
    rows, evaluations, chosen = [], {}, None
    for kind in KINDS:
        if kind == "capacity" and costs.capacity is None:
            continue
        policy = _policy_estimator(config, kind, costs).fit(pol.p, pol.correct, groups=groups_pol,
                                                            certify_groups=certify, group_deltas=deltas,
                                                            reference=reference).policy_
        ev = evaluate_policy(policy, rep.p, rep.correct, costs, groups=groups_rep if policy.group_by else None)
        evaluations[kind] = ev
        rows.append({
            "policy": kind, "kind": kind, "version": policy.version, "feasible": policy.feasible,
            "t_automate": policy.t_automate, "t_assist": policy.t_assist, "per_setting": policy.group_by is not None,
            "thresholds_by_setting": thresholds_by_setting(policy),
            "automation_rate": ev["automation_rate"], "assist_rate": ev.get("assist_rate"),
            "manual_rate": ev.get("manual_rate"), "error_rate": ev.get("automated_error_rate"),
            "test_error_lower": ev.get("automated_error_lower"), "test_error_upper": ev.get("automated_error_upper"),
            "guarantee": ev.get("automated_error_guarantee"), "cost_per_episode": ev["cost_per_episode"],
            "cost_per_episode_all_human": ev["cost_per_episode_all_human"],
            "saving_from_automation_per_episode": ev["saving_from_automation_per_episode"],
            "saving_from_assist_per_episode": ev["saving_from_assist_per_episode"],
            "note": policy.note, "chosen": kind == pc.kind,
        })
        if kind == pc.kind:
            chosen = policy
    if chosen is None:
        raise PipelineError(f"policy step: policy kind {pc.kind!r} needs policy.costs.capacity and period_episodes")
    return chosen, pd.DataFrame(rows), evaluations


def policy_sweep(config: RunConfig, pol: Scored, rep: Scored, rates: dict[str, float] | None = None,
                 reference: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None) -> pd.DataFrame:
    """How the chosen kind's threshold, automation and cost move with alpha and the error cost."""
    pc = config.policy
    base = cost_model(config)
    rows = []
    kind = pc.kind if pc.kind != "capacity" else "guaranteed"
    g_pol, g_rep = (pol.settings, rep.settings) if pc.per_setting else (None, None)
    for alpha in (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.46):
        certify = deltas = None
        if g_pol is not None and rates is not None:
            plan = evidence_plan(g_pol, rates, alpha, pc.delta, pc.method, pc.fwer, one_start=reference is not None)
            certify, deltas = certified_settings(plan), setting_deltas(plan)
        pol_ = _policy_estimator(config, kind, base, alpha=alpha).fit(pol.p, pol.correct, groups=g_pol,
                                                                      certify_groups=certify, group_deltas=deltas,
                                                                      reference=reference).policy_
        ev = evaluate_policy(pol_, rep.p, rep.correct, base, groups=g_rep if pol_.group_by else None)
        rows.append({"parameter": "alpha", "value": alpha, **_sweep_row(pol_, ev)})
    for factor in (0.25, 0.5, 1, 2, 4, 8):
        costs = CostModel(**{**base.to_dict(), "error_cost": base.error_cost * factor})
        pol_ = make_policy("chow", costs).fit(pol.p, pol.correct).policy_
        ev = evaluate_policy(pol_, rep.p, rep.correct, costs)
        rows.append({"parameter": "error_cost", "value": costs.error_cost, **_sweep_row(pol_, ev)})
    return pd.DataFrame(rows)


def _sweep_row(policy: Policy, ev: dict) -> dict:
    return {"kind": policy.kind, "threshold": policy.t_automate, "t_assist": policy.t_assist,
            "automation_rate": ev["automation_rate"], "error_rate": ev.get("automated_error_rate"),
            "cost_per_episode": ev["cost_per_episode"], "feasible": policy.feasible}


def automation_by_target(config: RunConfig, fits: dict[str, TargetFit], fit: Scored, pol: Scored, rep: Scored,
                         cal: Scored | None = None) -> pd.DataFrame:
    """Guaranteed automation, oracle at alpha, test error and saving per target, method, alpha and setting."""
    pc = config.policy
    per_target = {
        t: {"p_policy": f.p["pol"], "correct_policy": f.correct["pol"],
            "settings_policy": pol.settings if pc.per_setting else None,
            "p_test": f.p["rep"], "correct_test": f.correct["rep"],
            "settings_test": rep.settings if pc.per_setting else None,
            "planning_rates": _rates_by_setting(fit.settings, f.correct["fit"]),
            "reference": None if cal is None else (f.p["cal"], f.correct["cal"],
                                                   cal.settings if pc.per_setting else None)}
        for t, f in fits.items()
    }
    alphas = sorted(set(pc.report_alphas) | {pc.alpha})
    table = automation_table(per_target, cost_model(config), alphas, pc.delta)
    table["headline"] = ((table["target"] == config.confidence.target)
                         & (table["method"] == method_label(pc.method, pc.fwer)) & (table["alpha"] == pc.alpha))
    return table


def settings_table(config: RunConfig, automation: pd.DataFrame, metrics_by_setting: pd.DataFrame,
                   evaluation: dict[str, Any]) -> pd.DataFrame:
    """Per care setting: workload share, coder quality, guaranteed automation at each reported alpha
    (headline target and method), oracle, test error with its interval, and minutes saved."""
    pc = config.policy
    head = automation[(automation["target"] == config.confidence.target)
                      & (automation["method"] == method_label(pc.method, pc.fwer))]
    rows = []
    by_group = evaluation.get("by_group", {})
    for setting in metrics_by_setting["setting"]:
        row = metrics_by_setting[metrics_by_setting["setting"] == setting].iloc[0].to_dict()
        for alpha in sorted(head["alpha"].unique()):
            r = head[(head["alpha"] == alpha) & (head["setting"] == setting)]
            if r.empty:
                continue
            r = r.iloc[0]
            tag = f"a{round(alpha * 100):02d}"
            row.update({
                f"guaranteed_automation_{tag}": r["guaranteed_automation"], f"oracle_{tag}": r["oracle_at_alpha"],
                f"test_error_{tag}": r["test_error"], f"test_error_lower_{tag}": r["test_error_lower"],
                f"test_error_upper_{tag}": r["test_error_upper"], f"feasible_{tag}": r["feasible"],
                f"certified_saving_{tag}": r["certified_saving_per_episode"],
            })
        ev = evaluation if setting == "all" else by_group.get(setting)
        if ev is not None:
            row.update(policy_automation_rate=ev["automation_rate"], policy_assist_rate=ev["assist_rate"],
                       saving_from_automation_per_episode=ev["saving_from_automation_per_episode"],
                       saving_from_assist_per_episode=ev["saving_from_assist_per_episode"],
                       policy_note=ev.get("note", ""))
        rows.append(row)
    return pd.DataFrame(rows)


def coder_metrics_by_setting(rep: Scored) -> pd.DataFrame:
    """Workload share, micro-F1, exact match and Jaccard of the coder on test, per care setting."""
    from triage.metrics.sets import exact_match_ratio, jaccard_score, micro_prf

    rows = []
    settings = rep.settings
    for name in ["all", *sorted(np.unique(settings).tolist())]:
        idx = np.arange(len(settings)) if name == "all" else np.flatnonzero(settings == name)
        pred, gold = [rep.predicted[i] for i in idx], [rep.gold[i] for i in idx]
        rows.append({"setting": name, "share": idx.size / max(len(settings), 1), "n_test": int(idx.size),
                     "f1_micro": micro_prf(pred, gold)["f1_micro"] if idx.size else np.nan,
                     "exact_match": exact_match_ratio(pred, gold) if idx.size else np.nan,
                     "jaccard": jaccard_score(pred, gold) if idx.size else np.nan})
    return pd.DataFrame(rows)


def evaluate_assist(config: RunConfig, fit: Scored, pol: Scored, rep: Scored) -> dict[str, pd.DataFrame]:
    """Suggestions, pre-filled codes, partial codes, the sequential coder and the audit (seed paper
    section 4): thresholds certified on the policy part, figures measured on test."""
    from triage.assist import evaluate_assistance

    return evaluate_assistance(
        pol.scores.concat(rep.scores), pol.predicted + rep.predicted, pol.gold + rep.gold,
        pd.concat([pol.episodes, rep.episodes], ignore_index=True),
        np.r_[np.ones(len(pol.episodes), bool), np.zeros(len(rep.episodes), bool)],
        train_gold=fit.gold, delta=config.policy.delta,
        icd_version=int(rep.episodes["icd_version"].iloc[0]), random_state=config.seed)


def calibrate_assist(config: RunConfig, pol: Scored, rep: Scored) -> dict[str, Any]:
    """The service's suggestion and audit thresholds, certified on the policy part (the router
    bundle carries them: /v1/suggest pre-fills and /v1/audit flags with them)."""
    from triage.assist import calibrate_assistant

    return calibrate_assistant(pol.scores, pol.gold, target=0.95, delta=config.policy.delta,
                               icd_version=int(rep.episodes["icd_version"].iloc[0]),
                               random_state=config.seed).to_dict()


def estimate_bounds(config: RunConfig, features: RoutingFeatures, pol: Scored, rep: Scored):
    """Subset bounds (routable subsets with a joint guarantee, gold-defined ones as diagnostics) and
    discovered tractable subsets."""
    from triage.bounds import build_subset_columns, discover_subsets, subset_bounds

    episodes = pd.concat([pol.episodes, rep.episodes], ignore_index=True)
    predicted = pol.predicted + rep.predicted
    p = np.concatenate([pol.p, rep.p])
    correct = np.concatenate([pol.correct, rep.correct])
    is_cal = np.r_[np.ones(len(pol.p), bool), np.zeros(len(rep.p), bool)]
    subsets = build_subset_columns(episodes, predicted)
    pc = config.policy
    bounds = subset_bounds(subsets, p, correct, calibration=is_cal, test=~is_cal, costs=cost_model(config),
                           alpha=pc.alpha, delta=pc.delta, method=pc.method, fwer=pc.fwer)
    # rules need complete features: a missing value (e.g. no accepted code) becomes its own band
    X = pd.DataFrame(np.vstack([pol.X, rep.X]), columns=features.feature_names_).fillna(MISSING_FEATURE)
    discovered = discover_subsets(X, correct, find=is_cal, confirm=~is_cal, alpha=pc.alpha,
                                  delta=pc.delta, random_state=config.seed)
    return subsets, bounds, discovered, is_cal, p, correct


# ---------------------------------------------------------------------------------- the run
def run_pipeline(config: RunConfig, console: Console | None = None, log_to_mlflow: bool | None = None,
                 write_report: bool = True, progress: Reporter | None = None) -> RunResult:
    """Run every step; write ``config.out`` (summary, tables, figures, report, router) and log to MLflow.

    ``progress`` reports the steps and the counted loops inside them (default: chosen for
    ``console``, see :func:`triage.progress.reporter_for`).
    """
    steps = progress if progress is not None else reporter_for(console)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    with steps("data", "Loading episodes"):
        episodes, load_report, _source = load_data(config)
        fingerprint = data_fingerprint(episodes)
    from triage.data.summary import dataset_summary

    with steps("summary", "Dataset statistics"):
        data_stats = dataset_summary(episodes)
    with steps("coder", "Coder: training + cross-fitting" if config.coder.predictions is None and config.coder.path
               is None else "Coder: scoring"):
        fit, pool, rep, rule, coder = score_episodes(config, episodes)
    with steps("evaluate", "Evaluating the coder (seed paper metrics)"):
        metrics = evaluate_coder(rule, rep)
        by_setting = coder_metrics_by_setting(rep)
    with steps("confidence", "Confidence models + calibration"):
        cal, pol, evidence = split_pool(config, fit, pool)
        features, fits, conf_table, reliability, baselines = fit_confidence(config, rule, fit, cal, pol, rep)
    with steps("policy", "Routing policies"):
        reference = policy_reference(config, cal)
        policy, policies, evaluations = choose_policies(config, pol, rep, certify_groups(config, evidence),
                                                        setting_deltas(evidence) if config.policy.per_setting
                                                        else None, reference)
        automation = automation_by_target(config, fits, fit, pol, rep, cal)
        sweep = policy_sweep(config, pol, rep, _rates_by_setting(fit.settings, fit.correct), reference)
        costs = cost_model(config)
        risk_cov = risk_coverage_curve(rep.p, rep.correct, delta=config.policy.delta)
        cost_cov = cost_coverage_curve(rep.p, rep.correct, costs)
        routes_rep = policy.route(rep.p, groups=rep.settings if policy.group_by else None)
        check = confidence_check(rep.p, rep.correct, routes_rep)
        settings = settings_table(config, automation, by_setting, evaluations[policy.kind])
    with steps("bounds", "Upper bounds on subsets"):
        subsets, bounds, discovered, is_cal, p_all, correct_all = estimate_bounds(config, features, pol, rep)
    with steps("assist", "Suggestions and audit for coders (seed paper section 4)"):
        assist_tables = evaluate_assist(config, fit, pol, rep)
        assistant = calibrate_assist(config, pol, rep)

    from triage.allocation import Allocator

    model_version = f"{fingerprint[:8]}-s{config.seed}"
    router = Router(
        decision_rule=rule, features=features, confidence=fits[config.confidence.target].model, policy=policy,
        p_calibration=np.asarray(pol.p, dtype=np.float64), correct_calibration=np.asarray(pol.correct, dtype=bool),
        settings_calibration=np.asarray(pol.settings, dtype=str),
        icd_version=int(episodes["icd_version"].iloc[0]), target=config.confidence.target,
        model_version=model_version, coder=coder, allocator=Allocator(),
        info={"data_fingerprint": fingerprint, "seed": config.seed, "jaccard_tau": config.confidence.jaccard_tau,
              "assist": assistant},
    )
    summary = build_summary(config, data_stats, metrics, conf_table, policy, evaluations, rep, fingerprint,
                            episodes, fit, cal, pol, fits, automation, evidence, load_report)
    all_settings = np.concatenate([pol.settings, rep.settings])
    tables = {
        "dataset_summary": pd.DataFrame([
            {"statistic": k, "value": v, "seed_target": SEED_TARGETS.get(k)} for k, v in data_stats.items()]),
        "coder_metrics": _metrics_table(metrics),
        "coder_metrics_by_setting": by_setting,
        "coverage": _coverage_table(rep.gold + pol.gold + fit.gold),
        "categories_per_episode": _categories_table(fit.gold + pol.gold + rep.gold),
        "confidence_models": conf_table,
        "confidence_check": check,
        "reliability": reliability,
        "risk_coverage": risk_cov,
        "cost_coverage": cost_cov,
        "policies": policies,
        "policy_sweep": sweep,
        "automation_by_target": automation,
        "settings": settings,
        "evidence": evidence,
        "bounds": bounds[bounds["kind"] == "routable"].reset_index(drop=True),
        "diagnostic_subsets": bounds[bounds["kind"] == "diagnostic"].reset_index(drop=True),
        "discovered_subsets": pd.DataFrame(discovered),
        **assist_tables,
        "test_episodes": pd.concat([
            pd.DataFrame({
                "episode_id": np.concatenate([pol.scores.episode_ids, rep.scores.episode_ids]),
                "role": np.where(is_cal, "calibration", "test"),
                "care_setting": all_settings,
                "p_correct": p_all, "correct": correct_all,
                "route": policy.route(p_all, groups=all_settings if policy.group_by else None),
                "n_codes": [len(x) for x in pol.predicted + rep.predicted],
                "product_p": np.concatenate([np.full(len(pol.p), np.nan), baselines["product"]]),
            }),
            subsets.reset_index(drop=True).drop(columns=["care_setting"], errors="ignore"),
        ], axis=1),
    }
    result = RunResult(config=config_to_dict(config), summary=summary, tables=tables, timings=steps.timings,
                       out_dir=out)
    write_tables(result.tables, out / "tables")  # the one writer of the run's tables
    with steps("router", "Saving the router bundle"):
        result.router_dir = router.save(out / "router")
        export = Path(config.export_dir)
        if export.resolve() != result.router_dir.resolve():
            if export.exists():
                shutil.rmtree(export)
            shutil.copytree(result.router_dir, export)
        summary["router_dir"] = str(result.router_dir)
        summary["exported_router_dir"] = str(export)
    if write_report:
        with steps("report", "Writing the report"):
            from triage.report import write_report as _write_report

            summary["report"] = str(_write_report(result, out, tables_written=True))
    if log_to_mlflow if log_to_mlflow is not None else config.tracking.enabled:
        with steps("tracking", "Logging to MLflow"):
            from triage.tracking import log_run

            info = log_run(result, tracking_uri=config.tracking.uri, experiment=config.tracking.experiment,
                           promote=config.tracking.promote, registered_model=config.tracking.registered_model)
            summary.update(mlflow_run_id=info.run_id, registered_version=info.model_version,
                           promoted=info.promoted)
    summary["timings_seconds"] = {k: round(v, 2) for k, v in steps.timings.items()}
    result.summary = summary
    write_summary(result, out)
    return result


def write_summary(result: RunResult, out: Path) -> None:
    """run_summary.json (strict JSON), once, when the summary is complete."""
    (out / "run_summary.json").write_text(dumps(result.summary, indent=2))


#: What a correct automated episode means under each target, in a coding manager's words.
TARGET_MEANING = {
    "exact": "the whole code set right", "exact3": "every 3-character category right",
    "sequence": "the whole code set and the principal right", "drg": "the same MS-DRG",
    "jaccard": "code-set overlap above the Jaccard threshold", "principal": "the principal diagnosis right",
    "principal_drg": "the principal diagnosis and the MS-DRG right",
    "audit": "principal right, no wrong code, at most one secondary missed",
}


def headline(summary: dict[str, Any]) -> str:
    """One sentence a coding manager reads first: what the router automates, and under what guarantee.

    "Automates nothing" comes first when it is true, with no percentage saving; a saving from
    assisted review is labelled as resting on assumed minutes; when the headline target is not
    the exact code set, what the exact set would give is said too.
    """
    n, n_auto = summary.get("n_test") or 0, summary.get("n_automated") or 0
    alpha, delta = summary["alpha"], summary["delta"]
    target = summary["target"]
    meaning = TARGET_MEANING.get(target, target)
    unit = summary.get("cost_unit", "minutes")
    if not n_auto:
        why = summary.get("policy_note") or "no threshold could be certified"
        return (f"Automates nothing: 0 of {n:,} test episodes ({target} target: {meaning}; alpha={alpha:g}, "
                f"delta={delta:g}). {why}. Assisted review would save "
                f"{round(summary.get('saving_from_assist_per_episode') or 0, 1) + 0.0:.1f} {unit} per episode, an assumed "
                "figure (assist and assist-error costs are assumptions, not measurements).")
    parts = [f"Automates {n_auto:,} of {n:,} test episodes ({summary['automation_rate']:.1%}) with error among "
             f"them <= {summary['automated_error_guarantee']:.3g} guaranteed at probability >= {1 - delta:g} "
             f"({target} target: {meaning}; test error {summary['automated_error_rate']:.1%})."]
    by = summary.get("automation_by_setting") or {}
    if by:
        parts.append("By setting: " + ", ".join(f"{k} {v:.1%}" for k, v in sorted(by.items())) + ".")
    exact = (summary.get("automation_by_target") or {}).get("exact")
    if target != "exact" and exact is not None:
        parts.append(f"On the exact code set it would automate {exact['guaranteed_automation']:.1%} "
                     f"(oracle at alpha {exact['oracle_at_alpha']:.1%}).")
    parts.append(f"Certified saving from automation >= {summary['certified_saving_per_episode']:.1f} {unit} per "
                 f"episode; assisted review adds {summary.get('saving_from_assist_per_episode', 0):.1f} {unit} "
                 "(assumed costs).")
    return " ".join(parts)


def build_summary(config, data_stats, metrics, conf_table, policy, evaluations, rep, fingerprint, episodes,
                  fit, cal, pol, fits, automation, evidence, load_report) -> dict[str, Any]:
    """The flat summary: the headline, core-router keys, per-target/setting figures, evaluation and data keys."""
    from triage.confidence.evaluation import aurc, eaurc
    from triage.confidence.evaluation import evaluate as conf_eval
    from triage.policy.automation import certified_saving

    pc = config.policy
    costs = cost_model(config)
    ev = evaluations[policy.kind]
    ce = conf_eval(rep.correct, rep.p)
    row = {m: r for m, r in zip(conf_table["model"], conf_table.to_dict("records"))}
    all_human = ev["cost_per_episode_all_human"]
    guarantee = ev.get("automated_error_guarantee")
    correct_rate = float(np.mean(rep.correct))
    summary: dict[str, Any] = {
        "target": config.confidence.target,
        "alpha": pc.alpha,
        "delta": pc.delta,
        "method": method_label(pc.method, pc.fwer),
        "per_setting": policy.group_by is not None,
        "policy_kind": policy.kind,
        "policy_version": policy.version,
        "policy_feasible": policy.feasible,
        "policy_note": policy.note,
        "threshold": policy.t_automate if np.isfinite(policy.t_automate) else None,
        "t_assist": policy.t_assist,
        "automation_rate": ev["automation_rate"],
        "automation_rate_lower": ev["automation_rate_lower"],
        "automation_rate_upper": ev["automation_rate_upper"],
        "assist_rate": ev.get("assist_rate"),
        "manual_rate": ev.get("manual_rate"),
        "n_automated": ev.get("n_automated"),
        "automates_nothing": not ev.get("n_automated"),
        # what the procedure certifies (P(error among automated > it) <= delta over the policy draw)
        "automated_error_guarantee": guarantee,
        # what happened on test, with its exact interval: a description of the test sample
        "automated_error_rate": ev.get("automated_error_rate"),
        "test_error_interval_lower": ev.get("automated_error_lower"),
        "test_error_interval_upper": ev.get("automated_error_upper"),
        "oracle_automation_rate": correct_rate,
        "oracle_automation_at_alpha": oracle_automation_at(pc.alpha, correct_rate),
        "ece": ce["ece"],
        "ece_equal_mass": ce["ece_equal_mass"],
        "brier": ce["brier"],
        "log_loss": ce["log_loss"],
        "auroc_correct": ce["auroc"],
        "auprc_correct": ce["auprc"],
        "aurc": aurc(rep.correct, rep.p),
        "eaurc": eaurc(rep.correct, rep.p),
        "baseline_product_aurc": float(row["product"]["aurc"]),
        "baseline_min_accepted_aurc": float(row["min-accepted"]["aurc"]),
        "confidence_model": fits[config.confidence.target].kind,
        "confidence_note": fits[config.confidence.target].note,
        "cost_per_episode": ev["cost_per_episode"],
        "cost_per_episode_all_human": all_human,
        # lower limit of the automation share's exact 95% interval (one-sided 97.5%), not the point estimate
        "certified_saving_per_episode": certified_saving(ev["automation_rate_lower"], guarantee, costs),
        "certified_saving_share_level": 0.975,
        "saving_from_automation_per_episode": ev["saving_from_automation_per_episode"],
        "saving_from_assist_per_episode": ev["saving_from_assist_per_episode"],
        "saving_from_assist_is_assumed": True,
        # share of the all-human cost saved; None when nothing is automated (the saving is then all assumed)
        "cost_saving_share": ((1 - ev["cost_per_episode"] / all_human) if all_human and ev.get("n_automated")
                              else None),
        "cost_unit": costs.unit,
        "data_fingerprint": fingerprint,
        "n_episodes": len(episodes),
        "n_fitting": len(fit.episodes),
        "n_probability_calibration": len(cal.episodes),
        "n_calibration": len(pol.episodes),
        "n_test": len(rep.episodes),
        "dropped_codes_other_version": (load_report or {}).get("dropped_codes_other_version"),
    }
    if policy.group_by is not None:
        summary["automation_by_setting"] = {k: g["automation_rate"] for k, g in ev.get("by_group", {}).items()}
        summary["guaranteed_settings"] = sorted(k for k, g in policy.groups.items() if g["feasible"])
        summary["t_automate_by_setting"] = {k: (float(g["t_automate"]) if np.isfinite(g["t_automate"]) else None)
                                            for k, g in policy.groups.items()}
    head = automation[(automation["method"] == method_label(pc.method, pc.fwer)) & (automation["alpha"] == pc.alpha)
                      & (automation["setting"] == "all")]
    summary["automation_by_target"] = {
        r["target"]: {"guaranteed_automation": r["guaranteed_automation"], "oracle_at_alpha": r["oracle_at_alpha"],
                      "test_error": r["test_error"], "certified_saving_per_episode": r["certified_saving_per_episode"]}
        for r in head.to_dict("records")}
    # per care setting, the headline target's ranking quality on test and, where nothing is
    # automated, why (too little evidence, or errors at the top of the ranking), at every reported alpha
    head_all = automation[(automation["method"] == method_label(pc.method, pc.fwer))
                          & (automation["target"] == config.confidence.target)]
    quality: dict[str, Any] = {}
    for r in head_all.sort_values(["setting", "alpha"]).to_dict("records"):
        q = quality.setdefault(r["setting"], {
            k: r.get(k) for k in ("auroc", "ece", "top_k", "top_k_predicted_error", "top_k_observed_error",
                                  "top_k_observed_lower", "top_k_observed_upper")})
        q[f"alpha_{r['alpha']:g}"] = {"guaranteed_automation": r["guaranteed_automation"],
                                      "oracle_at_alpha": r["oracle_at_alpha"], "reason": r.get("reason") or None}
    summary["quality_by_setting"] = quality
    short = evidence[~evidence["enough"]]
    summary["evidence_short"] = {
        r["setting"]: (f"needs ~{int(r['episodes_needed']):,} policy episodes, has {int(r['episodes_available']):,}"
                       if pd.notna(r["episodes_needed"]) else
                       f"no correct episode of this setting in the fitting part: it cannot be planned "
                       f"(has {int(r['episodes_available']):,} policy episodes)")
        for r in short.to_dict("records")}
    # The coder's metrics share names with routing keys ("threshold" is the coder's decision threshold,
    # "n_episodes" the test count): they must not overwrite the policy threshold or the cohort size.
    renamed = {"threshold": "coder_threshold", "n_episodes": "n_evaluated"}
    for k, v in metrics.items():
        if k != "ci" and (v is None or isinstance(v, (int, float, np.integer, np.floating))):
            summary[renamed.get(k, k)] = None if v is None else float(v)
    for k, v in data_stats.items():
        if isinstance(v, (int, float, np.integer, np.floating)):
            summary[f"data_{k}"] = float(v)
    summary["headline"] = headline(summary)
    return summary


def _metrics_table(metrics: dict[str, Any]) -> pd.DataFrame:
    ci = metrics.get("ci", {}) or {}
    rows = []
    for k, v in metrics.items():
        if k == "ci" or not (v is None or isinstance(v, (int, float, np.integer, np.floating))):
            continue
        lo, hi = ci.get(k, (None, None)) if k in ci else (None, None)
        rows.append({"metric": k, "value": v, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)


def _coverage_table(gold: list[list[str]]) -> pd.DataFrame:
    """Seed Figures 2-3 in the columns results.TABLE_NAMES documents."""
    from triage.metrics import code_coverage

    names = {"k": "top_k", "occurrence_coverage": "occurrence_share", "episodes_any_covered": "episode_any",
             "episodes_fully_covered": "episode_full"}
    ks = (10, 50, 100, 200, 400, 800, 1600, 3200)
    allc = code_coverage(gold, ks=ks).rename(columns=names)
    principal = code_coverage(gold, ks=ks, principal_only=True).rename(columns=names)
    principal = principal.rename(columns={c: f"principal_{c}" for c in principal.columns if c != "top_k"})
    return allc.merge(principal, on="top_k")


def _categories_table(gold: list[list[str]]) -> pd.DataFrame:
    from triage.metrics import category_distribution

    dist = category_distribution(gold)
    return pd.DataFrame({"n_categories": dist.index.astype(int), "share": dist.to_numpy()})
