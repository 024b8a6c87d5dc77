"""Any spelling of a code -> its label (the shared dotted form of ``labels.py``).

Accepts dotted or undotted, any case, stray spaces, and labels themselves. A dotted spelling
fixes the kind (diagnosis vs procedure); an undotted 4-digit ICD-9 code is both a possible
diagnosis and procedure (``3893``), so ``kind`` must be given for it. An undotted 3-digit
ICD-9 code is read as its label, a diagnosis category (a procedure label is dotted: ``40.1``).
"""

from __future__ import annotations

import re
from functools import lru_cache

from triage.codes.labels import Kind, label_kind, to_label

_CM = re.compile(r"^[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}$")
_PCS = re.compile(r"^[0-9A-HJ-NP-Z]{7}$")
_DX9 = re.compile(r"^(?:\d{3}\d{0,2}|V\d{2}\d{0,2}|E\d{3}\d?)$")
_PX9 = re.compile(r"^\d{2}\d{0,2}$")


def _fits(code: str, kind: Kind, version: int) -> bool:
    if version == 10:
        return bool((_CM if kind == "dx" else _PCS).match(code))
    return bool((_DX9 if kind == "dx" else _PX9).match(code))


def _dot_kind(raw: str, code: str, version: int) -> Kind | None:
    """Kind implied by where the dot sits, or None when the dot is misplaced."""
    dot = raw.find(".")
    if version == 10:
        return "dx" if dot == 3 else None
    if dot == 2:
        return "px"
    if dot == (4 if code.startswith("E") else 3):
        return "dx"
    return None


@lru_cache(maxsize=1 << 20)
def normalize_label(spelling: str, version: int = 10, kind: Kind | None = None) -> str:
    """Label of a code written any way (``i509`` / ``I50.9`` / `` i50 9 `` -> ``I50.9``).

    Raises ValueError naming the code when it fits no code system of ``version``, when the
    dot contradicts ``kind``, or when an undotted ICD-9 code is ambiguous and ``kind`` is None.
    """
    if version not in (9, 10):
        raise ValueError(f"icd_version must be 9 or 10, got {version!r} (code {spelling!r})")
    if kind not in (None, "dx", "px"):
        raise ValueError(f"kind must be 'dx', 'px' or None, got {kind!r} (code {spelling!r})")
    if not isinstance(spelling, str):
        raise ValueError(f"code must be a string, got {spelling!r}")
    raw = spelling.upper()
    if not raw.isalnum():
        raw = "".join(raw.split())
    if raw.count(".") > 1:
        raise ValueError(f"not an ICD-{version} code: {spelling!r} (more than one dot)")
    code = raw.replace(".", "")
    if "." in raw:
        implied = _dot_kind(raw, code, version)
        if implied is None:
            raise ValueError(f"misplaced dot in ICD-{version} code {spelling!r}")
        if kind is not None and kind != implied:
            raise ValueError(f"code {spelling!r} is written as a {implied} code but kind={kind!r}")
        kind = implied
    if kind is None:
        dx_ok, px_ok = _fits(code, "dx", version), _fits(code, "px", version)
        if dx_ok and px_ok:
            if version == 9 and len(code) == 3:
                kind = "dx"  # the label form: a 3-digit procedure label would be dotted (40.1)
            elif version == 9:
                raise ValueError(
                    f"ICD-9 code {spelling!r} could be a diagnosis or a procedure: pass kind='dx' or 'px'"
                )
            kind = "dx"  # a 7-character CM code also shaped like PCS: CM starts letter+digit
        elif dx_ok:
            kind = "dx"
        elif px_ok:
            kind = "px"
        else:
            raise ValueError(f"not an ICD-{version} code: {spelling!r}")
    elif not _fits(code, kind, version):
        what = {("dx", 10): "ICD-10-CM", ("px", 10): "ICD-10-PCS", ("dx", 9): "ICD-9-CM diagnosis",
                ("px", 9): "ICD-9 procedure"}[(kind, version)]
        raise ValueError(f"not an {what} code: {spelling!r}")
    return to_label(code, kind, version)


def describe_label(label: str, version: int = 10, procedure_descriptions: dict[str, str] | None = None) -> str:
    """Description of a label from the matching code system.

    ICD-9 procedures need ``procedure_descriptions`` (MIMIC ``d_icd_procedures``,
    read by :func:`triage.data.tables.load_procedure_descriptions`). Raises ValueError naming the
    label when it is unknown.
    """
    label = normalize_label(label, version)
    kind = label_kind(label, version)
    if version == 10:
        if kind == "dx":
            from triage.codes import icd10cm

            return icd10cm.describe(label)
        from triage.codes import icd10pcs

        return icd10pcs.describe(label)
    from triage.codes import icd9

    if kind == "dx":
        return icd9.describe_dx(label)
    if procedure_descriptions is None:
        raise ValueError(f"no description table for ICD-9 procedure {label!r}: pass procedure_descriptions")
    return icd9.describe_px(label, procedure_descriptions)
