"""Turn a run's config and summary into what MLflow stores: params, metrics and tags.

MLflow keeps params as strings (keys <= 250 characters, values <= 6,000) and metrics as
floats; anything else in the summary becomes a ``summary.<key>`` tag so no figure is lost.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from triage.jsonsafe import flatten, to_plain

#: MLflow's limits (mlflow.utils.validation): param key length, param value length, tag value length.
MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 5000
TRUNCATION_MARK = "...[truncated]"

_BAD_KEY_CHARS = re.compile(r"[^0-9A-Za-z_\-. /:]")


def sanitize_key(key: str) -> str:
    """An MLflow-legal key: alphanumerics, ``_ - . space / :``; other characters become ``_``."""
    key = _BAD_KEY_CHARS.sub("_", str(key))
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"key {key[:60]!r}... is {len(key)} characters; MLflow allows {MAX_KEY_LENGTH}")
    return key


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - len(TRUNCATION_MARK)] + TRUNCATION_MARK


def config_params(config: Mapping[str, Any]) -> dict[str, str]:
    """Flattened config as MLflow params (strings within MLflow's length limits)."""
    params: dict[str, str] = {}
    for key, value in flatten(to_plain(dict(config))).items():
        if value is None:
            text = "None"
        elif isinstance(value, str):
            text = value
        elif isinstance(value, (list, dict)):
            text = json.dumps(value, sort_keys=True, default=str)
        else:
            text = str(value)
        params[sanitize_key(key)] = _truncate(text, MAX_PARAM_VALUE_LENGTH)
    return params


def is_metric_value(value: Any) -> bool:
    """Numbers (incl. numpy and bool) are metrics; NaN is kept, MLflow stores it."""
    return isinstance(value, (bool, int, float, np.integer, np.floating, np.bool_))


def summary_metrics(summary: Mapping[str, Any]) -> dict[str, float]:
    """Every numeric summary key as an MLflow metric (bool -> 0/1)."""
    out = {}
    for key, value in summary.items():
        if is_metric_value(value):
            out[sanitize_key(key)] = float(value)
    return out


def summary_tags(summary: Mapping[str, Any]) -> dict[str, str]:
    """Non-numeric summary values (target name, paths, versions) as ``summary.<key>`` tags."""
    out = {}
    for key, value in summary.items():
        if is_metric_value(value) or value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(to_plain(value), default=str)
        out[sanitize_key(f"summary.{key}")] = _truncate(text, MAX_TAG_VALUE_LENGTH)
    return out


def floats_equal(a: Any, b: Any, rel: float = 1e-9) -> bool:
    """Equality for guarantee settings read back from strings or floats."""
    try:
        fa, fb = float(a), float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)
    if math.isnan(fa) or math.isnan(fb):
        return False
    return math.isclose(fa, fb, rel_tol=rel, abs_tol=1e-12)
