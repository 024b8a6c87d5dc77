"""coding-triage: decide which hospital episodes an automated ICD coder may code on its own.

The handful of objects a notebook needs, importable from the package itself
(``from triage import Router, evaluate``). Each is imported on first use, so ``import triage``
stays cheap (no torch, LightGBM or MLflow until a name that needs them is touched).
"""

from __future__ import annotations

from triage._lazy import lazy_exports

#: public name -> the module that defines it (its one home)
_EXPORTS: dict[str, str] = {
    # data
    "load_episodes": "triage.data",
    "gold_labels": "triage.data",
    "patient_split": "triage.data",
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
    "RoutingInput": "triage.confidence",
    "ConfidenceModel": "triage.confidence",
    # policy: the cost model, the policy estimators (one per kind), the factory, the record
    "CostModel": "triage.policy",
    "make_policy": "triage.policy",
    "GuaranteedPolicy": "triage.policy",
    "ThreeWayPolicy": "triage.policy",
    "ChowPolicy": "triage.policy",
    "CapacityPolicy": "triage.policy",
    "HumanParityPolicy": "triage.policy",
    "Policy": "triage.policy",
    "evaluate_policy": "triage.policy",
    # bounds and the deployable router
    "subset_bounds": "triage.bounds",
    "Router": "triage.router",
    # the guarantee in operation
    "RiskWatch": "triage.operation",
    # a run: its configuration, the pipeline, and a logged run back in a notebook
    "RunConfig": "triage.config",
    "run_pipeline": "triage.pipeline",
    "load_run_result": "triage.tracking",
    "load_latest_run": "triage.tracking",
    "run_table": "triage.tracking",
}

__all__ = sorted(_EXPORTS)

__getattr__, _dir = lazy_exports("triage", _EXPORTS)


def __dir__() -> list[str]:
    """The public names only (no typing or import helpers)."""
    return sorted(set(__all__) | {n for n in _dir() if n.startswith("__")})
