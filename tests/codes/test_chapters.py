"""triage.codes.chapters: the one code -> chapter mapping (queues, routing features, subset bounds)."""

from __future__ import annotations

import pytest

from triage.codes import icd10cm
from triage.codes.chapters import (
    CHAPTER_NAMES,
    chapter_key,
    chapter_of_label,
    diagnosis_chapter,
    normalise_chapter,
)


@pytest.mark.parametrize("label,chapter", [
    ("I50.9", 9), ("I10.", 9), ("C34.90", 2), ("D05.1", 2), ("D63.1", 3), ("O80.", 15), ("T81.4XXA", 19),
    ("Z51.11", 21), ("U07.1", 22), ("H61.2", 8), ("H40.1", 7), ("E11.9", 4), ("428.0", 9), ("250.00", 4),
    ("E879.0", 20), ("V58.11", 20),
])
def test_chapter_of_label(label, chapter):
    assert chapter_of_label(label) == chapter


def test_icd_version_settles_v_codes_and_garbage_is_none():
    assert chapter_of_label("V58.11", 9) == 21
    assert chapter_of_label("xx") is None
    assert chapter_of_label("??9.1") is None


def test_normalise_chapter_forms():
    assert normalise_chapter("IX") == normalise_chapter(9) == normalise_chapter("circulatory system") == 9
    assert normalise_chapter("Chapter XV") == 15
    assert normalise_chapter(23) is None and normalise_chapter("nope") is None


@pytest.mark.slow  # loads the simple-icd-10-cm hierarchy (~5 s)
def test_range_table_agrees_with_icd10cm_hierarchy():
    codes = ["A41.9", "C34.90", "D05.10", "D63.1", "E11.9", "F32.9", "G40.909", "H40.9", "H61.23", "I50.9",
             "J18.9", "K35.80", "L03.90", "M17.11", "N17.9", "O80", "P07.30", "Q21.1", "R07.9", "S72.001A",
             "T81.4XXA", "V43.52XA", "Z51.11", "U07.1"]
    checked = 0
    for code in codes:
        try:
            ref = int(icd10cm.chapter(code.replace(".", "")))
        except ValueError:
            continue  # not in this tabular release
        assert chapter_of_label(code) == ref, code
        checked += 1
    assert checked >= 20


@pytest.mark.parametrize("code,version,title", [
    ("I509", 10, "ICD-10 09 circulatory system"),
    ("O9A119", 10, "ICD-10 15 pregnancy and childbirth"),
    ("H65", 10, "ICD-10 08 ear"),
    ("Z3800", 10, "ICD-10 21 health status and services"),
    # ICD-9 diagnoses take the ICD-10 chapter of the same body system
    ("4019", 9, "ICD-9 09 circulatory system"),
    ("3659", 9, "ICD-9 07 eye"),
    ("V3000", 9, "ICD-9 21 health status and services"),
    ("E8790", 9, "ICD-9 20 external causes"),
    ("XYZ", 10, "unknown"),
])
def test_diagnosis_chapter_titles(code, version, title):
    assert diagnosis_chapter(code, version) == title


def test_diagnosis_chapter_rejects_an_unknown_version():
    with pytest.raises(ValueError, match="icd_version must be 9 or 10, got 11"):
        diagnosis_chapter("I509", 11)


def test_chapter_keys_keep_diagnoses_and_procedures_apart():
    assert chapter_key("I50.9") == chapter_key("I10.") == "dx:9"
    assert chapter_key("428.0", 9) == "dx:9"  # same chapter as its ICD-10 counterpart
    assert chapter_key("0QS734Z") == "px:0" and chapter_key("B2111ZZ") == "px:B"
    assert chapter_key("00.10", 9) == "px9:1" and chapter_key("38.93", 9) == "px9:9"
    assert chapter_key("99.99", 9) == "px9:18"
    assert chapter_key("") is None
    assert set(CHAPTER_NAMES) == set(range(1, 23))
