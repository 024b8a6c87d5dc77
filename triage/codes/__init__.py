"""Code systems: the shared label spelling, ICD-10-CM/PCS, ICD-9, MS-DRG and Elixhauser.

Heavy tables (simple-icd-10-cm, PCS descriptions, drgpy, AHRQ Elixhauser) load on first use.
"""

from triage.codes.labels import (
    LEVELS,
    canonical,
    episode_labels,
    label_kind,
    to_label,
    truncate_label,
    truncate_labels,
)
from triage.codes.normalize import describe_label, normalize_label

__all__ = [
    "LEVELS",
    "canonical",
    "describe_label",
    "episode_labels",
    "label_kind",
    "normalize_label",
    "to_label",
    "truncate_label",
    "truncate_labels",
]
