"""Assisted coding and code audit (seed paper section 4): suggestions with certified pre-filled
codes, partial codes, a simulated sequential coder, an offline auditor with MS-DRG impact, and
simulated human coding to measure it.

Modules, one job each: ``precision`` (certified code-level precision), ``ontology`` (review
groups), ``suggestions`` (the recall task and the fitted :class:`Assistant`), ``partial`` (the
structural task), ``sequential`` (the sequential task), ``audit`` (flags), ``human_coding``
(simulated coder errors), ``evaluation`` (the run's tables: :func:`evaluate_assistance`),
``batch_audit`` (``triage audit``'s steps: certify flags, audit a coded batch, its summary).
"""

from triage.assist.audit import Auditor, flag_candidates
from triage.assist.batch_audit import BatchAudit, audit_coded_batch, certify_flags
from triage.assist.evaluation import (
    AssistanceTables,
    AssistSettings,
    assistance_tables,
    evaluate_assistance,
)
from triage.assist.human_coding import simulate_human_coding
from triage.assist.precision import PrecisionThreshold, certify_precision
from triage.assist.sequential import CompanionModel, simulate_sequential
from triage.assist.suggestions import Assistant, calibrate_assistant

__all__ = [
    "AssistSettings",
    "AssistanceTables",
    "Assistant",
    "Auditor",
    "BatchAudit",
    "CompanionModel",
    "PrecisionThreshold",
    "assistance_tables",
    "audit_coded_batch",
    "calibrate_assistant",
    "certify_flags",
    "certify_precision",
    "evaluate_assistance",
    "flag_candidates",
    "simulate_human_coding",
    "simulate_sequential",
]
