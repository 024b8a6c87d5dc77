"""Config/summary -> MLflow params, metrics and tags."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from triage.tracking.params import (
    MAX_PARAM_VALUE_LENGTH,
    TRUNCATION_MARK,
    config_params,
    floats_equal,
    sanitize_key,
    summary_metrics,
    summary_tags,
)


def test_config_is_flattened_with_dotted_keys_and_plain_strings():
    config = {"seed": 3, "data": {"path": Path("/x/y"), "split_fractions": (0.75, 0.1, 0.15)},
              "policy": {"alpha": 0.1, "costs": {"unit": "minutes", "capacity": None}}}
    params = config_params(config)
    assert params == {
        "seed": "3", "data.path": "/x/y", "data.split_fractions": "[0.75, 0.1, 0.15]",
        "policy.alpha": "0.1", "policy.costs.unit": "minutes", "policy.costs.capacity": "None",
    }


def test_long_param_values_are_truncated_to_mlflow_limit():
    params = config_params({"coder": {"params": {"vocab": list(range(5000))}}})
    value = params["coder.params.vocab"]
    assert len(value) == MAX_PARAM_VALUE_LENGTH
    assert value.endswith(TRUNCATION_MARK)


def test_numeric_summary_keys_become_metrics_and_the_rest_tags():
    summary = {"alpha": 0.1, "n_test": np.int64(40), "feasible": True, "ece": float("nan"),
               "target": "exact", "thresholds": {"automate": 0.9}, "missing": None}
    metrics = summary_metrics(summary)
    assert metrics.keys() == {"alpha", "n_test", "feasible", "ece"}
    assert metrics["n_test"] == 40.0 and metrics["feasible"] == 1.0 and math.isnan(metrics["ece"])
    assert summary_tags(summary) == {"summary.target": "exact", "summary.thresholds": '{"automate": 0.9}'}


def test_keys_with_illegal_characters_are_replaced_and_overlong_keys_rejected():
    assert sanitize_key("cost (€)/episode") == "cost ___/episode"
    with pytest.raises(ValueError, match="250"):
        sanitize_key("k" * 300)


def test_floats_equal_reads_back_strings():
    assert floats_equal("0.1", 0.1) and not floats_equal("0.1", 0.05)
    assert floats_equal("exact", "exact") and not floats_equal("exact", "drg")
    assert not floats_equal(float("nan"), float("nan"))
