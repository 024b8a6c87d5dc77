"""Confidence that an automated code list is correct: targets, features, models, evaluation."""

from triage.confidence.evaluation import compare_models, evaluate
from triage.confidence.features import FEATURE_NAMES, RoutingFeatures
from triage.confidence.models import ConfidenceModel
from triage.confidence.targets import correctness

__all__ = [
    "FEATURE_NAMES",
    "ConfidenceModel",
    "RoutingFeatures",
    "compare_models",
    "correctness",
    "evaluate",
]
