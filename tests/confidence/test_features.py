import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError

from triage.coder.scores import CodeScores
from triage.confidence.features import FEATURE_NAMES, RoutingFeatures, RoutingInput

IDX = {n: i for i, n in enumerate(FEATURE_NAMES)}


def test_shape_names_and_transform_one_matches_batch(data):
    scores, episodes, _, _ = data
    f = RoutingFeatures(top_n=8, code_systems=False).fit(RoutingInput(scores, episodes))
    X = f.transform(scores, episodes)
    assert X.shape == (len(scores), len(FEATURE_NAMES)) and X.dtype == np.float32
    # each named column holds what its name says: n_accepted counts the codes above the threshold
    # among the top_n scores of the episode
    n_above = np.asarray((scores.matrix > f.threshold).sum(axis=1)).ravel()
    np.testing.assert_array_equal(X[:, IDX["n_accepted"]], np.minimum(n_above, f.top_n))
    for i in range(0, len(scores), 7):
        one = f.transform_one(scores.row(i), episodes.iloc[i].to_dict())
        np.testing.assert_array_equal(one, X[i])  # to the bit: the model sees no other row
    # the feature table is a cache of the fitted state: never saved, rebuilt after a refit
    assert "_label_rows" in f.__dict__ and "_label_rows" not in f.__getstate__()
    f.fit(RoutingInput(scores.subset(scores.episode_ids[:50]), episodes))
    X50 = f.transform(scores, episodes)
    np.testing.assert_array_equal(f.transform_one(scores.row(0), episodes.iloc[0].to_dict()), X50[0])


@pytest.mark.slow  # loads simple-icd-10-cm, elixhauser-ahrq and drgpy (~10 s once)
def test_code_system_features_match_between_paths(data):
    scores, episodes, _, _ = data
    sub = scores.subset(scores.episode_ids[:15])
    f = RoutingFeatures(code_systems=True).fit(RoutingInput(sub, episodes))
    X = f.transform(sub, episodes)
    assert np.isfinite(X[:, IDX["drg_weight"]]).any()
    assert np.isfinite(X[:, IDX["n_chapters"]]).all()
    for i in range(len(sub)):
        one = f.transform_one(sub.row(i), episodes.iloc[i].to_dict())
        np.testing.assert_array_equal(one, X[i])


@pytest.mark.slow  # two worker processes each load the code packages
def test_worker_processes_give_the_in_process_rows(data, monkeypatch):
    from triage.confidence import features as features_mod

    scores, episodes, _, _ = data
    sub = scores.subset(scores.episode_ids[:40])
    X1 = RoutingFeatures(n_jobs=1).fit(RoutingInput(sub, episodes)).transform(sub, episodes)
    monkeypatch.setattr(features_mod, "_MIN_ROWS_PER_JOB", 10)  # 40 rows -> 2 processes
    X2 = RoutingFeatures(n_jobs=2).fit(RoutingInput(sub, episodes)).transform(sub, episodes)
    np.testing.assert_array_equal(X1, X2)
    assert np.isfinite(X2[:, IDX["drg_weight"]]).sum() > 10


def test_no_gold_leakage(data):
    scores, episodes, _, _ = data
    f = RoutingFeatures(code_systems=False).fit(RoutingInput(scores, episodes))
    X = f.transform(scores, episodes)
    changed = episodes.copy()
    changed["diagnoses"] = [["Z000"]] * len(changed)
    changed["procedures"] = [[]] * len(changed)
    np.testing.assert_array_equal(f.transform(scores, changed), X)
    np.testing.assert_array_equal(f.transform(scores, changed.drop(columns=["diagnoses", "procedures"])), X)


def test_hand_example():
    train = pd.DataFrame(
        {"episode_id": [1], "diagnoses": [["I10"]], "procedures": [[]], "icd_version": [10]}
    )
    s = CodeScores([1], ["I10."], np.array([[0.9]]))
    f = RoutingFeatures(threshold=0.5, code_systems=False).fit(RoutingInput(s, train))
    x = f.transform_one({"I10.": 0.9, "E11.9": 0.6, "J18.9": 0.4, "N17.9": 0.1}, {"age": 71})
    assert x[IDX["n_accepted"]] == 2
    assert x[IDX["sum_p"]] == pytest.approx(2.0)
    assert x[IDX["min_accepted"]] == pytest.approx(0.6)
    assert x[IDX["max_rejected"]] == pytest.approx(0.4)
    assert x[IDX["p_exact"]] == pytest.approx(0.9 * 0.6 * 0.6 * 0.9, rel=1e-5)
    assert x[IDX["n_unseen_accepted"]] == 1  # E11.9 never coded in training
    assert x[IDX["min_log_freq_accepted"]] == 0
    assert x[IDX["mean_log_freq_accepted"]] == pytest.approx(math.log(2) / 2)
    assert x[IDX["n_categories3"]] == 2
    assert x[IDX["age"]] == 71
    for name in ("los_days", "note_chars", "admission_type", "gender_male", "drg_weight"):
        assert math.isnan(x[IDX[name]])
    empty = f.transform_one({"I10.": 0.2}, {})
    assert empty[IDX["n_accepted"]] == 0 and math.isnan(empty[IDX["min_accepted"]])


def test_bad_inputs_are_named(data):
    scores, episodes, _, _ = data
    f = RoutingFeatures(code_systems=False)
    with pytest.raises(NotFittedError, match="not fitted"):
        f.transform(scores, episodes)
    f.fit(RoutingInput(scores, episodes))
    with pytest.raises(ValueError, match="episode_id"):
        f.transform(scores, episodes.iloc[5:])
    with pytest.raises(ValueError, match="'J18.9'"):
        f.transform_one({"J18.9": 1.5})
    with pytest.raises(ValueError, match="diagnoses"):
        RoutingFeatures().fit(RoutingInput(scores, episodes.drop(columns=["diagnoses"])))


@pytest.mark.slow  # loads drgpy (~5 s once)
def test_drg_stability_features_see_codes_that_move_the_ms_drg():
    """A CC/MCC near the threshold makes the MS-DRG fragile; a code the grouper ignores does not."""
    from triage.confidence._codes import drg_of
    from triage.confidence.features import _drg_stability

    base = ["J18.9"]  # simple pneumonia: MS-DRG 195 without CC/MCC
    drg = drg_of(base, "F", False)[0]
    assert drg_of([*base, "J96.01"], "F", False)[0] != drg  # acute respiratory failure is an MCC
    fragile = _drg_stability(base, drg, [("J96.01", 0.45)], "F", False, threshold=0.5)
    assert fragile[1] == 1 and fragile[0] == pytest.approx(0.55) and fragile[2] == pytest.approx(0.45)
    assert _drg_stability(base, drg, [("Z87.891", 0.45)], "F", False, threshold=0.5) == [1.0, 0.0, 0.0]
    # the principal margin: best diagnosis score minus the runner-up diagnosis score
    f = RoutingFeatures(code_systems=False, threshold=0.5)
    one = CodeScores(np.array([1]), np.array(["J18.9", "I10."]), sp.csr_matrix(np.array([[0.9, 0.6]], np.float32)))
    f.fit(RoutingInput(one, pd.DataFrame({"episode_id": [1], "diagnoses": [["J189"]], "procedures": [[]]})))
    row = f.transform_one({"J18.9": 0.9, "I10.": 0.6})
    assert row[IDX["principal_margin"]] == pytest.approx(0.3, abs=1e-6) and row[IDX["top_dx"]] == pytest.approx(0.9)


def test_one_x_and_the_former_call_give_the_same_features(data):
    """``X`` is one structure (scikit-learn's fit(X, y=None)); fit(scores, episodes), the former
    call that put the episodes in y's place, still gives the same features but warns."""
    from sklearn.base import clone

    scores, episodes, _, _ = data
    routing_input = RoutingInput(scores, episodes)
    f = RoutingFeatures(code_systems=False)
    X = f.fit_transform(routing_input)
    assert f.get_params() == clone(f).get_params()  # fit changed no parameter
    with pytest.warns(DeprecationWarning, match="RoutingInput"):
        old = RoutingFeatures(code_systems=False).fit(scores, episodes)
    np.testing.assert_array_equal(old.transform(scores, episodes), X)
    np.testing.assert_array_equal(f.transform((scores, episodes)), X)
    with pytest.raises(ValueError, match="training episodes"):
        RoutingFeatures(code_systems=False).fit(RoutingInput(scores))
    with pytest.raises(TypeError, match="RoutingInput"):
        RoutingFeatures(code_systems=False).fit(np.zeros((3, 2)))


def test_principal_rate_and_unpredicted_procedures_hand_example():
    # I10 is coded three times and is the principal once; R07.9 and R55 are principals whenever coded
    train = pd.DataFrame({"episode_id": [1, 2, 3], "diagnoses": [["R079", "I10"], ["R55", "I10"], ["I10"]],
                          "procedures": [[], [], []], "icd_version": [10, 10, 10]})
    s = CodeScores([1, 2, 3], ["I10.", "R07.9", "R55."], np.array([[0.9, 0.6, 0.0], [0.9, 0.0, 0.6], [0.9, 0, 0]]))
    f = RoutingFeatures(threshold=0.5, code_systems=False).fit(RoutingInput(s, train))
    prior = 3 / 5  # three principals among five coded diagnoses
    assert f.principal_prior_ == pytest.approx(prior)
    rate_i10, rate_r079 = (1 + 5 * prior) / (3 + 5), (1 + 5 * prior) / (1 + 5)
    note = ("Chief Complaint:\nchest pain\n \nMajor Surgical or Invasive Procedure:\nCardiac catheterization\n"
            "___\n \nHistory of Present Illness:\nMr. ___ presents with chest pain.\n")
    x = f.transform_one({"I10.": 0.9, "R07.9": 0.6}, {"text": note})
    # the predicted principal (the top diagnosis) is a code rarely coded first: a low rate, a thin margin
    assert x[IDX["principal_rate"]] == pytest.approx(rate_i10)
    assert x[IDX["principal_rate_margin"]] == pytest.approx(0.9 * rate_i10 - 0.6 * rate_r079, abs=1e-6)
    assert x[IDX["unpredicted_procedures"]] == 1  # one listed, none predicted
    x = f.transform_one({"R07.9": 0.9, "I10.": 0.6}, {"text": note.replace("Cardiac catheterization", "None")})
    assert x[IDX["principal_rate"]] == pytest.approx(rate_r079)
    assert x[IDX["principal_rate_margin"]] == pytest.approx(0.9 * rate_r079 - 0.6 * rate_i10, abs=1e-6)
    assert x[IDX["unpredicted_procedures"]] == 0
    assert math.isnan(f.transform_one({"R07.9": 0.9}, {})[IDX["unpredicted_procedures"]])  # no note
    # an unseen diagnosis gets the overall rate
    assert f.transform_one({"J18.9": 0.9}, {})[IDX["principal_rate"]] == pytest.approx(prior)
