"""Label-free early warning: has the routing-time stream drifted from the calibration reference?

No outcome is needed: these warnings come before the audits could show anything. Four
sequential tests, each an e-process with false-alarm control by Ville's inequality over an
unbounded horizon, ``delta`` split equally between them in advance (Bonferroni):

(a) ``confidence``: the calibrated ``p`` binned at the deciles of the calibration ``p``; H0: each
    routed episode falls in the bins with the calibration shares (10% each without ties).
(b) ``automation[<setting>]``, one per setting the policy automates in: H0: each routed episode
    of the setting is automated with the probability its calibration episodes were (the share
    at or above the setting's automate threshold), two-sided.
(c) ``setting_mix``: H0: the care settings arrive with the calibration mix (a setting unseen at
    calibration has reference share 0, so its first episode warns).
(d) ``unknown_codes``: one-sided, H0: the share of episodes with a code the model cannot read is
    <= reference + tolerance (the watch's e-process, :class:`triage.operation.watch.RiskWatch`).

(a)-(c) are multinomial tests with a Dirichlet mixture over the alternatives (Robbins 1970's
method of mixtures; the Dirichlet-multinomial likelihood ratio is closed-form in the counts:
``Gamma(A) / Gamma(A + n) prod_i Gamma(A q_i + c_i) / Gamma(A q_i) / prod_i q_i^c_i``), each
mixed over start times as in the watch (the cumulative test with weight 1/2, the test restarted
after every ``block`` episodes with weight ``1 / (2 b (b + 1))``, the latest ``max_components``
restarts kept), so that a late shift is caught within a few blocks. Under H0 (episodes i.i.d.
given the past with the reference probabilities) each component is a nonnegative martingale
with mean 1, the kept mixture is bounded by one, and P(max e-value >= 1/delta_stat ever) <=
delta_stat. The e-value is checked after every episode (exact whatever the batch size).

What H0 is, precisely: the reference shares are *estimates* from the calibration episodes. A
stream drawn from the calibration population differs from them by the estimation error (order
1/sqrt(n_calibration)), which a very long stream can detect: the false-warning bound holds for
the stated reference, and a warning on a stream many times longer than the calibration set may
reflect the calibration sample's own noise. The simulation test (tests/operation/test_drift.py)
checks the rate on streams 4x the calibration size drawn from the population.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import gammaln

from triage.jsonsafe import to_plain
from triage.operation.watch import RiskWatch
from triage.policy.guarantees import check_unit

DEFAULT_BLOCK = 500
DEFAULT_MAX_COMPONENTS = 16
START_WEIGHT = 0.5
OTHER = "(other)"
STATE_FORMAT = 1


def _dirichlet_log_lr(counts: np.ndarray, log_q: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """log Dirichlet-multinomial mixture likelihood ratio against q, for count vectors (..., d).

    Categories with q = 0 (prior 0) add nothing when empty and +inf when not.
    """
    n = counts.sum(axis=-1)
    conc = prior.sum()
    used = prior > 0
    c_used = counts[..., used]
    out = gammaln(conc) - gammaln(conc + n)
    out = out + (gammaln(prior[used] + c_used) - gammaln(prior[used]) - c_used * log_q[used]).sum(axis=-1)
    if not used.all():
        out = np.where(counts[..., ~used].sum(axis=-1) > 0, np.inf, out)
    return out


class MultinomialEProcess:
    """Sequential test of 'each observation falls in category i with probability q_i', mixed over
    alternatives (Dirichlet(A q), A = number of categories / 2) and over start times."""

    def __init__(self, q: Sequence[float], delta: float, *, block: int = DEFAULT_BLOCK,
                 max_components: int = DEFAULT_MAX_COMPONENTS) -> None:
        q_arr = np.asarray(q, dtype=float)
        if q_arr.ndim != 1 or q_arr.size < 2 or np.any(q_arr < 0) or not np.isclose(q_arr.sum(), 1.0):
            raise ValueError(f"q must be >= 2 probabilities summing to 1, got {list(q_arr)}")
        check_unit("delta", delta)
        if int(block) < 1 or int(max_components) < 0:
            raise ValueError("block must be >= 1 and max_components >= 0")
        self.q = q_arr / q_arr.sum()
        self.delta = float(delta)
        self.block = int(block)
        self.max_components = int(max_components)
        with np.errstate(divide="ignore"):
            self._log_q = np.log(self.q)
        self._prior = self.q * (self.q.size / 2.0)
        self.counts = np.zeros(self.q.size, dtype=np.int64)
        self._starts: list[np.ndarray] = []   # counts when each kept restart began (oldest first)
        self.log_max_e = 0.0
        self.warned_at: int | None = None

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def _log_e(self, counts: np.ndarray, n: np.ndarray) -> np.ndarray:
        """log E at the times with cumulative ``counts`` (T, d), ``n`` (T,), within one block."""
        b_now = int(n[0]) // self.block
        terms = [math.log(START_WEIGHT) + _dirichlet_log_lr(counts, self._log_q, self._prior)]
        first_b = b_now - len(self._starts) + 1
        for i, start in enumerate(self._starts):
            b = first_b + i
            w = (1.0 - START_WEIGHT) / (b * (b + 1.0))
            terms.append(math.log(w) + _dirichlet_log_lr(counts - start, self._log_q, self._prior))
        terms.append(np.full(n.shape, math.log((1.0 - START_WEIGHT) / (b_now + 1.0))))
        stacked = np.stack(terms)
        top = stacked.max(axis=0)
        with np.errstate(invalid="ignore"):
            out = top + np.log(np.exp(stacked - top).sum(axis=0))
        return np.where(np.isposinf(top), np.inf, out)

    def update(self, categories: np.ndarray) -> MultinomialEProcess:
        """Add observations (category indices) in arrival order; the maximum is taken after each."""
        cats = np.asarray(categories, dtype=np.int64)
        if cats.size and (cats.min() < 0 or cats.max() >= self.q.size):
            raise ValueError(f"categories must lie in [0, {self.q.size}), got {cats.min()}..{cats.max()}")
        threshold = math.log(1.0 / self.delta)
        i = 0
        while i < cats.size:
            n0 = self.n
            # a restart begins after every block: before an observation that makes n a multiple of block
            # (the segment n0+1 .. end keeps n // block constant except at its last point)
            end = min(cats.size, i + self.block - (n0 % self.block))
            seg = cats[i:end]
            onehot = np.zeros((seg.size, self.q.size), dtype=np.int64)
            onehot[np.arange(seg.size), seg] = 1
            cum = self.counts + np.cumsum(onehot, axis=0)
            ns = n0 + np.arange(1, seg.size + 1)
            if ns[-1] % self.block == 0:  # the last point opens a new block: handled with its restart
                inner, last = slice(0, seg.size - 1), seg.size - 1
            else:
                inner, last = slice(0, seg.size), None
            if ns[inner].size:
                self._observe(self._log_e(cum[inner], ns[inner]), ns[inner], threshold)
            self.counts = cum[-1].copy()
            if last is not None:
                if self.max_components:
                    self._starts.append(self.counts.copy())
                    if len(self._starts) > self.max_components:
                        self._starts.pop(0)
                self._observe(self._log_e(cum[last:], ns[last:]), ns[last:], threshold)
            i = end
        return self

    def _observe(self, log_e: np.ndarray, ns: np.ndarray, threshold: float) -> None:
        top = float(log_e.max())
        self.log_max_e = max(self.log_max_e, top)
        if self.warned_at is None and top >= threshold:
            self.warned_at = int(ns[int(np.argmax(log_e >= threshold))])

    def log_e_value(self) -> float:
        n = self.n
        if n == 0:
            return 0.0
        return float(self._log_e(self.counts[None, :], np.array([n]))[0])

    def reading(self) -> dict[str, Any]:
        return {"n": self.n, "e_value": _exp(self.log_e_value()), "max_e_value": _exp(self.log_max_e),
                "delta": self.delta, "warning": self.warned_at is not None, "warned_at": self.warned_at}

    def to_state(self) -> dict[str, Any]:
        return {"q": self.q.tolist(), "delta": self.delta, "block": self.block,
                "max_components": self.max_components, "counts": self.counts.tolist(),
                "starts": [s.tolist() for s in self._starts], "log_max_e": _finite(self.log_max_e),
                "warned_at": self.warned_at}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> MultinomialEProcess:
        try:
            out = cls(state["q"], state["delta"], block=state["block"], max_components=state["max_components"])
            out.counts = np.asarray(state["counts"], dtype=np.int64)
            out._starts = [np.asarray(s, dtype=np.int64) for s in state["starts"]]
            out.log_max_e = float(state["log_max_e"])
            out.warned_at = None if state["warned_at"] is None else int(state["warned_at"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"drift state is missing or has a bad field: {exc}") from None
        if out.counts.shape != out.q.shape or len(out._starts) != min(out.n // out.block, out.max_components):
            raise ValueError("drift state: counts/starts do not fit the categories, block and max_components")
        return out


def _exp(log_value: float) -> float:
    return math.exp(min(log_value, 709.0))


def _finite(value: float) -> float:
    return min(value, 1e300)


@dataclass(frozen=True)
class DriftReference:
    """What the routing-time stream is compared with, all from the calibration episodes."""

    p_bins: tuple[float, ...]               # inner bin edges of p (the calibration deciles, deduplicated)
    p_bin_shares: tuple[float, ...]         # calibration share in each bin (len(p_bins) + 1)
    setting_mix: dict[str, float]
    automation_rate: dict[str, float]       # per setting: calibration share at or above t_automate
    unknown_share: float = 0.0
    tolerance: float = 0.01
    n_calibration: int = 0
    thresholds: dict[str, float | None] = field(default_factory=dict)

    @classmethod
    def from_calibration(cls, p_calibration: Any, settings_calibration: Sequence[str],
                         thresholds: Mapping[str, float | None], unknown_share: float = 0.0,
                         tolerance: float = 0.01) -> DriftReference:
        p = np.asarray(p_calibration, dtype=float)
        s = np.asarray(settings_calibration, dtype=object).astype(str)
        if p.ndim != 1 or p.size < 10 or not np.all(np.isfinite(p)) or np.any((p < 0) | (p > 1)):
            raise ValueError("p_calibration must hold >= 10 probabilities in [0, 1]")
        if s.shape != p.shape:
            raise ValueError(f"settings_calibration has {s.size} values, p_calibration has {p.size}")
        if not 0 <= unknown_share < 1 or not 0 <= tolerance or unknown_share + tolerance >= 1:
            raise ValueError("unknown_share and tolerance must satisfy 0 <= unknown_share, 0 <= tolerance, sum < 1")
        edges = np.unique(np.quantile(p, np.linspace(0.1, 0.9, 9)))
        shares = np.bincount(np.searchsorted(edges, p, side="right"), minlength=edges.size + 1) / p.size
        names = sorted(np.unique(s).tolist())
        mix = {name: float(np.mean(s == name)) for name in names}
        rate: dict[str, float] = {}
        kept: dict[str, float | None] = {}
        for name in names:
            t = thresholds.get(name)
            kept[name] = None if t is None or not math.isfinite(float(t)) else float(t)
            rate[name] = 0.0 if kept[name] is None else float(np.mean(p[s == name] >= kept[name]))
        return cls(tuple(float(e) for e in edges), tuple(float(x) for x in shares), mix, rate,
                   float(unknown_share), float(tolerance), int(p.size), kept)

    def bin_of(self, p: np.ndarray) -> np.ndarray:
        return np.searchsorted(np.asarray(self.p_bins), p, side="right")

    def tested_settings(self) -> list[str]:
        """Settings whose automation rate can drift both ways (calibration rate strictly in (0, 1))."""
        return [s for s, r in sorted(self.automation_rate.items()) if 0.0 < r < 1.0]

    def to_dict(self) -> dict[str, Any]:
        return to_plain({"p_bins": list(self.p_bins), "p_bin_shares": list(self.p_bin_shares),
                         "setting_mix": self.setting_mix, "automation_rate": self.automation_rate,
                         "unknown_share": self.unknown_share, "tolerance": self.tolerance,
                         "n_calibration": self.n_calibration, "thresholds": self.thresholds}, nonfinite="null")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftReference:
        try:
            return cls(tuple(data["p_bins"]), tuple(data["p_bin_shares"]), dict(data["setting_mix"]),
                       dict(data["automation_rate"]), float(data["unknown_share"]), float(data["tolerance"]),
                       int(data.get("n_calibration", 0)), dict(data.get("thresholds", {})))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"drift reference is missing or has a bad field: {exc}") from None


class StreamDrift:
    """The four label-free drift tests of one policy version, ``delta`` split equally among them."""

    def __init__(self, reference: DriftReference, delta: float = 0.01, *, block: int = DEFAULT_BLOCK,
                 max_components: int = DEFAULT_MAX_COMPONENTS) -> None:
        check_unit("delta", delta)
        self.reference = reference
        self.delta = float(delta)
        settings = reference.tested_settings()
        self.statistics = ["confidence", *[f"automation[{s}]" for s in settings], "setting_mix", "unknown_codes"]
        d = self.delta / len(self.statistics)
        self.delta_per_statistic = d
        kw = {"block": block, "max_components": max_components}
        self._confidence = MultinomialEProcess(reference.p_bin_shares, d, **kw)
        self._automation = {s: MultinomialEProcess([1 - reference.automation_rate[s],
                                                    reference.automation_rate[s]], d, **kw) for s in settings}
        self._mix_names = sorted(reference.setting_mix)
        self._mix = MultinomialEProcess([reference.setting_mix[s] for s in self._mix_names] + [0.0], d, **kw)
        self._unknown = RiskWatch(reference.unknown_share + reference.tolerance, d, block=block,
                                  max_components=max_components)
        self._observed_bins = np.zeros(len(reference.p_bin_shares), dtype=np.int64)

    def update(self, p: Any, settings: Sequence[str], automated: Any, unknown: Any) -> StreamDrift:
        """Add routed episodes in arrival order: confidence, care setting, automated?, any unknown code?"""
        p_arr = np.asarray(p, dtype=float).reshape(-1)
        s = np.asarray(settings, dtype=object).astype(str).reshape(-1)
        auto = np.asarray(automated).reshape(-1)
        unk = np.asarray(unknown).reshape(-1)
        for name, arr in (("settings", s), ("automated", auto), ("unknown", unk)):
            if arr.size != p_arr.size:
                raise ValueError(f"{name} has {arr.size} values, p has {p_arr.size}")
        if not np.all(np.isfinite(p_arr)) or np.any((p_arr < 0) | (p_arr > 1)):
            raise ValueError("p must hold probabilities in [0, 1]")
        for name, arr in (("automated", auto), ("unknown", unk)):
            if arr.size and not np.isin(arr, (0, 1, True, False)).all():
                raise ValueError(f"{name} must hold 0/1 or booleans")
        auto, unk = auto.astype(bool), unk.astype(bool)
        bins = self.reference.bin_of(p_arr)
        self._observed_bins += np.bincount(bins, minlength=self._observed_bins.size)
        self._confidence.update(bins)
        for name, proc in self._automation.items():
            proc.update(auto[s == name].astype(np.int64))
        index = {n: i for i, n in enumerate(self._mix_names)}
        self._mix.update(np.array([index.get(x, len(self._mix_names)) for x in s], dtype=np.int64))
        self._unknown.update(unk)
        return self

    def reading(self) -> dict[str, Any]:
        ref = self.reference
        out: dict[str, Any] = {}
        conf = self._confidence.reading()
        n = max(conf["n"], 1)
        conf["observed_vs_reference"] = {"bin_shares": (self._observed_bins / n).round(4).tolist(),
                                         "reference_shares": list(ref.p_bin_shares), "bin_edges": list(ref.p_bins)}
        out["confidence"] = conf
        for name, proc in self._automation.items():
            r = proc.reading()
            r["observed_vs_reference"] = {"automation_rate": proc.counts[1] / proc.n if proc.n else None,
                                          "reference": ref.automation_rate[name]}
            out[f"automation[{name}]"] = r
        mix = self._mix.reading()
        m = max(self._mix.n, 1)
        observed = {name: float(self._mix.counts[i] / m) for i, name in enumerate(self._mix_names)}
        observed[OTHER] = float(self._mix.counts[-1] / m)
        mix["observed_vs_reference"] = {"mix": observed, "reference": dict(ref.setting_mix)}
        out["setting_mix"] = mix
        w = self._unknown.reading()
        out["unknown_codes"] = {"n": w.n, "e_value": w.e_value, "max_e_value": w.max_e_value,
                                "delta": self.delta_per_statistic, "warning": w.violated_at is not None,
                                "warned_at": w.violated_at,
                                "observed_vs_reference": {"unknown_share": w.realised_error,
                                                          "reference": ref.unknown_share,
                                                          "tolerance": ref.tolerance}}
        result = {"statistics": to_plain(out, nonfinite="null"), "delta": self.delta,
                  "warning": any(v["warning"] for v in out.values()),
                  "untested_settings": sorted(set(ref.automation_rate) - set(self._automation))}
        return result

    def to_state(self) -> dict[str, Any]:
        return {"format": STATE_FORMAT, "reference": self.reference.to_dict(), "delta": self.delta,
                "block": self._confidence.block, "max_components": self._confidence.max_components,
                "confidence": self._confidence.to_state(),
                "automation": {k: v.to_state() for k, v in self._automation.items()},
                "setting_mix": self._mix.to_state(), "unknown_codes": self._unknown.to_state(),
                "observed_bins": self._observed_bins.tolist()}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> StreamDrift:
        if not isinstance(state, Mapping) or state.get("format") != STATE_FORMAT:
            raise ValueError(f"drift state must be a mapping with format {STATE_FORMAT}")
        try:
            out = cls(DriftReference.from_dict(state["reference"]), state["delta"], block=state["block"],
                      max_components=state["max_components"])
            out._confidence = MultinomialEProcess.from_state(state["confidence"])
            if set(state["automation"]) != set(out._automation):
                raise ValueError("drift state: automation statistics do not match the reference")
            out._automation = {k: MultinomialEProcess.from_state(v) for k, v in state["automation"].items()}
            out._mix = MultinomialEProcess.from_state(state["setting_mix"])
            out._unknown = RiskWatch.from_state(state["unknown_codes"])
            out._observed_bins = np.asarray(state["observed_bins"], dtype=np.int64)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"drift state is missing or has a bad field: {exc}") from None
        return out
