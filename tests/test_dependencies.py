"""The installed versions are inside the ranges pyproject.toml declares, and inside what MLflow and
PySpark themselves declare (a resolver that ignored an upper bound would show up here)."""

from __future__ import annotations

import tomllib
import warnings
from importlib.metadata import PackageNotFoundError, requires, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"]]


def _unmet(reqs: list[Requirement], extras: tuple[str, ...] = ("",)) -> list[str]:
    bad = []
    for req in reqs:
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in extras):
            continue
        try:
            installed = version(req.name)
        except PackageNotFoundError:
            bad.append(f"{req.name} not installed (needs {req.specifier or 'any'})")
            continue
        if not req.specifier.contains(installed, prereleases=True):
            bad.append(f"{req.name} {installed} is outside {req.specifier}")
    return bad


def test_installed_versions_are_inside_the_declared_ranges():
    assert not _unmet(_declared()), "reinstall with `make install` (pip install -e '.[dev]')"


def test_every_declared_dependency_has_an_upper_bound_where_mlflow_or_pyspark_set_one():
    ours = {r.name.lower(): r for r in _declared()}
    for pkg, extras in (("mlflow", ("",)), ("mlflow-skinny", ("",)), ("pyspark", ("sql",))):
        for raw in requires(pkg) or []:
            theirs = Requirement(raw)
            if theirs.marker and not any(theirs.marker.evaluate({"extra": e}) for e in extras):
                continue
            mine = ours.get(theirs.name.lower())
            if mine is None or not any(s.operator in ("<", "<=", "==") for s in theirs.specifier):
                continue
            assert any(s.operator in ("<", "<=", "==") for s in mine.specifier), (
                f"{pkg} caps {theirs.name} ({theirs.specifier}); pyproject.toml should too")


@pytest.mark.parametrize("pkg,extras", [("mlflow", ("",)), ("mlflow-skinny", ("",)), ("pyspark", ("", "sql"))])
def test_installed_versions_satisfy_what_mlflow_and_pyspark_declare(pkg, extras):
    assert not _unmet([Requirement(r) for r in requires(pkg) or []], extras)


def test_pyspark_supports_the_installed_pandas():
    from pyspark.sql.pandas.utils import require_minimum_pandas_version

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        require_minimum_pandas_version()  # raises below its minimum, warns above what it supports
    assert not [str(w.message) for w in caught]
