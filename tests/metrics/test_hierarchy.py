"""CoPHE-style hierarchical F1 and steps to full recall."""

import numpy as np

from triage.coder.align import align
from triage.coder.scores import CodeScores
from triage.metrics import evaluate
from triage.metrics.hierarchy import hierarchical_counts, hierarchical_prf
from triage.metrics.ranking import row_ranking, steps_to_full_recall_per_episode


def test_sibling_costs_less_than_an_unrelated_code():
    gold = [["I50.23"]]
    sibling = hierarchical_prf([["I50.9"]], gold)["hierarchical_f1"]
    cousin = hierarchical_prf([["I50.1"]], gold)["hierarchical_f1"]  # same 3-char, other 4th
    unrelated = hierarchical_prf([["J18.9"]], gold)["hierarchical_f1"]
    exact = hierarchical_prf([["I50.23"]], gold)["hierarchical_f1"]
    assert exact == 1.0 and unrelated == 0.0
    assert sibling > unrelated and sibling == cousin  # right category, wrong 4th character
    assert hierarchical_prf([["I50.21"]], gold)["hierarchical_f1"] > sibling  # right 4-char stem too


def test_counts_are_preserved_at_parent_level():
    # two gold codes under I50 need two predictions there: one prediction is credited once
    c = hierarchical_counts([["I50.9"]], [["I50.23", "I50.1"]], levels=("3",))
    assert (c["tp"][0], c["fp"][0], c["fn"][0]) == (1, 0, 1)
    # ICD-10-PCS: same section and body system counts at the first level
    c = hierarchical_counts([["0QS734Z"]], [["0QS634Z"]], levels=("3", "4", "full"))
    assert c["tp"][0] == 2 and c["fp"][0] == 1 and c["fn"][0] == 1


def test_steps_to_full_recall_and_evaluate_keys():
    classes = np.array(["A01.0", "B01.0", "C01.0", "D01.0"], dtype=object)
    dense = np.array([[0.9, 0.8, 0.7, 0.1], [0.9, 0.0, 0.0, 0.0]], dtype=np.float32)
    scores = CodeScores([1, 2], classes, dense)
    gold = [["A01.0", "C01.0"], ["A01.0", "D01.0"]]
    rr = row_ranking(align(scores, gold))
    steps = steps_to_full_recall_per_episode(rr, max_steps=10)
    assert steps.tolist() == [3.0, np.inf]  # D01.0 is never suggested to episode 2
    res = evaluate([["A01.0"], ["A01.0"]], gold, scores, ci=None)
    assert res["full_recall_within_budget"] == 0.5 and res["recall_at_5"] == 0.75
    assert 0 < res["hierarchical_f1"] < 1 and "hierarchical_precision" in res
