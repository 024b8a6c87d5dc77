"""The embedded default: a synthetic cohort in the MIMIC-IV layout, faithful to the seed paper."""

from triage.synth.cohort import CARE_TYPES, CohortParams, sample_coded_cohort
from triage.synth.fidelity import TARGETS, fidelity_report
from triage.synth.generate import GENERATOR_VERSION, MIMIC4_COLUMNS, SynthResult, generate, synthesize_episodes
from triage.synth.notes import NoteParams

__all__ = [
    "CARE_TYPES", "CohortParams", "GENERATOR_VERSION", "MIMIC4_COLUMNS", "NoteParams", "SynthResult", "TARGETS",
    "fidelity_report", "generate", "sample_coded_cohort", "synthesize_episodes",
]
