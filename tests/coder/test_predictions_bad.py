"""Predictions files a careless pipeline writes (issue 14): clear one-line errors, never a traceback
or silent all-zero metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from triage.coder import load_predictions


def _wide(target) -> pd.DataFrame:
    df = pd.DataFrame({"I10.": np.array([0.9, 0.2], np.float32), "E11.9": np.array([0.1, 0.7], np.float32)})
    df["target"] = target
    df["_id"] = np.array([11, 12], np.int64)
    return df


def test_integer_target_is_a_clear_error(tmp_path):
    path = tmp_path / "p.feather"
    _wide([5, 7]).to_feather(path)
    with pytest.raises(ValueError, match=r"column 'target', episode 11: holds int.*list of strings"):
        load_predictions(path)


def test_long_file_with_only_unknown_codes_is_an_error(tmp_path):
    path = tmp_path / "p.csv"
    pd.DataFrame({"episode_id": [1, 1, 2], "code": ["zz!", "??", "not a code"],
                  "score": [0.5, 0.4, 0.9]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"column 'code': none of its 3 distinct codes .*ICD version"):
        load_predictions(path)


def test_evaluate_reports_bad_target_in_one_line(tmp_path):
    from triage.cli import app
    from triage.synth import generate

    cohort = tmp_path / "cohort"
    generate(cohort, n_episodes=60, seed=1, note_words_scale=0.03)
    path = tmp_path / "p.feather"
    _wide([5, 7]).to_feather(path)
    r = CliRunner().invoke(app, ["evaluate", "--data", str(cohort), "--predictions", str(path)])
    assert r.exit_code == 2
    assert "Traceback" not in r.output and "TypeError" not in r.output
    assert "column 'target'" in r.output
