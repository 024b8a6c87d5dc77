"""report.html of a real (tiny) run: every section, embedded figures, tables on disk, and the
per-1,000 arithmetic."""

from __future__ import annotations

import base64
import re

import pandas as pd
import pytest

from triage.report import policy_in_practice, write_report
from triage.report.render import coder_metrics_table
from triage.results import RunResult, write_tables

#: What a coding manager's report shows: section id -> the run tables it presents.
EXPECTED_SECTIONS = {
    "policy": ("policies",),
    "settings": ("settings", "evidence"),
    "targets": ("automation_by_target", "unseen_drg_moves"),
    "dataset": ("dataset_summary",),
    "coder": ("coder_metrics", "coder_metrics_by_setting"),
    "confidence": ("confidence_check", "confidence_models"),
    "bounds": ("bounds",),
    "diagnostic": ("diagnostic_subsets",),
    "discovered": ("discovered_subsets",),
}


def _missing(table: str) -> str:
    return f"This run did not produce the table <code>{table}</code>"


@pytest.fixture(scope="module")
def report(tmp_path_factory, finished_run):
    out = tmp_path_factory.mktemp("report")
    path = write_report(finished_run, out)
    return finished_run, out, path.read_text(encoding="utf-8")


@pytest.mark.slow  # builds on the shared tiny `triage run` (tests/conftest.py)
def test_report_has_every_section_with_the_runs_tables(report):
    result, _, html = report
    for sid, tables in EXPECTED_SECTIONS.items():
        assert f'id="{sid}"' in html, sid
        for table in tables:
            assert table in result.tables, f"the run wrote no table {table!r}"
            assert _missing(table) not in html, table
    # the subset table carries its interval columns and the human reference lines are named
    headers = html.replace("<wbr>", "")  # column names may break after an underscore
    assert "exact_match_lower" in headers and "exact_match_upper" in headers
    assert "human, UK study (54%)" in html and "human, UK hospital (67.5%)" in html


@pytest.mark.slow  # builds on the shared tiny `triage run` (tests/conftest.py)
def test_figures_are_embedded_as_valid_png_and_written_to_disk(report):
    _, out, html = report
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]+)"', html)
    names = {alt for _, alt in images}
    assert names == {"risk coverage", "cost coverage", "coverage", "categories per episode", "reliability",
                     "subset bounds"}
    for data, _ in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert {p.stem for p in (out / "figures").glob("*.png")} == {n.replace(" ", "_") for n in names}
    assert "src=\"http" not in html and "<script" not in html  # self-contained


@pytest.mark.slow  # builds on the shared tiny `triage run` (tests/conftest.py)
def test_tables_are_written_as_parquet_and_csv(report):
    result, out, _ = report
    for name, table in result.tables.items():
        back = pd.read_parquet(out / "tables" / f"{name}.parquet")
        assert len(back) == len(table) and list(back.columns) == list(table.columns)
        assert (out / "tables" / f"{name}.csv").is_file()


@pytest.mark.slow  # builds on the shared tiny `triage run` (tests/conftest.py)
def test_policy_per_thousand_matches_the_summary(report):
    result, _, html = report
    s = result.summary
    practice = policy_in_practice(s, result.config["policy"]["costs"])
    assert practice["automated"] == pytest.approx(1000 * s["automation_rate"])
    assert practice["automated"] + practice["assisted"] + practice["manual"] == pytest.approx(1000)
    saving = 1000 * (s["cost_per_episode_all_human"] - s["cost_per_episode"])
    assert practice["saving"] == pytest.approx(saving)
    assert practice["saving_hours"] == pytest.approx(saving / 60)
    assert f"{saving / 60:,.1f}" in html


def test_guaranteed_error_count_needs_automation_and_a_guarantee():
    s = {"automation_rate": 0.2, "automated_error_guarantee": 0.1, "cost_per_episode": 15.0,
         "cost_per_episode_all_human": 20.0}
    assert policy_in_practice(s)["errors_guaranteed_max"] == pytest.approx(20)
    assert policy_in_practice({**s, "automation_rate": 0.0})["errors_guaranteed_max"] is None
    assert policy_in_practice({**s, "automated_error_guarantee": None})["errors_guaranteed_max"] is None


def test_money_costs_have_no_hours():
    practice = policy_in_practice({"automation_rate": 0.2, "cost_per_episode": 30.0,
                                   "cost_per_episode_all_human": 40.0}, {"unit": "money"})
    assert practice["saving"] == pytest.approx(10_000) and "saving_hours" not in practice
    assert practice["manual"] == pytest.approx(800)
    with pytest.raises(ValueError, match="automation_rate"):
        policy_in_practice({}, {})


def test_missing_tables_are_reported_not_invented(tmp_path):
    result = RunResult(config={}, summary={"automation_rate": 0.1}, tables={})
    html = write_report(result, tmp_path).read_text()
    for table in (t for tables in EXPECTED_SECTIONS.values() for t in tables):
        assert _missing(table) in html, table
    assert "<img" not in html


def test_coder_metrics_in_seed_table_2_style():
    table = coder_metrics_table(pd.DataFrame({"metric": ["jaccard_3", "n_codes"], "value": [0.5284, 14.0],
                                              "ci_low": [0.525, float("nan")], "ci_high": [0.5318, float("nan")]}))
    assert list(table.columns) == ["metric", "value", "95% interval", "scale"]
    assert table.iloc[0].tolist() == ["jaccard_3", "52.84 ± 0.34", "52.50–53.18", "×100"]
    assert table.iloc[1].tolist() == ["n_codes", "14.00", "–", ""]
    with pytest.raises(ValueError, match="coder_metrics"):
        coder_metrics_table(pd.DataFrame({"name": ["x"]}))


def test_bad_table_is_named(tmp_path):
    with pytest.raises(TypeError, match="'bounds'"):
        write_tables({"bounds": [1, 2]}, tmp_path)
