import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from triage.confidence.calibration import METHODS, LogitCalibrator, choose_method
from triage.confidence.evaluation import ece
from triage.confidence.features import FEATURE_NAMES, RoutingFeatures, RoutingInput
from triage.confidence.models import ConfidenceModel
from triage.confidence.targets import correctness


@pytest.fixture(scope="module")
def xy(data):
    scores, episodes, pred, gold = data
    X = RoutingFeatures(code_systems=False).fit(RoutingInput(scores, episodes)).transform(RoutingInput(scores, episodes))
    y = correctness(pred, gold)
    return X, y


def fast(kind, **kw):
    return ConfidenceModel(kind=kind, n_estimators=40, epochs=30, hidden=(16,), lr=1e-2, **kw)


def test_calibration_improves_ece_of_a_miscalibrated_score(xy):
    X, y = xy
    tr, te = slice(0, 400), slice(400, None)
    raw = fast("product", calibration="none").fit(X[tr], y[tr]).predict_proba(X[te])[:, 1]
    for method in ("isotonic", "sigmoid", "venn-abers"):
        cal = fast("product", calibration=method).fit(X[tr], y[tr]).predict_proba(X[te])[:, 1]
        assert ece(y[te], cal) < ece(y[te], raw) - 0.05, method


@pytest.mark.parametrize("method", METHODS)
def test_compiled_calibrator_equals_the_library(method):
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, 400)
    y = (rng.random(400) < 1 / (1 + np.exp(-0.5 * z))).astype(int)
    cal = LogitCalibrator(method).fit(z, y)
    zt = np.r_[rng.normal(0, 3, 200), -50, 50]
    np.testing.assert_allclose(cal.map(zt), cal.reference_map(zt), atol=1e-9)


def test_auto_picks_the_lowest_cross_validated_loss(xy):
    X, y = xy
    m = fast("product").fit(X, y)
    assert m.calibration_method_ == min(m.calibration_losses_, key=m.calibration_losses_.get)
    assert set(m.calibration_losses_) == set(METHODS)
    assert all(0 < v < np.inf for v in m.calibration_losses_.values())
    # held-out choice: the in-sample-flattered isotonic fit must not win by memorising
    method, losses = choose_method(m.decision_function(X[:300]), y[:300], ("isotonic", "none"))
    assert losses["isotonic"] > 0 and method in ("isotonic", "none")


@pytest.mark.parametrize("kind", ["lightgbm", "torch-mlp"])
def test_same_seed_same_result_and_learns(kind, xy):
    X, y = xy
    tr, te = slice(0, 400), slice(400, None)
    a = fast(kind, calibration="sigmoid", random_state=3).fit(X[tr], y[tr])
    b = fast(kind, calibration="sigmoid", random_state=3).fit(X[tr], y[tr])
    pa = a.predict_proba(X[te])
    np.testing.assert_array_equal(pa, b.predict_proba(X[te]))
    assert pa.shape == (len(X[te]), 2) and np.allclose(pa.sum(axis=1), 1)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y[te], pa[:, 1]) > 0.75
    assert a.predict_one(X[410]) == pytest.approx(a.predict_proba(X[410:411])[0, 1], abs=1e-12)


def test_baselines_follow_their_feature(xy):
    X, y = xy
    p = fast("product", calibration="none").fit(X, y).predict_proba(X)[:, 1]
    expected = np.clip(X[:, FEATURE_NAMES.index("p_exact")], 1e-6, 1 - 1e-6)
    np.testing.assert_allclose(p, expected, rtol=1e-4)
    m = fast("min-accepted", calibration="isotonic").fit(X, y)
    order = np.argsort(np.nan_to_num(X[:, FEATURE_NAMES.index("min_accepted")]))
    assert np.all(np.diff(m.predict_proba(X)[order, 1]) >= -1e-12)  # monotone in the score


def test_lightgbm_contributions_add_up(xy):
    X, y = xy
    m = fast("lightgbm", calibration="isotonic").fit(X, y)
    full = m.contributions(X[0], top_k=X.shape[1])
    bias = m.booster_.predict(X[:1], pred_contrib=True)[0, -1]
    assert sum(v for _, v in full) + bias == pytest.approx(m.decision_function(X[:1])[0], abs=1e-9)
    top = m.contributions(X[0], top_k=3)
    assert [abs(v) for _, v in top] == sorted((abs(v) for _, v in full), reverse=True)[:3]
    occ = fast("product", calibration="none").fit(X, y).contributions(X[0], top_k=2)
    assert occ[0][0] == "log_p_exact" and occ[1][1] == 0.0


def test_save_load_roundtrip(xy, tmp_path):
    X, y = xy
    for kind in ("lightgbm", "torch-mlp"):
        m = fast(kind, calibration="venn-abers").fit(X, y)
        m.save(tmp_path / f"{kind}.npz")
        back = ConfidenceModel.load(tmp_path / f"{kind}.npz")
        np.testing.assert_array_equal(back.predict_proba(X), m.predict_proba(X))


def test_bad_inputs_are_named(xy):
    X, y = xy
    with pytest.raises(ValueError, match="kind"):
        ConfidenceModel(kind="svm").fit(X, y)
    with pytest.raises(ValueError, match="calibration"):
        ConfidenceModel(calibration="beta").fit(X, y)
    with pytest.raises(ValueError, match="log_p_exact"):  # five unnamed columns lack the baseline's
        fast("product").fit(X[:, :5], y)
    with pytest.raises(ValueError, match=f"expecting {len(FEATURE_NAMES)} features"):
        fast("product").fit(X, y).predict_proba(X[:, :5])
    with pytest.raises(ValueError, match="y must"):
        fast("product").fit(X, y * 2 + 1)
    with pytest.raises(ValueError, match="both correct and incorrect"):
        LogitCalibrator("isotonic").fit(np.zeros(5), np.ones(5))
    with pytest.raises(NotFittedError, match="not fitted"):
        ConfidenceModel().predict_proba(X)


def test_cal_fraction_zero_trains_on_everything_and_waits_for_calibrate(xy):
    """The pipeline's mode: no internal hold-out (every fitting episode trains the ranking), the
    probabilities come from calibrate() on held-out episodes."""
    X, y = xy
    model = fast("lightgbm", cal_fraction=0.0).fit(X[:400], y[:400])
    assert not hasattr(model, "calibrator_")
    with pytest.raises(NotFittedError, match="calibrate"):
        model.predict_proba(X[400:])
    p = model.calibrate(X[400:500], y[400:500]).predict_proba(X[500:])[:, 1]
    assert p.shape == (len(X) - 500,) and ((p >= 0) & (p <= 1)).all()
    with pytest.raises(ValueError, match="cal_fraction"):
        fast("lightgbm", cal_fraction=1.0).fit(X, y)


def test_single_row_prediction_is_the_batch_prediction_to_the_bit(xy, tmp_path):
    """The service's path (LightGBM's single-row predictor, set up once) gives what
    Booster.predict gives, NaN features included; the set-up handle is never saved or copied."""
    import copy

    X, y = xy
    m = fast("lightgbm", calibration="isotonic").fit(X, y)
    rows = X[:150].astype(np.float64).copy()
    rows[::7, 3] = np.nan
    rows[::5, FEATURE_NAMES.index("drg_weight")] = np.nan
    p, reasons = m.predict_explained(rows, top_k=3)
    for i, row in enumerate(rows):
        got = m._single_row().contributions(row)
        np.testing.assert_array_equal(got, m.booster_.predict(row[None, :], pred_contrib=True,
                                                              num_threads=1)[0])
        assert m.predict_one_explained(row, top_k=3) == (p[i], reasons[i])
    assert "_single_row_predictor" in m.__dict__
    assert "_single_row_predictor" not in m.__getstate__()
    twin = copy.deepcopy(m)
    assert twin.predict_one_explained(rows[0], top_k=3) == (p[0], reasons[0])
    m.save(tmp_path / "m.npz")
    back = ConfidenceModel.load(tmp_path / "m.npz")
    assert back.predict_one_explained(rows[1], top_k=3) == (p[1], reasons[1])
    m.fit(X[::-1], y[::-1])  # a refit: a new booster, a new single-row predictor
    assert m.predict_one_explained(rows[2])[0] == m.predict_explained(rows[2:3])[0][0]
    with pytest.raises(ValueError, match="contains infinity"):
        m.predict_one_explained(np.where(np.arange(X.shape[1]) == 0, np.inf, rows[0]))
