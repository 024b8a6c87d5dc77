"""The run's flat summary (run_summary.json and the MLflow metrics), built from the steps' results."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from triage.config import RunConfig
from triage.jsonsafe import dumps
from triage.pipeline.headline import headline
from triage.pipeline.steps import RunSteps, cost_model, headline_method
from triage.policy.policies import oracle_automation_at
from triage.results import RunResult

#: The coder's metrics share names with routing keys ("threshold" is the coder's decision threshold,
#: "n_episodes" the test count): they must not overwrite the policy threshold or the cohort size.
CODER_KEY_RENAMES = {"threshold": "coder_threshold", "n_episodes": "n_evaluated"}


def build_summary(config: RunConfig, steps: RunSteps) -> dict[str, Any]:
    """The flat summary: the headline, core-router keys, per-target/setting figures, evaluation and data keys."""
    from triage.confidence.evaluation import aurc, eaurc
    from triage.confidence.evaluation import evaluate as conf_eval
    from triage.policy.automation import certified_saving

    pc = config.policy
    costs = cost_model(config)
    policy, ev = steps.choice.policy, steps.choice.evaluation
    test = steps.confidence.on("test")
    head_fit = steps.confidence.headline
    parts = steps.parts
    ce = conf_eval(test.correct, test.p)
    conf_table = steps.confidence.comparison
    row = {m: r for m, r in zip(conf_table["model"], conf_table.to_dict("records"))}
    all_human = ev["cost_per_episode_all_human"]
    guarantee = ev.get("automated_error_guarantee")
    correct_rate = float(np.mean(test.correct))
    summary: dict[str, Any] = {
        "target": config.confidence.target,
        "alpha": pc.alpha,
        "delta": pc.delta,
        "method": headline_method(config),
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
        "aurc": aurc(test.correct, test.p),
        "eaurc": eaurc(test.correct, test.p),
        "baseline_product_aurc": float(row["product"]["aurc"]),
        "baseline_min_accepted_aurc": float(row["min-accepted"]["aurc"]),
        "confidence_model": head_fit.kind,
        "confidence_note": head_fit.note,
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
        "data_fingerprint": steps.data.fingerprint,
        "n_episodes": len(steps.data.episodes),
        # the parts' sizes under the names readers know: "calibration" is the policy part
        "n_fitting": len(parts.fitting.episodes),
        "n_probability_calibration": len(parts.probability_calibration.episodes),
        "n_calibration": len(parts.policy.episodes),
        "n_test": len(parts.test.episodes),
        "dropped_codes_other_version": (steps.data.report or {}).get("dropped_codes_other_version"),
    }
    if policy.group_by is not None:
        summary["automation_by_setting"] = {k: g["automation_rate"] for k, g in ev.get("by_group", {}).items()}
        summary["guaranteed_settings"] = sorted(k for k, g in policy.groups.items() if g["feasible"])
        summary["t_automate_by_setting"] = {k: (float(g["t_automate"]) if np.isfinite(g["t_automate"]) else None)
                                            for k, g in policy.groups.items()}
    summary["automation_by_target"] = automation_by_target(config, steps.automation)
    summary["quality_by_setting"] = quality_by_setting(config, steps.automation)
    summary["evidence_short"] = evidence_short(steps.split.evidence)
    for k, v in steps.evaluation.metrics.items():
        if k != "ci" and (v is None or isinstance(v, (int, float, np.integer, np.floating))):
            summary[CODER_KEY_RENAMES.get(k, k)] = None if v is None else float(v)
    for k, v in steps.statistics.items():
        if isinstance(v, (int, float, np.integer, np.floating)):
            summary[f"data_{k}"] = float(v)
    summary["headline"] = headline(summary)
    return summary


def automation_by_target(config: RunConfig, automation: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per target, at the run's alpha and method, over all settings: guaranteed automation, oracle,
    test error and certified saving."""
    head = automation[(automation["method"] == headline_method(config)) & (automation["alpha"] == config.policy.alpha)
                      & (automation["setting"] == "all")]
    return {
        r["target"]: {"guaranteed_automation": r["guaranteed_automation"], "oracle_at_alpha": r["oracle_at_alpha"],
                      "test_error": r["test_error"], "certified_saving_per_episode": r["certified_saving_per_episode"]}
        for r in head.to_dict("records")}


def quality_by_setting(config: RunConfig, automation: pd.DataFrame) -> dict[str, Any]:
    """Per care setting, the headline target's ranking quality on test and, where nothing is
    automated, why (too little evidence, or errors at the top of the ranking), at every reported alpha."""
    head_all = automation[(automation["method"] == headline_method(config))
                          & (automation["target"] == config.confidence.target)]
    quality: dict[str, Any] = {}
    for r in head_all.sort_values(["setting", "alpha"]).to_dict("records"):
        q = quality.setdefault(r["setting"], {
            k: r.get(k) for k in ("auroc", "ece", "top_k", "top_k_predicted_error", "top_k_observed_error",
                                  "top_k_observed_lower", "top_k_observed_upper")})
        q[f"alpha_{r['alpha']:g}"] = {"guaranteed_automation": r["guaranteed_automation"],
                                      "oracle_at_alpha": r["oracle_at_alpha"], "reason": r.get("reason") or None}
    return quality


def evidence_short(evidence: pd.DataFrame) -> dict[str, str]:
    """The settings without enough policy episodes for the guarantee, and what each needs."""
    short = evidence[~evidence["enough"]]
    return {
        r["setting"]: (f"needs ~{int(r['episodes_needed']):,} policy episodes, has {int(r['episodes_available']):,}"
                       if pd.notna(r["episodes_needed"]) else
                       f"no correct episode of this setting in the fitting part: it cannot be planned "
                       f"(has {int(r['episodes_available']):,} policy episodes)")
        for r in short.to_dict("records")}


def write_summary(result: RunResult, out: Path) -> None:
    """run_summary.json (strict JSON), once, when the summary is complete."""
    (out / "run_summary.json").write_text(dumps(result.summary, indent=2))
