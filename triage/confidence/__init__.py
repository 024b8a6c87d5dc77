"""Confidence that an automated code list is correct: targets, features, models, evaluation.

Names load on first use, so reading a constant of one module (``triage.config`` takes the model
kinds and targets) does not import the feature code, and with it the coder and torch.
"""

from __future__ import annotations

from triage._lazy import lazy_exports

_EXPORTS = {
    "compare_models": "evaluation",
    "evaluate": "evaluation",
    "FEATURE_NAMES": "features",
    "RoutingFeatures": "features",
    "RoutingInput": "features",
    "ConfidenceModel": "models",
    "correctness": "targets",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
