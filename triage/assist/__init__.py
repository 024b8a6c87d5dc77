"""Assisted coding and code audit (seed paper section 4): suggestions with certified pre-filled
codes, partial codes, a simulated sequential coder, an offline auditor with MS-DRG impact, and
simulated human coding to measure it.

Modules, one job each: ``precision`` (certified code-level precision), ``ontology`` (review
groups), ``suggestions`` (the recall task and the fitted :class:`Assistant`), ``partial`` (the
structural task), ``sequential`` (the sequential task), ``audit`` (flags), ``human_coding``
(simulated coder errors), ``evaluation`` (the run's tables: :func:`evaluate_assistance`).
"""

from triage.assist.audit import Auditor, flag_candidates
from triage.assist.evaluation import evaluate_assistance
from triage.assist.human_coding import simulate_human_coding
from triage.assist.precision import PrecisionThreshold, certify_precision
from triage.assist.sequential import CompanionModel, simulate_sequential
from triage.assist.suggestions import Assistant, calibrate_assistant

__all__ = [
    "Assistant",
    "Auditor",
    "CompanionModel",
    "PrecisionThreshold",
    "calibrate_assistant",
    "certify_precision",
    "evaluate_assistance",
    "flag_candidates",
    "simulate_human_coding",
    "simulate_sequential",
]
