import pytest
from hypothesis import given
from hypothesis import strategies as st

from triage.codes import normalize_label, truncate_label
from triage.codes.labels import canonical, to_label


@pytest.mark.parametrize(
    ("spelling", "version", "kind", "label"),
    [
        ("E8790", 9, "dx", "E879.0"),
        ("V3001", 9, "dx", "V30.01"),
        ("3893", 9, "px", "38.93"),
        ("I509", 10, None, "I50.9"),
        ("I10", 10, None, "I10."),
        ("i10.", 10, None, "I10."),
        (" i50 .9 ", 10, None, "I50.9"),
        ("i50.9", 10, "dx", "I50.9"),
        ("0qs734z", 10, None, "0QS734Z"),
        ("02703DZ", 10, "px", "02703DZ"),
        ("38.93", 9, None, "38.93"),
        ("e879.0", 9, None, "E879.0"),
        ("V30.01", 9, None, "V30.01"),
        ("25000", 9, None, "250.00"),
        ("99", 9, None, "99"),
        ("401.", 9, None, "401"),
        ("401", 9, None, "401"),
        ("401", 9, "px", "40.1"),
    ],
)
def test_known_spellings(spelling, version, kind, label):
    assert normalize_label(spelling, version, kind) == label


@pytest.mark.parametrize(
    ("spelling", "version", "kind", "fragment"),
    [
        ("3893", 9, None, "'3893'"),          # ICD-9 dx and px both fit: ambiguous
        ("XYZ", 10, None, "'XYZ'"),
        ("I5.09", 10, None, "misplaced dot"),
        ("38.93", 9, "dx", "'38.93'"),
        ("0QS734Z", 10, "dx", "'0QS734Z'"),
        ("I50.9.1", 10, None, "more than one dot"),
        ("I509", 11, None, "icd_version"),
        ("", 10, None, "''"),
        ("0QS7I4Z", 10, "px", "'0QS7I4Z'"),   # PCS never uses I or O
    ],
)
def test_bad_spellings_name_the_code(spelling, version, kind, fragment):
    with pytest.raises(ValueError, match=fragment.replace(".", r"\.")):
        normalize_label(spelling, version, kind)


icd10_dx = st.from_regex(r"\A[A-TV-Z][0-9][0-9A-Z][0-9A-Z]{0,4}\Z")


@given(icd10_dx)
def test_label_round_trip_icd10_dx(code):
    label = normalize_label(code, 10)
    assert canonical(label) == code
    assert normalize_label(label, 10) == label            # idempotent
    assert normalize_label(label.lower(), 10) == label
    assert label == to_label(code, "dx", 10)


@given(st.from_regex(r"\A(?:\d{3}\d{0,2}|V\d{2}\d{0,2}|E\d{3}\d?)\Z"))
def test_label_round_trip_icd9_dx(code):
    label = normalize_label(code, 9, "dx")
    assert canonical(label) == code
    assert normalize_label(label, 9) == label             # the dot fixes the kind


def test_truncation_levels_keep_systems_apart():
    assert truncate_label(normalize_label("I509"), 3) == "I50."
    assert truncate_label(normalize_label("I5090", 10), 4) == "I50.9"
    assert truncate_label(normalize_label("B20", 10), 3) != truncate_label(normalize_label("B20ZZZZ", 10, "px"), 3)
    assert truncate_label(normalize_label("3893", 9, "px"), 3) == "38.9"
    assert truncate_label(normalize_label("3893", 9, "dx"), 3) == "389."
