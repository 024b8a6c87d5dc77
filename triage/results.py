"""What one `triage run` produces: the contract between the pipeline, the report, MLflow and notebooks.

The pipeline fills a :class:`RunResult`; the report renders it, tracking logs it, and the
notebooks read the same tables back from the MLflow run's artifacts (``tables/<name>.parquet``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

#: Tables every run writes under ``tables/`` (parquet, plus CSV for spreadsheet users).
TABLE_NAMES = (
    "dataset_summary",     # statistic, value, seed_target (seed paper Table 4 / Figure 2-4 figures)
    "coder_metrics",       # metric, value, ci_low, ci_high (seed Table 2 + reference-pipeline table)
    "coder_metrics_by_setting",  # setting, share, n_test, f1_micro, exact_match, jaccard
    "coverage",            # top_k, occurrence_share, episode_any, episode_full, principal_* (seed Fig. 2-3)
    "categories_per_episode",  # n_categories, share (seed Fig. 4)
    "confidence_models",   # model, calibration, ece, ece_equal_mass, brier, log_loss, auroc, auprc, aurc, eaurc, ...
    "confidence_check",    # episodes (top k / automated), n, predicted_error, observed_error, observed_lower/upper
    "reliability",         # bin, count, p_min, p_max, mean_confidence, share_correct, ..., model
    "risk_coverage",       # threshold, n_automated, errors, coverage, risk, risk_upper
    "cost_coverage",       # threshold, coverage, cost_per_episode, ...
    "policies",            # policy, kind, version, feasible, t_automate, t_assist, per_setting,
                           # thresholds_by_setting ("setting: automate p >= t, assist p >= t; ..."), automation_rate,
                           # assist_rate, manual_rate, error_rate, test_error_lower/upper, guarantee, cost_per_episode,
                           # saving_from_automation_per_episode, saving_from_assist_per_episode, note, chosen
    "policy_sweep",        # parameter, value, kind, threshold, t_assist, automation_rate, error_rate, cost_per_episode
    "automation_by_target",  # target, method, alpha, delta, setting, share, n_test, correct_rate,
                           # guaranteed_automation, automation_lower/upper, oracle_at_alpha, oracle_zero_error,
                           # ratio_to_oracle, n_automated, test_error, test_error_lower/upper, guarantee, feasible,
                           # saving_from_automation_per_episode, certified_saving_per_episode (with the automation
                           # share's lower 95% limit), note, reason (why nothing is automated), auroc, ece,
                           # top_k, top_k_predicted_error, top_k_observed_error[_lower|_upper], headline
    "unseen_drg_moves",    # setting, n, unseen_code_share, n_grouped, unseen_drg_move_share[_lower|_upper], below:
                           # MS-DRGs moved by gold codes the coder scored < below (policy + test parts)
    "settings",            # setting, share, n_test, f1_micro, exact_match, jaccard, guaranteed_automation_aNN,
                           # oracle_aNN, test_error[_lower|_upper]_aNN, feasible_aNN, certified_saving_aNN, policy_*
    "evidence",            # setting, policy_share_of_pool, delta_setting, delta_per_test, error_free_needed,
                           # automated_needed, expected_correct_rate, episodes_needed, episodes_available, enough
    "bounds",              # subset, value, alpha, delta, kind ("routable"), delta_row, n_calibration, n_test, share,
                           # exact_match_rate/_lower/_upper, oracle_automation_rate (at alpha), oracle_zero_error_rate,
                           # threshold, feasible, realistic_automation_rate/_lower/_upper, automated_error_rate,
                           # test_error_lower/upper, guarantee, cost_per_episode, cost_saving_per_episode, note
    "diagnostic_subsets",  # the same columns for gold-defined subsets (kind "diagnostic"; no joint guarantee)
    "discovered_subsets",  # alpha, delta, leaf, rule, share_find, error_find, upper_find, share_confirm, n_confirm,
                           # errors_confirm, error_confirm, candidate, upper_confirm, confirmed
    "test_episodes",       # episode_id, role ("calibration" = policy-choice episodes, "test"), care_setting,
                           # p_correct, correct, route, n_codes, product_p, subset columns
)


@dataclass
class RunResult:
    """Everything a run measured. ``summary`` is flat: it becomes run_summary.json and MLflow metrics."""

    config: dict[str, Any]
    summary: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    router_dir: Path | None = None
    out_dir: Path | None = None


def write_tables(tables: dict[str, pd.DataFrame], out_dir: str | Path) -> dict[str, Path]:
    """``out_dir/<name>.parquet`` and ``.csv`` for each table; returns the parquet paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, table in tables.items():
        if not isinstance(table, pd.DataFrame):
            raise TypeError(f"table {name!r} must be a pandas DataFrame, got {type(table).__name__}")
        frame = table.copy()
        # parquet needs string column names and one type per object column
        frame.columns = [str(c) for c in frame.columns]
        for col in frame.columns[frame.dtypes.eq(object)]:
            if frame[col].map(lambda v: isinstance(v, (list, dict, tuple, set))).any():
                frame[col] = frame[col].map(lambda v: v if not isinstance(v, set) else sorted(v))
            elif not frame[col].map(lambda v: v is None or isinstance(v, str)).all():
                frame[col] = frame[col].map(lambda v: None if v is None else str(v))
        path = out_dir / f"{name}.parquet"
        frame.to_parquet(path, index=False)
        frame.to_csv(out_dir / f"{name}.csv", index=False)
        paths[name] = path
    return paths
