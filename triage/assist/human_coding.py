"""Simulated human coding, to measure an auditor without real coder errors.

The errors coders are reported to make (seed paper section 4.3; Searle et al. 2020; Cheng et
al. 2023): **omitted secondary codes** (under-coding), **wrong specificity** (a sibling code
that differs at the 4th/5th character, e.g. ``I50.9`` for ``I50.23``), and a **wrong
principal diagnosis** (a secondary diagnosis sequenced first). Per-code and per-episode rates
are one mix scaled so that the expected exact match of the simulated coding (the code *set*,
as the project's and the seed paper's instance accuracy compare) equals a target in the seed
paper's human range (54% in a UK study of 50 episodes, 67.5% in a UK hospital over 4 months):
the default 0.61 is the middle of that range. Wrong principals come on top at their share of
the mix (they leave the set unchanged): ``sequence_exact_match`` counts them too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq

from triage.assist.ontology import category_of
from triage.metrics.sequence import is_diagnosis_label

HUMAN_EXACT_MATCH = (0.54, 0.675)
#: Relative weight of each error pattern in the mix (omission most common).
DEFAULT_MIX = {"omit_secondary": 1.0, "wrong_specificity": 0.6, "wrong_principal": 2.0}


@dataclass
class HumanCoding:
    """Simulated first-pass coding: ordered lists, and the errors made in each episode."""

    coded: list[list[str]]
    errors: list[list[tuple[str, str, str | None]]]  # (kind, gold code, coded code or None)
    rates: dict[str, float] = field(default_factory=dict)

    @property
    def exact_match(self) -> float:
        """Share of episodes whose coded set equals the gold set."""
        if not self.errors:
            return float("nan")
        return float(np.mean([not any(k != "wrong_principal" for k, *_ in e) for e in self.errors]))

    @property
    def sequence_exact_match(self) -> float:
        """Share of episodes coded without any error (same set and same principal)."""
        return float(np.mean([not e for e in self.errors])) if self.errors else float("nan")


def _siblings(pool: Iterable[str]) -> dict[str, list[str]]:
    by_cat: dict[str, list[str]] = {}
    for lab in sorted(set(pool)):
        by_cat.setdefault(category_of(lab, 3), []).append(lab)
    return by_cat


def _exposure(gold: Sequence[Sequence[str]], sibs: dict[str, list[str]]):
    n_sec = np.array([max(len(g) - 1, 0) for g in gold], dtype=float)
    n_spec = np.array([sum(len(sibs.get(category_of(c, 3), ())) > 1 for c in g) for g in gold], dtype=float)
    has_sec_dx = np.array([sum(map(is_diagnosis_label, g)) > 1 for g in gold], dtype=float)
    return n_sec, n_spec, has_sec_dx


def rates_for_exact_match(
    gold: Sequence[Sequence[str]], pool: Iterable[str], target: float = 0.61,
    mix: dict[str, float] | None = None,
) -> dict[str, float]:
    """Error rates (per secondary code, per code, per episode) giving expected exact match ``target``."""
    if not 0.0 < target < 1.0:
        raise ValueError(f"target exact match must lie in (0, 1), got {target!r}")
    mix = {**DEFAULT_MIX, **(mix or {})}
    n_sec, n_spec, _ = _exposure(gold, _siblings(pool))

    def em(scale: float) -> float:
        po, ps = (min(scale * mix[k], 0.999) for k in ("omit_secondary", "wrong_specificity"))
        # independent per-code draws, as the simulation makes them (an omitted code cannot also
        # be mis-specified, so this slightly overstates the errors)
        return float(np.mean((1 - po) ** n_sec * (1 - ps) ** n_spec) - target)

    if em(0.0) <= 0:
        raise ValueError("no error-free coding can reach that exact match")
    hi = 1.0 / max(mix.values())
    scale = brentq(em, 0.0, hi) if em(hi) < 0 else hi
    return {k: min(scale * mix[k], 0.999) for k in ("omit_secondary", "wrong_specificity", "wrong_principal")}


def simulate_human_coding(
    gold: Sequence[Sequence[str]],
    pool: Iterable[str],
    target_exact_match: float = 0.61,
    rates: dict[str, float] | None = None,
    random_state: int | None = 0,
) -> HumanCoding:
    """First-pass human coding of each gold list with the reported error patterns.

    ``pool``: the labels a coder might write (for wrong-specificity siblings). ``rates``
    overrides the exact-match calibration.
    """
    pool = list(pool)
    sibs = _siblings(pool)
    r = rates or rates_for_exact_match(gold, pool, target_exact_match)
    rng = np.random.default_rng(random_state)
    coded, errors = [], []
    for g in gold:
        g = list(dict.fromkeys(g))
        out, err = [], []
        for j, c in enumerate(g):
            if j > 0 and rng.random() < r["omit_secondary"]:
                err.append(("omit_secondary", c, None))
                continue
            alts = [s for s in sibs.get(category_of(c, 3), ()) if s != c and s not in g]
            if alts and rng.random() < r["wrong_specificity"]:
                wrong = alts[int(rng.integers(len(alts)))]
                err.append(("wrong_specificity", c, wrong))
                out.append(wrong)
                continue
            out.append(c)
        dx_pos = [i for i, c in enumerate(out) if is_diagnosis_label(c)]
        if len(dx_pos) > 1 and rng.random() < r["wrong_principal"]:
            i = dx_pos[1 + int(rng.integers(len(dx_pos) - 1))]
            err.append(("wrong_principal", out[dx_pos[0]], out[i]))
            out.insert(dx_pos[0], out.pop(i))
        coded.append(out)
        errors.append(err)
    return HumanCoding(coded, errors, dict(r))
