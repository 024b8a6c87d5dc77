"""The analysis notebooks: Jupytext percent-format ``.py`` sources paired with output-free ``.ipynb``
files that agree cell for cell, linted by ruff, and run top to bottom on a finished, logged run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

ANALYSIS = Path(__file__).resolve().parents[2] / "analysis"
SOURCES = sorted(p.name for p in ANALYSIS.glob("*.py"))
NOTEBOOKS = sorted(p.name for p in ANALYSIS.glob("*.ipynb"))


def _cells(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source) for cell in nb.cells]


def test_every_notebook_has_a_paired_source_and_back():
    assert NOTEBOOKS, f"no notebooks in {ANALYSIS}"
    assert {Path(n).stem for n in NOTEBOOKS} == {Path(s).stem for s in SOURCES}


@pytest.mark.parametrize("name", SOURCES)
def test_paired_notebook_matches_its_percent_source(name):
    """An edit made on one side only (in Jupyter, or in the .py) fails here: run
    ``jupytext --sync analysis/<name>.py`` to bring the pair back together."""
    source = ANALYSIS / name
    text = source.read_text(encoding="utf-8")
    assert text.startswith("# ---\n# jupyter:") and "format_name: percent" in text, f"{name}: not percent format"
    from_py = jupytext.reads(text, fmt="py:percent")
    notebook = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    assert _cells(from_py) == _cells(notebook), f"{name} and its .ipynb disagree: run jupytext --sync"
    assert notebook.metadata.get("jupytext", {}).get("formats") == "ipynb,py:percent"


def test_notebook_sources_pass_ruff():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is a dev dependency: pip install -e '.[dev]'")
    done = subprocess.run([ruff, "check", "--quiet", *SOURCES], cwd=ANALYSIS, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory, tracked_run):
    """The shared tiny ``triage run`` logged to MLflow (the notebooks analyse the latest run)."""
    uri, info, _ = tracked_run
    return uri, info.run_id, tmp_path_factory.mktemp("nb-work")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_has_no_outputs(name):
    nb = nbformat.read(ANALYSIS / name, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert "RUN_ID = None" in code[0].source  # the run is chosen in the first cell


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom_on_the_latest_run(name, logged_run, monkeypatch):
    from triage.tracking import latest_run_id

    uri, _, folder = logged_run
    run_id = latest_run_id(tracking_uri=uri)  # other tests may have logged runs to the shared store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    nb = nbformat.read(ANALYSIS / name, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    text = "\n".join(
        out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
        for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
    )
    assert f"MLflow run {run_id}" in text
    if name == "policy_analysis.ipynb":  # names the run's own correctness target, whatever it is
        from triage.tracking import load_run_result

        target = load_run_result(run_id, tracking_uri=uri).summary["target"]
        assert f"correctness target of this run: {target} (" in text
    assert not any(out.output_type == "error" for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs)
    images = sum("image/png" in out.get("data", {}) for c in nb.cells if c.cell_type == "code" for out in c.outputs)
    assert images >= 2
    assert os.environ["MLFLOW_TRACKING_URI"] == uri
