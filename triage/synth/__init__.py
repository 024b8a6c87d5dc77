"""The embedded default: a synthetic cohort in the MIMIC-IV layout, faithful to the seed paper."""

from triage.synth.cohort import CohortParams, sample_coded_cohort
from triage.synth.daycase import DAY_CASE_TYPES, DayCaseNoteParams
from triage.synth.fidelity import TARGETS, fidelity_report
from triage.synth.generate import GENERATOR_VERSION, MIMIC4_COLUMNS, SynthResult, generate, synthesize_episodes
from triage.synth.notes import NoteParams
from triage.synth.workload import DEFAULT_WORKLOAD, WORKLOAD_PRESETS, Workload, parse_workload

__all__ = [
    "CohortParams", "DAY_CASE_TYPES", "DEFAULT_WORKLOAD", "DayCaseNoteParams", "GENERATOR_VERSION",
    "MIMIC4_COLUMNS", "NoteParams", "SynthResult", "TARGETS", "WORKLOAD_PRESETS", "Workload",
    "fidelity_report", "generate", "parse_workload", "sample_coded_cohort", "synthesize_episodes",
]
