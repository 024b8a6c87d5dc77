"""CLI conventions (issue 26): --version, -v/-q, --json on run, choices from the library, plain
flags, `config show`, reads that refuse a missing SQLite tracking file, and `serve` refusing to
start without a model."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from typer.testing import CliRunner

from triage.cli import app, package_version

ROOT = Path(__file__).resolve().parents[2]


def invoke(args: list[str], **kw):
    return CliRunner().invoke(app, args, **kw)


def test_version():
    r = invoke(["--version"])
    assert r.exit_code == 0 and r.stdout.strip() == f"triage (coding-triage) {package_version()}"
    assert package_version() != "unknown"


def test_boolean_options_are_plain_flags_in_help():
    r = invoke(["run", "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0
    line = next(x for x in r.stdout.splitlines() if "--promote" in x)
    assert "--no-promote" in line and "<bool>" not in line
    assert "<bool>" not in r.stdout  # no flag, --help included, shows a value


@pytest.mark.parametrize("args", [
    ["run", "--icd-version", "11"], ["route", "--icd-version", "8"], ["data", "summary", "x", "--icd-version", "11"],
    ["batch", "in.parquet", "--out", "o", "--input-format", "xlsx"],
])
def test_enumerated_options_refuse_other_values(args):
    r = invoke(args)
    assert r.exit_code == 2, r.output
    assert "is not one of" in r.output or "Invalid value" in r.output


def test_choices_come_from_the_library():
    from triage.batch import INPUT_FORMATS
    from triage.cli.batch import InputFormat
    from triage.data.schema import ICD_VERSIONS

    assert tuple(f.value for f in InputFormat) == INPUT_FORMATS
    r = invoke(["run", "--help"], env={"COLUMNS": "200"})
    assert "<" + "|".join(str(v) for v in ICD_VERSIONS) + ">" in r.stdout


def test_config_show_prints_the_defaults_as_yaml():
    from triage.config import RunConfig, config_to_dict

    r = invoke(["config", "show"])
    assert r.exit_code == 0, r.output
    assert yaml.safe_load(r.stdout) == config_to_dict(RunConfig())


def test_config_show_resolves_a_file_and_round_trips(tmp_path):
    from triage.config import config_to_dict, resolve_config

    f = tmp_path / "run.yaml"
    f.write_text("policy:\n  alpha: 0.2\ndata:\n  synthetic_episodes: 1234\n")
    r = invoke(["config", "show", "--config", str(f)])
    shown = yaml.safe_load(r.stdout)
    assert shown["policy"]["alpha"] == 0.2 and shown["data"]["synthetic_episodes"] == 1234
    again = tmp_path / "shown.yaml"
    again.write_text(r.stdout)
    assert config_to_dict(resolve_config(again)) == shown  # what it prints is a valid --config


def test_config_show_names_the_bad_field(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("policy:\n  alhpa: 0.2\n")
    r = invoke(["config", "show", "--config", str(f)])
    assert r.exit_code == 2 and "policy.alhpa" in r.stderr


@pytest.mark.parametrize("args", [["models", "list"], ["models", "promote", "3"],
                                  ["models", "export", "--out", "exported"]])
def test_reads_refuse_a_sqlite_tracking_file_that_does_not_exist(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "mlfow.db"  # a typo
    r = invoke([*args, "--tracking-uri", f"sqlite:///{missing}"])
    assert r.exit_code == 2, r.output
    assert "no MLflow database at" in r.stderr and str(missing) in r.stderr
    assert not missing.exists() and not list(tmp_path.iterdir())


def test_batch_refuses_a_missing_tracking_file(tmp_path):
    missing = tmp_path / "nope.db"
    r = invoke(["batch", str(tmp_path / "in.parquet"), "--out", str(tmp_path / "o"),
                "--tracking-uri", f"sqlite:///{missing}"])
    assert r.exit_code == 2 and "no MLflow database at" in r.stderr and not missing.exists()


def test_run_json_prints_the_summary_on_stdout_and_progress_on_stderr(monkeypatch, tmp_path):
    import triage.cli.run as run_cli

    def fake_execute(config, console, **kw):
        console.print("  ✓ Loading episodes (0.1 s)")
        return SimpleNamespace(summary={"automation_rate": 0.25, "threshold": float("nan"), "target": "exact"})

    monkeypatch.setattr(run_cli, "_execute", fake_execute)
    r = invoke(["run", "--json", "--no-tracking", "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"automation_rate": 0.25, "threshold": None, "target": "exact"}
    assert "Loading episodes" in r.stderr and "triage run" in r.stderr


def test_verbosity_sets_the_log_levels():
    from triage.cli._output import configure_logging

    try:
        assert configure_logging() == logging.WARNING
        assert logging.getLogger("mlflow").level == logging.WARNING
        assert os.environ["MLFLOW_LOGGING_LEVEL"] == "WARNING"
        assert configure_logging(verbose=1) == logging.INFO
        assert logging.getLogger("mlflow").level == logging.INFO
        assert configure_logging(verbose=2) == logging.DEBUG
        assert configure_logging(quiet=True) == logging.ERROR
        assert logging.getLogger("alembic").level == logging.ERROR
    finally:
        configure_logging()


@pytest.mark.slow  # two fresh interpreters that import MLflow and create its database (~15 s busy)
def test_mlflow_info_lines_are_quiet_unless_verbose(tmp_path):
    def run(*flags):
        db = tmp_path / f"m{len(flags)}.db"
        db.touch()  # exists (so the read is allowed) but empty: MLflow migrates it, logging INFO lines
        return subprocess.run(
            [sys.executable, "-c", "from triage.cli import app; app()", *flags, "models", "list",
             "--tracking-uri", f"sqlite:///{db}"],
            capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False,
            env={**os.environ, "PYTHONPATH": str(ROOT)})

    quiet, verbose = run(), run("-v")
    assert quiet.returncode == 0 and verbose.returncode == 0, quiet.stderr + verbose.stderr
    assert "INFO" not in quiet.stderr, quiet.stderr
    assert "INFO" in verbose.stderr


# -- serve ------------------------------------------------------------------------------------
@pytest.fixture
def no_uvicorn(monkeypatch, tmp_path):
    import uvicorn

    calls = {}
    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: calls.update(target=target, **kw))
    for var in ("TRIAGE_MODEL_URI", "TRIAGE_DATABASE_URL", "MLFLOW_TRACKING_URI"):
        monkeypatch.setenv(var, "placeholder")
        monkeypatch.delenv(var)
    monkeypatch.chdir(tmp_path)
    return calls


def test_serve_without_any_model_refuses_and_creates_nothing(no_uvicorn, tmp_path):
    r = invoke(["serve"])
    assert r.exit_code == 2, r.output
    assert "no model to serve: models/router does not exist" in r.stderr
    assert "--wait-for-model" in r.stderr
    assert not no_uvicorn and not list(tmp_path.iterdir())  # no triage-service.db, no mlflow.db


def test_serve_refuses_a_registry_uri_without_tracking_database(no_uvicorn, tmp_path):
    r = invoke(["serve", "--model", "models:/coding-triage-router@champion"])
    assert r.exit_code == 2 and "no MLflow database at" in r.stderr
    assert not no_uvicorn and not list(tmp_path.iterdir())


def test_serve_wait_for_model_starts_anyway(no_uvicorn):
    r = invoke(["serve", "--wait-for-model"])
    assert r.exit_code == 0, r.output
    assert no_uvicorn["target"] == "service.main:create_app"
