"""coding-triage: decide which hospital episodes an automated ICD coder may code on its own.

The handful of objects a notebook needs, importable from the package itself
(``from triage import Router, evaluate``). Each is imported on first use, so ``import triage``
stays cheap (no torch, LightGBM or MLflow until a name that needs them is touched).
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> the module that defines it (its one home)
_EXPORTS: dict[str, str] = {
    # data
    "load_episodes": "triage.data",
    "gold_labels": "triage.data",
    "synthesize_episodes": "triage.synth",
    # coder
    "TextCoder": "triage.coder",
    "DecisionRule": "triage.coder",
    "CodeScores": "triage.coder",
    "load_predictions": "triage.coder",
    # metrics
    "evaluate": "triage.metrics",
    # confidence
    "correctness": "triage.confidence",
    "RoutingFeatures": "triage.confidence",
    "ConfidenceModel": "triage.confidence",
    # policy: the cost model, the policy estimators (one per kind) and the factory from settings
    "CostModel": "triage.policy",
    "make_policy": "triage.policy",
    "GuaranteedPolicy": "triage.policy",
    "ThreeWayPolicy": "triage.policy",
    "ChowPolicy": "triage.policy",
    "CapacityPolicy": "triage.policy",
    "HumanParityPolicy": "triage.policy",
    "evaluate_policy": "triage.policy",
    # bounds and the deployable router
    "subset_bounds": "triage.bounds",
    "Router": "triage.router",
    # a logged run, back in a notebook
    "load_run_result": "triage.tracking",
}

__all__ = [
    "CapacityPolicy",
    "ChowPolicy",
    "CodeScores",
    "ConfidenceModel",
    "CostModel",
    "DecisionRule",
    "GuaranteedPolicy",
    "HumanParityPolicy",
    "Router",
    "RoutingFeatures",
    "TextCoder",
    "ThreeWayPolicy",
    "correctness",
    "evaluate",
    "evaluate_policy",
    "gold_labels",
    "load_episodes",
    "load_predictions",
    "load_run_result",
    "make_policy",
    "subset_bounds",
    "synthesize_episodes",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'triage' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
