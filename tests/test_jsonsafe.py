"""triage.jsonsafe: the one place values become strict JSON / YAML."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from triage.jsonsafe import dumps, finite_json, finite_or_none, flatten, json_default, to_plain


def test_to_plain_turns_library_values_into_plain_python():
    value = {1: (np.float32(0.5), np.int64(3)), "p": Path("/x/y"), "d": date(2026, 1, 2),
             "a": np.array([1, 2]), "s": {np.bool_(True)}}
    plain = to_plain(value)
    assert plain == {"1": [0.5, 3], "p": "/x/y", "d": "2026-01-02", "a": [1, 2], "s": [True]}
    assert type(plain["1"][1]) is int and type(plain["s"][0]) is bool


@pytest.mark.parametrize(("nonfinite", "expected"), [
    ("keep", None), ("null", [None, None, None]), ("string", ["inf", "-inf", None]),
])
def test_non_finite_numbers_follow_the_chosen_spelling(nonfinite, expected):
    out = to_plain([math.inf, np.float64(-np.inf), math.nan], nonfinite=nonfinite)
    if expected is None:
        assert out[0] == math.inf and out[1] == -math.inf and math.isnan(out[2])
    else:
        assert out == expected


def test_dumps_is_strict_json_and_round_trips():
    text = dumps({"rate": np.float64("nan"), "upper": np.inf, "n": np.int32(4), "where": Path("a")})
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"rate": None, "upper": None, "n": 4, "where": "a"}
    assert finite_json({"x": [1.0, -math.inf]}) == {"x": [1.0, None]}


def test_json_default_falls_back_to_str_for_unknown_objects():
    class Thing:
        def __str__(self) -> str:
            return "thing"

    assert json.dumps({"t": Thing(), "v": np.arange(2)}, default=json_default) == '{"t": "thing", "v": [0, 1]}'


def test_finite_or_none():
    assert finite_or_none(np.float32(0.25)) == 0.25 and finite_or_none(None) is None
    assert finite_or_none(math.inf) is None and finite_or_none(float("nan")) is None


@given(st.recursive(st.integers() | st.text(max_size=5),
                    lambda inner: st.dictionaries(st.text("abc", min_size=1, max_size=3), inner, max_size=3),
                    max_leaves=10))
def test_flatten_keeps_every_leaf(tree):
    def leaves(t):
        if isinstance(t, dict) and t:
            return [leaf for v in t.values() for leaf in leaves(v)]
        return [t]

    flat = flatten({"root": tree})
    assert sorted(map(repr, flat.values())) == sorted(map(repr, leaves(tree)))
    assert all(k == "root" or k.startswith("root.") for k in flat)
