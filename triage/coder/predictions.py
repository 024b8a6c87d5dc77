"""Bring your own predictions: per-code probabilities written by another coder.

Two formats:

* the reference pipeline's ``predictions_{val,test}.feather`` (Edin et al. 2023): one float
  column per code named by its dotted label (``I10.``, ``E11.9``, ``0QS734Z``), ``target``
  (the gold codes, a set/list) and ``_id`` (the hadm_id);
* a long table with columns ``episode_id``, ``code``, ``score`` (parquet, feather or csv).

Codes are normalised to labels, rows matched to the episode table by id, and every mismatch
is counted in the returned report; values that are not probabilities stop the load with an
error naming the file, the column and the value.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp
from pyarrow import feather

from triage.coder.scores import CodeScores

ID_COLUMN, TARGET_COLUMN = "_id", "target"
LONG_COLUMNS = ("episode_id", "code", "score")


@dataclass
class PredictionsReport:
    """What was read, what matched and what did not."""

    path: str
    format: str  # "wide" (reference pipeline) or "long"
    n_rows: int = 0
    n_codes: int = 0
    n_matched: int = 0
    unknown_ids: list[int] = field(default_factory=list)  # in the file, not in the data
    n_episodes_without_predictions: int = 0  # in the data, not in the file
    unknown_codes: list[str] = field(default_factory=list)  # dropped: not a code of the system
    unknown_target_codes: list[str] = field(default_factory=list)  # kept as written

    @property
    def ok(self) -> bool:
        return not (self.unknown_ids or self.unknown_codes or self.unknown_target_codes)

    def __str__(self) -> str:
        lines = [
            f"{self.path}: {self.format} predictions, {self.n_rows} episodes x {self.n_codes} codes",
            f"  matched to the data: {self.n_matched}",
        ]
        if self.unknown_ids:
            lines.append(
                f"  {len(self.unknown_ids)} episode id(s) not in the data (dropped), e.g. "
                f"{self.unknown_ids[:5]}"
            )
        if self.n_episodes_without_predictions:
            lines.append(f"  {self.n_episodes_without_predictions} episode(s) of the data have no predictions")
        if self.unknown_codes:
            lines.append(
                f"  {len(self.unknown_codes)} code(s) unknown to the code system (dropped), e.g. "
                f"{self.unknown_codes[:5]}"
            )
        if self.unknown_target_codes:
            lines.append(
                f"  {len(self.unknown_target_codes)} target code(s) unknown to the code system, e.g. "
                f"{self.unknown_target_codes[:5]}"
            )
        return "\n".join(lines)


def _normalizer(version: int):
    try:
        from triage.codes import normalize_label
    except ImportError:  # pragma: no cover - codes area not installed yet
        from triage.codes.labels import canonical

        def normalize_label(spelling: str, version: int = 10) -> str:
            c = canonical(spelling)
            if not c or not c.isalnum():
                raise ValueError(f"not a code: {spelling!r}")
            return spelling.strip().upper() if "." in spelling else c

    cache: dict[str, str | None] = {}

    def norm(code) -> str | None:
        key = str(code)
        if key not in cache:
            try:
                cache[key] = normalize_label(key, version)
            except ValueError:
                cache[key] = None
        return cache[key]

    return norm


def _read_table(path: Path) -> pa.Table:
    suffixes = "".join(path.suffixes).lower()
    try:
        if suffixes.endswith((".feather", ".arrow", ".ipc")):
            return feather.read_table(path)
        if suffixes.endswith(".parquet"):
            return pq.read_table(path)
        if suffixes.endswith((".csv", ".csv.gz", ".tsv")):
            sep = "\t" if ".tsv" in suffixes else ","
            df = pd.read_csv(path, sep=sep, dtype={"code": str}, keep_default_na=True)
            return pa.Table.from_pandas(df, preserve_index=False)
    except (OSError, pa.ArrowInvalid, pd.errors.ParserError) as exc:
        raise ValueError(f"cannot read predictions file {path}: {exc}") from exc
    raise ValueError(
        f"predictions file {path}: unknown format {suffixes or '(no suffix)'}; "
        "expected .feather, .parquet or .csv"
    )


def _version(episodes: pd.DataFrame | None, icd_version: int | None) -> int:
    if icd_version is not None:
        return int(icd_version)
    if episodes is not None and "icd_version" in episodes.columns and len(episodes):
        return int(pd.Series(episodes["icd_version"]).mode().iloc[0])
    return 10


def load_predictions(
    path: str | Path,
    episodes: pd.DataFrame | None = None,
    *,
    icd_version: int | None = None,
    keep_top_k: int | None = 256,
    chunk_size: int = 1024,
) -> tuple[CodeScores, list[list[str]] | None, PredictionsReport]:
    """Read predictions into ``CodeScores`` (top ``keep_top_k`` per episode stored).

    Returns ``(scores, gold, report)``: ``gold`` is the file's ``target`` per row (None for
    the long format). With ``episodes``, rows are restricted to episodes of that table (in
    file order) and ids absent from it are reported. ``icd_version`` defaults to the
    episodes' (else 10) and decides how undotted codes are read.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"predictions file not found: {path}")
    table = _read_table(path)
    names = table.column_names
    norm = _normalizer(_version(episodes, icd_version))
    if ID_COLUMN in names:
        scores, gold, report = _wide(path, table, norm, keep_top_k, chunk_size)
    elif all(c in names for c in LONG_COLUMNS):
        scores, gold, report = _long(path, table, norm, keep_top_k)
    else:
        raise ValueError(
            f"predictions file {path}: neither the reference format (an '{ID_COLUMN}' column plus "
            f"one column per code) nor a long table with columns {list(LONG_COLUMNS)}; "
            f"found columns {names[:10]}"
        )
    if episodes is not None:
        scores, gold = _match(scores, gold, episodes, report)
    return scores, gold, report


def _ids(values: np.ndarray, path: Path, column: str) -> np.ndarray:
    s = pd.Series(values)
    num = pd.to_numeric(s, errors="coerce")
    bad = num.isna() | (num != np.floor(num))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"predictions file {path}: column '{column}' row {i}: id {s.iloc[i]!r} is not an integer")
    return num.to_numpy().astype(np.int64)


def _check_unit(block: np.ndarray, path: Path, columns, row_ids, where: str = "") -> None:
    ok = (block >= 0) & (block <= 1)  # NaN fails both
    if not ok.all():
        r, c = np.argwhere(~ok)[0]
        raise ValueError(
            f"predictions file {path}: column {columns[c]!r}, episode {row_ids[r]}{where}: "
            f"score {block[r, c]!r} is not a probability in [0, 1]"
        )


def _wide(path, table, norm, keep_top_k, chunk_size):
    names = table.column_names
    ids = _ids(table.column(ID_COLUMN).to_numpy(zero_copy_only=False), path, ID_COLUMN)
    _no_duplicates(ids, path, ID_COLUMN)
    code_cols = [c for c in names if c not in (ID_COLUMN, TARGET_COLUMN)]
    report = PredictionsReport(str(path), "wide", n_rows=len(ids))
    keep_cols, labels = [], []
    seen: dict[str, str] = {}
    for c in code_cols:
        typ = table.schema.field(c).type
        if not (pa.types.is_floating(typ) or pa.types.is_integer(typ)):
            raise ValueError(
                f"predictions file {path}: column {c!r} should hold scores but has type {typ}"
            )
        lab = norm(c)
        if lab is None:
            report.unknown_codes.append(c)
            continue
        if lab in seen:
            raise ValueError(
                f"predictions file {path}: columns {seen[lab]!r} and {c!r} are the same code {lab}"
            )
        seen[lab] = c
        keep_cols.append(c)
        labels.append(lab)
    if not keep_cols:
        raise ValueError(f"predictions file {path}: no column is a code of the code system")
    report.n_codes = len(labels)
    arrays = [
        table.column(c).to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        for c in keep_cols
    ]
    classes = np.asarray(labels, dtype=object)
    parts = []
    for start in range(0, len(ids), chunk_size):
        block = np.stack([a[start : start + chunk_size] for a in arrays], axis=1)
        _check_unit(block, path, keep_cols, ids[start : start + chunk_size])
        parts.append(CodeScores.from_dense(ids[start : start + chunk_size], classes, block, keep_top_k).matrix)
    matrix = sp.vstack(parts, format="csr") if parts else sp.csr_matrix((0, len(classes)), dtype=np.float32)
    gold = None
    if TARGET_COLUMN in names:
        gold = [
            _target_labels(v, norm, report, path, ids[i])
            for i, v in enumerate(table.column(TARGET_COLUMN).to_pylist())
        ]
    return CodeScores(ids, classes, matrix), gold, report


def _target_labels(value, norm, report, path, episode_id) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value) if value.strip()[:1] in "[({" else value.split()
        except (ValueError, SyntaxError) as exc:
            raise ValueError(
                f"predictions file {path}: column '{TARGET_COLUMN}', episode {episode_id}: "
                f"cannot read codes from {value[:40]!r}"
            ) from exc
    if isinstance(value, (bytes, dict)) or not isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        raise ValueError(
            f"predictions file {path}: column '{TARGET_COLUMN}', episode {episode_id}: holds "
            f"{type(value).__name__} {str(value)[:40]!r}, not a list of codes; write each episode's "
            f"gold codes as a list of strings (e.g. ['I10.', 'E11.9'])"
        )
    out = []
    for code in value:
        lab = norm(code)
        if lab is None:
            report.unknown_target_codes.append(str(code))
            lab = str(code).strip()
        out.append(lab)
    return sorted(set(out))


def _no_duplicates(ids: np.ndarray, path: Path, column: str) -> None:
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise ValueError(
            f"predictions file {path}: column '{column}' repeats id(s) {uniq[counts > 1][:5].tolist()}"
        )


def _long(path, table, norm, keep_top_k):
    df = table.select(list(LONG_COLUMNS)).to_pandas()
    ids = _ids(df["episode_id"].to_numpy(), path, "episode_id")
    score = pd.to_numeric(df["score"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~((score >= 0) & (score <= 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"predictions file {path}: column 'score', row {i} (episode {ids[i]}, code "
            f"{df['code'].iloc[i]!r}): score {df['score'].iloc[i]!r} is not a probability in [0, 1]"
        )
    report = PredictionsReport(str(path), "long")
    raw_codes = df["code"].astype(str).to_numpy()
    uniq_raw, inv = np.unique(raw_codes, return_inverse=True)
    lab_of = np.array([norm(c) for c in uniq_raw], dtype=object)
    report.unknown_codes = [str(c) for c, lab in zip(uniq_raw, lab_of) if lab is None]
    labels = lab_of[inv]
    known = np.array([lab is not None for lab in labels], dtype=bool)
    ep_ids = pd.unique(ids)
    row = pd.Index(ep_ids).get_indexer(ids[known])
    classes = np.asarray(sorted(set(labels[known].tolist())), dtype=object)
    col = pd.Index(classes).get_indexer(labels[known])
    pair = row.astype(np.int64) * max(len(classes), 1) + col
    u, c = np.unique(pair, return_counts=True)
    if (c > 1).any():
        r, j = divmod(int(u[c > 1][0]), max(len(classes), 1))
        raise ValueError(
            f"predictions file {path}: episode {ep_ids[r]} has more than one score for code {classes[j]}"
        )
    mat = sp.csr_matrix(
        (score[known].astype(np.float32), (row, col)), shape=(len(ep_ids), len(classes))
    )
    if len(classes) == 0:
        raise ValueError(
            f"predictions file {path}: column 'code': none of its {len(uniq_raw)} distinct codes is a "
            f"code of the code system (e.g. {[str(c) for c in uniq_raw[:5]]}); check the ICD version "
            f"(--icd-version / the data's icd_version) and the spelling (I50.9, I509, 0QS734Z)"
        )
    mat = _top_k_rows(mat, keep_top_k)
    report.n_rows, report.n_codes = len(ep_ids), len(classes)
    return CodeScores(ep_ids, classes, mat), None, report


def _top_k_rows(mat: sp.csr_matrix, k: int | None) -> sp.csr_matrix:
    mat.sum_duplicates()
    mat.eliminate_zeros()
    if k is None or np.diff(mat.indptr).max(initial=0) <= k:
        mat.sort_indices()
        return mat
    rows = np.repeat(np.arange(mat.shape[0]), np.diff(mat.indptr))
    order = np.lexsort((-mat.data, rows))
    rank = np.arange(order.size) - mat.indptr[rows[order]]
    keep = order[rank < k]
    out = sp.csr_matrix((mat.data[keep], (rows[keep], mat.indices[keep])), shape=mat.shape)
    out.sort_indices()
    return out


def _match(scores: CodeScores, gold, episodes: pd.DataFrame, report: PredictionsReport):
    if "episode_id" not in episodes.columns:
        raise ValueError("episode table lacks column 'episode_id'")
    data_ids = pd.Index(episodes["episode_id"].to_numpy(dtype=np.int64))
    pos = data_ids.get_indexer(scores.episode_ids)
    known = pos >= 0
    report.unknown_ids = scores.episode_ids[~known].tolist()
    report.n_matched = int(known.sum())
    report.n_episodes_without_predictions = int(len(data_ids) - report.n_matched)
    if report.n_matched == 0:
        raise ValueError(
            f"predictions file {report.path}: none of its {len(scores)} episode ids is in the data "
            f"(e.g. {scores.episode_ids[:5].tolist()}); is it the right split / dataset?"
        )
    keep = np.flatnonzero(known)
    sub = CodeScores(scores.episode_ids[keep], scores.classes, scores.matrix[keep])
    if gold is not None:
        gold = [gold[i] for i in keep]
    return sub, gold
