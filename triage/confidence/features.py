"""Routing-time features of an episode: what is known when the router must decide.

Only the coder's scores and admission metadata enter (never the gold codes), so the same
features exist in production. The batch path (``transform``: numpy over every episode at once)
and the single-episode path (``transform_one``, the HTTP service's: plain Python over one
episode's few candidates, numpy only where the batch path's own numpy calls fix the bits) give
the same row bit for bit (tests/confidence/test_features.py, tests/test_router.py).
"""

from __future__ import annotations

import itertools
import math
import re
import warnings
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError

from triage.coder.scores import CodeScores
from triage.codes.labels import episode_labels, label_kind, truncate_label
from triage.data.settings import CARE_SETTINGS, care_setting_of

SCORE_FEATURES = (
    "n_accepted",
    "sum_p",
    "expected_minus_accepted",
    "min_accepted",
    "max_rejected",
    "margin_accepted",
    "margin_rejected",
    "min_abs_margin",
    "n_near_threshold",
    "entropy",
    "log_p_exact",
    "p_exact",
    "top1",
    "n_dx_accepted",
    "n_px_accepted",
    "min_log_freq_accepted",
    "mean_log_freq_accepted",
    "n_unseen_accepted",
    "top_dx",
    "principal_margin",
)
#: What moves the MS-DRG (issue #22): the code-system columns of the predicted list, then how
#: fragile its MS-DRG is under the coder's uncertain codes (:func:`_drg_stability`).
SET_FEATURES = ("n_categories3", "n_chapters", "drg_weight", "mdc", "elixhauser_index",
                "drg_stable_p", "n_drg_moving_codes", "drg_moving_mass")
#: Candidates whose score is within this distance of the coder's threshold are "uncertain": their
#: inclusion is flipped one at a time and the list regrouped (at most DRG_FLIP_CODES, closest first).
DRG_FLIP_BAND = 0.35
DRG_FLIP_CODES = 6
META_FEATURES = (
    "note_chars",
    "note_sections",
    "admission_type",
    "age",
    "los_days",
    "gender_male",
    "care_setting",
)
#: What goes wrong in short stays (observation): a comorbidity (I10, E78.5) outscoring the reason
#: for the stay as the predicted principal, and a procedure the note lists but the coder missed (it
#: moves the MS-DRG to a surgical one). ``principal_rate``: how often the predicted principal, when
#: coded, is the principal in the training episodes (smoothed towards the overall rate);
#: ``principal_rate_margin``: its score x rate over the best other diagnosis's; and
#: ``unpredicted_procedures``: procedures the note's "Major Surgical or Invasive Procedure" section
#: lists minus those the coder accepted. Appended last so earlier columns keep their positions.
EVIDENCE_FEATURES = ("principal_rate", "principal_rate_margin", "unpredicted_procedures")
#: Weight (in episodes) of the overall principal rate in a code's smoothed principal rate.
PRINCIPAL_PRIOR_WEIGHT = 5.0
FEATURE_NAMES: tuple[str, ...] = SCORE_FEATURES + SET_FEATURES + META_FEATURES + EVIDENCE_FEATURES

_EPS = 1e-6
# A section heading: a short capitalised line ending in a colon ("Discharge Diagnosis:").
_SECTION = re.compile(r"^[ \t]*[A-Z][A-Za-z /&()-]{2,48}:", re.MULTILINE)


def _score_core(
    S: np.ndarray,
    cand: np.ndarray,
    logf: np.ndarray,
    isdx: np.ndarray,
    sum_p: np.ndarray,
    t: float,
    near: float,
) -> np.ndarray:
    """Score and rarity features from the top-n candidates (rows sorted by score, descending).

    ``S`` (n, k) scores padded with 0; ``cand`` marks real candidates; ``logf`` log(1 + train
    count) of each candidate's label; ``isdx`` whether it is a diagnosis.
    """
    acc = cand & (S > t)
    rej = cand & ~acc
    n_acc = acc.sum(axis=1).astype(np.float64)
    any_acc = n_acc > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        min_acc = np.where(any_acc, np.where(acc, S, np.inf).min(axis=1), np.nan)
        max_rej = np.where(rej, S, 0.0).max(axis=1)
        dist = np.abs(S - t)
        min_abs = np.where(cand.any(axis=1), np.where(cand, dist, np.inf).min(axis=1), np.nan)
        n_near = (cand & (dist < near)).sum(axis=1).astype(np.float64)
        Sc = np.clip(S, _EPS, 1 - _EPS)
        ent = np.where(cand, -(Sc * np.log(Sc) + (1 - Sc) * np.log1p(-Sc)), 0.0).sum(axis=1)
        logp = np.where(acc, np.log(Sc), np.where(rej, np.log1p(-Sc), 0.0)).sum(axis=1)
        min_f = np.where(any_acc, np.where(acc, logf, np.inf).min(axis=1), np.nan)
        mean_f = np.where(any_acc, np.where(acc, logf, 0.0).sum(axis=1) / np.maximum(n_acc, 1), np.nan)
    top1 = np.where(cand[:, 0], S[:, 0], 0.0) if S.shape[1] else np.zeros(len(S))
    # the predicted principal is the best-scoring diagnosis; its margin over the runner-up diagnosis
    dx_scores = np.where(isdx, S, -1.0)
    two = -np.sort(-dx_scores, axis=1)[:, :2] if S.shape[1] >= 2 else np.column_stack([dx_scores, np.full(len(S), -1.0)])
    top_dx = np.where(two[:, 0] >= 0, two[:, 0], np.nan)
    margin = np.where(two[:, 0] >= 0, two[:, 0] - np.maximum(two[:, 1], 0.0), np.nan)
    return np.column_stack(
        [
            n_acc,
            sum_p,
            sum_p - n_acc,
            min_acc,
            max_rej,
            min_acc - t,
            t - max_rej,
            min_abs,
            n_near,
            ent,
            logp,
            np.exp(logp),
            top1,
            (acc & isdx).sum(axis=1),
            (acc & ~isdx).sum(axis=1),
            min_f,
            mean_f,
            (acc & (logf == 0)).sum(axis=1),
            top_dx,
            margin,
        ]
    )


def _principal_core(S: np.ndarray, isdx: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """(principal_rate, principal_rate_margin) of the top-scoring diagnosis (the predicted principal).

    ``rate`` (n, k) is each candidate's smoothed principal rate; rows sorted as in :func:`_score_core`.
    """
    n = len(S)
    if S.shape[1] == 0:
        return np.full((n, 2), np.nan)
    any_dx = isdx.any(axis=1)
    top = np.argmax(np.where(isdx, S, -1.0), axis=1)  # first of equal scores: the sort's tie order
    rows = np.arange(n)
    w = np.where(isdx, S * rate, -np.inf)
    top_w = w[rows, top]
    w[rows, top] = -np.inf
    alt = np.maximum(w.max(axis=1), 0.0)
    return np.column_stack([np.where(any_dx, rate[rows, top], np.nan), np.where(any_dx, top_w - alt, np.nan)])


_PROCEDURE_SECTION = re.compile(r"^[ \t]*Major Surgical or Invasive Procedure[ \t]*:", re.MULTILINE | re.IGNORECASE)
_NO_ITEM = {"none", "___", "n/a", "na", "-"}


def _note_procedures(text: Any) -> float:
    """Items the note's "Major Surgical or Invasive Procedure:" section lists (MIMIC's heading); NaN
    without a note or that section. An item is a non-empty line before the next section heading,
    other than "None" or a de-identified blank."""
    if not isinstance(text, str):
        return math.nan
    m = _PROCEDURE_SECTION.search(text)
    if m is None:
        return math.nan
    n = 0
    for line in text[m.end():].split("\n"):
        item = line.strip()
        if not item:
            continue
        if _SECTION.match(line):
            break
        n += item.lower() not in _NO_ITEM
    return float(n)


def _setting_code(setting: Any, admission_type: Any) -> float:
    """Care setting as an ordinal (index in CARE_SETTINGS): given, or mapped from the admission type."""
    if setting is None or setting is pd.NA or (isinstance(setting, float) and math.isnan(setting)):
        setting = care_setting_of(None if admission_type is pd.NA else admission_type)
    try:
        return float(CARE_SETTINGS.index(str(setting)))
    except ValueError:
        return math.nan


def _num(value: Any) -> float:
    """A metadata value as float; missing or unparsable -> NaN (the model handles NaN)."""
    if value is None or value is pd.NA:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


_MIN_ROWS_PER_JOB = 20_000


def _drg_stability(labels: list[str], drg: str, uncertain: list[tuple[str, float]], gender: Any, died: Any,
                   threshold: float) -> list[float]:
    """How likely the predicted list's MS-DRG survives the coder's uncertain codes.

    Each uncertain candidate (score within DRG_FLIP_BAND of the threshold, closest first, at most
    DRG_FLIP_CODES) is flipped on its own, dropped if accepted and added if not, and the list
    regrouped with the real grouper (cached on the codes that can move the MS-DRG, so flips of
    codes without CC/MCC or DRG-defining status cost a dictionary look-up). Returns
    (P(no DRG-moving code flips), number of DRG-moving codes, their summed flip probability), the
    flips treated as independent with the coder's scores as their probabilities.
    """
    from triage.codes.drg import default_grouper
    from triage.confidence._codes import _is_alive, drg_of_key

    stable, n_moving, mass = 1.0, 0.0, 0.0
    if not uncertain:
        return [stable, n_moving, mass]
    grouper = default_grouper()
    sex, alive = None if gender is pd.NA else gender, _is_alive(died)
    dx = [x for x in labels if "." in x]  # ICD-10: diagnosis labels are the dotted ones (drg_of)
    px = [x for x in labels if "." not in x]
    base = grouper.key(dx, px, sex, alive) if dx else None
    for lab, s in uncertain:
        accepted = s > threshold
        if base is not None and grouper.keeps_key(base, lab, diagnosis="." in lab, added=not accepted):
            continue  # the grouper's key, hence the MS-DRG, stays as it is
        # the flipped list's diagnoses and procedures, each in its order, as drg_of splits them
        if "." in lab:
            fdx, fpx = ([x for x in dx if x != lab] if accepted else [*dx, lab]), px
        else:
            fdx, fpx = dx, ([x for x in px if x != lab] if accepted else [*px, lab])
        # the grouper's key holds all its MS-DRG depends on: an unchanged key needs no regrouping
        if fdx:
            key = grouper.key(fdx, fpx, sex, alive)
            if key == base or drg_of_key(key)[0] == drg:
                continue
        elif not drg:  # no diagnosis left: ungroupable, as drg_of says ("")
            continue
        p_flip = (1.0 - s) if accepted else s
        stable *= 1.0 - p_flip
        n_moving += 1.0
        mass += p_flip
    return [stable, n_moving, mass]


def _uncertain(candidates: list[tuple[str, float]], threshold: float) -> list[tuple[str, float]]:
    """Candidates within DRG_FLIP_BAND of the threshold, closest first (ties by label), at most DRG_FLIP_CODES."""
    near = [(d, lab, s) for lab, s in candidates if (d := abs(s - threshold)) < DRG_FLIP_BAND]
    near.sort()
    return [(lab, s) for _, lab, s in near[:DRG_FLIP_CODES]]


def _set_features(labels: list[str], version: int, gender: Any, died: Any, code_systems: bool,
                  candidates: list[tuple[str, float]] = (), threshold: float = 0.5) -> list[float]:
    """Categories, chapters, DRG weight/MDC, Elixhauser index and MS-DRG stability of the predicted list.

    ``candidates`` are the top-scoring (label, score) pairs the score features saw (ICD-10 only:
    they feed :func:`_drg_stability`).
    """
    n_cat = float(len({truncate_label(lab, 3) for lab in labels}))
    if not code_systems:
        return [n_cat] + [math.nan] * (len(SET_FEATURES) - 1)
    from triage.codes.chapters import chapter_key as chapter_of
    from triage.confidence._codes import drg_of, elixhauser_index

    chapters = {chapter_of(lab, version) for lab in labels}
    chapters.discard(None)
    if version == 10 and labels:
        drg, weight, mdc = drg_of(labels, gender, died)
        elix = elixhauser_index(labels)
        stability = (_drg_stability(labels, drg, _uncertain(list(candidates), threshold), gender, died, threshold)
                     if drg else [math.nan] * 3)
    else:
        weight = mdc = elix = math.nan
        stability = [math.nan] * 3
    return [n_cat, float(len(chapters)), weight, mdc, elix, *stability]


def _set_rows(label_lists: list[list[str]], versions: np.ndarray, gender: list, died: list, code_systems: bool,
              candidates: list[list[tuple[str, float]]] | None = None, threshold: float = 0.5) -> np.ndarray:
    out = np.empty((len(label_lists), len(SET_FEATURES)))
    for i, labels in enumerate(label_lists):
        out[i] = _set_features(labels, int(versions[i]), gender[i], died[i], code_systems,
                               candidates[i] if candidates is not None else (), threshold)
    return out


class RoutingInput(NamedTuple):
    """What :class:`RoutingFeatures` reads as its one ``X``: the coder's scores and the episode
    table (matched on ``episode_id`` when it has the column, else by position; None: no metadata)."""

    scores: CodeScores
    episodes: pd.DataFrame | None = None


def _routing_input(X: Any, episodes: pd.DataFrame | None) -> RoutingInput:
    if isinstance(X, CodeScores):
        return RoutingInput(X, episodes)
    if isinstance(X, tuple) and len(X) == 2 and isinstance(X[0], CodeScores) and episodes is None:
        return RoutingInput(*X)
    raise TypeError(f"X must be RoutingInput(scores, episodes) (or CodeScores), got {type(X).__name__}")


def _principal_rates(eps: pd.DataFrame, versions: Any) -> tuple[dict[str, float], float]:
    """Smoothed rate at which each diagnosis, when coded, is the principal (first diagnosis) in the
    training episodes, and the overall rate it is smoothed towards (PRINCIPAL_PRIOR_WEIGHT episodes)."""
    coded: dict[str, int] = {}
    first: dict[str, int] = {}
    for dx, v in zip(eps["diagnoses"], versions):
        labels = [lab for lab in episode_labels(list(dx), [], int(v)) if label_kind(lab, int(v)) == "dx"]
        for lab in set(labels):
            coded[lab] = coded.get(lab, 0) + 1
        if labels:
            first[labels[0]] = first.get(labels[0], 0) + 1
    total = sum(coded.values())
    prior = sum(first.values()) / total if total else 0.0
    m = PRINCIPAL_PRIOR_WEIGHT
    return {lab: (first.get(lab, 0) + m * prior) / (n + m) for lab, n in coded.items()}, float(prior)


class RoutingFeatures(TransformerMixin, BaseEstimator):
    """Feature matrix (float32, NaN = unknown) from code scores and admission metadata.

    ``X`` is a :class:`RoutingInput` ``(scores, episodes)``: ``fit(RoutingInput(scores, episodes))``
    then ``transform(RoutingInput(scores, episodes))`` (``transform(scores, episodes)`` too).

    Parameters
    ----------
    threshold : codes scoring strictly above it form the predicted set (the coder's rule).
    top_n : number of highest-scoring candidates the score statistics look at.
    near : half-width of the band around the threshold counted as "near" (uncertain) codes.
    code_systems : compute chapters, MS-DRG weight/MDC and Elixhauser index (loads the code
        packages, a few seconds once); False leaves those columns NaN.
    n_jobs : processes for the code-system columns of large batches (MS-DRG grouping is
        pure Python, ~0.1 ms per episode); None means 1, -1 all cores. Batches under
        ``20,000`` rows per process stay in-process (a worker loads the code packages: ~2 s).
    """

    def __init__(
        self,
        threshold: float = 0.5,
        top_n: int = 30,
        near: float = 0.1,
        code_systems: bool = True,
        n_jobs: int | None = None,
    ) -> None:
        self.threshold = threshold
        self.top_n = top_n
        self.near = near
        self.code_systems = code_systems
        self.n_jobs = n_jobs

    # ----------------------------------------------------------------- fit
    def fit(self, X: RoutingInput, y: None = None, *, episodes: pd.DataFrame | None = None) -> RoutingFeatures:
        """Learn train label frequencies (from the training episodes' codes) and admission types.

        ``y`` is unused (scikit-learn's convention). The former call ``fit(scores, episodes)``
        still works, with a DeprecationWarning.
        """
        if isinstance(X, CodeScores) and isinstance(y, pd.DataFrame):
            warnings.warn("RoutingFeatures.fit(scores, episodes) is deprecated: pass "
                          "RoutingInput(scores, episodes) as X", DeprecationWarning, stacklevel=2)
            y, episodes = None, y
        scores, episodes = _routing_input(X, episodes)
        if episodes is None:
            raise ValueError("fit needs the training episodes: X = RoutingInput(scores, episodes)")
        if not 0.0 <= float(self.threshold) < 1.0:
            raise ValueError(f"threshold must be in [0, 1), got {self.threshold!r}")
        if int(self.top_n) < 1:
            raise ValueError(f"top_n must be >= 1, got {self.top_n!r}")
        eps = self._align(scores, episodes)
        for col in ("diagnoses", "procedures"):
            if col not in eps.columns:
                raise ValueError(f"fit needs the training episodes' column {col!r}")
        versions = eps["icd_version"] if "icd_version" in eps.columns else [10] * len(eps)
        counts: dict[str, int] = {}
        for dx, px, v in zip(eps["diagnoses"], eps["procedures"], versions):
            for lab in episode_labels(list(dx), list(px), int(v)):
                counts[lab] = counts.get(lab, 0) + 1
        self.label_counts_ = counts
        self.principal_rates_, self.principal_prior_ = _principal_rates(eps, versions)
        if "admission_type" in eps.columns:
            types = sorted(str(x) for x in eps["admission_type"].dropna().unique())
        else:
            types = []
        self.admission_types_ = {t: float(i) for i, t in enumerate(types)}
        self.feature_names_ = list(FEATURE_NAMES)
        self.n_features_out_ = len(FEATURE_NAMES)
        return self

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(FEATURE_NAMES, dtype=object)

    # ----------------------------------------------------------- helpers
    @staticmethod
    def _align(scores: CodeScores, episodes: pd.DataFrame | None) -> pd.DataFrame:
        """Episodes in the scores' row order (matched on episode_id when the column exists)."""
        n = len(scores)
        if episodes is None:
            return pd.DataFrame(index=range(n))
        if "episode_id" in episodes.columns:
            idx = pd.Index(episodes["episode_id"].astype("int64"))
            if not idx.is_unique:
                raise ValueError("episodes column 'episode_id' has duplicate ids")
            pos = idx.get_indexer(scores.episode_ids)
            if (pos < 0).any():
                missing = scores.episode_ids[pos < 0][:10].tolist()
                raise ValueError(f"episodes lack these episode_id values of the scores: {missing}")
            return episodes.iloc[pos].reset_index(drop=True)
        if len(episodes) != n:
            raise ValueError(
                f"episodes has {len(episodes)} rows and no 'episode_id' column; scores have {n}"
            )
        return episodes.reset_index(drop=True)

    def _check_fitted(self) -> None:
        if not hasattr(self, "label_counts_"):
            raise NotFittedError("RoutingFeatures is not fitted: call fit(RoutingInput(scores, episodes)) first")

    def _set_columns(self, label_lists: list[list[str]], versions: np.ndarray, gender: list, died: list,
                     candidates: list[list[tuple[str, float]]]) -> np.ndarray:
        """SET_FEATURES of every predicted list, in worker processes for large batches."""
        from joblib import Parallel, delayed, effective_n_jobs

        n = len(label_lists)
        t = float(self.threshold)
        jobs = min(effective_n_jobs(self.n_jobs), n // _MIN_ROWS_PER_JOB) if self.code_systems else 1
        if jobs <= 1:
            return _set_rows(label_lists, versions, gender, died, bool(self.code_systems), candidates, t)
        bounds = np.linspace(0, n, jobs + 1).astype(int)
        parts = Parallel(n_jobs=jobs)(
            delayed(_set_rows)(label_lists[a:b], versions[a:b], gender[a:b], died[a:b], True, candidates[a:b], t)
            for a, b in itertools.pairwise(bounds)
        )
        return np.vstack(parts)

    def _rate_matrix(self, classes: np.ndarray, Lc: np.ndarray, cand: np.ndarray) -> np.ndarray:
        """Each candidate's smoothed principal rate (the prior for codes the training episodes lack)."""
        rates = getattr(self, "principal_rates_", {})
        prior = float(getattr(self, "principal_prior_", math.nan))
        per_class = np.array([rates.get(c, prior) for c in classes], dtype=np.float64)
        return np.where(cand, per_class[Lc], 0.0) if per_class.size else np.zeros(Lc.shape)

    @staticmethod
    def _evidence(S: np.ndarray, isdx: np.ndarray, rate: np.ndarray, core: np.ndarray, texts: list) -> np.ndarray:
        """EVIDENCE_FEATURES from the sorted candidates, the score columns and the notes."""
        n_px = core[:, SCORE_FEATURES.index("n_px_accepted")]
        listed = np.array([_note_procedures(x) for x in texts], dtype=np.float64).reshape(len(S))
        return np.column_stack([_principal_core(S, isdx, rate), listed - n_px])

    def _meta_row(self, text: Any, adm: Any, age: Any, los: Any, gender: Any, setting: Any = None) -> list[float]:
        if isinstance(text, str):
            chars, sections = float(len(text)), float(len(_SECTION.findall(text)))
        else:
            chars = sections = math.nan
        adm_code = math.nan if adm is None or adm is pd.NA else self.admission_types_.get(str(adm), math.nan)
        g = None if gender is None or gender is pd.NA else str(gender).strip().upper()[:1]
        male = 1.0 if g == "M" else 0.0 if g == "F" else math.nan
        return [chars, sections, adm_code, _num(age), _num(los), male, _setting_code(setting, adm)]

    # ---------------------------------------------------------- transform
    def transform(self, X: RoutingInput | CodeScores, episodes: pd.DataFrame | None = None) -> np.ndarray:
        """(n, len(FEATURE_NAMES)) float32 for every episode of the scores."""
        self._check_fitted()
        scores, episodes = _routing_input(X, episodes)
        eps = self._align(scores, episodes)
        n, k = len(scores), int(self.top_n)
        t = float(self.threshold)
        M = scores.matrix
        if M.nnz and (M.data.min() < 0 or M.data.max() > 1 or not np.isfinite(M.data).all()):
            raise ValueError("code scores must be probabilities in [0, 1]")
        classes = scores.classes.astype(str)
        versions = (
            pd.to_numeric(eps["icd_version"], errors="coerce").fillna(10).astype(int).to_numpy()
            if "icd_version" in eps.columns
            else np.full(n, 10)
        )

        # Top-k per row, sorted by score desc then label (the same tie order transform_one uses).
        lengths = np.diff(M.indptr)
        row = np.repeat(np.arange(n), lengths)
        label_rank = np.empty(len(classes), dtype=np.int64)
        label_rank[np.argsort(classes, kind="stable")] = np.arange(len(classes))
        order = np.lexsort((label_rank[M.indices], -M.data.astype(np.float64), row))
        pos = np.arange(M.nnz) - M.indptr[row]
        keep = pos < k
        S = np.zeros((n, k))
        L = np.full((n, k), -1, dtype=np.int64)
        S[row[keep], pos[keep]] = M.data[order][keep]
        L[row[keep], pos[keep]] = M.indices[order][keep]
        cand = (L >= 0) & (S > 0)  # explicit stored zeros are no candidates (as in transform_one)
        Lc = np.where(cand, L, 0)

        counts = np.array([self.label_counts_.get(c, 0) for c in classes], dtype=np.float64)
        logf = np.where(cand, np.log1p(counts)[Lc], 0.0)
        dx10 = np.array([label_kind(c, 10) == "dx" for c in classes])
        dx9 = np.array([label_kind(c, 9) == "dx" for c in classes])
        isdx = np.where((versions == 10)[:, None], dx10[Lc], dx9[Lc]) & cand
        sum_p = np.asarray(M.sum(axis=1), dtype=np.float64).ravel()
        core = _score_core(S, cand, logf, isdx, sum_p, t, float(self.near))
        rate = self._rate_matrix(classes, Lc, cand)

        acc = cand & (S > t)
        gender = eps["gender"].tolist() if "gender" in eps.columns else [None] * n
        died = eps["died"].tolist() if "died" in eps.columns else [None] * n
        # scores as the single-episode path sees them (float32 stored, compared as float)
        cands = [list(zip(classes[L[i, cand[i]]].tolist(), S[i, cand[i]].tolist())) for i in range(n)]
        set_rows = self._set_columns([classes[L[i, acc[i]]].tolist() for i in range(n)], versions, gender, died,
                                     cands)

        def col(name: str) -> list:
            return eps[name].tolist() if name in eps.columns else [None] * n

        meta = np.array(
            [
                self._meta_row(*vals)
                for vals in zip(col("text"), col("admission_type"), col("age"), col("los_days"), gender,
                                col("care_setting"))
            ],
            dtype=np.float64,
        ).reshape(n, len(META_FEATURES))
        evidence = self._evidence(S, isdx, rate, core, col("text"))
        return np.hstack([core, set_rows, meta, evidence]).astype(np.float32)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_label_rows", None)  # a cache of the fitted state, rebuilt on first use
        return state

    def _row_table(self) -> dict[str, tuple[float, float, bool, bool]]:
        """label -> (log1p of its training count, smoothed principal rate, ICD-10 dx, ICD-9 dx) of
        every training label, built once per fit (not saved): the single-episode path looks a
        label up instead of recomputing these per request. log1p is numpy's, as in the batch path."""
        counts = self.label_counts_
        rates = self.__dict__.get("principal_rates_")
        cached = self.__dict__.get("_label_rows")
        if cached is not None and cached[0] is counts and cached[1] is rates:
            return cached[2]
        prior = float(getattr(self, "principal_prior_", math.nan))
        labels = list(counts)
        logf = np.log1p(np.array([counts[lab] for lab in labels], dtype=np.float64)).tolist()
        table = {lab: (lf, (rates or {}).get(lab, prior), label_kind(lab, 10) == "dx", label_kind(lab, 9) == "dx")
                 for lab, lf in zip(labels, logf)}
        self.__dict__["_label_rows"] = (counts, rates, table)
        return table

    def _label_row(self, label: str) -> tuple[float, float, bool, bool]:
        """:meth:`_row_table`'s entry for a label the training episodes lack (count 0: log1p 0)."""
        rates = getattr(self, "principal_rates_", {})
        prior = float(getattr(self, "principal_prior_", math.nan))
        return 0.0, rates.get(label, prior), label_kind(label, 10) == "dx", label_kind(label, 9) == "dx"

    def transform_one(self, code_scores: Mapping[str, float], metadata: Mapping[str, Any] | None = None) -> np.ndarray:
        """One episode's feature row (shape (len(FEATURE_NAMES),), float32) from label -> score.

        ``metadata`` keys (all optional): text, admission_type, age, los_days, gender, died,
        icd_version. The service's per-request path: plain Python over the episode's few
        candidates, numpy only where the batch path's own numpy calls fix the bits (logarithms,
        row sums), so the row equals :meth:`transform`'s bit for bit (tests/confidence).
        """
        self._check_fitted()
        md = metadata or {}
        t, k, near = float(self.threshold), int(self.top_n), float(self.near)
        labels = [str(lab) for lab in code_scores]
        values = np.array(list(code_scores.values()), dtype=np.float32)  # the batch path stores float32
        if values.size and not (values.min() >= 0.0 and values.max() <= 1.0):  # NaN fails both
            bad = int(np.flatnonzero(~((values >= 0.0) & (values <= 1.0)))[0])
            raise ValueError(f"score of code {labels[bad]!r} must be in [0, 1], got {float(values[bad])!r}")
        # the batch path's row sum (scipy: float32 reduceat over the row's stored scores, in order)
        sum_p = float(np.add.reduceat(values, [0])[0]) if values.size else 0.0
        # top-k candidates by score descending, ties by label (the batch path's order)
        top = sorted([(-s, lab) for lab, s in zip(labels, values.tolist()) if s > 0.0])[:k]
        S = [-s for s, _ in top]
        labs = [lab for _, lab in top]
        m = len(S)
        v = _num(md.get("icd_version", 10))
        version = 10 if math.isnan(v) else int(v)
        table = self._row_table()
        rows = [table.get(lab) or self._label_row(lab) for lab in labs]
        logf = [r[0] for r in rows]
        rate = [r[1] for r in rows]
        isdx = [r[2] if version == 10 else r[3] for r in rows]
        acc = [s > t for s in S]
        n_acc = sum(acc)
        acc_s = [s for s, a in zip(S, acc) if a]
        rej_s = [s for s, a in zip(S, acc) if not a]
        min_acc = min(acc_s) if acc_s else math.nan
        max_rej = max(rej_s) if rej_s else 0.0
        dist = [abs(s - t) for s in S]
        # entropy, log P(exact) and the accepted log-frequencies: elementwise as the batch path,
        # summed by numpy over the padded top-k row as there
        hi = 1 - _EPS
        sc = [_EPS if s < _EPS else hi if s > hi else s for s in S]  # noqa: FURB136 - np.clip, no call per value
        Sc = np.array(sc, dtype=np.float64)
        lg, l1 = np.log(Sc).tolist(), np.log1p(-Sc).tolist()
        terms = np.zeros((3, k))
        terms[0, :m] = [-(a * b + (1 - a) * c) for a, b, c in zip(sc, lg, l1)]
        terms[1, :m] = [b if ok else c for ok, b, c in zip(acc, lg, l1)]
        terms[2, :m] = [f if ok else 0.0 for ok, f in zip(acc, logf)]
        sums = terms.sum(axis=1)
        ent, logp = float(sums[0]), float(sums[1])
        acc_f = [f for f, ok in zip(logf, acc) if ok]
        n_dx_acc = len([1 for ok, dx in zip(acc, isdx) if ok and dx])
        dx_s = [s for s, dx in zip(S, isdx) if dx]  # descending, as S
        if dx_s:
            j = isdx.index(True)  # the predicted principal: the best-scoring diagnosis
            w = [s * r for s, r, dx in zip(S, rate, isdx) if dx]
            alt = max(max(w[1:], default=-math.inf), 0.0)
            principal = [rate[j], w[0] - alt]
        else:
            principal = [math.nan, math.nan]
        core = [
            float(n_acc), sum_p, sum_p - n_acc, min_acc, max_rej, min_acc - t, t - max_rej,
            min(dist) if m else math.nan,
            float(len([d for d in dist if d < near])),
            ent, logp, float(np.exp(sums[1])),
            S[0] if m else 0.0,
            float(n_dx_acc), float(n_acc - n_dx_acc),
            min(acc_f) if acc_f else math.nan,
            float(sums[2] / max(n_acc, 1)) if acc_f else math.nan,
            float(len([f for f in acc_f if f == 0])),
            dx_s[0] if dx_s else math.nan,
            dx_s[0] - (dx_s[1] if len(dx_s) > 1 else 0.0) if dx_s else math.nan,
        ]
        gender = md.get("gender")
        sets = _set_features([lab for lab, a in zip(labs, acc) if a], version, gender, md.get("died"),
                             bool(self.code_systems), list(zip(labs, S)), t)
        meta = self._meta_row(md.get("text"), md.get("admission_type"), md.get("age"), md.get("los_days"), gender,
                              md.get("care_setting"))
        evidence = [*principal, _note_procedures(md.get("text")) - (n_acc - n_dx_acc)]
        return np.array(core + sets + meta + evidence, dtype=np.float32)
