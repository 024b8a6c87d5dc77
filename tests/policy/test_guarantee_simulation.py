"""Monte-Carlo check of the guarantee: P(error among automated > alpha) <= delta over calibration draws.

Each scenario is a population of (confidence p, true probability of being correct q); a draw
samples m calibration episodes with correct ~ Bernoulli(q), a method picks a threshold, and the
violation is judged on the population's *true* error among episodes at or above it (computed
on a large reference sample). A method fails if its violation rate exceeds delta beyond its
binomial sampling error. Scenarios follow the ways real routing goes wrong: a calibrated model,
a low base rate (3% of episodes tractable), a top of the ranking that is worse than its
neighbours (non-monotone selective risk) and a flat null (every threshold's risk just above
alpha, so any automation is a violation). The plug-in rule is the negative control: the same
check must catch it. Every method runs at alpha = 0.05 and 0.10 and m = 500, 1,000 and 5,000; the
run's default is fixed-sequence Learn-then-Test started where an independent labelled sample (drawn
like the confidence model's calibration part, half the size) puts the start.
"""

import zlib

import numpy as np
import pytest
from scipy import stats

from triage.policy import CostModel, ThreeWayPolicy, risk_control

ALPHA, DELTA = 0.1, 0.1
ALPHAS = (0.05, 0.10)
DRAWS = 200
REFERENCE = 200_000


def _calibrated(rng, n):
    hi = rng.random(n) < 0.25
    p = np.where(hi, rng.beta(12, 1, n), rng.beta(1, 6, n))
    return p, p


def _low_base_rate(rng, n):
    hi = rng.random(n) < 0.03
    p = np.where(hi, rng.beta(40, 1, n), rng.beta(0.5, 40, n))
    return p, p


def _non_monotone(rng, n):
    p = rng.beta(8, 1.5, n)
    q = np.where(p > 0.995, 0.5, p)  # the most confident 2-3% are overconfident
    return p, q


def _flat_null(rng, n, alpha=ALPHA):
    p = rng.random(n)
    return p, np.full(n, 1 - alpha - 0.02)


SCENARIOS = {"calibrated": _calibrated, "low_base_rate": _low_base_rate, "non_monotone": _non_monotone,
             "flat_null": _flat_null}
METHODS = [("ltt", "fixed_sequence"), ("ltt", "holm"), ("sgr", "holm"), ("ltt", "fixed_sequence+reference")]
#: The pipeline's default: one fixed sequence from a start the calibration part's labels choose.
DEFAULT = ("ltt", "fixed_sequence+reference")


def _draw(scenario, rng, n, alpha):
    return SCENARIOS[scenario](rng, n, alpha) if scenario == "flat_null" else SCENARIOS[scenario](rng, n)


class Population:
    """True risk and share of 'automate p >= t' from a large reference sample of a scenario."""

    def __init__(self, scenario: str, alpha: float = ALPHA) -> None:
        self.alpha = alpha
        p, q = _draw(scenario, np.random.default_rng(99), REFERENCE, alpha)
        order = np.argsort(-p)
        self.p = p[order]
        self.err = np.cumsum(1 - q[order])

    def at(self, t: float) -> tuple[float, float]:
        n = int(np.searchsorted(-self.p, -t, side="right"))
        return n / self.p.size, (self.err[n - 1] / n if n else 0.0)

    def oracle(self) -> float:
        risk = self.err / np.arange(1, self.p.size + 1)
        ok = np.flatnonzero(risk <= self.alpha)
        return (ok.max() + 1) / self.p.size if ok.size else 0.0


def _simulate(scenario: str, m: int, choose, alpha: float = ALPHA) -> tuple[np.ndarray, np.ndarray]:
    """``choose(p, correct, reference)`` picks a threshold; ``reference`` is an independent labelled
    draw of m / 2 episodes (the calibration part's role)."""
    pop = Population(scenario, alpha)
    rng = np.random.default_rng(zlib.crc32(f"{scenario}-{m}-{alpha}".encode()))  # same draws in every process
    shares, violated = np.zeros(DRAWS), np.zeros(DRAWS, bool)
    for i in range(DRAWS):
        p, q = _draw(scenario, rng, m, alpha)
        correct = rng.random(m) < q
        p_ref, q_ref = _draw(scenario, rng, m // 2, alpha)
        t = choose(p, correct, (p_ref, rng.random(m // 2) < q_ref))
        shares[i], risk = pop.at(t) if np.isfinite(t) else (0.0, 0.0)
        violated[i] = shares[i] > 0 and risk > alpha
    return shares, violated


def _chooser(method: str, fwer: str, alpha: float):
    if fwer == "fixed_sequence+reference":
        return lambda p, c, ref: risk_control(p, c, alpha, DELTA, method, "fixed_sequence", reference=ref).threshold
    return lambda p, c, ref: risk_control(p, c, alpha, DELTA, method, fwer).threshold


def _too_many(violated: np.ndarray) -> bool:
    """Violation rate above delta beyond sampling error (one-sided exact test at 0.001)."""
    return stats.binom.sf(int(violated.sum()) - 1, violated.size, DELTA) < 0.001


@pytest.mark.slow
@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("m", [500, 1000, 5000])
def test_every_method_keeps_its_guarantee(scenario, m, alpha):
    results = {}
    for method, fwer in METHODS:
        shares, violated = _simulate(scenario, m, _chooser(method, fwer, alpha), alpha)
        assert not _too_many(violated), (f"{method}/{fwer} violated in {violated.mean():.1%} of draws "
                                         f"({scenario}, m={m}, alpha={alpha})")
        results[(method, fwer)] = shares.mean()
    oracle = Population(scenario, alpha).oracle()
    if scenario == "calibrated" and m == 5000:
        # not vacuous: the default automates a real share, at least as much as the others
        assert results[DEFAULT] >= 0.5 * oracle
        assert results[DEFAULT] >= 0.95 * max(results.values())
    if scenario == "non_monotone" and m == 5000:
        # one start placed by independent labels below the bad top does about as well as the two
        # label-free starts at half the level each (it does better where the level matters more)
        assert results[DEFAULT] >= 0.9 * results[("ltt", "fixed_sequence")]
    if scenario == "flat_null":
        assert oracle == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("weighted", [False, True])
def test_three_way_policy_under_a_per_group_split_keeps_the_guarantee(weighted):
    """Three-way thresholds chosen per group at delta/2 each (or, as the pipeline does, at unequal shares
    fixed in advance, each sequence started from an independent labelled sample): both groups hold at once."""
    pop = {"calibrated": Population("calibrated"), "non_monotone": Population("non_monotone")}
    costs = CostModel(manual_cost=20, assist_cost=8, error_cost=120, assist_error_cost=30)
    rng = np.random.default_rng(5)
    violated = np.zeros(DRAWS, bool)
    for i in range(DRAWS):
        ps, cs, gs, rp, rc, rg = [], [], [], [], [], []
        for name in pop:
            p, q = SCENARIOS[name](rng, 1500)
            ps.append(p), cs.append(rng.random(p.size) < q), gs.append(np.full(p.size, name))
            p, q = SCENARIOS[name](rng, 600)
            rp.append(p), rc.append(rng.random(p.size) < q), rg.append(np.full(p.size, name))
        extra = ({"group_deltas": {"calibrated": 0.3 * DELTA, "non_monotone": 0.7 * DELTA},
                  "reference": (np.concatenate(rp), np.concatenate(rc), np.concatenate(rg))} if weighted else {})
        policy = ThreeWayPolicy(costs=costs, alpha=ALPHA, delta=DELTA).fit(
            np.concatenate(ps), np.concatenate(cs), groups=np.concatenate(gs), **extra).policy_
        for name, population in pop.items():
            share, risk = population.at(policy.thresholds_for(name)[0])
            violated[i] |= share > 0 and risk > ALPHA
    assert not _too_many(violated)


@pytest.mark.slow
@pytest.mark.parametrize("alpha", ALPHAS)
def test_the_check_catches_an_unguaranteed_rule(alpha):
    """Negative control: the plug-in rule (lowest threshold whose calibration error is <= alpha)."""

    def plug_in(p, correct, _ref):
        order = np.argsort(-p)
        running = np.cumsum(~correct[order]) / np.arange(1, p.size + 1)
        ok = np.flatnonzero(running <= alpha)
        return p[order][ok.max()] if ok.size else np.inf

    _, violated = _simulate("calibrated", 1000, plug_in, alpha)
    assert _too_many(violated), f"plug-in violated in only {violated.mean():.1%} of draws"
