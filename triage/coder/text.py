"""The baseline automated coder: discharge-summary text -> a score for every frequent code.

Scikit-learn style: parameters in ``__init__``, ``fit`` / ``predict_proba``, learned state
with a trailing underscore. Cross-fitting (``cross_fit_predict``/``fit_cross_fit``) gives
out-of-fold scores for the training split so a confidence model trained on them never sees
scores of episodes the coder memorised; folds are grouped by patient.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from triage.artifacts import load_state, save_state
from triage.coder import features
from triage.coder.choices import MODEL_KINDS, ModelKind
from triage.coder.scores import CodeScores
from triage.coder.torch_model import SparseTextNet, predict_top_k, train_network
from triage.data.split import patient_folds
from triage.progress import current

#: the pickled format earlier versions wrote (read only by ``from_pickle``)
_LEGACY_FORMAT_VERSION = 2
CODER_FILE = "coder.npz"
LEGACY_CODER_FILE = "coder.joblib"


def episode_gold_labels(episodes: pd.DataFrame) -> list[list[str]]:
    """Gold label lists (diagnoses then procedures, principal first) of an episode table."""
    missing = [c for c in ("diagnoses", "procedures", "icd_version") if c not in episodes.columns]
    if missing:
        raise ValueError(f"episode table lacks column(s) {missing} needed for gold labels")
    from triage.data import gold_labels

    return gold_labels(episodes)


class TextCoder(BaseEstimator):
    """Hashed word n-grams + TF-IDF -> a joint multi-label torch model (or one-vs-rest logistic).

    ``model``: ``"torch-mlp"`` (sparse input -> ``hidden_size`` ReLU units -> sigmoid per code;
    the default, whose size does not grow with features x codes), ``"torch-linear"`` (one
    weight per feature and code: for small label sets) or ``"ovr-logistic"`` (scikit-learn
    one-vs-rest logistic regression: the simple alternative for small label sets).
    Codes seen fewer than ``min_count`` times in the training episodes are not modelled.
    """

    def __init__(
        self,
        model: ModelKind = "torch-mlp",
        min_count: int = 10,
        max_features: int = 2**18,
        ngram_range: tuple[int, int] = (1, 2),
        n_folds: int = 5,
        keep_top_k: int | None = 256,
        min_df: int = 5,
        hidden_size: int = 128,
        epochs: int = 10,
        batch_size: int = 512,
        lr: float = 1e-2,
        C: float = 4.0,
        n_jobs: int = 2,
        n_threads: int = 2,
        random_state: int | None = 0,
    ) -> None:
        self.model = model
        self.min_count = min_count
        self.max_features = max_features
        self.ngram_range = ngram_range
        self.n_folds = n_folds
        self.keep_top_k = keep_top_k
        self.min_df = min_df
        self.hidden_size = hidden_size
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.C = C
        self.n_jobs = n_jobs
        self.n_threads = n_threads
        self.random_state = random_state

    # ------------------------------------------------------------------ public API

    def fit(self, episodes: pd.DataFrame) -> TextCoder:
        """Learn the code set (>= ``min_count`` occurrences) and the model from ``episodes``."""
        counts, gold = self._prepare(episodes)
        self.classes_ = self._select_classes(gold)
        self._fit_on(counts, gold, seed=self._seed(0))
        return self

    def predict_proba(self, episodes: pd.DataFrame) -> CodeScores:
        """Scores for every episode (top ``keep_top_k`` per row stored) over ``classes_``."""
        self._check_fitted()
        ids = self._episode_ids(episodes)
        counts = self._hash(episodes)
        return CodeScores(ids, self.classes_, self._predict_counts(counts))

    def cross_fit_predict(self, episodes: pd.DataFrame) -> CodeScores:
        """Out-of-fold scores: each episode scored by a model trained on the other folds.

        Leaves this coder's fitted state untouched (like scikit-learn's cross_val_predict).
        """
        counts, gold = self._prepare(episodes)
        classes = self._select_classes(gold)
        oof = self._cross_fit(counts, gold, classes, episodes["subject_id"].to_numpy())
        return CodeScores(self._episode_ids(episodes), classes, oof)

    def fit_cross_fit(self, episodes: pd.DataFrame, deploy_fold: int | None = None) -> CodeScores:
        """``fit`` and ``cross_fit_predict`` on the same episodes, tokenising the text once.

        With ``deploy_fold`` the coder keeps fold ``deploy_fold``'s model instead of fitting a
        final one on everything: every out-of-fold score is then of the kind the deployed coder
        produces (a model trained on (k-1)/k of the episodes, scoring unseen ones), and the
        held-out fold's scores are the deployed coder's own. A confidence model calibrated on them
        is calibrated for routing time (a final coder fitted on all episodes scores more sharply
        than the fold models whose scores trained the confidence model). ``patient_folds`` with
        this coder's ``n_folds`` and ``random_state`` says which episodes were held out.
        """
        counts, gold = self._prepare(episodes)
        self.classes_ = self._select_classes(gold)
        if deploy_fold is not None and not 0 <= int(deploy_fold) < self.n_folds:
            raise ValueError(f"deploy_fold must be in 0..{self.n_folds - 1}, got {deploy_fold!r}")
        oof = self._cross_fit(counts, gold, self.classes_, episodes["subject_id"].to_numpy(), keep=deploy_fold)
        if deploy_fold is None:
            self._fit_on(counts, gold, seed=self._seed(0))
        self.deployed_fold_ = deploy_fold
        return CodeScores(self._episode_ids(episodes), self.classes_, oof)

    def save(self, path: str | Path) -> Path:
        """Write the fitted coder to one state file (a folder gets ``coder.npz`` inside).

        Stored as JSON and arrays (:mod:`triage.artifacts`), never pickled: its parameters and
        learned state (classes, TF-IDF, the network's tensors or the logistic models).
        """
        self._check_fitted()
        path = Path(path)
        if path.is_dir() or not path.suffix:
            path = path / CODER_FILE
        return save_state(self, path, what="coder")

    @classmethod
    def load(cls, path: str | Path) -> TextCoder:
        """A coder written by :meth:`save` (a pickled ``coder.joblib`` is refused unread)."""
        path = Path(path)
        if path.is_dir():
            if not (path / CODER_FILE).exists() and (path / LEGACY_CODER_FILE).exists():
                path = path / LEGACY_CODER_FILE  # refused below, with how to convert it
            else:
                path = path / CODER_FILE
        if not path.exists():
            raise FileNotFoundError(f"no saved coder at {path}")
        coder = load_state(path, expect=cls)
        coder._after_load()
        return coder

    def _after_load(self) -> None:
        if getattr(self, "net_", None) is not None:
            self.net_.eval()

    @classmethod
    def from_pickle(cls, path: str | Path) -> TextCoder:
        """Read a coder pickled by an earlier version (``coder.joblib``). Unpickling runs any code
        the file holds: only for a file from a source you trust (``triage models convert``)."""
        import joblib

        path = Path(path)
        if path.is_dir():
            path = path / LEGACY_CODER_FILE
        state = joblib.load(path)
        if not isinstance(state, dict) or state.get("format_version") != _LEGACY_FORMAT_VERSION:
            raise ValueError(f"{path} is not a coder pickled by TextCoder.save (format {_LEGACY_FORMAT_VERSION})")
        coder = cls(**state["params"])
        coder.classes_ = state["classes_"].astype(object)
        coder.tfidf_ = state["tfidf_"]
        if coder.model == "ovr-logistic":
            coder.estimator_ = state["estimator_"]
        else:
            sd = {k: torch.from_numpy(v) for k, v in state["state_dict"].items()}
            net = SparseTextNet(coder.tfidf_.n_features_, len(coder.classes_), coder._hidden())
            net.load_state_dict(sd)
            net.eval()
            coder.net_ = net
        return coder

    # ------------------------------------------------------------------ internals

    def _seed(self, offset: int) -> int:
        return (0 if self.random_state is None else int(self.random_state)) + offset

    def _hidden(self) -> int | None:
        return self.hidden_size if self.model == "torch-mlp" else None

    def _validate_params(self) -> None:
        if self.model not in MODEL_KINDS:
            raise ValueError(
                f"model must be 'torch-mlp', 'torch-linear' or 'ovr-logistic', got {self.model!r}"
            )
        if self.min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {self.min_count}")
        if self.n_folds < 2:
            raise ValueError(f"n_folds must be >= 2, got {self.n_folds}")

    def _check_fitted(self) -> None:
        if not hasattr(self, "classes_"):
            raise NotFittedError("TextCoder is not fitted: call fit() or load() first")

    @staticmethod
    def _episode_ids(episodes: pd.DataFrame) -> np.ndarray:
        if "episode_id" not in episodes.columns:
            raise ValueError("episode table lacks column 'episode_id'")
        return episodes["episode_id"].to_numpy(dtype=np.int64)

    def _hash(self, episodes: pd.DataFrame) -> sp.csr_matrix:
        if "text" not in episodes.columns:
            raise ValueError("episode table lacks column 'text' (the discharge summary)")
        texts = episodes["text"]
        bad = texts.isna()
        if bad.any():
            raise ValueError(
                f"column 'text' is missing for episode_id(s) "
                f"{episodes.loc[bad, 'episode_id'].head(5).tolist() if 'episode_id' in episodes else ''}"
            )
        hasher = features.make_hasher(self.max_features, self.ngram_range)
        return features.hash_texts(hasher, texts.astype(str).tolist(), self.n_jobs)

    def _prepare(self, episodes: pd.DataFrame) -> tuple[sp.csr_matrix, list[list[str]]]:
        self._validate_params()
        if len(episodes) == 0:
            raise ValueError("no episodes to train on")
        self._episode_ids(episodes)
        gold = episode_gold_labels(episodes)
        torch.set_num_threads(self.n_threads)
        return self._hash(episodes), gold

    def _select_classes(self, gold: Sequence[Sequence[str]]) -> np.ndarray:
        counts = Counter(lab for labs in gold for lab in set(labs))
        classes = sorted(lab for lab, c in counts.items() if c >= self.min_count)
        if not classes:
            raise ValueError(
                f"no code occurs at least min_count={self.min_count} times in the training episodes"
            )
        if self.model == "torch-linear" and self.max_features * len(classes) > 2**28:
            raise ValueError(
                f"model='torch-linear' needs max_features x codes = {self.max_features:,} x "
                f"{len(classes):,} weights (x3 with Adam state); use model='torch-mlp' for large "
                "code sets or lower max_features"
            )
        return np.asarray(classes, dtype=object)

    @staticmethod
    def _targets(gold: Sequence[Sequence[str]], classes: np.ndarray) -> sp.csr_matrix:
        index = {lab: j for j, lab in enumerate(classes)}
        rows, cols = [], []
        for i, labs in enumerate(gold):
            js = {index[lab] for lab in labs if lab in index}
            rows.extend([i] * len(js))
            cols.extend(js)
        data = np.ones(len(rows), dtype=np.float32)
        return sp.csr_matrix((data, (rows, cols)), shape=(len(gold), len(classes)))

    def _fit_on(self, counts: sp.csr_matrix, gold, seed: int) -> None:
        with current().task(f"final model: {self._epochs_per_model()} epochs", self._epochs_per_model()) as task:
            self.tfidf_, model = self._train(counts, gold, self.classes_, seed, on_epoch=task.advance)
        if self.model == "ovr-logistic":
            self.estimator_ = model
        else:
            self.net_ = model

    def _epochs_per_model(self) -> int:
        """Units of progress per trained model: its epochs (one for the logistic model)."""
        return 1 if self.model == "ovr-logistic" else self.epochs

    def _train(self, counts, gold, classes, seed, on_epoch=None):
        tfidf = features.fit_tfidf(counts, self.min_df)
        X = features.tfidf(tfidf, counts)
        Y = self._targets(gold, classes)
        if self.model == "ovr-logistic":
            est = OneVsRestClassifier(
                LogisticRegression(C=self.C, solver="liblinear", random_state=seed), n_jobs=1
            )
            est.fit(X, Y.toarray().astype(np.int8))
            if on_epoch is not None:
                on_epoch()
            return tfidf, est
        net = train_network(
            X, Y, self._hidden(), self.epochs, self.batch_size, self.lr, seed=seed, on_epoch=on_epoch
        )
        return tfidf, net

    def _predict_with(self, tfidf, model, counts: sp.csr_matrix) -> sp.csr_matrix:
        X = features.tfidf(tfidf, counts)
        if isinstance(model, SparseTextNet):
            return predict_top_k(model, X, self.keep_top_k)
        parts = []
        for start in range(0, X.shape[0], 2048):
            dense = model.predict_proba(X[start : start + 2048]).astype(np.float32)
            parts.append(
                CodeScores.from_dense(
                    np.arange(dense.shape[0]), np.arange(dense.shape[1]), dense, self.keep_top_k
                ).matrix
            )
        return sp.vstack(parts, format="csr")

    def _predict_counts(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        model = self.estimator_ if self.model == "ovr-logistic" else self.net_
        return self._predict_with(self.tfidf_, model, counts)

    def _cross_fit(self, counts, gold, classes, subject_ids, keep: int | None = None) -> sp.csr_matrix:
        folds = patient_folds(subject_ids, self.n_folds, self.random_state)
        n = counts.shape[0]
        pieces: list[tuple[np.ndarray, sp.csr_matrix]] = []
        per_model = self._epochs_per_model()
        with current().task(f"cross-fitting: {self.n_folds} folds x {per_model} epochs",
                            self.n_folds * per_model) as task:
            for f in range(self.n_folds):
                pieces.append(self._cross_fit_fold(counts, gold, classes, folds, f, keep, task.advance))
        order = np.concatenate([h for h, _ in pieces])
        stacked = sp.vstack([p for _, p in pieces], format="csr")
        inverse = np.empty(n, dtype=np.int64)
        inverse[order] = np.arange(n)
        return stacked[inverse]

    def _cross_fit_fold(self, counts, gold, classes, folds, f: int, keep: int | None, on_epoch):
        """Train on every fold but ``f`` and score fold ``f``: (held-out rows, their scores)."""
        held = np.flatnonzero(folds == f)
        train = np.flatnonzero(folds != f)
        tfidf, model = self._train(
            counts[train], [gold[i] for i in train], classes, seed=self._seed(f + 1), on_epoch=on_epoch
        )
        if keep is not None and f == int(keep):  # the deployed coder is this fold's model
            self.tfidf_ = tfidf
            if self.model == "ovr-logistic":
                self.estimator_ = model
            else:
                self.net_ = model
        return held, self._predict_with(tfidf, model, counts[held])
