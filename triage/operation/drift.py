"""Label-free early warning: has the routing-time stream drifted from the calibration reference?

No outcome is needed, so these warnings can come before the audits show anything. Four kinds of
statistic, each a set of shares of the routed stream compared with the calibration episodes:

(a) ``confidence``: the share of routed episodes in each bin of ``p``, the bins cut at the
    deciles of the calibration ``p`` (order statistics);
(b) ``automation[<setting>]``: the share of a setting's routed episodes that is automated,
    against the calibration share at or above the setting's automate threshold;
(c) ``setting_mix``: the share of each care setting (a setting unseen at calibration included);
(d) ``unknown_codes``: one-sided, the share of episodes with a code the model cannot read.

**Why bands, not point references.** The reference shares are estimates from the calibration
episodes; a test of "the stream's share equals the calibration share" eventually warns on a
stream drawn from the very population the calibration episodes came from (measured: a 20,000
episode stream against 5,000 calibration episodes warned on the automation rate). So each
reference share is a band: the two-sided Clopper-Pearson interval of the calibration count at
level ``1 - reference_delta / (number of bands)`` (Bonferroni). For a bin cut at calibration order
statistics the interval is exact for continuous ``p``: the population mass between two order
statistics is Beta(k, n - k + 1) distributed. With ties in ``p`` it is approximate. (d) uses the
stated reference plus a tolerance instead of a band.

**The tests.** For each band ``[lo, hi]``, H0+ "every routed episode falls in the category with
conditional probability <= hi" and H0- ">= lo" are each tested with the watch's e-process
(:class:`triage.operation.watch.RiskWatch`: a mixture of Bernoulli likelihood-ratio bets, valid
for the composite one-sided null, mixed over start times so that a late shift is caught, with
Ville's inequality over an unbounded horizon). ``delta`` is split equally over all these
one-sided tests in advance. A side with nothing to test (``hi = 1`` or ``lo = 0``) is left out.

What is guaranteed: if the calibration episodes are an i.i.d. sample of a population and the
routed episodes are drawn i.i.d. from the same population (more generally, each with conditional
category probabilities inside the bands), the probability of any warning, ever, is at most
``reference_delta + delta``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from triage.jsonsafe import to_plain
from triage.operation.watch import RiskWatch
from triage.policy.guarantees import check_unit, clopper_pearson_interval

DEFAULT_BLOCK = 500
DEFAULT_MAX_COMPONENTS = 16
DEFAULT_REFERENCE_DELTA = 0.005
OTHER = "(other)"
STATE_FORMAT = 1


def _band(k: int, n: int, level: float) -> tuple[float, float]:
    lo, hi = clopper_pearson_interval(k, n, level)
    return float(lo), float(hi)


@dataclass(frozen=True)
class DriftReference:
    """What the routing-time stream is compared with, all from the calibration episodes."""

    p_bins: tuple[float, ...]                    # inner edges of the p bins (calibration deciles)
    p_bin_shares: tuple[float, ...]              # calibration share per bin (len(p_bins) + 1)
    setting_mix: dict[str, float]                # calibration share per setting
    automation_rate: dict[str, float]            # per setting with a finite threshold: share p >= t
    unknown_share: float = 0.0
    tolerance: float = 0.01
    p_bin_bands: tuple[tuple[float, float], ...] = ()
    setting_bands: dict[str, tuple[float, float]] = field(default_factory=dict)   # incl. OTHER
    automation_bands: dict[str, tuple[float, float]] = field(default_factory=dict)
    reference_delta: float = DEFAULT_REFERENCE_DELTA
    n_calibration: int = 0

    @classmethod
    def from_calibration(cls, p_calibration: Any, settings_calibration: Sequence[str],
                         thresholds: Mapping[str, float | None], unknown_share: float = 0.0,
                         tolerance: float = 0.01, reference_delta: float = DEFAULT_REFERENCE_DELTA
                         ) -> DriftReference:
        """The reference of a policy from its calibration episodes' ``p`` and settings and its
        per-setting automate thresholds (None or inf: the setting automates nothing)."""
        p = np.asarray(p_calibration, dtype=float).reshape(-1)
        s = np.asarray(settings_calibration, dtype=object).astype(str).reshape(-1)
        if p.size < 10 or not np.all(np.isfinite(p)) or np.any((p < 0) | (p > 1)):
            raise ValueError("p_calibration must hold >= 10 probabilities in [0, 1]")
        if s.shape != p.shape:
            raise ValueError(f"settings_calibration has {s.size} values, p_calibration has {p.size}")
        if not (0 <= unknown_share < 1 and 0 <= tolerance and unknown_share + tolerance < 1):
            raise ValueError("need 0 <= unknown_share, 0 <= tolerance and unknown_share + tolerance < 1")
        check_unit("reference_delta", reference_delta)
        n = p.size
        ordered = np.sort(p)
        edges = np.unique(ordered[np.ceil(np.arange(1, 10) * n / 10).astype(int)])
        bin_counts = np.bincount(np.searchsorted(edges, p, side="right"), minlength=edges.size + 1)
        names = sorted(np.unique(s).tolist())
        auto: dict[str, tuple[int, int]] = {}
        for name in names:
            t = thresholds.get(name)
            if t is not None and math.isfinite(float(t)):
                m = s == name
                auto[name] = (int((p[m] >= float(t)).sum()), int(m.sum()))
        n_bands = bin_counts.size + len(names) + 1 + len(auto)
        level = 1.0 - reference_delta / n_bands
        return cls(
            p_bins=tuple(float(e) for e in edges),
            p_bin_shares=tuple(float(c / n) for c in bin_counts),
            setting_mix={name: float(np.mean(s == name)) for name in names},
            automation_rate={name: k / m for name, (k, m) in auto.items()},
            unknown_share=float(unknown_share), tolerance=float(tolerance),
            p_bin_bands=tuple(_band(int(c), n, level) for c in bin_counts),
            setting_bands={**{name: _band(int((s == name).sum()), n, level) for name in names},
                           OTHER: _band(0, n, level)},
            automation_bands={name: _band(k, m, level) for name, (k, m) in auto.items()},
            reference_delta=float(reference_delta), n_calibration=int(n),
        )

    def bin_of(self, p: np.ndarray) -> np.ndarray:
        return np.searchsorted(np.asarray(self.p_bins), p, side="right")

    def to_dict(self) -> dict[str, Any]:
        return to_plain({f: getattr(self, f) for f in self.__dataclass_fields__}, nonfinite="null")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftReference:
        try:
            return cls(
                p_bins=tuple(float(x) for x in data["p_bins"]),
                p_bin_shares=tuple(float(x) for x in data["p_bin_shares"]),
                setting_mix={str(k): float(v) for k, v in data["setting_mix"].items()},
                automation_rate={str(k): float(v) for k, v in data["automation_rate"].items()},
                unknown_share=float(data["unknown_share"]), tolerance=float(data["tolerance"]),
                p_bin_bands=tuple((float(a), float(b)) for a, b in data["p_bin_bands"]),
                setting_bands={str(k): (float(a), float(b)) for k, (a, b) in data["setting_bands"].items()},
                automation_bands={str(k): (float(a), float(b)) for k, (a, b) in data["automation_bands"].items()},
                reference_delta=float(data["reference_delta"]), n_calibration=int(data["n_calibration"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"drift reference is missing or has a bad field: {exc!r}") from None


class _BandTest:
    """Two one-sided watches on a share: above ``hi`` and below ``lo`` (a side with nothing to test is left out)."""

    def __init__(self, lo: float, hi: float, delta: float, block: int, max_components: int) -> None:
        kw = {"block": block, "max_components": max_components}
        self.lo, self.hi = lo, hi
        self.above = RiskWatch(hi, delta, **kw) if hi < 1 else None
        self.below = RiskWatch(1.0 - lo, delta, **kw) if lo > 0 else None   # fed the complement
        self.n = 0
        self.hits = 0

    @property
    def sides(self) -> int:
        return (self.above is not None) + (self.below is not None)

    def update(self, x: np.ndarray) -> None:
        self.n += int(x.size)
        self.hits += int(x.sum())
        if self.above is not None:
            self.above.update(x)
        if self.below is not None:
            self.below.update(~x)

    def watches(self) -> list[RiskWatch]:
        return [w for w in (self.above, self.below) if w is not None]

    def to_state(self) -> dict[str, Any]:
        return {"n": self.n, "hits": self.hits, "above": None if self.above is None else self.above.to_state(),
                "below": None if self.below is None else self.below.to_state()}

    def load(self, state: Mapping[str, Any]) -> None:
        self.n, self.hits = int(state["n"]), int(state["hits"])
        if (state["above"] is None) != (self.above is None) or (state["below"] is None) != (self.below is None):
            raise ValueError("drift state does not match the reference's bands")
        self.above = None if state["above"] is None else RiskWatch.from_state(state["above"])
        self.below = None if state["below"] is None else RiskWatch.from_state(state["below"])


class StreamDrift:
    """The label-free drift tests of one policy version; ``delta`` is split over every one-sided test."""

    def __init__(self, reference: DriftReference, delta: float = 0.01, *, block: int = DEFAULT_BLOCK,
                 max_components: int = DEFAULT_MAX_COMPONENTS) -> None:
        check_unit("delta", delta)
        self.reference = reference
        self.delta = float(delta)
        self.block, self.max_components = int(block), int(max_components)
        bands: dict[str, dict[str, tuple[float, float]]] = {
            "confidence": {f"bin{i}": b for i, b in enumerate(reference.p_bin_bands)},
            **{f"automation[{s}]": {"automated": b} for s, b in sorted(reference.automation_bands.items())},
            "setting_mix": dict(sorted(reference.setting_bands.items())),
        }
        sides = sum((lo > 0) + (hi < 1) for stat in bands.values() for lo, hi in stat.values()) + 1  # + unknown
        self.delta_per_test = self.delta / sides
        self._tests = {stat: {cat: _BandTest(lo, hi, self.delta_per_test, self.block, self.max_components)
                              for cat, (lo, hi) in cats.items()} for stat, cats in bands.items()}
        self._unknown = RiskWatch(reference.unknown_share + reference.tolerance, self.delta_per_test,
                                  block=self.block, max_components=self.max_components)

    @property
    def statistics(self) -> list[str]:
        return [*self._tests, "unknown_codes"]

    def update(self, p: Any, settings: Sequence[str], automated: Any, unknown: Any) -> StreamDrift:
        """Add routed episodes in arrival order: confidence, care setting, automated?, any unknown code?"""
        p_arr = np.asarray(p, dtype=float).reshape(-1)
        s = np.asarray(settings, dtype=object).astype(str).reshape(-1)
        flags = {}
        for name, value in (("automated", automated), ("unknown", unknown)):
            arr = np.asarray(value).reshape(-1)
            if arr.size != p_arr.size:
                raise ValueError(f"{name} has {arr.size} values, p has {p_arr.size}")
            if arr.size and not (arr.dtype.kind == "b" or np.isin(arr, (0, 1)).all()):
                raise ValueError(f"{name} must hold 0/1 or booleans")
            flags[name] = arr.astype(bool)
        if s.size != p_arr.size:
            raise ValueError(f"settings has {s.size} values, p has {p_arr.size}")
        if not np.all(np.isfinite(p_arr)) or np.any((p_arr < 0) | (p_arr > 1)):
            raise ValueError("p must hold probabilities in [0, 1]")
        bins = self.reference.bin_of(p_arr)
        for i, test in enumerate(self._tests["confidence"].values()):
            test.update(bins == i)
        for setting in self.reference.automation_bands:
            self._tests[f"automation[{setting}]"]["automated"].update(flags["automated"][s == setting])
        known = np.isin(s, list(self.reference.setting_mix))
        for name, test in self._tests["setting_mix"].items():
            test.update(~known if name == OTHER else s == name)
        self._unknown.update(flags["unknown"])
        return self

    def reading(self) -> dict[str, Any]:
        """Per statistic: n, e_value / max_e_value (the largest over its one-sided tests), the
        threshold 1/delta_per_test, warning, warned_at, and observed shares against the bands."""
        out: dict[str, Any] = {}
        threshold = 1.0 / self.delta_per_test
        for stat, cats in self._tests.items():
            watches = [w for t in cats.values() for w in t.watches()]
            values = [w.e_values() for w in watches]
            crossed = [w.violated_at for w in watches if w.violated_at is not None]
            n = max((t.n for t in cats.values()), default=0)
            out[stat] = {
                "n": n,
                "e_value": max((v[0] for v in values), default=1.0),
                "max_e_value": max((v[1] for v in values), default=1.0),
                "threshold": threshold,
                "warning": bool(crossed),
                "warned_at": min(crossed) if crossed else None,
                "observed_vs_reference": {
                    cat: {"observed": t.hits / t.n if t.n else None, "band": [t.lo, t.hi]} for cat, t in cats.items()
                },
            }
        w = self._unknown
        e, e_max = w.e_values()
        out["unknown_codes"] = {
            "n": w.n, "e_value": e, "max_e_value": e_max, "threshold": threshold,
            "warning": w.violated_at is not None, "warned_at": w.violated_at,
            "observed_vs_reference": {"observed": w.errors / w.n if w.n else None,
                                      "reference": self.reference.unknown_share,
                                      "tolerance": self.reference.tolerance},
        }
        return to_plain({"statistics": out, "delta": self.delta, "reference_delta": self.reference.reference_delta,
                         "delta_per_test": self.delta_per_test,
                         "warning": any(v["warning"] for v in out.values())}, nonfinite="null")

    def to_state(self) -> dict[str, Any]:
        return {"format": STATE_FORMAT, "reference": self.reference.to_dict(), "delta": self.delta,
                "block": self.block, "max_components": self.max_components,
                "tests": {stat: {cat: t.to_state() for cat, t in cats.items()} for stat, cats in self._tests.items()},
                "unknown_codes": self._unknown.to_state()}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> StreamDrift:
        if not isinstance(state, Mapping) or state.get("format") != STATE_FORMAT:
            raise ValueError(f"drift state must be a mapping with format {STATE_FORMAT}")
        try:
            out = cls(DriftReference.from_dict(state["reference"]), state["delta"], block=state["block"],
                      max_components=state["max_components"])
            tests = state["tests"]
            if {k: set(v) for k, v in tests.items()} != {k: set(v) for k, v in out._tests.items()}:
                raise ValueError("drift state: its statistics do not match the reference")
            for stat, cats in out._tests.items():
                for cat, test in cats.items():
                    test.load(tests[stat][cat])
            out._unknown = RiskWatch.from_state(state["unknown_codes"])
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"drift state is missing or has a bad field: {exc!r}") from None
        return out
