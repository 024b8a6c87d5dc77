"""Code systems: the shared label spelling, ICD-10-CM/PCS, ICD-9, MS-DRG and Elixhauser.

Heavy tables (simple-icd-10-cm, PCS descriptions, drgpy, AHRQ Elixhauser) load on first use.
"""

from triage.codes.labels import (
    LEVELS,
    canonical,
    episode_labels,
    label_kind,
    standard_spelling,
    to_label,
    truncate_label,
    truncate_labels,
)
from triage.codes.normalize import (
    UnknownCode,
    describe_label,
    label_exists,
    lookup_label,
    normalize_label,
)

__all__ = [
    "LEVELS",
    "UnknownCode",
    "canonical",
    "describe_label",
    "episode_labels",
    "label_exists",
    "label_kind",
    "lookup_label",
    "normalize_label",
    "standard_spelling",
    "to_label",
    "truncate_label",
    "truncate_labels",
]
