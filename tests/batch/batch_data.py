"""Episode tables for the batch tests (score-only, with DRG-relevant metadata and bad rows)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))
from router_bundle import sample_episodes

#: A note phrase that must never reach an error message, a log line or the errors dataset.
SECRET_NOTE = "Patient Jane Roe, MRN 8675309, disclosed private history"


def episode_frame(n: int, seed: int = 1) -> pd.DataFrame:
    """Score-only episodes as a table: JSON code_scores plus DRG-relevant metadata (gender, died)."""
    eps = sample_episodes(n, seed=seed)
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "episode_id": [e["episode_id"] for e in eps],
        "code_scores": [json.dumps(e["code_scores"]) for e in eps],
        "age": [float(e["metadata"]["age"]) for e in eps],
        "gender": [e["metadata"]["gender"] for e in eps],
        "admission_type": [e["metadata"]["admission_type"] for e in eps],
        "los_days": [e["metadata"]["los_days"] for e in eps],
        "died": rng.random(n) < 0.1,
        "discharge_date": pd.Timestamp("2026-11-01") + pd.to_timedelta(rng.integers(0, 30, n), unit="D"),
        "extra_column": "ignored",
    })


def with_bad_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Five rows the batch must reject (and say why), the rest untouched."""
    f = frame.copy()
    f["text"] = None
    f.loc[3, "code_scores"] = '{"I10.": 0.4'                    # unparseable JSON
    f.loc[5, "episode_id"] = f.loc[6, "episode_id"]             # duplicated id: both copies
    f.loc[8, "code_scores"] = json.dumps({"I10.": 1.7})          # not a probability
    f.loc[9, "code_scores"] = None                               # neither scores nor text...
    f.loc[9, "text"] = SECRET_NOTE                               # ...text, but no coder in the bundle
    return f


def write_parquet(frame: pd.DataFrame, path: Path, row_group_size: int = 250) -> Path:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for i, f in enumerate(table.schema):  # an all-missing column is text, as in a real table
        if pa.types.is_null(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(pa.string()))
    pq.write_table(table, path, row_group_size=row_group_size)
    return path
