"""The episode table a command reads, or a one-line error naming what is wrong."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from triage.cli._output import fail


def load_episodes_or_fail(data: Path, split_file: Path | None = None) -> pd.DataFrame:
    """``triage.data.load_episodes``; a load error ends the command (the loader's warnings are
    counted in its report, not printed here)."""
    from triage.data import DataError, load_episodes

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return load_episodes(data, split_file=split_file)
    except (DataError, FileNotFoundError, ValueError) as exc:
        fail(exc)
