"""The steps of `triage run` after the roles: data, coder evaluation, confidence, policies, bounds,
assistance and the router. Each step is a function of plain inputs returning a frozen result, so
that ``triage route``, the notebooks, the benchmarks and the tests can call the parts they need.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from triage.coder import DecisionRule
from triage.confidence import ConfidenceModel, RoutingFeatures, RoutingInput, compare_models
from triage.confidence.evaluation import reliability_diagram
from triage.config import RunConfig
from triage.data import load_episodes_with_report
from triage.pipeline.roles import (
    DRG_TARGETS,
    CoderScoring,
    Parts,
    PipelineError,
    PoolSplit,
    Scored,
    rates_by_setting,
)
from triage.policy import KINDS, CostModel, Policy, evaluate_policy, make_policy
from triage.policy.automation import automation_table, method_label
from triage.policy.evidence import certified_settings, evidence_plan, setting_deltas
from triage.progress import current
from triage.router import Router

#: Fewest correct (and incorrect) episodes each confidence-fitting part must hold.
MIN_CLASS_EPISODES = 5

#: Stand-in for a missing routing feature in subset discovery (below every real value).
MISSING_FEATURE = -1.0

#: The alphas and error-cost factors the policy sweep walks through.
SWEEP_ALPHAS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.46)
SWEEP_ERROR_COST_FACTORS = (0.25, 0.5, 1, 2, 4, 8)


# ---------------------------------------------------------------------------------- data
@dataclass(frozen=True)
class LoadedData:
    """The episode table (synthetic by default), its load report, where it came from, its content hash."""

    episodes: pd.DataFrame
    report: dict[str, Any]
    source: Path
    fingerprint: str


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


def load_data(config: RunConfig) -> LoadedData:
    """The episode table (synthetic by default), its load report, where it came from and its fingerprint."""
    d = config.data
    path = d.path if d.path is not None else synthetic_cohort_dir(config)
    episodes, report = load_episodes_with_report(
        path, format=d.format, icd_version=d.icd_version, split_file=d.split_file, strict=d.strict,
        seed=config.seed, fractions=d.split_fractions,
    )
    return LoadedData(episodes, report.to_dict(), Path(path), data_fingerprint(episodes))


def data_fingerprint(episodes: pd.DataFrame) -> str:
    """Content hash of what the run learns from (ids, codes, split), not of file times."""
    h = hashlib.sha256()
    for col in ("episode_id", "split"):
        h.update(pd.util.hash_pandas_object(episodes[col].astype(str), index=False).values.tobytes())
    h.update(json.dumps([list(x) + ["|"] + list(y) for x, y in zip(episodes["diagnoses"], episodes["procedures"])]).encode())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------- coder evaluation
@dataclass(frozen=True)
class CoderEvaluation:
    """The coder on test: the seed paper's metrics (with intervals under ``ci``) and per care setting."""

    metrics: dict[str, Any]
    by_setting: pd.DataFrame


def evaluate_coder(rule: DecisionRule, test: Scored) -> CoderEvaluation:
    from triage.metrics import evaluate

    metrics = evaluate(test.predicted, test.gold, test.scores, threshold=float(rule.threshold_))
    return CoderEvaluation(metrics, coder_metrics_by_setting(test))


def coder_metrics_by_setting(test: Scored) -> pd.DataFrame:
    """Workload share, micro-F1, exact match and Jaccard of the coder on test, per care setting."""
    from triage.metrics.sets import exact_match_ratio, jaccard_score, micro_prf

    rows = []
    settings = test.settings
    for name in ["all", *sorted(np.unique(settings).tolist())]:
        idx = np.arange(len(settings)) if name == "all" else np.flatnonzero(settings == name)
        pred, gold = [test.predicted[i] for i in idx], [test.gold[i] for i in idx]
        rows.append({"setting": name, "share": idx.size / max(len(settings), 1), "n_test": int(idx.size),
                     "f1_micro": micro_prf(pred, gold)["f1_micro"] if idx.size else np.nan,
                     "exact_match": exact_match_ratio(pred, gold) if idx.size else np.nan,
                     "jaccard": jaccard_score(pred, gold) if idx.size else np.nan})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------- confidence
@dataclass(frozen=True)
class TrainedConfidence:
    """A confidence model, the kind actually trained, and why it differs from the one asked for ("" if not)."""

    model: ConfidenceModel
    kind: str
    note: str


@dataclass(frozen=True)
class TargetFit:
    """One correctness target's confidence model, correctness and probabilities on every part
    (``p.fitting`` is None: the model's own training episodes are never scored)."""

    target: str
    model: ConfidenceModel
    kind: str
    note: str
    correct: Parts[np.ndarray]
    p: Parts[np.ndarray | None]


@dataclass(frozen=True)
class Confidences:
    """One part under the headline target: what a policy is chosen on or evaluated with."""

    p: np.ndarray
    correct: np.ndarray
    settings: np.ndarray


@dataclass(frozen=True)
class ConfidenceFits:
    """The confidence step: routing features, each target's fit, and the headline target's model
    compared with the other kinds on test."""

    features: RoutingFeatures
    #: routing features per part
    X: Parts[np.ndarray]
    settings: Parts[np.ndarray]
    #: target -> its fit; the headline target first
    by_target: dict[str, TargetFit]
    target: str
    #: the ``confidence_models`` table (one row per model kind) and the ``reliability`` diagram
    comparison: pd.DataFrame
    reliability: pd.DataFrame
    #: the product-form baseline's probabilities on test
    product_p_test: np.ndarray

    @property
    def headline(self) -> TargetFit:
        return self.by_target[self.target]

    def on(self, part: str) -> Confidences:
        """The headline target's probabilities, correctness and settings on one part."""
        return Confidences(getattr(self.headline.p, part), getattr(self.headline.correct, part),
                           getattr(self.settings, part))


def train_confidence(config: RunConfig, kind: str, target: str, X: Parts[np.ndarray],
                     correct: Parts[np.ndarray]) -> TrainedConfidence:
    """``kind`` ranked on the fitting part and calibrated on the probability calibration part, or the
    product-form baseline when the fitting part cannot train it.

    A fitting part with fewer than MIN_CLASS_EPISODES correct (or wrong) episodes cannot train a
    model: the product-form baseline (no training) is used instead and the note says why.
    """
    cc = config.confidence
    note = ""
    y_fit = correct.fitting
    k_fit = int(y_fit.sum())
    if kind not in ("product", "min-accepted") and min(k_fit, y_fit.size - k_fit) < MIN_CLASS_EPISODES:
        note = (f"the fitting part has {k_fit} correct of {y_fit.size} episodes under target {target!r}: "
                f"too few to train a {kind} model (>= {MIN_CLASS_EPISODES} of each needed); the product-form "
                "baseline ranks instead")
        kind = "product"
    params = cc.params if kind == cc.model else {}
    # cal_fraction=0: every fitting episode trains the ranking; the calibration part calibrates
    model = ConfidenceModel(kind=kind, calibration=cc.calibration, random_state=config.seed, cal_fraction=0.0,
                            **{k: v for k, v in params.items() if k != "cal_fraction"})
    model.fit(X.fitting, y_fit).calibrate(X.probability_calibration, correct.probability_calibration)
    return TrainedConfidence(model, kind, note)


def fit_target(config: RunConfig, target: str, parts: Parts[Scored], X: Parts[np.ndarray],
               kind: str | None = None) -> TargetFit:
    """Correctness under ``target`` and a confidence model: ranking on the fitting part, probability
    calibration on the deployment-like calibration part."""
    correct = parts.map(lambda s: s.correct[target])
    trained = train_confidence(config, kind or config.confidence.model, target, X, correct)
    p = Parts(None, *(trained.model.predict_proba(x)[:, 1]
                      for x in (X.probability_calibration, X.policy, X.test)))
    return TargetFit(target, trained.model, trained.kind, trained.note, correct, p)


def fit_confidence(config: RunConfig, rule: DecisionRule, parts: Parts[Scored], targets: tuple[str, ...]
                   ) -> ConfidenceFits:
    """Routing features, then every target's confidence model; the headline target's compared against
    the other model kinds on test."""
    cc = config.confidence
    features = RoutingFeatures(threshold=float(rule.threshold_), n_jobs=cc.n_jobs).fit(
        RoutingInput(parts.fitting.scores, parts.fitting.episodes))
    X = parts.map(lambda s: features.transform(s.scores, s.episodes))
    fits = {t: fit_target(config, t, parts, X) for t in current().track(list(targets), "targets")}
    head = fits[cc.target]
    kinds = list(dict.fromkeys([cc.model, *cc.compare_models, "product", "min-accepted"]))
    models = {head.kind: head.model}
    for kind in kinds:
        if kind not in models:
            models[kind] = train_confidence(config, kind, cc.target, X, head.correct).model
    correct_test = head.correct.test
    table = compare_models(models, X.test, correct_test).reset_index()
    table.insert(1, "calibration", [models[m].calibration_method_ for m in table["model"]])
    reliability = pd.concat(
        [reliability_diagram(correct_test, models[k].predict_proba(X.test)[:, 1]).assign(model=k) for k in models],
        ignore_index=True,
    )
    return ConfidenceFits(features, X, parts.map(lambda s: s.settings), fits, cc.target, table, reliability,
                          models["product"].predict_proba(X.test)[:, 1])


# ---------------------------------------------------------------------------------- policies
@dataclass(frozen=True)
class PolicyChoice:
    """Every policy kind chosen on the policy part and evaluated on test; the run's kind is ``policy``."""

    policy: Policy
    by_kind: dict[str, Policy]
    #: kind -> :func:`triage.policy.evaluate_policy` on test
    evaluations: dict[str, dict[str, Any]]

    @property
    def evaluation(self) -> dict[str, Any]:
        return self.evaluations[self.policy.kind]


@dataclass(frozen=True)
class SweepPoint:
    """One point of the policy sweep: ``parameter`` (alpha or error_cost) at ``value``."""

    parameter: str
    value: float
    policy: Policy
    evaluation: dict[str, Any]


def cost_model(config: RunConfig) -> CostModel:
    """The run's CostModel: the config's cost section field for field."""
    return CostModel(**config.policy.costs.model_dump())


def _policy_estimator(config: RunConfig, kind: str, costs: CostModel, alpha: float | None = None):
    pc = config.policy
    return make_policy(kind, costs, alpha=pc.alpha if alpha is None else alpha, delta=pc.delta, method=pc.method,
                       fwer=pc.fwer)


def policy_reference(config: RunConfig, calibration: Confidences) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(p, correct, settings) of the probability calibration part: labelled episodes independent of the
    policy part's labels, which place the fixed sequence's one start per setting."""
    return (np.asarray(calibration.p, dtype=np.float64), np.asarray(calibration.correct, dtype=bool),
            calibration.settings if config.policy.per_setting else None)


def choose_policies(config: RunConfig, confidence: ConfidenceFits, evidence: pd.DataFrame) -> PolicyChoice:
    """Every policy kind chosen on the policy part (per care setting by default, delta shared by the
    settings the evidence plan certifies, in its weights, the fixed sequence started from the
    probability calibration part's labels) and evaluated on test."""
    pc = config.policy
    costs = cost_model(config)
    pol, test = confidence.on("policy"), confidence.on("test")
    certify = certified_settings(evidence) if pc.per_setting else None
    deltas = setting_deltas(evidence) if pc.per_setting else None
    reference = policy_reference(config, confidence.on("probability_calibration"))
    groups_pol = pol.settings if pc.per_setting else None
    groups_test = test.settings if pc.per_setting else None
    by_kind, evaluations = {}, {}
    for kind in KINDS:
        if kind == "capacity" and costs.capacity is None:
            continue
        policy = _policy_estimator(config, kind, costs).fit(pol.p, pol.correct, groups=groups_pol,
                                                            certify_groups=certify, group_deltas=deltas,
                                                            reference=reference).policy_
        by_kind[kind] = policy
        evaluations[kind] = evaluate_policy(policy, test.p, test.correct, costs,
                                            groups=groups_test if policy.group_by else None)
    if pc.kind not in by_kind:
        raise PipelineError(f"policy step: policy kind {pc.kind!r} needs policy.costs.capacity and period_episodes")
    return PolicyChoice(by_kind[pc.kind], by_kind, evaluations)


def policy_sweep(config: RunConfig, confidence: ConfidenceFits) -> tuple[SweepPoint, ...]:
    """How the chosen kind's threshold, automation and cost move with alpha and the error cost."""
    pc = config.policy
    base = cost_model(config)
    pol, test = confidence.on("policy"), confidence.on("test")
    rates = rates_by_setting(confidence.settings.fitting, confidence.headline.correct.fitting)
    reference = policy_reference(config, confidence.on("probability_calibration"))
    points = []
    kind = pc.kind if pc.kind != "capacity" else "guaranteed"
    g_pol, g_test = (pol.settings, test.settings) if pc.per_setting else (None, None)
    for alpha in SWEEP_ALPHAS:
        certify = deltas = None
        if g_pol is not None:
            plan = evidence_plan(g_pol, rates, alpha, pc.delta, pc.method, pc.fwer, one_start=True)
            certify, deltas = certified_settings(plan), setting_deltas(plan)
        policy = _policy_estimator(config, kind, base, alpha=alpha).fit(pol.p, pol.correct, groups=g_pol,
                                                                        certify_groups=certify, group_deltas=deltas,
                                                                        reference=reference).policy_
        ev = evaluate_policy(policy, test.p, test.correct, base, groups=g_test if policy.group_by else None)
        points.append(SweepPoint("alpha", alpha, policy, ev))
    for factor in SWEEP_ERROR_COST_FACTORS:
        costs = CostModel(**{**base.to_dict(), "error_cost": base.error_cost * factor})
        policy = make_policy("chow", costs).fit(pol.p, pol.correct).policy_
        points.append(SweepPoint("error_cost", costs.error_cost, policy,
                                 evaluate_policy(policy, test.p, test.correct, costs)))
    return tuple(points)


def unseen_moves(parts: Parts[Scored]) -> pd.DataFrame:
    """``tables/unseen_drg_moves`` over the policy and test parts: per care setting, the episodes
    whose MS-DRG gold codes the coder scored ~0 move (what no score-based confidence can see)."""
    from triage.confidence.unseen import unseen_drg_moves

    pol, test = parts.policy, parts.test
    return unseen_drg_moves(pol.gold + test.gold, pol.scores.concat(test.scores),
                            pd.concat([pol.episodes, test.episodes], ignore_index=True),
                            np.concatenate([pol.settings, test.settings]))


def with_unseen_reasons(automation: pd.DataFrame, unseen: pd.DataFrame) -> pd.DataFrame:
    """The automation table with, for the MS-DRG targets where a setting certifies nothing, how
    many of its episodes have an MS-DRG moved by codes the coder did not score (the errors at the
    top of a ranking no confidence can avoid)."""
    share = dict(zip(unseen["setting"], unseen["unseen_drg_move_share"]))
    below = float(unseen["below"].iloc[0]) if len(unseen) else None
    out = automation.copy()
    # a per-setting policy's "all" row joins its settings' reasons, each of which says its own share
    joined = set(automation["setting"]) != {"all"}

    def reason(r: pd.Series) -> str:
        s = share.get(r["setting"])
        text = r["reason"] if isinstance(r["reason"], str) else ""
        if (r["target"] not in DRG_TARGETS or r["guaranteed_automation"] > 0 or not text or s is None
                or pd.isna(s) or (joined and r["setting"] == "all")):
            return text
        return (f"{text}; the MS-DRG of {s:.1%} of these episodes is moved by gold codes the coder "
                f"scored below {below:g} (tables/unseen_drg_moves)")

    out["reason"] = out.apply(reason, axis=1) if len(out) else out["reason"]
    return out


def automation_by_target(config: RunConfig, confidence: ConfidenceFits,
                         unseen: pd.DataFrame | None = None) -> pd.DataFrame:
    """Guaranteed automation, oracle at alpha, test error and saving per target, method, alpha and
    setting (with :func:`with_unseen_reasons` when ``unseen`` is given)."""
    pc = config.policy
    settings = confidence.settings if pc.per_setting else Parts(None, None, None, None)
    per_target = {
        t: {"p_policy": f.p.policy, "correct_policy": f.correct.policy, "settings_policy": settings.policy,
            "p_test": f.p.test, "correct_test": f.correct.test, "settings_test": settings.test,
            "planning_rates": rates_by_setting(confidence.settings.fitting, f.correct.fitting),
            "reference": (f.p.probability_calibration, f.correct.probability_calibration,
                          settings.probability_calibration)}
        for t, f in confidence.by_target.items()
    }
    alphas = sorted(set(pc.report_alphas) | {pc.alpha})
    table = automation_table(per_target, cost_model(config), alphas, pc.delta)
    return table if unseen is None else with_unseen_reasons(table, unseen)


def headline_method(config: RunConfig) -> str:
    """The risk-control method of the run's headline, as the automation table names it."""
    return method_label(config.policy.method, config.policy.fwer)


# ---------------------------------------------------------------------------------- bounds
@dataclass(frozen=True)
class Bounds:
    """Subset bounds over the policy part (where subsets are found) and test (where they are confirmed)."""

    subsets: pd.DataFrame
    #: routable subsets (joint guarantee) and gold-defined diagnostics, by ``kind``
    table: pd.DataFrame
    discovered: list[dict[str, Any]]
    #: per row of policy + test: True for the policy part
    is_policy: np.ndarray
    p: np.ndarray
    correct: np.ndarray


def estimate_bounds(config: RunConfig, parts: Parts[Scored], confidence: ConfidenceFits) -> Bounds:
    """Subset bounds (routable subsets with a joint guarantee, gold-defined ones as diagnostics) and
    discovered tractable subsets."""
    from triage.bounds import build_subset_columns, discover_subsets, subset_bounds

    pol, test = confidence.on("policy"), confidence.on("test")
    episodes = pd.concat([parts.policy.episodes, parts.test.episodes], ignore_index=True)
    predicted = parts.policy.predicted + parts.test.predicted
    p = np.concatenate([pol.p, test.p])
    correct = np.concatenate([pol.correct, test.correct])
    is_policy = np.r_[np.ones(len(pol.p), bool), np.zeros(len(test.p), bool)]
    subsets = build_subset_columns(episodes, predicted)
    pc = config.policy
    table = subset_bounds(subsets, p, correct, calibration=is_policy, test=~is_policy, costs=cost_model(config),
                          alpha=pc.alpha, delta=pc.delta, method=pc.method, fwer=pc.fwer)
    # rules need complete features: a missing value (e.g. no accepted code) becomes its own band
    X = pd.DataFrame(np.vstack([confidence.X.policy, confidence.X.test]),
                     columns=confidence.features.feature_names_).fillna(MISSING_FEATURE)
    discovered = discover_subsets(X, correct, find=is_policy, confirm=~is_policy, alpha=pc.alpha,
                                  delta=pc.delta, random_state=config.seed)
    return Bounds(subsets, table, discovered, is_policy, p, correct)


# ---------------------------------------------------------------------------------- assistance
@dataclass(frozen=True)
class AssistResult:
    """Seed paper section 4 measured on test (``tables``) and the service's certified thresholds."""

    tables: dict[str, pd.DataFrame]
    #: suggestion and audit thresholds the router bundle carries (/v1/suggest, /v1/audit)
    assistant: dict[str, Any]


def evaluate_assist(config: RunConfig, parts: Parts[Scored]) -> AssistResult:
    """Suggestions, pre-filled codes, partial codes, the sequential coder and the audit (seed paper
    section 4): thresholds certified on the policy part, figures measured on test; then the
    service's suggestion and audit thresholds, certified on the policy part."""
    from triage.assist import calibrate_assistant, evaluate_assistance

    pol, test = parts.policy, parts.test
    icd_version = int(test.episodes["icd_version"].iloc[0])
    tables = evaluate_assistance(
        pol.scores.concat(test.scores), pol.predicted + test.predicted, pol.gold + test.gold,
        pd.concat([pol.episodes, test.episodes], ignore_index=True),
        np.r_[np.ones(len(pol.episodes), bool), np.zeros(len(test.episodes), bool)],
        train_gold=parts.fitting.gold, delta=config.policy.delta, icd_version=icd_version, random_state=config.seed)
    assistant = calibrate_assistant(pol.scores, pol.gold, target=0.95, delta=config.policy.delta,
                                    icd_version=icd_version, random_state=config.seed).to_dict()
    return AssistResult(tables, assistant)


# ---------------------------------------------------------------------------------- the run's steps
@dataclass(frozen=True)
class RunSteps:
    """What every step of one run returned: the summary, the tables and the router are built from it."""

    data: LoadedData
    statistics: dict[str, Any]
    coding: CoderScoring
    evaluation: CoderEvaluation
    split: PoolSplit
    confidence: ConfidenceFits
    choice: PolicyChoice
    automation: pd.DataFrame
    #: :func:`unseen_moves` (tables/unseen_drg_moves)
    unseen: pd.DataFrame
    sweep: tuple[SweepPoint, ...]
    bounds: Bounds
    assist: AssistResult

    @property
    def parts(self) -> Parts[Scored]:
        return self.split.parts


def build_router(config: RunConfig, run: RunSteps) -> Router:
    """The deployable router: decision rule, features, the headline target's confidence model, the
    chosen policy with the policy part's (p, correct, setting) for re-certification, the assistant."""
    from triage.allocation import Allocator

    pol = run.confidence.on("policy")
    fingerprint = run.data.fingerprint
    return Router(
        decision_rule=run.coding.rule, features=run.confidence.features, confidence=run.confidence.headline.model,
        policy=run.choice.policy, p_calibration=np.asarray(pol.p, dtype=np.float64),
        correct_calibration=np.asarray(pol.correct, dtype=bool), settings_calibration=np.asarray(pol.settings, dtype=str),
        icd_version=int(run.data.episodes["icd_version"].iloc[0]), target=config.confidence.target,
        model_version=f"{fingerprint[:8]}-s{config.seed}", coder=run.coding.coder, allocator=Allocator(),
        info={"data_fingerprint": fingerprint, "seed": config.seed, "jaccard_tau": config.confidence.jaccard_tau,
              "assist": run.assist.assistant},
    )
