"""`triage run`: data -> coder -> evaluation -> confidence -> policies -> bounds -> assistance -> router.

One module per job: ``roles`` (which episodes play which part: fitting, probability calibration,
policy, test), ``steps`` (every other step, each returning a frozen result), ``summary`` (the flat
run summary), ``headline`` (its prose), ``tables`` (the tables a run writes) and ``run``
(:func:`run_pipeline`, the list of steps). The names below are the ones other code imports.
"""
from __future__ import annotations

from triage.pipeline.headline import headline, threshold_text, thresholds_by_setting
from triage.pipeline.roles import (
    CoderScoring,
    Parts,
    PipelineError,
    PoolSplit,
    Scored,
    patient_parts,
    rates_by_setting,
    run_targets,
    score_episodes,
    split_pool,
)
from triage.pipeline.run import run_pipeline
from triage.pipeline.steps import (
    MIN_CLASS_EPISODES,
    MISSING_FEATURE,
    AssistResult,
    Bounds,
    CoderEvaluation,
    ConfidenceFits,
    Confidences,
    LoadedData,
    PolicyChoice,
    RunSteps,
    SweepPoint,
    TargetFit,
    TrainedConfidence,
    automation_by_target,
    build_router,
    choose_policies,
    coder_metrics_by_setting,
    cost_model,
    data_fingerprint,
    estimate_bounds,
    evaluate_assist,
    evaluate_coder,
    fit_confidence,
    fit_target,
    load_data,
    policy_reference,
    policy_sweep,
    synthetic_cohort_dir,
    train_confidence,
)
from triage.pipeline.summary import build_summary, write_summary
from triage.pipeline.tables import confidence_check, run_tables, settings_table

__all__ = [
    "MIN_CLASS_EPISODES", "MISSING_FEATURE", "AssistResult", "Bounds", "CoderEvaluation", "CoderScoring",
    "ConfidenceFits", "Confidences", "LoadedData", "Parts", "PipelineError", "PolicyChoice", "PoolSplit",
    "RunSteps", "Scored", "SweepPoint", "TargetFit", "TrainedConfidence", "automation_by_target", "build_router",
    "build_summary", "choose_policies", "coder_metrics_by_setting", "confidence_check", "cost_model",
    "data_fingerprint", "estimate_bounds", "evaluate_assist", "evaluate_coder", "fit_confidence", "fit_target",
    "headline", "load_data", "patient_parts", "policy_reference", "policy_sweep", "rates_by_setting", "run_pipeline",
    "run_tables", "run_targets", "score_episodes", "settings_table", "split_pool", "synthetic_cohort_dir",
    "threshold_text", "thresholds_by_setting", "train_confidence", "write_summary",
]
