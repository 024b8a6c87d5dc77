"""Elixhauser comorbidity measures (AHRQ v2026.1 via ``elixhauser-ahrq``) and their indices.

Assumptions, stated because they change results:

* MIMIC records no present-on-admission (POA) flag. Without one, ``elixhauser-ahrq`` drops the
  19 POA-dependent measures (heart failure, renal failure, ...). We pass POA = ``'Y'`` for every
  code, i.e. we assume every secondary diagnosis was present on admission; this over-counts
  complications that arose during the stay.
* The first diagnosis is the principal one and is excluded from comorbidities (AHRQ rule).
* Only ICD-10-CM is mapped: ``version=9`` raises ValueError, and :func:`elixhauser_frame`
  leaves ICD-9 episodes NA.
* The index is AHRQ's refit of the van Walraven approach on the v2026 measures (mortality, or
  readmission). The original 2009 van Walraven weights need the "cardiac arrhythmia" and
  "fluid/electrolyte" measures that AHRQ has removed, so they are not computed.
"""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Literal, Sequence

import pandas as pd

from triage.codes.labels import canonical

IndexKind = Literal["mortality", "readmission"]


@cache
def _mapper():
    from elixhauser_ahrq import ElixhauserMapper

    return ElixhauserMapper()


@cache
def _weights(kind: IndexKind) -> dict[str, int]:
    from elixhauser_ahrq import ElixhauserScorer

    return dict(ElixhauserScorer(kind).weights)


def measure_names() -> list[str]:
    """The measure columns returned by :func:`comorbidities` (38, with combined ``CBVD``)."""
    flags = _mapper().map_patient_diagnoses(["Z0000"], ["Y"])
    return sorted(flags)


def comorbidities(diagnoses: Sequence[str], version: int = 10) -> dict[str, bool]:
    """Elixhauser measures of one ICD-10-CM diagnosis list, principal diagnosis first."""
    if version != 10:
        raise ValueError(f"Elixhauser (AHRQ v2026.1) maps ICD-10-CM only, got icd_version={version!r}")
    dx = [canonical(c) for c in diagnoses]
    return _comorbidities(tuple(dx))


def _comorbidities(dx: tuple[str, ...]) -> dict[str, bool]:
    if not dx:
        return dict.fromkeys(measure_names(), False)
    # Only secondary codes that map to some measure change the result, and their order does
    # not: caching on that reduced key makes lists that differ in other codes share one entry.
    mapped = _mapped_codes()
    return _comorbidities_of(tuple(sorted({c for c in dx[1:] if c in mapped})))


@cache
def _mapped_codes() -> frozenset[str]:
    """ICD-10-CM codes (undotted) that flag at least one measure."""
    return frozenset(code for code, flags in _mapper().lookup.items() if any(flags.values()))


@lru_cache(maxsize=1 << 17)  # bounded: bulk routing must not grow with the input (triage batch)
def _comorbidities_of(secondaries: tuple[str, ...]) -> dict[str, bool]:
    # the mapper skips the first code (the principal diagnosis), whatever it is
    codes = ["", *secondaries]
    return dict(_mapper().map_patient_diagnoses(codes, ["Y"] * len(codes)))


def index(flags: dict[str, bool], kind: IndexKind = "mortality") -> int:
    """AHRQ Elixhauser index (sum of weights of present measures)."""
    if kind not in ("mortality", "readmission"):
        raise ValueError(f"index kind must be 'mortality' or 'readmission', got {kind!r}")
    w = _weights(kind)
    return int(sum(w.get(k, 0) for k, v in flags.items() if v))


def elixhauser(diagnoses: Sequence[str], version: int = 10) -> dict[str, object]:
    """Measures plus ``count``, ``index_mortality`` and ``index_readmission`` of one episode."""
    flags = comorbidities(diagnoses, version)
    out: dict[str, object] = dict(flags)
    out["count"] = int(sum(flags.values()))
    out["index_mortality"] = index(flags, "mortality")
    out["index_readmission"] = index(flags, "readmission")
    return out


def elixhauser_frame(episodes: pd.DataFrame) -> pd.DataFrame:
    """One row of measures and indices per ICD-10 episode (ICD-9 rows are all NA)."""
    if "diagnoses" not in episodes.columns:
        raise ValueError("episode table has no column 'diagnoses'")
    versions = episodes["icd_version"] if "icd_version" in episodes.columns else [10] * len(episodes)
    rows = [elixhauser(dx) if int(v) == 10 else {} for dx, v in zip(episodes["diagnoses"], versions)]
    out = pd.DataFrame(rows, index=episodes.index)
    cols = measure_names() + ["count", "index_mortality", "index_readmission"]
    out = out.reindex(columns=cols)
    for c in measure_names():
        out[c] = out[c].astype("boolean")
    for c in ("count", "index_mortality", "index_readmission"):
        out[c] = out[c].astype("Int64")
    return out
