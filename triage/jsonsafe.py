"""One home for turning library values into strict JSON / YAML (the run summary, the router
bundle, policy versions, CLI ``--json`` output, service responses).

JSON has no NaN or infinity and no numpy, path or date types. :func:`to_plain` makes a plain
copy (dicts with string keys, lists, Python scalars); ``nonfinite`` says what a NaN or an
infinity becomes: ``"keep"`` (the default: YAML spells them ``.inf``/``.nan``), ``"null"``
(strict JSON: :func:`finite_json`, :func:`dumps`) or ``"string"`` (``"inf"``/``"-inf"``, NaN
still None, for values read back such as policy thresholds). It sits below every sub-package, so
anyone may import it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

NonFinite = Literal["null", "string", "keep"]


def finite_or_none(value: Any) -> float | None:
    """A number as a finite float, or None (missing, NaN or infinite)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def to_plain(value: Any, *, nonfinite: NonFinite = "keep") -> Any:
    """A JSON/YAML-safe copy of ``value``: mappings, sequences, sets, numpy scalars and arrays,
    paths, dates and pydantic models become plain Python; anything else is returned as is."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        if math.isfinite(value) or nonfinite == "keep":
            return value
        if nonfinite == "string" and not math.isnan(value):
            return "inf" if value > 0 else "-inf"
        return None
    if isinstance(value, np.generic):
        return to_plain(value.item(), nonfinite=nonfinite)
    if isinstance(value, Mapping):
        return {str(k): to_plain(v, nonfinite=nonfinite) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        return [to_plain(v, nonfinite=nonfinite) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if hasattr(value, "model_dump"):  # pydantic objects
        return to_plain(value.model_dump(mode="json"), nonfinite=nonfinite)
    return value


def finite_json(value: Any) -> Any:
    """A plain copy with every NaN and infinity as None: what strict JSON can hold."""
    return to_plain(value, nonfinite="null")


def json_default(value: Any) -> Any:
    """``json.dumps(..., default=json_default)``: a plain form of what json cannot encode;
    ``str`` for anything without one."""
    plain = to_plain(value)
    return str(plain) if plain is value else plain


def dumps(value: Any, **kwargs: Any) -> str:
    """Strict JSON text (no NaN/Infinity tokens) for ``value``; ``kwargs`` go to ``json.dumps``."""
    return json.dumps(finite_json(value), allow_nan=False, default=json_default, **kwargs)


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mapping -> ``{"a.b.c": value}``; lists and empty mappings stay as leaves."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out
