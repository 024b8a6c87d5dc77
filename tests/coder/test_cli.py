"""`triage coder train` and `triage evaluate` end to end on a tiny synthetic cohort."""

import json

import pytest
from typer.testing import CliRunner

from triage.cli import app

KEYS = [
    "n_episodes", "threshold", "exact_match_full", "exact_match_4", "exact_match_3",
    "jaccard_full", "jaccard_4", "jaccard_3", "f1_micro", "f1_macro", "precision_micro",
    "recall_micro", "auc_roc_micro", "auc_roc_macro", "auc_pr_macro", "map_documents",
    "precision_at_5", "precision_at_8", "precision_at_15", "recall_at_10", "recall_at_15",
    "r_precision", "coverage_error", "principal_accuracy", "sequence_exact_match",
]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    from triage.synth import generate

    out = tmp_path_factory.mktemp("cohort")
    generate(out, n_episodes=160, seed=1, note_words_scale=0.03)
    return out


@pytest.fixture(scope="module")
def trained(cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("coder") / "coder.npz"
    res = CliRunner().invoke(app, [
        "coder", "train", "--data", str(cohort), "--out", str(out), "--min-count", "3",
        "--max-features", "4096", "--hidden-size", "16", "--epochs", "2",
    ])
    assert res.exit_code == 0, res.output
    return out


def test_evaluate_coder_json(cohort, trained):
    res = CliRunner().invoke(app, ["evaluate", "--data", str(cohort), "--coder", str(trained), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout[res.stdout.index("{"):])
    for key in KEYS:
        assert key in out, key
        if key not in ("n_episodes", "threshold", "coverage_error"):
            assert 0.0 <= out[key] <= 1.0, key
    assert out["n_episodes"] > 0 and out["threshold_tuned_on"] == "val split"


def test_evaluate_predictions_file_and_tables(cohort, trained, tmp_path):
    from triage.coder import TextCoder
    from triage.data import load_episodes

    eps = load_episodes(cohort)
    test = eps[eps.split == "test"]
    TextCoder.load(trained).predict_proba(test).to_long().to_parquet(tmp_path / "p.parquet")
    runner = CliRunner()
    res = runner.invoke(app, ["evaluate", "--data", str(cohort), "--predictions",
                              str(tmp_path / "p.parquet"), "--threshold", "0.3", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout[res.stdout.index("{"):])
    assert out["threshold"] == 0.3 and out["n_episodes"] == len(test)
    table = runner.invoke(app, ["evaluate", "--data", str(cohort), "--predictions",
                                str(tmp_path / "p.parquet"), "--ci", "bootstrap"])
    assert table.exit_code == 0, table.output
    assert "Three digits" in table.stdout and "MAP" in table.stdout


def test_evaluate_needs_exactly_one_source(cohort, trained):
    res = CliRunner().invoke(app, ["evaluate", "--data", str(cohort)])
    assert res.exit_code == 2
    assert "exactly one of --predictions" in res.output
