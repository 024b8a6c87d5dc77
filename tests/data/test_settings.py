import pandas as pd
import pytest

from triage.data.settings import ADMISSION_TYPE_SETTINGS, CARE_SETTINGS, care_setting_of, care_settings


@pytest.mark.parametrize("admission_type, setting", [
    ("EU OBSERVATION", "observation"), ("OBSERVATION ADMIT", "observation"), ("DIRECT OBSERVATION", "observation"),
    ("AMBULATORY OBSERVATION", "day_case"), ("EW EMER.", "inpatient"), ("DIRECT EMER.", "inpatient"),
    ("URGENT", "inpatient"), ("ELECTIVE", "inpatient"), ("SURGICAL SAME DAY ADMISSION", "inpatient"),
    ("EMERGENCY", "inpatient"), ("NEWBORN", "inpatient"),
    ("  ambulatory   observation ", "day_case"), ("eu observation", "observation"),
    (None, "inpatient"), (float("nan"), "inpatient"), (pd.NA, "inpatient"), ("", "inpatient"),
    ("HOSPICE", "inpatient"),
])
def test_care_setting_of(admission_type, setting):
    assert care_setting_of(admission_type) == setting


def test_mapping_only_names_known_settings():
    assert set(ADMISSION_TYPE_SETTINGS.values()) == set(CARE_SETTINGS)


def test_vectorised_agrees_with_scalar_and_keeps_index():
    values = ["EU OBSERVATION", None, "ambulatory observation", "URGENT", "?", float("nan"), " DIRECT  OBSERVATION"]
    s = pd.Series(values, index=[5, 4, 3, 2, 1, 0, 9], dtype=object)
    out = care_settings(s)
    assert out.index.tolist() == s.index.tolist() and str(out.dtype) == "string"
    assert out.tolist() == [care_setting_of(v) for v in values]
    assert care_settings(pd.Series([], dtype="string")).empty
