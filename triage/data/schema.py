"""The episode table: one row per hospital admission, the shape every loader produces."""

from __future__ import annotations

#: The ICD revisions an episode may carry (``icd_version``); config and CLI choices derive from it
ICD_VERSIONS = (9, 10)

EPISODE_COLUMNS: dict[str, str] = {
    "episode_id": "int64",        # hadm_id
    "subject_id": "int64",
    "text": "string",             # discharge summary, addenda merged ("" never: such episodes are excluded)
    "diagnoses": "object",        # list[str] of canonical codes in seq_num order, principal first
    "procedures": "object",       # list[str] of canonical codes in seq_num order
    "icd_version": "int8",        # 9 or 10
    "admittime": "datetime64[ns]",
    "dischtime": "datetime64[ns]",
    "los_days": "float64",        # NaN where times are missing or inverted
    "admission_type": "string",
    "care_setting": "string",     # inpatient / observation / day_case, from admission_type (triage.data.settings)
    "age": "float64",             # at admission
    "gender": "string",           # "M" / "F" / NA
    "died": "boolean",            # in-hospital death (hospital_expire_flag)
    "split": "string",            # "train" / "val" / "test"
}
