"""Any spelling of a code -> its label (the shared dotted form of ``labels.py``).

Accepts dotted or undotted, any case, stray spaces, and labels themselves. A dotted spelling
fixes the kind (diagnosis vs procedure). Where the shape alone cannot tell, the code systems
decide: an undotted 7-character ICD-10 code starting letter+digit fits both ICD-10-CM and
ICD-10-PCS (the PCS sections B, C, D, F, G, H and X start with a letter: ``B2111ZZ`` is imaging,
not a diagnosis ``B21.11ZZ``), so it is looked up in the PCS table and the CM tabular list (the
two share no such code) and a code in neither raises :class:`UnknownCode`. An undotted 4-digit
ICD-9 code is both a possible diagnosis and procedure (``3893``), so ``kind`` must be given for
it (or, in :func:`lookup_label`, the model's own vocabulary decides). An undotted 3-digit ICD-9
code is read as its label, a diagnosis category (a procedure label is dotted: ``40.1``).

:func:`normalize_label` checks the shape (and resolves ambiguous shapes); :func:`lookup_label`
also requires the code to exist in the code system (or in a given vocabulary), which is what the
service uses so that a code nobody knows is reported back, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Container
from functools import lru_cache

from triage.codes.labels import Kind, label_kind, to_label


class UnknownCode(ValueError):
    """A well-formed spelling that no code table of the version (nor the given vocabulary) has."""

    def __init__(self, spelling: str, version: int) -> None:
        systems = "ICD-10-CM or ICD-10-PCS" if version == 10 else "ICD-9-CM"
        super().__init__(f"unknown code {spelling!r}: not in {systems}")
        self.spelling = spelling
        self.version = version

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
            else:
                kind = _cm_or_pcs(code, spelling)
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


def _cm_or_pcs(code: str, spelling: str) -> Kind:
    """Kind of a 7-character code shaped like both CM and PCS, by lookup in both tables."""
    from triage.codes import icd10cm, icd10pcs

    if icd10pcs.is_valid(code):
        return "px"
    if icd10cm.is_valid(code):
        return "dx"
    raise UnknownCode(spelling, 10)


@lru_cache(maxsize=1 << 18)
def label_exists(label: str, version: int = 10) -> bool:
    """Whether a label is in its code system: ICD-10-CM tabular list (categories included),
    ICD-10-PCS table, ICD-9-CM diagnoses. ICD-9 procedures have no table shipped with the
    packages (MIMIC's ``d_icd_procedures`` is credentialed), so a well-formed one counts."""
    kind = label_kind(label, version)
    code = label.replace(".", "")
    if version == 10:
        from triage.codes import icd10cm, icd10pcs

        return icd10cm.is_valid(code) if kind == "dx" else icd10pcs.is_valid(code)
    if kind == "dx":
        from triage.codes import icd9

        return icd9.is_valid_dx(code)
    return bool(_PX9.match(code))


def lookup_label(
    spelling: str, version: int = 10, kind: Kind | None = None, known: Container[str] = ()
) -> str:
    """Label of a code that exists: in its code system, or in ``known`` (a model's vocabulary,
    which may hold codes retired from the current tables).

    Raises :class:`UnknownCode` for a well-formed code found nowhere, and ValueError (as
    :func:`normalize_label`) for a spelling of no code shape. An undotted ICD-9 code that could be
    a diagnosis or a procedure takes the one reading that exists in ``known``.
    """
    try:
        label = normalize_label(spelling, version, kind)
    except ValueError:
        # ambiguous shape (ICD-9 dx/px, or an ICD-10 code in neither table): a model's
        # vocabulary may still know exactly one reading
        if kind is not None or not known:
            raise
        readings = []
        for k in ("dx", "px"):
            try:
                readings.append(normalize_label(spelling, version, k))
            except ValueError:
                pass
        in_vocab = [r for r in readings if r in known]
        if len(readings) < 2 or len(in_vocab) != 1:
            raise
        return in_vocab[0]
    if label in known or label_exists(label, version):
        return label
    raise UnknownCode(spelling, version)


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


def _readings(code: str) -> list[str]:
    """Every existing label a human-entered spelling could denote (ICD-10 first, then ICD-9)."""
    out = []
    for version, kind in ((10, None), (10, "dx"), (10, "px"), (9, None), (9, "dx"), (9, "px")):
        try:
            label = normalize_label(code, version, kind)
        except ValueError:
            continue
        if label not in out and label_exists(label, version):
            out.append(label)
    return out


def _same(label: str, code: str) -> bool:
    """A predicted label (perhaps a retired code the model knows) written another way."""
    return label.replace(".", "") == "".join(code.split()).replace(".", "").upper()


def final_labels(predicted: Container[str] | set[str], final_codes: list[str]) -> tuple[list[str], list[str]]:
    """(labels of human final codes in the order sent, principal first; unknown spellings): an
    ambiguous spelling takes the reading the decision used (a label in ``predicted``). A code in
    no code system is returned as unknown (as sent), never guessed."""
    labels: list[str] = []
    unknown: list[str] = []
    for code in final_codes:
        readings = _readings(code) or [p for p in predicted if _same(p, code)]
        if not readings:
            unknown.append(code)
            continue
        label = next((r for r in readings if r in predicted), readings[0])
        if label not in labels:
            labels.append(label)
    return labels, unknown
