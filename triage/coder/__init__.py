"""Automated coders: the code-score container, the baseline text coder, the decision rule
and bring-your-own predictions. Names load on first use (the text coder imports torch)."""

from __future__ import annotations

from triage._lazy import lazy_exports

_EXPORTS = {
    "CodeScores": "scores",
    "DecisionRule": "decision",
    "PredictionsReport": "predictions",
    "load_predictions": "predictions",
    "TextCoder": "text",
    "patient_folds": "triage.data.split",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
