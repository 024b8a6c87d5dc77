"""Set metrics against scikit-learn and hand-worked examples."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, f1_score, jaccard_score, precision_score, recall_score
from sklearn.preprocessing import MultiLabelBinarizer

from triage.metrics import sets

CODES = ["I10.", "I50.9", "I50.1", "E11.9", "E11.65", "N17.9", "0QS734Z", "02HV33Z"]


def _random_lists(seed, n=60):
    rng = np.random.default_rng(seed)
    def draw():
        k = rng.integers(1, 5)
        return list(rng.choice(CODES, size=k, replace=False))
    return [draw() for _ in range(n)], [draw() for _ in range(n)]


def _binarize(pred, gold):
    mlb = MultiLabelBinarizer().fit(pred + gold)
    return mlb.transform(pred), mlb.transform(gold)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_full_level_matches_sklearn(seed):
    pred, gold = _random_lists(seed)
    P, Y = _binarize(pred, gold)
    assert sets.exact_match_ratio(pred, gold) == pytest.approx(accuracy_score(Y, P))
    assert sets.jaccard_score(pred, gold) == pytest.approx(jaccard_score(Y, P, average="samples"))
    micro = sets.micro_prf(pred, gold)
    assert micro["f1_micro"] == pytest.approx(f1_score(Y, P, average="micro"))
    assert micro["precision_micro"] == pytest.approx(precision_score(Y, P, average="micro"))
    assert micro["recall_micro"] == pytest.approx(recall_score(Y, P, average="micro"))
    macro = sets.macro_prf(pred, gold)
    assert macro["f1_macro"] == pytest.approx(f1_score(Y, P, average="macro", zero_division=0))
    assert macro["precision_macro"] == pytest.approx(
        precision_score(Y, P, average="macro", zero_division=0))
    assert macro["recall_macro"] == pytest.approx(
        recall_score(Y, P, average="macro", zero_division=0))


def test_truncated_levels_truncate_both_sides():
    pred = [["I50.9", "E11.65"]]
    gold = [["I50.1", "E11.69"]]
    assert sets.exact_match_ratio(pred, gold, "full") == 0.0
    assert sets.exact_match_ratio(pred, gold, 4) == 0.0  # I50.9 vs I50.1 differ at 4 chars
    assert sets.exact_match_ratio(pred, gold, 3) == 1.0
    assert sets.jaccard_score(pred, gold, 4) == pytest.approx(1 / 3)  # E11.6 shared


def test_truncation_keeps_code_systems_apart():
    # ICD-10-CM B20. and ICD-10-PCS B20... share 3 characters but are different systems
    assert sets.exact_match_ratio([["B20.1"]], [["B20ZZZZ"]], 3) == 0.0


def test_empty_sets_agree_and_mismatched_lengths_fail():
    assert sets.jaccard_score([[]], [[]]) == 1.0
    with pytest.raises(ValueError, match="aligned"):
        sets.jaccard_score([["I10."]], [["I10."], ["I10."]])


def test_macro_over_given_labels_counts_absent_codes_as_zero():
    res = sets.macro_prf([["I10."]], [["I10."]], labels=["I10.", "E11.9"])
    assert res["f1_macro"] == pytest.approx(0.5)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 100_000), st.sampled_from(["full", 4, 3]))
def test_property_bounds_and_ordering(seed, level):
    pred, gold = _random_lists(seed, n=20)
    em = sets.exact_match_per_episode(pred, gold, level)
    jac = sets.jaccard_per_episode(pred, gold, level)
    assert ((0 <= jac) & (jac <= 1)).all()
    assert (jac[em == 1] == 1).all()  # exact match implies Jaccard 1
    # equal sets stay equal when truncated further (Jaccard itself is not monotone)
    assert (sets.exact_match_per_episode(pred, gold, 3) >= em).all()
    assert sets.exact_match_ratio(gold, gold, level) == 1.0
