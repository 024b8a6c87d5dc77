"""A day's roster of coders: who they are, what they may code, how many minutes they have."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from triage.allocation.config import AllocationConfig

ROSTER_COLUMNS = ("coder_id", "specialties", "level", "hours")
_SPLIT = re.compile(r"[;,|/\s]+")


class RosterError(ValueError):
    """Bad roster input; the message names the source, the column and the coder."""


@dataclass(frozen=True)
class Roster:
    coder_ids: tuple[str, ...]
    specialties: tuple[frozenset[str], ...]
    levels: np.ndarray          # experience rank per coder
    hours: np.ndarray
    capacity: np.ndarray        # coding minutes available = hours * 60 * productive_fraction

    def __len__(self) -> int:
        return len(self.coder_ids)

    def to_frame(self, config: AllocationConfig) -> pd.DataFrame:
        return pd.DataFrame({
            "coder_id": list(self.coder_ids),
            "specialties": [";".join(sorted(s)) for s in self.specialties],
            "level": [config.level_name(int(r)) for r in self.levels],
            "hours": self.hours, "capacity_minutes": self.capacity,
        })


def _specialty_set(value: Any) -> list[str]:
    if isinstance(value, str):
        return [s for s in _SPLIT.split(value.strip().lower()) if s]
    if isinstance(value, Iterable):
        return [str(s).strip().lower() for s in value if str(s).strip()]
    return []


def make_roster(
    roster: pd.DataFrame | Iterable[Mapping[str, Any]] | Roster,
    config: AllocationConfig,
    source: str = "roster",
) -> Roster:
    """Validate a roster given as a DataFrame or records (columns coder_id, specialties, level, hours)."""
    if isinstance(roster, Roster):
        return roster
    df = roster if isinstance(roster, pd.DataFrame) else pd.DataFrame(list(roster))
    missing = [c for c in ROSTER_COLUMNS if c not in df.columns]
    if missing:
        raise RosterError(f"{source}: missing column(s) {missing}; has {list(df.columns)}")
    if len(df) == 0:
        raise RosterError(f"{source}: no coders")
    known = set(config.specialties)
    ids, specs, levels, hours = [], [], [], []
    for i, row in enumerate(df.itertuples(index=False)):
        rec = row._asdict()
        cid = rec["coder_id"]
        if cid is None or (isinstance(cid, float) and math.isnan(cid)) or not str(cid).strip():
            raise RosterError(f"{source}: column 'coder_id' is empty at row {i}")
        cid = str(cid).strip()
        where = f"{source}: coder {cid!r} (row {i})"
        s = _specialty_set(rec["specialties"])
        if not s:
            raise RosterError(f"{where}: column 'specialties' is empty")
        unknown = [x for x in s if x not in known]
        if unknown:
            raise RosterError(f"{where}: column 'specialties' names unknown specialty {unknown[0]!r}; "
                              f"known: {sorted(known)}")
        try:
            rank = config.level_rank(rec["level"], where=f"{where}: column 'level'")
        except ValueError as exc:
            raise RosterError(str(exc)) from None
        try:
            h = float(rec["hours"])
        except (TypeError, ValueError):
            h = float("nan")
        if not np.isfinite(h) or h < 0 or h > 24:
            raise RosterError(f"{where}: column 'hours' has {rec['hours']!r}; expected 0-24")
        ids.append(cid)
        specs.append(frozenset(s))
        levels.append(rank)
        hours.append(h)
    if len(set(ids)) != len(ids):
        dup = next(x for x in ids if ids.count(x) > 1)
        raise RosterError(f"{source}: column 'coder_id' repeats {dup!r}")
    hours_arr = np.asarray(hours, float)
    return Roster(tuple(ids), tuple(specs), np.asarray(levels, np.int16), hours_arr,
                  hours_arr * 60.0 * config.productive_fraction)


def example_roster(n_coders: int = 50, hours: float = 7.5, seed: int = 0,
                   specialties: tuple[str, ...] = ("cardiology", "oncology", "obstetrics", "orthopaedics",
                                                   "neurology", "respiratory", "renal")) -> pd.DataFrame:
    """A plausible roster for demos and benchmarks: a third generalists, the rest one specialty
    each (cycling), experience levels 40% junior / 35% intermediate / 25% senior (seeded)."""
    rng = np.random.default_rng(seed)
    rows = []
    for j in range(n_coders):
        spec = "general" if j % 3 == 0 else f"{specialties[j % len(specialties)]};general"
        level = rng.choice(["junior", "intermediate", "senior"], p=[0.4, 0.35, 0.25])
        rows.append({"coder_id": f"coder-{j:03d}", "specialties": spec, "level": str(level), "hours": hours})
    return pd.DataFrame(rows)


def pool_roster(roster: Roster) -> Roster:
    """Merge coders with the same specialties and level into one pool with their summed minutes.

    Used by the backlog simulation, which needs each day's throughput rather than who codes what:
    the LP relaxation is unchanged by the merge (identical coders are interchangeable), the
    optimisation shrinks by the pool factor, and the only thing lost is the packing slack of
    splitting a pool's minutes between its coders (under one episode per coder per day).
    """
    keys: dict[tuple, list[int]] = {}
    for i, (specs, level) in enumerate(zip(roster.specialties, roster.levels)):
        keys.setdefault((specs, int(level)), []).append(i)
    groups = list(keys.values())
    return Roster(
        coder_ids=tuple("+".join(roster.coder_ids[i] for i in g) for g in groups),
        specialties=tuple(roster.specialties[g[0]] for g in groups),
        levels=np.array([roster.levels[g[0]] for g in groups], dtype=np.int16),
        hours=np.array([roster.hours[g].sum() for g in groups]),
        capacity=np.array([roster.capacity[g].sum() for g in groups]),
    )
