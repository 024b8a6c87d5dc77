"""`triage run`: data -> coder -> evaluation -> confidence -> policies -> bounds -> router.

Each step is a function of plain inputs so that ``triage route``, the notebooks and the tests can
call the parts they need. Which episodes play which role is fixed here, once:

* coder trained here: the confidence model learns from the coder's *cross-fitted* train scores
  (never from scores of episodes the coder saw), the policy is chosen on val (a split neither the
  coder nor the confidence model touched, so its guarantee holds), and everything is reported on test;
* bring-your-own predictions (val + test files, as the reference pipeline writes them): val is
  split by patient into a fitting part and a policy part; test is reported;
* test predictions only: test is split by patient into fitting, policy and report parts.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
from rich.console import Console

from triage.config import RunConfig, config_to_dict
from triage.coder import CodeScores, DecisionRule, TextCoder, load_predictions
from triage.confidence import ConfidenceModel, RoutingFeatures, compare_models, correctness
from triage.confidence.evaluation import reliability_diagram
from triage.data import gold_labels, load_episodes_with_report
from triage.data.summary import SEED_STATISTICS
from triage.jsonsafe import finite_json
from triage.jsonsafe import json_default as _json_default
from triage.policy import KINDS, CostModel, Policy, choose_policy, evaluate_policy
from triage.policy.curves import cost_coverage_curve, risk_coverage_curve
from triage.results import RunResult
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
class StepTimer:
    """Times named steps and shows them on the console (rich)."""

    def __init__(self, console: Console | None) -> None:
        self.console = console
        self.timings: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str, what: str) -> Iterator[None]:
        start = time.perf_counter()
        if self.console is not None:
            with self.console.status(f"[bold]{what}[/]…"):
                yield
        else:
            yield
        self.timings[name] = time.perf_counter() - start
        if self.console is not None:
            self.console.print(f"  [green]✓[/] {what} [dim]({self.timings[name]:.1f} s)[/]")


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


def patient_parts(subject_ids: np.ndarray, shares: tuple[float, ...], seed: int) -> np.ndarray:
    """Assign each episode a part index by patient, in the given shares (no patient in two parts)."""
    subjects, inverse = np.unique(np.asarray(subject_ids), return_inverse=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(subjects))
    edges = np.round(np.cumsum(shares)[:-1] / np.sum(shares) * len(subjects)).astype(int)
    part_of_subject = np.empty(len(subjects), dtype=np.int64)
    for part, idx in enumerate(np.split(order, edges)):
        part_of_subject[idx] = part
    return part_of_subject[inverse]


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

    def take(self, mask: np.ndarray) -> "Scored":
        idx = np.flatnonzero(mask)
        return Scored(self.episodes.iloc[idx].reset_index(drop=True), self.scores.subset(self.scores.episode_ids[idx]),
                      [self.gold[i] for i in idx])


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
    """The coder's scores for the fitting, policy and report roles, the fitted decision rule and the coder."""
    c = config.coder
    test = _by_split(episodes, "test")
    if c.predictions is not None:
        coder = None
        test_scored = _from_predictions(c.predictions, episodes, "--predictions")
        if c.val_predictions is not None:
            val_scored = _from_predictions(c.val_predictions, episodes, "--val-predictions")
            parts = patient_parts(val_scored.episodes["subject_id"].to_numpy(), (0.6, 0.4), config.seed)
            fit, pol, rep = val_scored.take(parts == 0), val_scored.take(parts == 1), test_scored
        else:
            parts = patient_parts(test_scored.episodes["subject_id"].to_numpy(), (0.5, 0.2, 0.3), config.seed)
            fit, pol, rep = (test_scored.take(parts == i) for i in range(3))
    elif c.path is not None:
        coder = TextCoder.load(c.path)
        val = _by_split(episodes, "val")
        val_scored = Scored(val, coder.predict_proba(val), gold_labels(val))
        parts = patient_parts(val["subject_id"].to_numpy(), (0.6, 0.4), config.seed)
        fit, pol = val_scored.take(parts == 0), val_scored.take(parts == 1)
        rep = Scored(test, coder.predict_proba(test), gold_labels(test))
    else:
        train, val = _by_split(episodes, "train"), _by_split(episodes, "val")
        params = {"model": c.model, "min_count": c.min_count, "n_folds": c.n_folds, "random_state": config.seed,
                  **c.params}
        coder = TextCoder(**params)
        oof = coder.fit_cross_fit(train)
        fit = Scored(train, oof, gold_labels(train))
        pol = Scored(val, coder.predict_proba(val), gold_labels(val))
        rep = Scored(test, coder.predict_proba(test), gold_labels(test))
    for role, s in (("fitting", fit), ("policy", pol), ("report", rep)):
        if len(s.episodes) == 0:
            raise PipelineError(f"coder step: no episodes for the {role} role; check the split and predictions files")
    rule = DecisionRule(kind=c.decision_rule, k=c.top_k)
    if c.threshold is not None:
        rule = DecisionRule(kind="global", threshold=c.threshold)
        rule.threshold_ = float(c.threshold)
    else:
        rule.fit(fit.scores, fit.gold)
    for s in (fit, pol, rep):
        s.predicted = rule.predict(s.scores)
    return fit, pol, rep, rule, coder


def _from_predictions(path: Path, episodes: pd.DataFrame, option: str) -> Scored:
    scores, _gold, report = load_predictions(path, episodes=episodes)
    ids = pd.Index(episodes["episode_id"])
    pos = ids.get_indexer(scores.episode_ids)
    if (pos < 0).any():
        raise PipelineError(f"{option} {path}: {int((pos < 0).sum())} episode ids are not in the data")
    eps = episodes.iloc[pos].reset_index(drop=True)
    return Scored(eps, scores, gold_labels(eps))


def evaluate_coder(rule: DecisionRule, rep: Scored) -> dict[str, Any]:
    from triage.metrics import evaluate

    return evaluate(rep.predicted, rep.gold, rep.scores, threshold=float(getattr(rule, "threshold_", rule.threshold)))


def fit_confidence(config: RunConfig, rule: DecisionRule, fit: Scored, pol: Scored, rep: Scored):
    """Targets, features and every compared confidence model; returns (router model, features, table, reliability)."""
    cc = config.confidence
    for s in (fit, pol, rep):
        s.correct = correctness(s.predicted, s.gold, target=cc.target, tau=cc.jaccard_tau, episodes=s.episodes)
    if fit.correct.all() or not fit.correct.any():
        raise PipelineError(
            f"confidence step: all {len(fit.correct)} fitting episodes are "
            f"{'correct' if fit.correct.all() else 'incorrect'} under target {cc.target!r}; a confidence model "
            "needs both (try a more lenient --target such as exact3, drg or jaccard)"
        )
    features = RoutingFeatures(threshold=float(getattr(rule, "threshold_", rule.threshold)),
                               n_jobs=cc.n_jobs).fit(fit.scores, fit.episodes)
    for s in (fit, pol, rep):
        s.X = features.transform(s.scores, s.episodes)
    parts = patient_parts(fit.episodes["subject_id"].to_numpy(), (1 - cc.calibration_share, cc.calibration_share),
                          config.seed + 1)
    train_m, cal_m = parts == 0, parts == 1
    for name, m in (("model-fitting", train_m), ("calibration", cal_m)):
        k, n = int(fit.correct[m].sum()), int(m.sum())
        if min(k, n - k) < MIN_CLASS_EPISODES:
            raise PipelineError(
                f"confidence step: the {name} part has {k} correct of {n} episodes under target "
                f"{cc.target!r}; a calibrated confidence model needs at least {MIN_CLASS_EPISODES} of each. "
                "On inpatient-only data almost no code set is exactly right (as on MIMIC): use more episodes, "
                "a more lenient --target (exact3, drg, jaccard) or, on synthetic data, --care-type mixed"
            )
    kinds = list(dict.fromkeys([cc.model, *cc.compare_models, "product", "min-accepted"]))
    models: dict[str, ConfidenceModel] = {}
    for kind in kinds:
        params = cc.params if kind == cc.model else {}
        model = ConfidenceModel(kind=kind, calibration=cc.calibration, random_state=config.seed, **params)
        models[kind] = model.fit(fit.X[train_m], fit.correct[train_m], fit.X[cal_m], fit.correct[cal_m])
    table = compare_models(models, rep.X, rep.correct).reset_index()
    table.insert(1, "calibration", [getattr(models[m], "calibration_", models[m].calibration) for m in table["model"]])
    chosen = models[cc.model]
    pol.p = chosen.predict_proba(pol.X)[:, 1]
    rep.p = chosen.predict_proba(rep.X)[:, 1]
    reliability = pd.concat(
        [reliability_diagram(rep.correct, models[k].predict_proba(rep.X)[:, 1]).assign(model=k) for k in kinds],
        ignore_index=True,
    )
    baselines = {k: models[k].predict_proba(rep.X)[:, 1] for k in ("product", "min-accepted")}
    return chosen, features, table, reliability, baselines


def cost_model(config: RunConfig) -> CostModel:
    c = config.policy.costs
    return CostModel(manual_cost=c.manual_cost, assist_cost=c.assist_cost, error_cost=c.error_cost, unit=c.unit,
                     capacity=c.capacity, period_episodes=c.period_episodes)


def choose_policies(config: RunConfig, pol: Scored, rep: Scored) -> tuple[Policy, pd.DataFrame, dict[str, dict]]:
    """Every policy kind chosen on the policy role and evaluated on the report role."""
    pc = config.policy
    costs = cost_model(config)
    rows, evaluations, chosen = [], {}, None
    for kind in KINDS:
        if kind == "capacity" and costs.capacity is None:
            continue
        policy = choose_policy(kind, pol.p, pol.correct, costs, alpha=pc.alpha, delta=pc.delta,
                               method=pc.method if kind != "chow" else None)
        ev = evaluate_policy(policy, rep.p, rep.correct, costs)
        evaluations[kind] = ev
        rows.append({
            "policy": kind, "kind": kind, "version": policy.version, "feasible": policy.feasible,
            "t_automate": policy.t_automate, "t_assist": policy.t_assist,
            "automation_rate": ev["automation_rate"], "assist_rate": ev.get("assist_rate"),
            "manual_rate": ev.get("manual_rate"), "error_rate": ev.get("automated_error_rate"),
            "error_upper": ev.get("automated_error_upper"), "cost_per_episode": ev["cost_per_episode"],
            "cost_per_episode_all_human": ev["cost_per_episode_all_human"], "note": policy.note,
            "chosen": kind == pc.kind,
        })
        if kind == pc.kind:
            chosen = policy
    if chosen is None:
        raise PipelineError(f"policy step: policy kind {pc.kind!r} needs policy.costs.capacity and period_episodes")
    return chosen, pd.DataFrame(rows), evaluations


def policy_sweep(config: RunConfig, pol: Scored, rep: Scored) -> pd.DataFrame:
    """How the chosen kind's threshold, automation and cost move with alpha and the error cost."""
    pc = config.policy
    base = cost_model(config)
    rows = []
    kind = pc.kind if pc.kind != "capacity" else "guaranteed"
    for alpha in (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.46):
        pol_ = choose_policy(kind, pol.p, pol.correct, base, alpha=alpha, delta=pc.delta,
                             method=pc.method if kind != "chow" else None)
        ev = evaluate_policy(pol_, rep.p, rep.correct, base)
        rows.append({"parameter": "alpha", "value": alpha, **_sweep_row(pol_, ev)})
    for factor in (0.25, 0.5, 1, 2, 4, 8):
        costs = CostModel(**{**base.to_dict(), "error_cost": base.error_cost * factor})
        pol_ = choose_policy("chow", pol.p, pol.correct, costs)
        ev = evaluate_policy(pol_, rep.p, rep.correct, costs)
        rows.append({"parameter": "error_cost", "value": costs.error_cost, **_sweep_row(pol_, ev)})
    return pd.DataFrame(rows)


def _sweep_row(policy: Policy, ev: dict) -> dict:
    return {"kind": policy.kind, "threshold": policy.t_automate, "t_assist": policy.t_assist,
            "automation_rate": ev["automation_rate"], "error_rate": ev.get("automated_error_rate"),
            "cost_per_episode": ev["cost_per_episode"], "feasible": policy.feasible}


def estimate_bounds(config: RunConfig, features: RoutingFeatures, pol: Scored, rep: Scored):
    """Subset bounds (oracle vs realistic) and discovered tractable subsets."""
    from triage.bounds import build_subset_columns, discover_subsets, subset_bounds

    episodes = pd.concat([pol.episodes, rep.episodes], ignore_index=True)
    predicted = pol.predicted + rep.predicted
    p = np.concatenate([pol.p, rep.p])
    correct = np.concatenate([pol.correct, rep.correct])
    is_cal = np.r_[np.ones(len(pol.p), bool), np.zeros(len(rep.p), bool)]
    subsets = build_subset_columns(episodes, predicted)
    bounds = subset_bounds(subsets, p, correct, calibration=is_cal, test=~is_cal, costs=cost_model(config),
                           alpha=config.policy.alpha, delta=config.policy.delta)
    # rules need complete features: a missing value (e.g. no accepted code) becomes its own band
    X = pd.DataFrame(np.vstack([pol.X, rep.X]), columns=features.feature_names_).fillna(MISSING_FEATURE)
    discovered = discover_subsets(X, correct, find=is_cal, confirm=~is_cal, alpha=config.policy.alpha,
                                  delta=config.policy.delta, random_state=config.seed)
    return subsets, bounds, discovered, is_cal, p, correct


# ---------------------------------------------------------------------------------- the run
def run_pipeline(config: RunConfig, console: Console | None = None, log_to_mlflow: bool | None = None,
                 write_report: bool = True) -> RunResult:
    """Run every step; write ``config.out`` (summary, tables, figures, report, router) and log to MLflow."""
    steps = StepTimer(console)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    with steps("data", "Loading episodes"):
        episodes, load_report, source = load_data(config)
        fingerprint = data_fingerprint(episodes)
    from triage.data.summary import dataset_summary

    with steps("summary", "Dataset statistics"):
        data_stats = dataset_summary(episodes)
    with steps("coder", "Coder: training + cross-fitting" if config.coder.predictions is None and config.coder.path
               is None else "Coder: scoring"):
        fit, pol, rep, rule, coder = score_episodes(config, episodes)
    with steps("evaluate", "Evaluating the coder (seed paper metrics)"):
        metrics = evaluate_coder(rule, rep)
    with steps("confidence", "Confidence models + calibration"):
        model, features, conf_table, reliability, baselines = fit_confidence(config, rule, fit, pol, rep)
    with steps("policy", "Routing policies"):
        policy, policies, evaluations = choose_policies(config, pol, rep)
        sweep = policy_sweep(config, pol, rep)
        costs = cost_model(config)
        risk_cov = risk_coverage_curve(rep.p, rep.correct, delta=config.policy.delta)
        cost_cov = cost_coverage_curve(rep.p, rep.correct, costs)
    with steps("bounds", "Upper bounds on subsets"):
        subsets, bounds, discovered, is_cal, p_all, correct_all = estimate_bounds(config, features, pol, rep)

    from triage.allocation import Allocator

    model_version = f"{fingerprint[:8]}-s{config.seed}"
    router = Router(
        decision_rule=rule, features=features, confidence=model, policy=policy,
        p_calibration=np.asarray(pol.p, dtype=np.float64), correct_calibration=np.asarray(pol.correct, dtype=bool),
        icd_version=int(episodes["icd_version"].iloc[0]), target=config.confidence.target,
        model_version=model_version, coder=coder, allocator=Allocator(),
        info={"data_fingerprint": fingerprint, "seed": config.seed},
    )
    summary = build_summary(config, data_stats, metrics, conf_table, policy, evaluations, rep, fingerprint,
                            episodes, fit, pol)
    tables = {
        "dataset_summary": pd.DataFrame([
            {"statistic": k, "value": v, "seed_target": SEED_TARGETS.get(k)} for k, v in data_stats.items()]),
        "coder_metrics": _metrics_table(metrics),
        "coverage": _coverage_table(rep.gold + pol.gold + fit.gold),
        "categories_per_episode": _categories_table(fit.gold + pol.gold + rep.gold),
        "confidence_models": conf_table,
        "reliability": reliability,
        "risk_coverage": risk_cov,
        "cost_coverage": cost_cov,
        "policies": policies,
        "policy_sweep": sweep,
        "bounds": bounds,
        "discovered_subsets": pd.DataFrame(discovered),
        "test_episodes": pd.concat([
            pd.DataFrame({
                "episode_id": np.concatenate([pol.scores.episode_ids, rep.scores.episode_ids]),
                "role": np.where(is_cal, "calibration", "test"),
                "p_correct": p_all, "correct": correct_all,
                "route": policy.route(p_all),
                "n_codes": [len(x) for x in pol.predicted + rep.predicted],
                "product_p": np.concatenate([np.full(len(pol.p), np.nan), baselines["product"]]),
            }),
            subsets.reset_index(drop=True),
        ], axis=1),
    }
    result = RunResult(config=config_to_dict(config), summary=summary, tables=tables, timings=steps.timings,
                       out_dir=out)
    with steps("router", "Saving the router bundle"):
        result.router_dir = router.save(out / "router")
        export = Path(config.export_dir)
        if export.resolve() != result.router_dir.resolve():
            if export.exists():
                shutil.rmtree(export)
            shutil.copytree(result.router_dir, export)
        summary["router_dir"] = str(result.router_dir)
        summary["exported_router_dir"] = str(export)
    write_outputs(result, out)
    if write_report:
        with steps("report", "Writing the report"):
            from triage.report import write_report as _write_report

            summary["report"] = str(_write_report(result, out))
    if log_to_mlflow if log_to_mlflow is not None else config.tracking.enabled:
        with steps("tracking", "Logging to MLflow"):
            from triage.tracking import log_run

            info = log_run(result, tracking_uri=config.tracking.uri, experiment=config.tracking.experiment,
                           promote=config.tracking.promote)
            summary.update(mlflow_run_id=info.run_id, registered_version=info.model_version,
                           promoted=info.promoted)
    summary["timings_seconds"] = {k: round(v, 2) for k, v in steps.timings.items()}
    (out / "run_summary.json").write_text(json.dumps(finite_json(summary), indent=2, default=_json_default))
    result.summary = summary
    return result


def write_outputs(result: RunResult, out: Path) -> None:
    """run_summary.json and tables/ (parquet + CSV)."""
    tdir = out / "tables"
    tdir.mkdir(parents=True, exist_ok=True)
    for name, frame in result.tables.items():
        frame = frame.copy()
        for col in frame.columns:
            if frame[col].dtype == object:
                frame[col] = frame[col].map(lambda v: v if v is None or isinstance(v, (str, int, float, bool))
                                            else json.dumps(v, default=_json_default))
        frame.to_parquet(tdir / f"{name}.parquet", index=False)
        frame.to_csv(tdir / f"{name}.csv", index=False)
    (out / "run_summary.json").write_text(json.dumps(finite_json(result.summary), indent=2, default=_json_default))


def build_summary(config, data_stats, metrics, conf_table, policy, evaluations, rep, fingerprint, episodes,
                  fit, pol) -> dict[str, Any]:
    """The flat summary: core-router keys (issue: `triage route --json`) + evaluation keys + data keys."""
    from triage.confidence.evaluation import aurc, eaurc, evaluate as conf_eval

    ev = evaluations[policy.kind]
    ce = conf_eval(rep.correct, rep.p)
    row = {m: r for m, r in zip(conf_table["model"], conf_table.to_dict("records"))}
    all_human = ev["cost_per_episode_all_human"]
    summary: dict[str, Any] = {
        "target": config.confidence.target,
        "alpha": config.policy.alpha,
        "delta": config.policy.delta,
        "policy_kind": policy.kind,
        "policy_version": policy.version,
        "policy_feasible": policy.feasible,
        "threshold": policy.t_automate if np.isfinite(policy.t_automate) else None,
        "t_assist": policy.t_assist,
        "automation_rate": ev["automation_rate"],
        "assist_rate": ev.get("assist_rate"),
        "manual_rate": ev.get("manual_rate"),
        "n_automated": ev.get("n_automated"),
        "automated_error_rate": ev.get("automated_error_rate"),
        "automated_error_upper": ev.get("automated_error_upper"),
        "oracle_automation_rate": float(np.mean(rep.correct)),
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
        "cost_per_episode": ev["cost_per_episode"],
        "cost_per_episode_all_human": all_human,
        "cost_saving_share": (1 - ev["cost_per_episode"] / all_human) if all_human else None,
        "cost_unit": config.policy.costs.unit,
        "data_fingerprint": fingerprint,
        "n_episodes": int(len(episodes)),
        "n_fitting": int(len(fit.episodes)),
        "n_calibration": int(len(pol.episodes)),
        "n_test": int(len(rep.episodes)),
    }
    # The coder's metrics share names with routing keys ("threshold" is the coder's decision threshold,
    # "n_episodes" the test count): they must not overwrite the policy threshold or the cohort size.
    renamed = {"threshold": "coder_threshold", "n_episodes": "n_evaluated"}
    for k, v in metrics.items():
        if k != "ci" and (v is None or isinstance(v, (int, float, np.integer, np.floating))):
            summary[renamed.get(k, k)] = None if v is None else float(v)
    for k, v in data_stats.items():
        if isinstance(v, (int, float, np.integer, np.floating)):
            summary[f"data_{k}"] = float(v)
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
