"""The registered router carries its code and pinned requirements: a clean machine can rebuild it.

The fast tests read the logged model's own files; the slow one does what
``mlflow models serve --env-manager virtualenv`` does: a fresh venv without system site-packages,
``pip install -r requirements.txt`` from a copy of the model folder (the machine's usual package
index, nothing from this working tree), then ``mlflow.pyfunc.load_model`` and one scored row
inside that venv.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import mlflow
import pytest
import yaml

from triage.tracking.environment import model_requirements, pinned_requirements, project_version

ROOT = Path(__file__).resolve().parents[2]


def _small_bundle(path: Path) -> Path:
    """A real score-only router bundle (tests/service/router_bundle.py), fitted in seconds."""
    spec = importlib.util.spec_from_file_location("_bundle", ROOT / "tests" / "service" / "router_bundle.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_bundle(path, n=300)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A small router logged and registered as `triage run` does, then downloaded from the
    registry into a folder of its own."""
    from triage.tracking.registry import log_router_model
    from triage.tracking.uri import tracking_uri_set

    base = tmp_path_factory.mktemp("registered-model")
    bundle = _small_bundle(base / "bundle")
    with tracking_uri_set(f"sqlite:///{base / 'mlflow.db'}"):  # tracking and registry
        mlflow.set_experiment("model-environment")
        with mlflow.start_run():
            info = log_router_model(bundle)
        uri = f"models:/coding-triage-router/{info.registered_model_version}"
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(base / "download"))
    return Path(local)


def test_requirements_pin_every_runtime_dependency_to_the_installed_version():
    pins = pinned_requirements()
    assert pins and all("==" in p for p in pins)
    for pin in pins:
        name, version = pin.split("==")
        assert metadata.version(name.split("[")[0]).split("+")[0] == version, pin
    names = {p.split("==")[0].split("[")[0] for p in pins}
    assert {"mlflow", "torch", "pandas", "lightgbm", "scikit-learn", "drgpy"} <= names
    assert not any(n in names for n in ("pytest", "ruff"))  # the dev extra stays out
    assert model_requirements(None)[0] == f"coding-triage=={project_version()}"


def test_an_installed_version_outside_the_declared_range_is_refused(tmp_path):
    from triage.tracking.environment import ModelEnvironmentError

    installed = metadata.version("numpy").split("+")[0]
    (tmp_path / "pyproject.toml").write_text(
        f'[project]\nname = "coding-triage"\nversion = "0.0.1"\ndependencies = ["numpy<{installed}"]\n')
    with pytest.raises(ModelEnvironmentError, match=f"numpy {installed} is installed"):
        pinned_requirements(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        f'[project]\nname = "coding-triage"\nversion = "0.0.1"\ndependencies = ["numpy>={installed}"]\n')
    assert pinned_requirements(tmp_path) == [f"numpy=={installed}"]


def test_logged_model_holds_only_relative_paths_and_its_own_wheel(model_dir):
    flavor = yaml.safe_load((model_dir / "MLmodel").read_text())["flavors"]["python_function"]
    assert flavor["model_code_path"] == "mlflow_model.py" and (model_dir / "mlflow_model.py").is_file()
    for name, artifact in flavor["artifacts"].items():
        assert artifact["uri"] == artifact["path"] and not Path(artifact["path"]).is_absolute(), name
        assert (model_dir / artifact["path"]).exists(), name
    requirements = (model_dir / "requirements.txt").read_text().split()
    wheel = requirements[0]
    assert wheel == flavor["artifacts"]["wheel"]["path"] and wheel.startswith("artifacts/coding_triage-")
    assert requirements[1:] == pinned_requirements()
    with zipfile.ZipFile(model_dir / wheel) as whl:
        names = set(whl.namelist())
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        assert f"Version: {project_version()}" in whl.read(meta).decode()
    assert {"triage/mlflow_model.py", "triage/router.py", "triage/allocation/default_allocation.yaml"} <= names
    text = "\n".join(p.read_text(errors="replace") for p in model_dir.iterdir() if p.is_file()
                     and p.suffix in {"", ".txt", ".yaml", ".json"} and p.name != "MLmodel")
    assert str(ROOT) not in text


@pytest.mark.slow
def test_a_fresh_venv_rebuilds_the_model_from_its_own_files_and_scores_a_row(model_dir, tmp_path):
    """The model folder alone (copied away from the working tree) rebuilds and routes."""
    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
    python = venv / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r", "requirements.txt"],
                             cwd=model, env=env, capture_output=True, text=True, timeout=1800, check=False)
    assert install.returncode == 0, install.stderr[-3000:]
    score = (
        "import json, mlflow.pyfunc, pandas as pd, triage\n"
        f"model = mlflow.pyfunc.load_model({str(model)!r})\n"
        "row = pd.DataFrame([{'episode_id': 1, 'code_scores': json.dumps({'I50.9': 0.93, 'I10': 0.88}),"
        " 'age': 71.0, 'admission_type': 'EW EMER.'}])\n"
        "out = model.predict(row)\n"
        "print(json.dumps({'triage': triage.__file__, 'route': out['route'][0], 'p': float(out['p_correct'][0])}))\n"
    )
    done = subprocess.run([str(python), "-c", score], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["triage"].startswith(str(venv)) and not result["triage"].startswith(str(ROOT))
    assert result["route"] in {"automate", "assist", "manual"} and 0 <= result["p"] <= 1
