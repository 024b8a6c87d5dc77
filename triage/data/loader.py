"""``load_episodes``: any supported source -> the episode table, with its split and exclusion report."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal, Sequence

import pandas as pd

from triage.codes.labels import episode_labels
from triage.data.errors import DataError, LoadReport
from triage.data.split import patient_split, read_split_file

#: The layouts ``load_episodes`` reads; ``auto`` (FORMAT_CHOICES) detects one of them.
FORMATS: tuple[str, ...] = ("mimic-iv", "mimic-iii", "reference")
FORMAT_CHOICES: tuple[str, ...] = ("auto", *FORMATS)
Format = Literal[FORMAT_CHOICES]


def detect_format(path: str | Path) -> str:
    """``mimic-iv`` (hosp/ + note/), ``mimic-iii`` (upper-case NOTEEVENTS...), or ``reference`` (feather)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix == ".feather":
            return "reference"
        raise DataError(f"{path}: a single file must be the reference pipeline's .feather data file")
    def has(name: str) -> bool:
        return any((path / f"{name}{ext}").is_file() for ext in (".csv.gz", ".csv"))

    if (path / "hosp").is_dir() or has("diagnoses_icd"):
        return "mimic-iv"
    if has("NOTEEVENTS") or has("DIAGNOSES_ICD"):
        return "mimic-iii"
    feathers = [p for p in path.glob("*.feather") if "split" not in p.name]
    if len(feathers) == 1:
        return "reference"
    raise DataError(
        f"{path}: cannot tell the format (expected hosp/ and note/ for MIMIC-IV, NOTEEVENTS.csv.gz for "
        f"MIMIC-III, or one reference .feather file); pass format explicitly"
    )


def _source(path: Path, fmt: str) -> Path:
    if fmt == "reference" and path.is_dir():
        feathers = [p for p in path.glob("*.feather") if "split" not in p.name]
        if len(feathers) != 1:
            raise DataError(f"{path}: expected exactly one reference .feather data file, found {len(feathers)}")
        return feathers[0]
    return path


def _fingerprint(path: Path, extra: dict) -> str:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    h = hashlib.sha256(json.dumps(extra, sort_keys=True, default=str).encode())
    for p in files:
        st = p.stat()
        h.update(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:24]


def load_episodes_with_report(
    path: str | Path,
    format: Format = "auto",
    icd_version: int | None = None,
    split_file: str | Path | None = None,
    strict: bool = False,
    seed: int = 0,
    fractions: Sequence[float] = (0.75, 0.10, 0.15),
    cache: bool = False,
) -> tuple[pd.DataFrame, LoadReport]:
    """Load an episode table and the report of what was excluded and why.

    ``split_file`` reuses a published split (``_id``, ``split``); episodes absent from it are
    dropped and counted under ``filtered``. Without one, a seeded patient-level split stratified
    on codes is drawn with ``fractions`` (train, val, test). ``cache=True`` keeps the parsed table
    in :func:`triage.data.cache.cache_dir` (keyed on file sizes and times), never beside the data.

    Rows follow the note file's order (MIMIC admissions with addenda come last; the reference
    file is sorted by ``episode_id``): gathering texts in file order avoids copying the notes.
    """
    path = Path(path)
    if format not in FORMAT_CHOICES:
        raise DataError(f"format must be one of auto, {', '.join(FORMATS)}; got {format!r}")
    if icd_version is not None and icd_version not in (9, 10):
        raise DataError(f"icd_version must be 9 or 10, got {icd_version!r}")
    fmt = detect_format(path) if format == "auto" else format
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    src = _source(path, fmt)
    cache_file = None
    if cache:
        from triage.data.cache import cache_dir, check_outside

        root = cache_dir()
        check_outside(root, src)
        key = _fingerprint(src, {"fmt": fmt, "v": icd_version, "strict": strict, "seed": seed,
                                 "f": list(fractions),
                                 "split": _fingerprint(Path(split_file), {}) if split_file else None})
        cache_file = root / "episodes" / f"{key}.parquet"
        if cache_file.is_file():
            df = pd.read_parquet(cache_file)
            from triage.data.assemble import conform

            for col in ("diagnoses", "procedures"):
                df[col] = [list(x) for x in df[col]]
            rep = json.loads(cache_file.with_suffix(".json").read_text())
            rep.pop("n_excluded", None)
            return conform(df), LoadReport(**rep)
    if fmt == "mimic-iv":
        from triage.data.mimic4 import load_mimic4 as loader
    elif fmt == "mimic-iii":
        from triage.data.mimic3 import load_mimic3 as loader
    else:
        from triage.data.reference import load_reference as loader
    df, report = loader(src, icd_version=icd_version, strict=strict)
    if split_file is not None:
        split = read_split_file(split_file)
        mapped = df["episode_id"].map(split)
        missing = int(mapped.isna().sum())
        if missing:
            report.filtered["not_in_split_file"] = missing
            report.warn(f"{split_file}: {missing} loaded episodes are not in the split file and were dropped")
        unused = len(split) - int(mapped.notna().sum())
        if unused:
            report.warn(f"{split_file}: {unused} split ids match no loaded episode")
        df = df[mapped.notna().to_numpy()].reset_index(drop=True)
        df["split"] = mapped.dropna().astype("string").to_numpy()
        df["split"] = df["split"].astype("string")
        report.n_loaded = len(df)
    else:
        df["split"] = patient_split(df, fractions=fractions, seed=seed)
    if len(df) == 0:
        raise DataError(f"{path}: no episodes left after loading ({report.summary()})")
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        df.to_parquet(cache_file)
        cache_file.with_suffix(".json").write_text(json.dumps(report.to_dict()))
    return df, report


def load_episodes(
    path: str | Path,
    format: Format = "auto",
    icd_version: int | None = None,
    split_file: str | Path | None = None,
    strict: bool = False,
    seed: int = 0,
    fractions: Sequence[float] = (0.75, 0.10, 0.15),
    cache: bool = False,
) -> pd.DataFrame:
    """The episode table (see :mod:`triage.data.schema`); exclusions are warned about and counted
    in the report of :func:`load_episodes_with_report`."""
    df, _ = load_episodes_with_report(path, format, icd_version, split_file, strict, seed, fractions, cache)
    return df


def gold_labels(episodes: pd.DataFrame) -> list[list[str]]:
    """Ordered gold label lists (principal diagnosis first, then procedures) per episode."""
    return [
        episode_labels(dx, px, int(v))
        for dx, px, v in zip(episodes["diagnoses"], episodes["procedures"], episodes["icd_version"])
    ]
