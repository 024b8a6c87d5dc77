"""ICD chapters: the one mapping from a code to its chapter, for every user (queues, routing
features, subset bounds).

A range table rather than the full ICD-10-CM hierarchy: the router calls this per episode on the
hot path (target well under 50 µs), and the chapter of a code is fixed by its first characters
(a test checks it against the simple-icd-10-cm hierarchy). ICD-9-CM diagnoses are mapped to the
ICD-10-CM chapter of the same body system, so one chapter scheme serves both code versions.
Procedures have chapters of their own: the ICD-10-PCS section (first character) and the ICD-9-CM
procedure chapters (2-digit ranges).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from functools import lru_cache
from typing import Any

from triage.codes.labels import canonical, label_kind

# (first code of the chapter, chapter number), ICD-10-CM FY2025 tabular; sorted by start code.
_ICD10_STARTS: tuple[tuple[str, int], ...] = (
    ("A00", 1), ("C00", 2), ("D50", 3), ("E00", 4), ("F01", 5), ("G00", 6), ("H00", 7),
    ("H60", 8), ("I00", 9), ("J00", 10), ("K00", 11), ("L00", 12), ("M00", 13), ("N00", 14),
    ("O00", 15), ("P00", 16), ("Q00", 17), ("R00", 18), ("S00", 19), ("U00", 22), ("V00", 20),
    ("Z00", 21),
)
_ICD10_KEYS = [s for s, _ in _ICD10_STARTS]
# ICD-10 ranges with gaps inside one letter: D00-D49 is neoplasms (chapter 2), T00-T88 injury (19).
_ICD9_STARTS: tuple[tuple[int, int], ...] = (
    (1, 1), (140, 2), (240, 4), (280, 3), (290, 5), (320, 6), (360, 7), (380, 8), (390, 9),
    (460, 10), (520, 11), (580, 14), (630, 15), (680, 12), (710, 13), (740, 17), (760, 16),
    (780, 18), (800, 19),
)
_ICD9_KEYS = [s for s, _ in _ICD9_STARTS]

CHAPTER_NAMES: dict[int, str] = {
    1: "infectious and parasitic", 2: "neoplasms", 3: "blood and immune", 4: "endocrine and metabolic",
    5: "mental and behavioural", 6: "nervous system", 7: "eye", 8: "ear", 9: "circulatory system",
    10: "respiratory system", 11: "digestive system", 12: "skin", 13: "musculoskeletal system",
    14: "genitourinary system", 15: "pregnancy and childbirth", 16: "perinatal", 17: "congenital",
    18: "symptoms and signs", 19: "injury and poisoning", 20: "external causes",
    21: "health status and services", 22: "special purposes",
}
_ROMAN = {
    "I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6, "VII": 7, "VIII": 8, "IX": 9, "X": 10,
    "XI": 11, "XII": 12, "XIII": 13, "XIV": 14, "XV": 15, "XVI": 16, "XVII": 17, "XVIII": 18,
    "XIX": 19, "XX": 20, "XXI": 21, "XXII": 22,
}
_BY_NAME = {name: num for num, name in CHAPTER_NAMES.items()}
_ICD9_NUMERIC = re.compile(r"^\d{3}")


@lru_cache(maxsize=1 << 16)
def chapter_of_label(label: str, icd_version: int | None = None) -> int | None:
    """ICD-10-CM chapter number (1-22) of a diagnosis label (``I50.9``, ``I10.``, ``428.0``).

    ``icd_version`` settles the only ambiguous case (``V``/``E`` codes exist in both versions);
    without it a label starting with a digit, or ``E`` followed by 3 digits, is read as ICD-9.
    Returns None for text that is not a diagnosis code.
    """
    text = str(label).strip().upper()
    code = text.replace(".", "")
    if len(code) < 3:
        return None
    first = code[0]
    if icd_version is None:
        # ICD-9 E labels put the dot after 4 characters (E879.0); ICD-10 after 3 (E83.42).
        icd9 = first.isdigit() or (first == "E" and text.find(".") == 4)
    else:
        icd9 = int(icd_version) == 9
    if icd9:
        return _icd9_chapter(code)
    if not first.isalpha() or not code[1].isdigit():
        return None
    head = code[:3]
    if first == "D" and head < "D50":
        return 2
    if first == "T":
        return 19
    i = bisect_right(_ICD10_KEYS, head) - 1
    return _ICD10_STARTS[i][1] if i >= 0 else None


def _icd9_chapter(code: str) -> int | None:
    if code[0] == "V":
        return 21
    if code[0] == "E":
        return 20
    if not _ICD9_NUMERIC.match(code):
        return None
    i = bisect_right(_ICD9_KEYS, int(code[:3])) - 1
    return _ICD9_STARTS[i][1] if i >= 0 else None


def normalise_chapter(value: Any) -> int | None:
    """Chapter given as a number (9, "9"), a roman numeral ("IX") or a name ("circulatory system")."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        value = int(value)
    if isinstance(value, int):
        return value if 1 <= value <= 22 else None
    text = str(value).strip()
    if not text:
        return None
    if text.isdigit():
        n = int(text)
        return n if 1 <= n <= 22 else None
    upper = text.upper().removeprefix("CHAPTER ").strip()
    if upper in _ROMAN:
        return _ROMAN[upper]
    return _BY_NAME.get(text.lower())


# ICD-9-CM procedure chapters by 2-digit range: the last 2-digit code of each chapter.
_ICD9_PX_LAST = (0, 5, 7, 16, 17, 20, 29, 34, 39, 41, 54, 59, 64, 71, 75, 84, 86, 99)


@lru_cache(maxsize=1 << 18)
def chapter_key(label: str, version: int = 10) -> str | None:
    """Chapter of any label as a key: ``dx:<ICD-10-CM chapter>`` for diagnoses, ``px:<PCS
    section>`` (ICD-10) or ``px9:<chapter>`` (ICD-9) for procedures; None when not a code."""
    code = canonical(label)
    if not code:
        return None
    if label_kind(label, version) == "dx":
        ch = chapter_of_label(label, version)
        return None if ch is None else f"dx:{ch}"
    if version == 10:
        return f"px:{code[0]}"
    if not code[:2].isdigit():
        return None
    return f"px9:{bisect_left(_ICD9_PX_LAST, int(code[:2])) + 1}"


def diagnosis_chapter(code: str, version: int) -> str:
    """Readable chapter of a diagnosis code for tables and reports, e.g. ('I509', 10) ->
    'ICD-10 09 circulatory system', ('4019', 9) -> 'ICD-9 09 circulatory system'; 'unknown' when
    the code is in no chapter."""
    if version not in (9, 10):
        raise ValueError(f"icd_version must be 9 or 10, got {version!r}")
    ch = chapter_of_label(str(code).strip().replace(".", "").upper(), version)
    return "unknown" if ch is None else f"ICD-{version} {ch:02d} {CHAPTER_NAMES[ch]}"
