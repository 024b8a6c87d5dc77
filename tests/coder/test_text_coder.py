import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from triage.coder import CodeScores, TextCoder, patient_folds
from triage.data import gold_labels
from triage.metrics import align
from triage.metrics.ranking import auc_roc_micro

FAST = dict(min_count=5, max_features=2**16, ngram_range=(1, 1), epochs=6, batch_size=64, n_jobs=1,
            hidden_size=64, n_threads=1)


@pytest.fixture(scope="module")
def fitted(episodes):
    train = episodes[episodes.split == "train"]
    coder = TextCoder(**FAST)
    oof = coder.fit_cross_fit(train)
    return coder, train, oof


def test_classes_are_codes_seen_min_count_times(fitted):
    coder, train, _ = fitted
    counts = {}
    for labs in gold_labels(train):
        for lab in set(labs):
            counts[lab] = counts.get(lab, 0) + 1
    assert set(coder.classes_) == {lab for lab, c in counts.items() if c >= 5}
    assert list(coder.classes_) == sorted(coder.classes_)


def test_predict_proba_learns_the_text_signal(fitted, episodes):
    coder, _, _ = fitted
    test = episodes[episodes.split != "train"]
    scores = coder.predict_proba(test)
    assert isinstance(scores, CodeScores)
    assert scores.matrix.shape == (len(test), len(coder.classes_))
    assert (scores.episode_ids == test.episode_id.to_numpy()).all()
    assert scores.matrix.data.min() >= 0 and scores.matrix.data.max() <= 1
    a = align(scores, gold_labels(test))
    # far better than chance on 280 training notes (logistic OvR does better on so few)
    assert auc_roc_micro(a) > 0.62


def test_cross_fit_is_out_of_fold_and_grouped_by_patient(fitted):
    coder, train, oof = fitted
    assert (oof.episode_ids == train.episode_id.to_numpy()).all()
    assert list(oof.classes) == list(coder.classes_)
    # out-of-fold scores differ from in-sample ones (the full model saw these episodes)
    in_sample = coder.predict_proba(train)
    assert not np.allclose(oof.matrix.toarray(), in_sample.matrix.toarray())
    folds = patient_folds(train.subject_id.to_numpy(), 5, 0)
    by_subject = train.assign(fold=folds).groupby("subject_id").fold.nunique()
    assert (by_subject == 1).all()
    assert len(np.unique(folds)) == 5


def test_same_seed_same_scores(episodes):
    train = episodes[episodes.split == "train"].head(150)
    a = TextCoder(**FAST).fit(train).predict_proba(train)
    b = TextCoder(**FAST).fit(train).predict_proba(train)
    np.testing.assert_array_equal(a.matrix.toarray(), b.matrix.toarray())


def test_keep_top_k_bounds_stored_scores(episodes):
    train = episodes[episodes.split == "train"].head(150)
    coder = TextCoder(**{**FAST, "keep_top_k": 3}).fit(train)
    s = coder.predict_proba(train)
    assert np.diff(s.matrix.indptr).max() <= 3


@pytest.mark.parametrize("model", ["torch-linear", "ovr-logistic"])
def test_other_models_fit_and_round_trip(model, episodes, tmp_path):
    train = episodes[episodes.split == "train"].head(200)
    coder = TextCoder(model=model, **{**FAST, "max_features": 2**12}).fit(train)
    s = coder.predict_proba(train)
    path = coder.save(tmp_path / "c.npz")
    again = TextCoder.load(path).predict_proba(train)
    np.testing.assert_allclose(s.matrix.toarray(), again.matrix.toarray(), rtol=1e-6)


def test_mlp_save_load_round_trip(fitted, episodes, tmp_path):
    coder, _, _ = fitted
    test = episodes[episodes.split == "test"]
    coder.save(tmp_path)  # a folder
    loaded = TextCoder.load(tmp_path)
    assert loaded.get_params() == coder.get_params()
    np.testing.assert_array_equal(
        coder.predict_proba(test).matrix.toarray(), loaded.predict_proba(test).matrix.toarray()
    )


def test_bad_inputs_name_the_problem(episodes, tmp_path):
    with pytest.raises(ValueError, match="'text'"):
        TextCoder(**FAST).fit(episodes.drop(columns="text"))
    with pytest.raises(ValueError, match="model must be"):
        TextCoder(model="bert", **FAST).fit(episodes)
    with pytest.raises(ValueError, match="min_count=10000"):
        TextCoder(**{**FAST, "min_count": 10_000}).fit(episodes)
    with pytest.raises(NotFittedError, match="not fitted"):
        TextCoder().predict_proba(episodes)
    with pytest.raises(FileNotFoundError):
        TextCoder.load(tmp_path / "nothing.npz")


def test_linear_model_refuses_a_weight_matrix_that_cannot_fit(episodes):
    coder = TextCoder(model="torch-linear", **{**FAST, "max_features": 2**27})
    with pytest.raises(ValueError, match="torch-mlp"):
        coder.fit(episodes)
