"""Rows -> router input: one list of routing-time fields, typed values, row-level rejects."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from triage.decisions.episodes import EPISODE_METADATA_FIELDS, episodes_from_columns
from triage.decisions.rows import output_columns
from triage.router import ROUTING_METADATA_FIELDS, RoutingDecision


def test_one_list_of_routing_fields_feeds_every_path():
    from service.schemas import Metadata
    from triage.mlflow_model import METADATA_COLUMNS
    from triage.tracking import model_signature

    assert {"died", "gender", "care_setting", "discharge_date", "age"} <= set(EPISODE_METADATA_FIELDS)
    assert set(EPISODE_METADATA_FIELDS) == set(ROUTING_METADATA_FIELDS) - {"text", "icd_version"}
    assert set(Metadata.model_fields) == set(EPISODE_METADATA_FIELDS)
    assert tuple(METADATA_COLUMNS) == EPISODE_METADATA_FIELDS
    inputs = set(model_signature().inputs.input_names())
    assert set(EPISODE_METADATA_FIELDS) | {"episode_id", "code_scores", "text"} == inputs


def test_output_has_every_decision_field():
    cols = set(output_columns())
    for f in dataclasses.fields(RoutingDecision):
        if f.name == "thresholds":
            assert {"t_automate", "t_assist"} <= cols
        else:
            assert f.name in cols, f.name


def test_values_are_typed_as_the_service_types_them():
    cols = {
        "episode_id": [1, "ep-2", 3.0],
        "code_scores": ['{"I10.": 0.9}', {"I10.": 0.8}, [("I10.", 0.7)]],
        "died": ["true", 0, True],
        "age": ["71", 65, None],
        "discharge_date": [pd.Timestamp("2026-11-20 13:00"), "2026-11-21", None],
        "gender": ["F", "", None],
    }
    eps, kept, rejects = episodes_from_columns(cols, 3)
    assert kept == [0, 1, 2] and not rejects
    assert eps[0] == {"episode_id": 1, "code_scores": {"I10.": 0.9}, "text": None,
                      "metadata": {"died": True, "age": 71.0, "discharge_date": "2026-11-20", "gender": "F"}}
    assert eps[1]["metadata"] == {"died": False, "age": 65.0, "discharge_date": "2026-11-21"}
    assert eps[2]["episode_id"] == 3 and eps[2]["code_scores"] == {"I10.": 0.7}


@pytest.mark.parametrize(("column", "value", "reason"), [
    ("code_scores", "{not json", "is not valid JSON"),
    ("code_scores", "[0.5]", "must be a JSON object of label -> score, got list"),
    ("age", "seventy", "must be a number"),
    ("los_days", float("inf"), "finite number"),
    ("died", "maybe", "must be true or false"),
    ("discharge_date", "20/11/2026", "ISO date"),
    ("episode_id", None, "is missing"),
])
def test_a_bad_value_rejects_its_row_only(column, value, reason):
    cols = {"episode_id": [1, 2, 3], "code_scores": ['{"I10.": 0.9}'] * 3, "text": ["note"] * 3}
    cols[column] = list(cols.get(column, [None] * 3))
    cols[column][1] = value
    eps, kept, rejects = episodes_from_columns(cols, 3, first_row=100, source="f.parquet")
    assert kept == [0, 2] and [e["episode_id"] for e in eps] == [1, 3]
    (r,) = rejects
    assert (r.row, r.column, r.source) == (101, column, "f.parquet") and reason in r.reason
    with pytest.raises(ValueError, match=rf"row 101 .*column '{column}'"):
        episodes_from_columns(cols, 3, first_row=100, strict=True)


def test_text_never_appears_in_a_rejection():
    secret = "Jane Roe MRN 8675309"
    cols = {"episode_id": [1], "code_scores": ["{oops " + secret], "text": [secret]}
    _, _, rejects = episodes_from_columns(cols, 1)
    assert rejects and secret not in json.dumps([dataclasses.asdict(r) for r in rejects])
