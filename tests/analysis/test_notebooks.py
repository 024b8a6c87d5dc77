"""The analysis notebooks run top to bottom on a finished, logged run and are committed without outputs."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ANALYSIS = Path(__file__).resolve().parents[2] / "analysis"
NOTEBOOKS = ("policy_analysis.ipynb", "upper_bounds.ipynb", "workflow_metrics.ipynb")


@pytest.fixture(scope="module")
def logged_run(request, tmp_path_factory, run_result_factory):
    """The shared tiny ``triage run`` logged to MLflow (the notebooks analyse the latest run);
    while the pipeline is unavailable, a simulated RunResult logged the same way."""
    folder = tmp_path_factory.mktemp("nb-work")
    try:
        uri, info, _ = request.getfixturevalue("tracked_run")
    except pytest.skip.Exception:
        from triage.tracking import log_run

        uri = f"sqlite:///{folder / 'mlflow.db'}"
        info = log_run(run_result_factory(seed=3), tracking_uri=uri)
    return uri, info.run_id, folder


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
    assert not any(out.output_type == "error" for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs)
    images = sum("image/png" in out.get("data", {}) for c in nb.cells if c.cell_type == "code" for out in c.outputs)
    assert images >= 2
    assert os.environ["MLFLOW_TRACKING_URI"] == uri
