"""Automated coders: the code-score container, the baseline text coder, the decision rule
and bring-your-own predictions."""

from triage.coder.decision import DecisionRule
from triage.coder.predictions import PredictionsReport, load_predictions
from triage.coder.scores import CodeScores
from triage.coder.text import TextCoder, patient_folds

__all__ = [
    "CodeScores",
    "DecisionRule",
    "PredictionsReport",
    "TextCoder",
    "load_predictions",
    "patient_folds",
]
