"""Ranking metrics on sparse scores equal scikit-learn's on the densified data."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    average_precision_score,
    coverage_error,
    label_ranking_average_precision_score,
    roc_auc_score,
)

from triage.coder.align import align
from triage.coder.scores import CodeScores
from triage.metrics import ranking


def _random_case(seed, n=40, m=12, density=0.5, rounding=None):
    rng = np.random.default_rng(seed)
    dense = rng.random((n, m)).astype(np.float32)
    dense[rng.random((n, m)) > density] = 0.0  # unstored = 0
    if rounding:
        dense = np.round(dense, rounding).astype(np.float32)  # force ties
    Y = rng.random((n, m)) < 0.25
    Y[np.arange(n), rng.integers(0, m, n)] = True  # every row has a gold code
    classes = np.array([f"A{j:02d}.1" for j in range(m)], dtype=object)
    gold = [list(classes[Y[i]]) for i in range(n)]
    scores = CodeScores(np.arange(n), classes, sp.csr_matrix(dense))
    return dense, Y, scores, gold


@pytest.mark.parametrize("seed,rounding", [(0, None), (1, 1), (2, 2), (3, None)])
def test_auc_and_ap_match_sklearn(seed, rounding):
    dense, Y, scores, gold = _random_case(seed, rounding=rounding)
    a = align(scores, gold)
    assert ranking.auc_roc_micro(a) == pytest.approx(roc_auc_score(Y.ravel(), dense.ravel()))
    ok = (Y.sum(0) > 0) & (Y.sum(0) < len(Y))
    want_macro = np.mean([roc_auc_score(Y[:, j], dense[:, j]) for j in np.flatnonzero(ok)])
    assert ranking.auc_roc_macro(a) == pytest.approx(want_macro)
    per_auc = ranking.per_code_auc_roc(a)
    for j in np.flatnonzero(ok):
        assert per_auc[j] == pytest.approx(roc_auc_score(Y[:, j], dense[:, j]))
    per_ap = ranking.per_code_average_precision(a)
    for j in np.flatnonzero(Y.sum(0) > 0):
        assert per_ap[j] == pytest.approx(average_precision_score(Y[:, j], dense[:, j]))


@pytest.mark.parametrize("seed,rounding", [(4, None), (5, 1), (6, 2)])
def test_document_metrics_match_sklearn(seed, rounding):
    dense, Y, scores, gold = _random_case(seed, rounding=rounding)
    rr = ranking.row_ranking(align(scores, gold))
    assert np.mean(ranking.average_precision_per_episode(rr)) == pytest.approx(
        label_ranking_average_precision_score(Y, dense)
    )
    assert np.mean(ranking.coverage_error_per_episode(rr)) == pytest.approx(
        coverage_error(Y, dense)
    )


def test_topk_metrics_against_brute_force():
    dense, Y, scores, gold = _random_case(7, n=30, m=25, density=0.9)
    rr = ranking.row_ranking(align(scores, gold))
    order = np.argsort(-dense, axis=1, kind="stable")
    for k in (1, 5, 8):
        want = np.array([Y[i, order[i, :k]].sum() / k for i in range(len(Y))])
        np.testing.assert_allclose(ranking.precision_at_k_per_episode(rr, k), want)
        want_r = np.array([Y[i, order[i, :k]].sum() / Y[i].sum() for i in range(len(Y))])
        np.testing.assert_allclose(ranking.recall_at_k_per_episode(rr, k), want_r)
    R = Y.sum(1)
    want = np.array([Y[i, order[i, : R[i]]].sum() / R[i] for i in range(len(Y))])
    np.testing.assert_allclose(ranking.r_precision_per_episode(rr), want)


def test_gold_codes_outside_the_scored_classes_count_as_misses():
    scores = CodeScores([1, 2], np.array(["I10.", "E11.9"], dtype=object),
                        np.array([[0.9, 0.1], [0.2, 0.8]], dtype=np.float32))
    gold = [["I10.", "Z99.9"], ["E11.9"]]
    a = align(scores, gold)
    assert list(a.labels) == ["I10.", "E11.9", "Z99.9"]
    dense = np.array([[0.9, 0.1, 0], [0.2, 0.8, 0]])
    Y = np.array([[1, 0, 1], [0, 1, 0]])
    rr = ranking.row_ranking(a)
    assert np.mean(ranking.average_precision_per_episode(rr)) == pytest.approx(
        label_ranking_average_precision_score(Y, dense))
    assert ranking.recall_at_k_per_episode(rr, 10)[0] == 0.5


def test_scores_outside_unit_interval_are_rejected():
    scores = CodeScores([1], np.array(["I10."], dtype=object), np.array([[1.5]], dtype=np.float32))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        align(scores, [["I10."]])


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(2, 25),
    m=st.integers(2, 10),
    density=st.floats(0.05, 1.0),
    rounding=st.sampled_from([None, 1]),
)
def test_property_matches_sklearn(seed, n, m, density, rounding):
    dense, Y, scores, gold = _random_case(seed, n=n, m=m, density=density, rounding=rounding)
    a = align(scores, gold)
    if 0 < Y.sum() < Y.size:
        assert ranking.auc_roc_micro(a) == pytest.approx(roc_auc_score(Y.ravel(), dense.ravel()))
    rr = ranking.row_ranking(a)
    assert np.mean(ranking.average_precision_per_episode(rr)) == pytest.approx(
        label_ranking_average_precision_score(Y, dense))
    assert np.mean(ranking.coverage_error_per_episode(rr)) == pytest.approx(
        coverage_error(Y, dense))
    ap = ranking.per_code_average_precision(a)
    for j in np.flatnonzero(Y.sum(0) > 0):
        assert ap[j] == pytest.approx(average_precision_score(Y[:, j], dense[:, j]))
