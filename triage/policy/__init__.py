"""Cost model, routing policies with finite-sample guarantees, risk/cost-coverage curves."""

from triage.policy.costs import CostModel
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
    chow_thresholds,
    choose_policy,
    evaluate_policy,
)

__all__ = [
    "CostModel", "Policy", "KINDS", "InfeasiblePolicyError", "choose_policy", "evaluate_policy",
    "chow_thresholds", "risk_coverage_curve", "cost_coverage_curve", "aurc",
    "clopper_pearson_upper", "clopper_pearson_interval", "binomial_p_values",
    "sgr_threshold", "ltt_threshold", "ltt_valid",
    "HUMAN_INSTANCE_ACCURACY_UK_STUDY", "HUMAN_INSTANCE_ACCURACY_UK_HOSPITAL",
    "HUMAN_CODE_ACCURACY_UK_MEDIAN", "HUMAN_INSTANCE_ACCURACY", "HUMAN_REFERENCE_LINES",
    "human_parity_alpha",
]
