"""`triage simulate-coding` and `triage audit` end to end; the coded file's errors name the place."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from triage.cli import app
from triage.cli.audit import read_coded

runner = CliRunner()


def test_read_coded_both_layouts_and_errors(tmp_path):
    wide = tmp_path / "wide.csv"
    wide.write_text("episode_id,codes\n1,I509;i10|N18.30\n2,J189\n")
    assert read_coded(wide, 10) == {1: ["I50.9", "I10.", "N18.30"], 2: ["J18.9"]}
    long = tmp_path / "long.csv"
    long.write_text("episode_id,code,seq_num\n1,I10,2\n1,I50.9,1\n")
    assert read_coded(long, 10) == {1: ["I50.9", "I10."]}
    bad = tmp_path / "bad.csv"
    bad.write_text("episode_id,codes\n1,I509\n2,NOTACODE\n")
    with pytest.raises(ValueError, match=r"bad.csv: line 3, column 'codes'.*NOTACODE"):
        read_coded(bad, 10)
    (tmp_path / "none.csv").write_text("id,codes\n1,I10\n")
    with pytest.raises(ValueError, match="no 'episode_id' column"):
        read_coded(tmp_path / "none.csv", 10)


@pytest.mark.slow
def test_simulate_then_audit(tmp_path):
    from triage.synth import generate

    data = tmp_path / "cohort"
    generate(data, n_episodes=300, seed=2, note_words_scale=0.03)
    coder = tmp_path / "coder.npz"
    r = runner.invoke(app, ["coder", "train", "--data", str(data), "--out", str(coder), "--epochs", "2",
                            "--min-count", "3"])
    assert r.exit_code == 0, r.output
    coded = tmp_path / "coded.csv"
    r = runner.invoke(app, ["simulate-coding", "--data", str(data), "--out", str(coded)])
    assert r.exit_code == 0, r.output
    flags = tmp_path / "flags.csv"
    r = runner.invoke(app, ["audit", "--data", str(data), "--coded", str(coded), "--coder", str(coder),
                            "--target", "0.5", "--out", str(flags), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout[r.stdout.index("{"):])
    assert summary["episodes"] > 0 and 0.4 < summary["coded_exact_match_vs_data"] < 0.8
    assert set(summary["thresholds"]) == {"missing", "unsupported", "principal"}
    assert flags.read_text().startswith("episode_id,rank,type,code")
    r = runner.invoke(app, ["audit", "--data", str(data), "--coded", str(coded)])
    assert r.exit_code == 2 and "exactly one of --coder" in r.output
