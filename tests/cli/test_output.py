"""The CLI's output contract (issue 14): ``--json`` is one document on stdout (the HiGHS solver is
quiet at the source); Python warnings are one-line notes on stderr."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _python(code: str, *args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False,
                          timeout=120, cwd=cwd)


@pytest.mark.slow
def test_simulate_backlog_json_parses(tmp_path):
    from triage.allocation import example_roster

    example_roster(8, hours=7.5).to_csv(tmp_path / "roster.csv", index=False)
    r = _python("from triage.cli import app; app()", "simulate-backlog", "--days", "3",
                "--arrivals-per-day", "60", "--roster", str(tmp_path / "roster.csv"), "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout)  # exactly one document: nothing before or after it
    assert set(doc["policies"]) == {"all-human", "routed"}
    assert "Highs" not in r.stderr  # HiGHS is quiet at the source (output_flag), not redirected


@pytest.mark.slow
def test_warnings_are_one_line_notes_once():
    code = """
import warnings
from triage.cli._output import install_warning_notes
install_warning_notes()
for _ in range(3):
    warnings.warn("columns differ\\nsecret second line", UserWarning)
warnings.warn("x" * 500, RuntimeWarning)
"""
    r = _python(code)
    lines = r.stderr.splitlines()
    assert lines[0] == "note: columns differ [UserWarning]"
    assert lines[1].startswith("note: xxx") and lines[1].endswith("... [RuntimeWarning]")
    assert len(lines) == 2 and len(lines[1]) < 230
    assert "secret" not in r.stderr and "warnings.warn" not in r.stderr
