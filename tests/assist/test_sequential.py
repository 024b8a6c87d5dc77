"""The simulated sequential coder: feedback re-ranks, metrics count steps."""

from __future__ import annotations

import numpy as np

from triage.assist.sequential import CompanionModel, simulate_sequential


def _row(pairs):
    return np.array([p[0] for p in pairs], dtype=object), np.array([p[1] for p in pairs])


def test_static_steps_and_precision_at_k():
    ranked = [_row([("A01.0", 0.9), ("B01.0", 0.8), ("C01.0", 0.7)])]
    res = simulate_sequential(ranked, [["A01.0", "C01.0"]], None, max_steps=3, sibling_factor=1.0)
    assert res.steps_static[0] == 3 and res.steps_sequential[0] == 3
    per = res.per_step()
    assert per["precision_at_k_static"].tolist() == [1.0, 0.5, 2 / 3]
    assert per["recall_at_k_static"].tolist() == [0.5, 0.5, 1.0]


def test_rejection_drops_siblings_and_acceptance_lifts_companions():
    # I50.9 wrong: its sibling I50.1 (also wrong) drops below J18.9
    ranked = [_row([("I50.9", 0.9), ("I50.1", 0.8), ("J18.9", 0.7)])]
    res = simulate_sequential(ranked, [["J18.9"]], None, sibling_factor=0.1)
    assert res.steps_static[0] == 3 and res.steps_sequential[0] == 2
    # accepting E11.9 lifts its training companion Z79.4 above an unrelated code
    comp = CompanionModel(min_pairs=2).fit([["E11.9", "Z79.4"]] * 5 + [["K21.9"]] * 20 + [["Z79.4"]] * 5)
    assert comp.lifts(comp.index_["E11.9"], comp.ids(["Z79.4", "K21.9", "X00.0"])).tolist()[0] > 1.0
    ranked = [_row([("E11.9", 0.9), ("K21.9", 0.5), ("Z79.4", 0.45)])]
    res = simulate_sequential(ranked, [["E11.9", "Z79.4"]], comp, lift_power=1.0)
    assert res.steps_static[0] == 3 and res.steps_sequential[0] == 2


def test_unreachable_gold_is_inf_and_summary():
    ranked = [_row([("A01.0", 0.9)]), _row([("B01.0", 0.9)])]
    res = simulate_sequential(ranked, [["A01.0"], ["Z99.9"]], None, max_steps=5)
    assert res.steps_static.tolist() == [1, np.inf]
    summary = res.summary()
    assert summary["full_recall_within_budget"].tolist() == [0.5, 0.5]
