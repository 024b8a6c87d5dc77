"""Cost model, routing policies with finite-sample guarantees, risk/cost-coverage curves."""

from triage.policy.costs import CostModel, drg_weight_gap
from triage.policy.curves import aurc, cost_coverage_curve, risk_coverage_curve
from triage.policy.guarantees import (
    binomial_p_values,
    clopper_pearson_interval,
    clopper_pearson_upper,
    ltt_threshold,
    ltt_valid,
    sgr_threshold,
)
from triage.policy.human import (
    HUMAN_CODE_ACCURACY_UK_MEDIAN,
    HUMAN_INSTANCE_ACCURACY,
    HUMAN_INSTANCE_ACCURACY_UK_HOSPITAL,
    HUMAN_INSTANCE_ACCURACY_UK_STUDY,
    HUMAN_REFERENCE_LINES,
    human_parity_alpha,
)
from triage.policy.policies import (
    KINDS,
    InfeasiblePolicyError,
    Policy,
    choose_policy,
    chow_thresholds,
    evaluate_policy,
)

__all__ = [
    "HUMAN_CODE_ACCURACY_UK_MEDIAN",
    "HUMAN_INSTANCE_ACCURACY",
    "HUMAN_INSTANCE_ACCURACY_UK_HOSPITAL",
    "HUMAN_INSTANCE_ACCURACY_UK_STUDY",
    "HUMAN_REFERENCE_LINES",
    "KINDS",
    "CostModel",
    "InfeasiblePolicyError",
    "Policy",
    "aurc",
    "binomial_p_values",
    "choose_policy",
    "chow_thresholds",
    "clopper_pearson_interval",
    "clopper_pearson_upper",
    "cost_coverage_curve",
    "drg_weight_gap",
    "evaluate_policy",
    "human_parity_alpha",
    "ltt_threshold",
    "ltt_valid",
    "risk_coverage_curve",
    "sgr_threshold",
]
