"""Care settings: which part of a coding department's workload an episode belongs to.

The setting is routing information (issue 13): a day case, an observation stay and an emergency
inpatient admission differ in how many codes they carry and how hard they are to code, so the
router holds a separate threshold per setting. It is derived from ``admission_type`` only, which
the hospital knows before any code is assigned, and **never from the codes** (that would leak the
answer into the routing decision).

Mapping (MIMIC-IV v2.2+ ``hosp/admissions.admission_type`` and MIMIC-III ``ADMISSIONS.ADMISSION_TYPE``):

============================  ===========  ====================================================
admission_type                setting      why
============================  ===========  ====================================================
EU OBSERVATION                observation  MIMIC-IV: observation stay from the emergency unit
OBSERVATION ADMIT             observation  MIMIC-IV: admitted under observation status
DIRECT OBSERVATION            observation  MIMIC-IV: observation without an ED visit
AMBULATORY OBSERVATION        day_case     MIMIC-IV: same-day ambulatory care (procedure units)
EW EMER. / DIRECT EMER.       inpatient    MIMIC-IV: emergency admissions
URGENT / ELECTIVE             inpatient    MIMIC-IV and MIMIC-III
SURGICAL SAME DAY ADMISSION   inpatient    MIMIC-IV: admitted on the day of surgery and staying
EMERGENCY / NEWBORN           inpatient    MIMIC-III
============================  ===========  ====================================================

A missing, empty or unknown ``admission_type`` maps to ``inpatient``: both MIMIC releases are
hospital admissions, the reference pipeline's files carry no admission type at all, and the
inpatient setting is the hardest one, so an episode of unknown setting is never routed under the
more lenient threshold of a simpler setting. Matching ignores case and repeated/edge spaces.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

CARE_SETTINGS: tuple[str, ...] = ("inpatient", "observation", "day_case")

#: The setting of an episode whose admission type is missing or not in the mapping.
DEFAULT_SETTING = "inpatient"

#: Normalised (upper-case, single-spaced) admission type -> care setting.
ADMISSION_TYPE_SETTINGS: dict[str, str] = {
    # MIMIC-IV
    "EU OBSERVATION": "observation",
    "OBSERVATION ADMIT": "observation",
    "DIRECT OBSERVATION": "observation",
    "AMBULATORY OBSERVATION": "day_case",
    "EW EMER.": "inpatient",
    "DIRECT EMER.": "inpatient",
    "URGENT": "inpatient",
    "ELECTIVE": "inpatient",
    "SURGICAL SAME DAY ADMISSION": "inpatient",
    # MIMIC-III
    "EMERGENCY": "inpatient",
    "NEWBORN": "inpatient",
}


def _normalise(admission_type: Any) -> str | None:
    if admission_type is None or admission_type is pd.NA:
        return None
    if isinstance(admission_type, float) and admission_type != admission_type:  # NaN
        return None
    return " ".join(str(admission_type).split()).upper() or None


def care_setting_of(admission_type: Any) -> str:
    """The care setting (one of :data:`CARE_SETTINGS`) of one admission type; see the module docstring."""
    key = _normalise(admission_type)
    if key is None:
        return DEFAULT_SETTING
    return ADMISSION_TYPE_SETTINGS.get(key, DEFAULT_SETTING)


def episode_settings(episodes: pd.DataFrame) -> pd.Series:
    """Care setting per episode: its ``care_setting`` where given, else the setting its
    ``admission_type`` maps to (the vectorised rule of ``triage.router.episode_setting``)."""
    types = episodes["admission_type"] if "admission_type" in episodes else pd.Series(None, index=episodes.index,
                                                                                        dtype=object)
    mapped = care_settings(types)
    if "care_setting" not in episodes:
        return mapped
    return episodes["care_setting"].astype("string").fillna(mapped).rename("care_setting")


def care_settings(admission_types: pd.Series) -> pd.Series:
    """Vectorised :func:`care_setting_of`: a ``string`` Series aligned with ``admission_types``."""
    s = pd.Series(admission_types, copy=False)
    key = s.astype("string").str.split().str.join(" ").str.upper()
    out = key.map(ADMISSION_TYPE_SETTINGS).fillna(DEFAULT_SETTING)
    return pd.Series(out.to_numpy(dtype=object), index=s.index, dtype="string", name="care_setting")
