"""The pyfunc wrapper's input parsing and output shape, without a router or MLflow store."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pandas as pd
import pytest

from triage.mlflow_model import OUTPUT_COLUMNS, decisions_to_frame, episodes_from_frame
from triage.tracking import model_signature


def test_scores_as_json_or_dict_and_metadata_are_passed_on():
    frame = pd.DataFrame({
        "episode_id": [1, 2, 3],
        "code_scores": ['{"I50.9": 0.9}', {"I10.": 0.4}, None],
        "text": [None, None, "discharge summary"],
        "age": [70.0, float("nan"), 40.0],
        "gender": ["F", None, "M"],
        "unrelated": ["x", "y", "z"],
    })
    eps = episodes_from_frame(frame)
    assert eps[0] == {"episode_id": 1, "code_scores": {"I50.9": 0.9}, "text": None,
                      "metadata": {"age": 70.0, "gender": "F"}}
    assert eps[1]["code_scores"] == {"I10.": 0.4} and eps[1]["metadata"] is None
    assert eps[2]["code_scores"] is None and eps[2]["text"] == "discharge summary"


@pytest.mark.parametrize(("value", "message"), [
    ("{not json", "row 0 \\(episode_id=7\\): column 'code_scores' is not valid JSON"),
    ("[0.5]", "must be a JSON object of label -> score, got list"),
    (3.5, "must be a JSON string or a dict, got float"),
])
def test_bad_code_scores_name_row_episode_and_column(value, message):
    with pytest.raises(ValueError, match=message):
        episodes_from_frame(pd.DataFrame({"episode_id": [7], "code_scores": [value]}))


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="missing the column 'episode_id'"):
        episodes_from_frame(pd.DataFrame({"code_scores": ["{}"]}))
    with pytest.raises(ValueError, match="needs a 'code_scores' column"):
        episodes_from_frame(pd.DataFrame({"episode_id": [1]}))
    with pytest.raises(TypeError, match="DataFrame"):
        episodes_from_frame([{"episode_id": 1}])


def test_output_rows_match_the_signature():
    decision = SimpleNamespace(episode_id=5, route="manual", p_correct=0.2, thresholds={"automate": None, "assist": 0.6},
                               codes=[{"code": "I10.", "score": 0.4}], model_version="m1", policy_version="p1")
    out = decisions_to_frame([decision])
    assert tuple(out.columns) == OUTPUT_COLUMNS == tuple(model_signature().outputs.input_names())
    row = out.iloc[0]
    assert math.isnan(row["t_automate"]) and row["t_assist"] == 0.6  # None = never automate
    assert json.loads(row["codes"]) == [{"code": "I10.", "score": 0.4}]
