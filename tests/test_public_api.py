"""``from triage import ...``: the notebook API, each name from its one home, loaded lazily."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import triage


@pytest.mark.slow  # imports every sub-package (torch, MLflow)
def test_every_public_name_is_the_object_of_its_home_module():
    assert triage.__all__ == sorted(triage._EXPORTS)
    for name, module in triage._EXPORTS.items():
        assert getattr(triage, name) is getattr(importlib.import_module(module), name), name
    assert set(triage.__all__) <= set(dir(triage))


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        triage.nope  # noqa: B018


def test_import_triage_loads_no_heavy_library():
    code = ("import sys, triage; heavy = ('torch', 'lightgbm', 'mlflow', 'sklearn', 'pandas', 'triage.');"
            "print(sorted(m for m in sys.modules if m.startswith(heavy) and m != 'triage._lazy'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_dir_lists_the_public_names_and_no_helpers():
    names = dir(triage)
    assert {"load_latest_run", "run_table", "Policy", "patient_split", "RunConfig",
            "run_pipeline"} <= set(names)
    assert not {"Any", "annotations", "importlib", "lazy_exports"} & set(names)
