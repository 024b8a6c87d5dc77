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
    "coverage",            # top_k, occurrence_share, episode_any, episode_full, principal_* (seed Fig. 2-3)
    "categories_per_episode",  # n_categories, share (seed Fig. 4)
    "confidence_models",   # model, calibration, ece, ece_mass, brier, log_loss, auroc, auprc, aurc, eaurc
    "reliability",         # model, bin, p_mean, observed, count
    "risk_coverage",       # coverage, risk, threshold
    "cost_coverage",       # coverage, cost_per_episode, threshold
    "policies",            # policy, kind, t_automate, t_assist, automation_rate, error_rate, error_upper, cost_per_episode, ...
    "policy_sweep",        # parameter, value, threshold, automation_rate, error_rate, cost_per_episode
    "bounds",              # subset_family, subset, share, n, exact_match, ci_low, ci_high, realistic_automation, cost_saving
    "discovered_subsets",  # rule, share_found, error_found, upper_found, share_confirmed, error_confirmed, upper_confirmed
    "test_episodes",       # episode_id, role ("calibration" = policy-choice episodes, "test"), p_correct,
                           # correct, route, n_codes, subset columns: what notebooks recompute policies from
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
