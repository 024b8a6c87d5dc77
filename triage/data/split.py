"""Patient-level train/val/test split, stratified on codes, and reuse of published split files.

No subject appears in two splits (episodes of one patient share text and codes, so splitting
them would leak). Stratification follows the greedy iterative scheme of Sechidis et al.
(2011), the one the reference pipeline uses, applied to *subjects*: subjects whose rarest
label is rarest are placed first, each in the split that still needs that label most.
"""

from __future__ import annotations

from itertools import chain
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from triage.data.errors import DataError

SPLITS = ("train", "val", "test")


def _check_fractions(fractions: Sequence[float]) -> np.ndarray:
    f = np.asarray(fractions, dtype=float)
    if f.shape != (3,) or (f < 0).any() or not np.isclose(f.sum(), 1.0):
        raise DataError(f"fractions must be three non-negative numbers summing to 1 (train, val, test), got {tuple(fractions)}")
    return f


def patient_parts(subject_ids: np.ndarray, shares: Sequence[float], seed: int | None, *,
                  deal: bool = False) -> np.ndarray:
    """Part index (0 .. len(shares)-1) of each episode; all episodes of a patient share a part.

    The one patient-grouped assignment (the run's roles, the coder's cross-fitting folds): the
    patients are put in a seeded random order, then cut into consecutive runs of the given
    ``shares``, or with ``deal`` (equal parts) dealt out in turn, patient i of the order to part
    i mod len(shares), so that part sizes differ by at most one patient.
    """
    subjects, inverse = np.unique(np.asarray(subject_ids), return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(subjects))
    part_of_subject = np.empty(len(subjects), dtype=np.int64)
    if deal:
        part_of_subject[order] = np.arange(len(subjects)) % len(shares)
    else:
        edges = np.round(np.cumsum(shares)[:-1] / np.sum(shares) * len(subjects)).astype(int)
        for part, idx in enumerate(np.split(order, edges)):
            part_of_subject[idx] = part
    return part_of_subject[inverse]


def patient_folds(subject_ids: np.ndarray, n_folds: int, random_state: int | None) -> np.ndarray:
    """Cross-fitting fold of each episode: :func:`patient_parts` dealing patients into ``n_folds``."""
    n_subjects = len(np.unique(np.asarray(subject_ids)))
    if n_subjects < n_folds:
        raise ValueError(f"cross-fitting needs at least n_folds={n_folds} patients, got {n_subjects}")
    return patient_parts(subject_ids, (1.0,) * n_folds, random_state, deal=True)


def patient_split(
    episodes: pd.DataFrame, fractions: Sequence[float] = (0.75, 0.10, 0.15), seed: int = 0
) -> pd.Series:
    """Split name per episode (index aligned with ``episodes``); same seed, same split."""
    f = _check_fractions(fractions)
    if len(episodes) == 0:
        return pd.Series([], index=episodes.index, dtype="string")
    rng = np.random.default_rng(seed)
    subjects, subj_idx = np.unique(episodes["subject_id"].to_numpy("int64"), return_inverse=True)
    n_sub = len(subjects)
    # (subject, code) pairs as integers, vectorised: diagnoses and procedures (and versions) get
    # separate code ids because ICD-9 ``3893`` is both a diagnosis and a procedure
    n_dx = np.fromiter((len(x) for x in episodes["diagnoses"]), dtype=np.int64, count=len(episodes))
    n_px = np.fromiter((len(x) for x in episodes["procedures"]), dtype=np.int64, count=len(episodes))
    is10 = (episodes["icd_version"].to_numpy("int64") == 10).astype(np.int64)

    def code_ids(lists: pd.Series, counts: np.ndarray) -> np.ndarray:
        raw, _ = pd.factorize(pd.Series(list(chain.from_iterable(lists)), dtype=object))
        ids, _ = pd.factorize(raw.astype(np.int64) * 2 + np.repeat(is10, counts))
        return ids.astype(np.int64)

    dx_ids, px_ids = code_ids(episodes["diagnoses"], n_dx), code_ids(episodes["procedures"], n_px)
    n_dx_labels = int(dx_ids.max()) + 1 if len(dx_ids) else 0
    codes = np.r_[dx_ids, px_ids + n_dx_labels]
    n_labels = max(int(codes.max()) + 1 if len(codes) else 0, 1)
    owners = np.r_[np.repeat(subj_idx, n_dx), np.repeat(subj_idx, n_px)].astype(np.int64)
    pairs = np.sort(owners * n_labels + codes)
    pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]] if len(pairs) else pairs
    pair_subj, pair_label = pairs // n_labels, pairs % n_labels
    label_subjects_arr = np.bincount(pair_label, minlength=n_labels)
    bounds = np.searchsorted(pair_subj, np.arange(n_sub + 1))
    subj_labels = [pair_label[a:b].tolist() for a, b in zip(bounds[:-1], bounds[1:])]
    label_subjects = label_subjects_arr.tolist()
    n_eps = np.bincount(subj_idx, minlength=n_sub).tolist()
    fr = f.tolist()
    # label demand per split (in subjects) and size demand (in episodes); plain lists: the loop
    # below touches 3 numbers at a time, where numpy's per-call overhead would dominate
    demand = [[c * x for x in fr] for c in label_subjects]
    size_demand = [sum(n_eps) * x for x in fr]
    none = len(episodes) + 1
    rarest = [min(ids, key=label_subjects.__getitem__) if ids else -1 for ids in subj_labels]
    rarest_count = np.array([label_subjects[r] if r >= 0 else none for r in rarest])
    order = np.lexsort((rng.random(n_sub), rarest_count)).tolist()
    tiebreak = rng.random((n_sub, 3)).tolist()
    assignment = np.empty(n_sub, dtype=np.int8)
    for s in order:
        # splits that are already full take no more subjects (keeps sizes near ``fractions``)
        open_ = [k for k in range(3) if size_demand[k] > 0] or [0, 1, 2]
        lab = rarest[s]
        need = demand[lab] if lab >= 0 else (0.0, 0.0, 0.0)
        tb = tiebreak[s]
        k = max(open_, key=lambda j: (need[j], size_demand[j], tb[j]))
        assignment[s] = k
        for i in subj_labels[s]:
            demand[i][k] -= 1
        size_demand[k] -= n_eps[s]
    names = np.array(SPLITS, dtype=object)[assignment[subj_idx]]
    return pd.Series(names, index=episodes.index, dtype="string")


def read_split_file(path: str | Path) -> pd.Series:
    """The reference pipeline's split file (feather, or CSV/parquet): ``_id`` -> ``split``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: split file not found")
    try:
        if path.suffix == ".feather":
            df = pd.read_feather(path)
        elif path.suffix == ".parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path)
    except Exception as exc:  # pyarrow/pandas raise many types for a corrupt file
        raise DataError(f"{path}: cannot read split file ({type(exc).__name__}: {exc})") from None
    for col in ("_id", "split"):
        if col not in df.columns:
            raise DataError(f"{path}: missing column {col!r} (has {', '.join(map(str, df.columns))})")
    if len(df) == 0:
        raise DataError(f"{path}: empty table (no rows)")
    ids = pd.to_numeric(df["_id"], errors="coerce")
    if ids.isna().any() or (ids != ids.round()).any():
        bad = df["_id"][ids.isna() | (ids != ids.round())].iloc[0]
        raise DataError(f"{path}: column '_id' should be integer admission ids, found {bad!r}")
    split = df["split"].astype("string").str.strip().str.lower().replace({"dev": "val", "validation": "val"})
    unknown = sorted(set(split.dropna()) - set(SPLITS))
    if unknown or split.isna().any():
        raise DataError(f"{path}: column 'split' must be train/val/test, found {unknown or ['<empty>']}")
    ids = ids.astype("int64")
    if ids.duplicated().any():
        raise DataError(f"{path}: column '_id' repeats id {int(ids[ids.duplicated()].iloc[0])}")
    return pd.Series(split.to_numpy(), index=pd.Index(ids.to_numpy(), name="_id"), dtype="string")
