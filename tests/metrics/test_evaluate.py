import json

import numpy as np
import pytest
from sklearn.metrics import jaccard_score, label_ranking_average_precision_score

from triage.coder.scores import CodeScores
from triage.metrics import evaluate
from triage.metrics.intervals import bootstrap_ci, bootstrap_indices, normal_ci

REQUIRED = [
    "n_episodes", "threshold", "exact_match_full", "exact_match_4", "exact_match_3",
    "jaccard_full", "jaccard_4", "jaccard_3", "f1_micro", "f1_macro", "precision_micro",
    "recall_micro", "auc_roc_micro", "auc_roc_macro", "auc_pr_macro", "map_documents",
    "precision_at_5", "precision_at_8", "precision_at_15", "recall_at_10", "recall_at_15",
    "r_precision", "coverage_error", "principal_accuracy", "sequence_exact_match",
]


def _case(seed=0, n=80, m=20):
    rng = np.random.default_rng(seed)
    classes = np.array([f"K{j:02d}.{j % 7}" for j in range(m)], dtype=object)
    Y = rng.random((n, m)) < 0.2
    Y[np.arange(n), rng.integers(0, m, n)] = True
    dense = np.clip(Y * 0.5 + rng.random((n, m)) * 0.6, 0, 1).astype(np.float32)
    scores = CodeScores(np.arange(n) + 100, classes, dense)
    gold = [list(classes[Y[i]]) for i in range(n)]
    pred = [[classes[j] for j in np.argsort(-dense[i]) if dense[i, j] > 0.5] for i in range(n)]
    return scores, gold, pred, dense, Y


def test_evaluate_has_every_key_and_rates_in_unit_interval():
    scores, gold, pred, dense, Y = _case()
    res = evaluate(pred, gold, scores, threshold=0.5)
    for key in REQUIRED:
        assert key in res, key
        if key not in ("n_episodes", "threshold", "coverage_error"):
            assert 0.0 <= res[key] <= 1.0, key
    assert res["n_episodes"] == 80
    P = np.zeros_like(Y)
    for i, p in enumerate(pred):
        P[i, [int(c[1:3]) for c in p]] = True
    assert res["jaccard_full"] == pytest.approx(jaccard_score(Y, P, average="samples"))
    assert res["map_documents"] == pytest.approx(label_ranking_average_precision_score(Y, dense))
    json.dumps(res)  # serialisable
    lo, hi = res["ci"]["jaccard_full"]
    assert lo < res["jaccard_full"] < hi


def test_evaluate_without_scores_leaves_ranking_metrics_empty():
    _, gold, pred, _, _ = _case(1)
    res = evaluate(pred, gold)
    assert res["auc_roc_micro"] is None and res["jaccard_full"] is not None


def test_perfect_prediction_scores_one():
    scores, gold, _, _, _ = _case(2)
    res = evaluate(gold, gold, scores)
    for key in ("exact_match_full", "jaccard_3", "f1_micro", "principal_accuracy",
                "sequence_exact_match"):
        assert res[key] == 1.0


def test_bootstrap_is_seeded_and_covers_mean():
    scores, gold, pred, _, _ = _case(3)
    a = evaluate(pred, gold, scores, ci="bootstrap", n_bootstrap=200, random_state=7)
    b = evaluate(pred, gold, scores, ci="bootstrap", n_bootstrap=200, random_state=7)
    assert a["ci"] == b["ci"]
    lo, hi = a["ci"]["f1_micro"]
    assert lo <= a["f1_micro"] <= hi


def test_normal_ci_formula_and_bootstrap_agree_roughly():
    v = np.random.default_rng(0).random(2000)
    lo, hi = normal_ci(v)
    half = 1.959964 * v.std(ddof=1) / np.sqrt(v.size)
    assert (lo, hi) == pytest.approx((v.mean() - half, v.mean() + half))
    blo, bhi = bootstrap_ci(v, bootstrap_indices(v.size, 500, 0))
    assert blo == pytest.approx(lo, abs=0.005) and bhi == pytest.approx(hi, abs=0.005)


def test_misaligned_inputs_fail_clearly():
    scores, gold, pred, _, _ = _case(4)
    with pytest.raises(ValueError, match="aligned"):
        evaluate(pred[:-1], gold, scores)
