"""The workload: how a synthetic coding department's episodes split across care settings.

A spec is a preset name or explicit shares, e.g. ``"mixed"`` or
``"inpatient=0.5,observation=0.15,day_case=0.35"``; :func:`parse_workload` validates either and
:attr:`Workload.canonical` spells every equal mix the same way (cached cohorts are keyed on it).

Why the default ("mixed") mix is inpatient 0.50, observation 0.15, day case 0.35 — an assumption
built from published English figures, not a measured coding-department mix:

* NHS England (2013) reports that about 80% of elective admissions in England are day cases, and
  Hospital Episode Statistics have elective admissions at roughly 40-45% of admitted episodes, so
  day cases are about 0.8 x 0.43 ~ 0.35 of the admitted episodes a coding department codes.
* Observation stays (short, low-acuity stays held for assessment) are a smaller share; 0.15 is
  assumed, not sourced: national figures count them inconsistently (in England most sit inside
  emergency admissions with a zero-day stay; in the US observation status is billed as outpatient).
* The rest (0.50) are inpatient admissions like MIMIC's emergency and ICU stays.

Shares are per episode, not per coding minute: inpatient episodes take coders far longer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from triage.data.settings import CARE_SETTINGS

#: Named mixes accepted wherever a workload is (CLI ``--workload``, config ``synthetic_workload``).
WORKLOAD_PRESETS: dict[str, dict[str, float]] = {
    "mixed": {"inpatient": 0.50, "observation": 0.15, "day_case": 0.35},
    "inpatient": {"inpatient": 1.0},
    "observation": {"observation": 1.0},
    "day_case": {"day_case": 1.0},
}
DEFAULT_WORKLOAD = "mixed"
_TOL = 1e-6


@dataclass(frozen=True)
class Workload:
    """Shares of each care setting, in :data:`~triage.data.settings.CARE_SETTINGS` order; they sum to 1."""

    shares: tuple[float, ...]

    def as_dict(self) -> dict[str, float]:
        return dict(zip(CARE_SETTINGS, self.shares))

    @property
    def canonical(self) -> str:
        """``inpatient=0.5,observation=0.15,day_case=0.35``: every setting, fixed order, ``%g`` shares."""
        return ",".join(f"{s}={v:g}" for s, v in zip(CARE_SETTINGS, self.shares))

    @property
    def slug(self) -> str:
        """The canonical string as a file-name part (``inpatient0.5-observation0.15-day_case0.35``)."""
        return "-".join(f"{s}{v:g}" for s, v in zip(CARE_SETTINGS, self.shares))

    @property
    def single(self) -> str | None:
        """The one setting of a single-setting workload, else None."""
        nonzero = [s for s, v in zip(CARE_SETTINGS, self.shares) if v > 0]
        return nonzero[0] if len(nonzero) == 1 else None


def _from_mapping(shares: Mapping[str, float], spec: object) -> Workload:
    unknown = [k for k in shares if k not in CARE_SETTINGS]
    if unknown:
        raise ValueError(f"workload {spec!r}: unknown care setting {unknown[0]!r} "
                         f"(known: {', '.join(CARE_SETTINGS)})")
    values = {}
    for k, v in shares.items():
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"workload {spec!r}: share of {k!r} must be a number, got {v!r}") from None
        if not x >= 0 or x != x or x == float("inf"):
            raise ValueError(f"workload {spec!r}: share of {k!r} must be a finite number >= 0, got {v!r}")
        values[k] = x
    total = sum(values.values())
    if abs(total - 1.0) > _TOL:
        raise ValueError(f"workload {spec!r}: shares must sum to 1 (within {_TOL:g}), they sum to {total:g}")
    return Workload(tuple(values.get(s, 0.0) / total for s in CARE_SETTINGS))


def parse_workload(spec: str | Mapping[str, float] | Workload | None = None) -> Workload:
    """A :class:`Workload` from a preset name, ``"setting=share,..."`` shares, a mapping, or None (default).

    Raises ValueError naming the bad setting or value. Settings not named get share 0.
    """
    if isinstance(spec, Workload):
        return spec
    if spec is None:
        spec = DEFAULT_WORKLOAD
    if isinstance(spec, Mapping):
        return _from_mapping(spec, dict(spec))
    if not isinstance(spec, str):
        raise ValueError(f"workload must be a preset name or 'setting=share,...', got {spec!r}")
    text = spec.strip()
    if text in WORKLOAD_PRESETS:
        return _from_mapping(WORKLOAD_PRESETS[text], spec)
    if "=" not in text:
        raise ValueError(f"workload {spec!r}: not a preset ({', '.join(WORKLOAD_PRESETS)}) nor "
                         f"'setting=share,...' shares (settings: {', '.join(CARE_SETTINGS)})")
    shares: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"workload {spec!r}: expected 'setting=share', got {part.strip()!r}")
        if key in shares:
            raise ValueError(f"workload {spec!r}: setting {key!r} named twice")
        shares[key] = value.strip()
    return _from_mapping(shares, spec)
