"""Where a code sits in its ontology: the groups a coder reviews (seed paper section 4.1.2).

ICD-10-CM / ICD-9-CM diagnoses group by chapter, then 3-character category; ICD-10-PCS
procedures by section (first character), then body system (first two); ICD-9 procedures by
their 2-digit chapter. A range table (``triage.codes.chapters``), no code tables: this runs
per suggested code on the service's hot path.
"""

from __future__ import annotations

from functools import lru_cache

from triage.codes.chapters import CHAPTER_NAMES, chapter_of_label
from triage.codes.labels import label_kind, truncate_label

PCS_SECTIONS = {
    "0": "medical and surgical", "1": "obstetrics", "2": "placement", "3": "administration",
    "4": "measurement and monitoring", "5": "extracorporeal or systemic assistance and performance",
    "6": "extracorporeal or systemic therapies", "7": "osteopathic", "8": "other procedures",
    "9": "chiropractic", "B": "imaging", "C": "nuclear medicine", "D": "radiation therapy",
    "F": "physical rehabilitation and diagnostic audiology", "G": "mental health",
    "H": "substance abuse treatment", "X": "new technology",
}


@lru_cache(maxsize=1 << 16)
def ontology_group(label: str, version: int = 10) -> tuple[str, str, str]:
    """(top-level group id, its name, sub-group id) of a label.

    ``("ICD-10-CM chapter 9", "circulatory system", "I50")`` for ``I50.9``;
    ``("ICD-10-PCS section 0", "medical and surgical", "0Q")`` for ``0QS734Z``.
    """
    kind = label_kind(label, version)
    if kind == "dx":
        ch = chapter_of_label(label, version)
        system = "ICD-10-CM" if version == 10 else "ICD-9-CM"
        top = f"{system} chapter {ch}" if ch is not None else f"{system} other"
        return top, CHAPTER_NAMES.get(ch, "other") if ch is not None else "other", truncate_label(label, 3)
    if version == 10:
        sec = label[:1]
        return f"ICD-10-PCS section {sec}", PCS_SECTIONS.get(sec, "other"), label[:2]
    head = label.split(".")[0]
    return f"ICD-9 procedures {head}", "procedures", head


def category_of(label: str, level: int = 3) -> str:
    """The partial code a coder completes: 3-character category (or 4-character stem).

    ICD-10-PCS has no categories; its partial code is the first ``level`` characters
    (section, body system, root operation).
    """
    return truncate_label(label, level)
