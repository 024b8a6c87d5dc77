"""Thin, cached bridges from predicted label lists to the code-system modules.

The DRG grouper, Elixhauser mapper and ICD-10-CM hierarchy each take seconds to load, so they
are touched lazily; per-list results are cached by the code modules themselves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from triage.codes.labels import label_kind


def split_dx_px(labels: Sequence[str], version: int = 10) -> tuple[list[str], list[str]]:
    """Diagnosis and procedure labels of an ordered list, each keeping its order."""
    dx = [lab for lab in labels if label_kind(lab, version) == "dx"]
    px = [lab for lab in labels if label_kind(lab, version) != "dx"]
    return dx, px


def _is_alive(died: object) -> bool:
    """Unknown (None/NA/NaN) counts as alive, as drgpy's default does."""
    if died is None or died is pd.NA or (isinstance(died, float) and math.isnan(died)):
        return True
    return not bool(died)


def drg_key(labels: Sequence[str], gender: object, died: object) -> tuple | None:
    """The grouper's key of an ordered ICD-10 label list (what its MS-DRG depends on; None
    without a diagnosis): lists with one key have one MS-DRG (:meth:`DRGGrouper.key`)."""
    from triage.codes.drg import default_grouper

    dx = [lab for lab in labels if "." in lab]  # ICD-10: diagnosis labels are the dotted ones
    if not dx:
        return None
    px = [lab for lab in labels if "." not in lab]
    return default_grouper().key(dx, px, None if gender is pd.NA else gender, is_alive=_is_alive(died))


def drg_of_key(key: tuple | None) -> tuple[str, float, float]:
    """(MS-DRG, relative weight, MDC as a number; PRE = 0) of a :func:`drg_key`; ("", NaN, NaN)
    for None or a list drgpy cannot group."""
    from triage.codes.drg import default_grouper

    if key is None:
        return "", math.nan, math.nan
    r = default_grouper().group_key(key)
    if r.mdc is None:
        return (r.drg if r.drg != "000" else ""), r.weight, math.nan
    mdc = 0.0 if r.mdc == "PRE" else float(r.mdc)
    return r.drg, r.weight, mdc


def drg_of(labels: Sequence[str], gender: object, died: object) -> tuple[str, float, float]:
    """(MS-DRG, relative weight, MDC as a number; PRE = 0) of an ordered ICD-10 label list.

    Lists without a diagnosis, or that drgpy cannot group, give ("", NaN, NaN).
    """
    return drg_of_key(drg_key(labels, gender, died))


def drg_codes(label_lists: Sequence[Sequence[str]], meta: pd.DataFrame) -> np.ndarray:
    """MS-DRG of each list ("" when ungroupable); ``meta`` has columns gender, died."""
    out = np.empty(len(label_lists), dtype=object)
    for i, (labels, g, d) in enumerate(zip(label_lists, meta["gender"], meta["died"])):
        out[i] = drg_of(list(labels), g, d)[0]
    return out


def elixhauser_index(labels: Sequence[str]) -> float:
    """AHRQ Elixhauser mortality index of the diagnoses in an ordered ICD-10 label list."""
    from triage.codes.elixhauser import comorbidities, index

    dx = [lab for lab in labels if "." in lab]
    if not dx:
        return math.nan
    return float(index(comorbidities(dx), "mortality"))


