"""ICD-10-CM diagnoses: spelling, validity, descriptions and hierarchy (via ``simple-icd-10-cm``).

``simple_icd_10_cm`` takes ~2 s and ~190 MB to import, so it is imported on first use only.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from types import ModuleType

from triage.codes.labels import canonical, to_label

_FORMAT = re.compile(r"^[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}$")


@cache
def _cm() -> ModuleType:
    import simple_icd_10_cm

    return simple_icd_10_cm


def dotted(code: str) -> str:
    """Reference-pipeline label (``I509`` -> ``I50.9``, ``I10`` -> ``I10.``)."""
    return to_label(code, "dx", 10)


def undotted(label: str) -> str:
    """Canonical form of a label or any spelling (``i50.9`` -> ``I509``, ``I10.`` -> ``I10``)."""
    return canonical(label)



@lru_cache(maxsize=1 << 16)
def is_valid(code: str) -> bool:
    """Whether the code is a category/subcategory/code in the ICD-10-CM tabular list."""
    c = canonical(code)
    if not _FORMAT.match(c):
        return False
    cm = _cm()
    return bool(cm.is_valid_item(c)) and cm.is_category_or_subcategory(c)


@lru_cache(maxsize=1 << 16)
def is_billable(code: str) -> bool:
    """Whether the code is a leaf (the level a claim may carry)."""
    return is_valid(code) and bool(_cm().is_leaf(canonical(code)))


def _require(code: str) -> str:
    c = canonical(code)
    if not is_valid(c):
        raise ValueError(f"not an ICD-10-CM code: {code!r}")
    return c


@lru_cache(maxsize=1 << 16)
def describe(code: str) -> str:
    """Official description; raises ValueError naming the code when it is not ICD-10-CM."""
    return _cm().get_description(_require(code))


def category(code: str) -> str:
    """3-character category (``I509`` -> ``I50``)."""
    return _require(code)[:3]


@lru_cache(maxsize=1 << 16)
def block(code: str) -> str:
    """Innermost block containing the code, e.g. ``I30-I5A``."""
    cm = _cm()
    for anc in cm.get_ancestors(_require(code)):
        if cm.is_block(anc):
            return anc
    raise ValueError(f"no block found for ICD-10-CM code {code!r}")


@lru_cache(maxsize=1 << 16)
def chapter(code: str) -> str:
    """Chapter number as the tabular list writes it (``I509`` -> ``9``), from the hierarchy.

    The library maps codes to chapters with :mod:`triage.codes.chapters` (a range table fast
    enough for the routing hot path, and ICD-9 too); this is the reference it is tested against.
    """
    ancestors = _cm().get_ancestors(_require(code))
    if not ancestors:
        raise ValueError(f"no chapter found for ICD-10-CM code {code!r}")
    return ancestors[-1]
