import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score

from triage.coder import CodeScores, DecisionRule

CLASSES = np.array(["I10.", "I50.9", "E11.9", "0QS734Z", "N17.9"], dtype=object)


def _case(seed, n=60):
    rng = np.random.default_rng(seed)
    Y = rng.random((n, len(CLASSES))) < 0.3
    dense = np.clip(Y * 0.4 + rng.random(Y.shape) * 0.6, 0, 1).astype(np.float32)
    gold = [list(CLASSES[Y[i]]) for i in range(n)]
    return CodeScores(np.arange(n), CLASSES, dense), gold, Y, dense


def test_global_threshold_maximises_micro_f1_on_grid():
    scores, gold, Y, dense = _case(0)
    rule = DecisionRule().fit(scores, gold)
    grid = np.linspace(0, 1, 100)
    f1s = [f1_score(Y.ravel(), dense.ravel() > t) for t in grid]
    assert rule.threshold_ == pytest.approx(grid[int(np.argmax(f1s))])
    assert rule.f1_micro_ == pytest.approx(max(f1s))


def test_predict_is_strict_and_ordered_by_score():
    scores = CodeScores([1, 2], CLASSES, np.array(
        [[0.5, 0.9, 0.7, 0.0, 0.2], [0.51, 0.1, 0.1, 0.8, 0.1]], dtype=np.float32))
    rule = DecisionRule(threshold=0.5)
    assert rule.predict(scores) == [["I50.9", "E11.9"], ["0QS734Z", "I10."]]
    assert rule.predict_row(scores.row(0)) == ["I50.9", "E11.9"]
    top = DecisionRule(kind="top_k", k=2)
    assert top.predict(scores) == [["I50.9", "E11.9"], ["0QS734Z", "I10."]]


def test_per_code_thresholds_beat_or_match_global_on_fit_data():
    scores, gold, Y, dense = _case(1, n=200)
    g = DecisionRule().fit(scores, gold)
    p = DecisionRule(kind="per_code").fit(scores, gold)
    assert p.thresholds_.shape == (len(CLASSES),)
    pred_f1 = lambda rule: f1_score(Y, np.isin(CLASSES, []) | _ind(rule.predict(scores)), average="macro")
    assert pred_f1(p) >= pred_f1(g) - 1e-12
    again = DecisionRule.from_dict(p.to_dict())
    assert again.predict(scores) == p.predict(scores)
    assert again.predict_row(scores.row(3)) == p.predict(scores)[3]


def _ind(lists):
    return np.array([[c in labs for c in CLASSES] for labs in lists])


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.floats(0, 0.99))
def test_property_predict_row_equals_predict(seed, t):
    scores, _, _, dense = _case(seed, n=10)
    rule = DecisionRule(threshold=t)
    preds = rule.predict(scores)
    for i in range(len(scores)):
        assert preds[i] == rule.predict_row(scores.row(i))
        assert set(preds[i]) == set(CLASSES[dense[i] > t])
        s = [dense[i, list(CLASSES).index(lab)] for lab in preds[i]]
        assert s == sorted(s, reverse=True)


def test_bad_kind_is_rejected():
    scores, gold, _, _ = _case(2)
    with pytest.raises(ValueError, match="kind must be"):
        DecisionRule(kind="median").fit(scores, gold)


def test_rule_honours_the_scikit_learn_estimator_contract():
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    scores, gold, _, _ = _case(3)
    rule = DecisionRule(kind="per_code", threshold=0.4, k=5, grid=[0.2, 0.4, 0.6])
    assert rule.get_params() == {"kind": "per_code", "threshold": 0.4, "k": 5, "grid": [0.2, 0.4, 0.6]}
    twin = clone(rule)
    assert twin.get_params() == rule.get_params() and twin is not rule
    for unfitted in (DecisionRule(), DecisionRule(kind="per_code"), DecisionRule(kind="per_code", threshold=0.4)):
        with pytest.raises(NotFittedError):
            check_is_fitted(unfitted)
        with pytest.raises(NotFittedError):
            unfitted.predict(scores)
        with pytest.raises(NotFittedError):
            unfitted.predict_row(scores.row(0))
    fitted = clone(rule).fit(scores, gold)
    check_is_fitted(fitted)
    assert not hasattr(clone(fitted), "thresholds_")  # clone copies parameters, not learned state
    assert fitted.threshold_ == 0.4  # the fixed fallback is kept; per-code thresholds are tuned
    assert set(fitted.thresholds_) <= {0.2, 0.4, 0.6}


def test_a_fixed_threshold_needs_no_fitting_and_fit_keeps_it():
    from sklearn.utils.validation import check_is_fitted

    scores, gold, Y, dense = _case(4)
    fixed = DecisionRule(threshold=0.7)
    check_is_fitted(fixed)  # stateless: predicts at once
    assert fixed.predict(scores) == [list(CLASSES[np.argsort(-dense[i], kind="stable")][
        np.sort(dense[i])[::-1] > 0.7]) for i in range(len(scores))]
    fixed.fit(scores, gold)
    assert fixed.threshold_ == 0.7
    assert fixed.f1_micro_ == pytest.approx(f1_score(Y.ravel(), dense.ravel() > 0.7))
    check_is_fitted(DecisionRule(kind="top_k", k=3))
    again = DecisionRule.from_dict(DecisionRule(kind="top_k", k=2).to_dict())
    assert again.predict(scores) == DecisionRule(kind="top_k", k=2).predict(scores)
