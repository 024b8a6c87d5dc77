"""``triage replay``: registered, and its arguments checked before anything is fitted or started
(the replay itself runs end to end in tests/operation/test_replay.py)."""

from __future__ import annotations

from typer.testing import CliRunner

from triage.cli import app

runner = CliRunner()


def test_replay_is_a_command_with_its_options():
    result = runner.invoke(app, ["replay", "--help"])
    assert result.exit_code == 0
    for option in ("--episodes", "--shift-at", "--seed", "--out", "--url", "--go-live"):
        assert option in result.output


def test_bad_arguments_fail_before_any_work(tmp_path):
    out = tmp_path / "never"
    bad_mode = runner.invoke(app, ["replay", "--go-live", "soon", "--out", str(out)])
    assert bad_mode.exit_code == 2 and "--go-live" in bad_mode.output
    late_shift = runner.invoke(app, ["replay", "--episodes", "1000", "--shift-at", "1000",
                                     "--out", str(out)])
    assert late_shift.exit_code == 2 and "--shift-at" in late_shift.output
    assert not out.exists()
