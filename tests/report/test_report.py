"""report.html: every section, embedded figures, tables on disk, and the per-1,000 arithmetic."""

from __future__ import annotations

import base64
import re

import pandas as pd
import pytest

from triage.report import policy_in_practice, write_report
from triage.report.render import SECTIONS, coder_metrics_table
from triage.report.tables import write_tables
from triage.results import RunResult


@pytest.fixture(scope="module")
def report(tmp_path_factory, run_result_factory):
    result = run_result_factory(seed=2)
    out = tmp_path_factory.mktemp("report")
    path = write_report(result, out)
    return result, out, path.read_text(encoding="utf-8")


def test_report_has_every_section_and_its_table(report):
    _, _, html = report
    for sid, title, table, _ in SECTIONS:
        assert f'id="{sid}"' in html and title in html
        assert f"This run did not produce the table <code>{table}</code>" not in html
    # the subset table carries its interval columns and the human reference lines are named
    assert "ci_low" in html and "ci_high" in html
    assert "human, UK study (54%)" in html and "human, UK hospital (67.5%)" in html


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


def test_tables_are_written_as_parquet_and_csv(report):
    result, out, _ = report
    for name, table in result.tables.items():
        back = pd.read_parquet(out / "tables" / f"{name}.parquet")
        assert len(back) == len(table) and list(back.columns) == list(table.columns)
        assert (out / "tables" / f"{name}.csv").is_file()


def test_policy_per_thousand_matches_the_summary(report):
    result, _, html = report
    s = result.summary
    practice = policy_in_practice(s, result.config["policy"]["costs"])
    assert practice["automated"] == pytest.approx(1000 * s["automation_rate"])
    assert practice["automated"] + practice["assisted"] + practice["manual"] == pytest.approx(1000)
    saving = 1000 * (s["cost_per_episode_all_human"] - s["cost_per_episode"])
    assert practice["saving"] == pytest.approx(saving)
    assert practice["saving_hours"] == pytest.approx(saving / 60)
    assert practice["errors_guaranteed_max"] == pytest.approx(s["alpha"] * practice["automated"])
    assert f"{practice['automated']:,.0f}" in html and f"{saving / 60:,.1f}" in html


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
    assert html.count("This run did not produce the table") == len(SECTIONS)
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
