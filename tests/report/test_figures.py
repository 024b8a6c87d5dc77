"""Figures: drawn from the run tables, reference lines where the seed paper puts them, clear errors."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from triage.figures import (
    HUMAN_LINES,
    categories_figure,
    cost_coverage_figure,
    reliability_figure,
    risk_coverage_figure,
    run_figures,
    subset_bounds_figure,
)


@pytest.mark.slow  # builds on the shared tiny `triage run` (tests/conftest.py)
def test_subset_bounds_figure_draws_human_reference_lines(run_result):
    fig = subset_bounds_figure(run_result.tables["bounds"])
    ax = fig.axes[0]
    human = {line.get_label(): line.get_xdata()[0] for line in ax.get_lines() if line.get_label() in HUMAN_LINES}
    assert human == HUMAN_LINES and set(HUMAN_LINES.values()) == {0.54, 0.675}
    assert len(ax.get_yticklabels()) == len(run_result.tables["bounds"])


@pytest.mark.slow  # builds on the shared tiny `triage run` (tests/conftest.py)
def test_risk_coverage_marks_alpha_and_the_chosen_policy(run_result):
    s, rc = run_result.summary, run_result.tables["risk_coverage"]
    middle = rc.iloc[len(rc) // 2]  # a policy on the curve (the tiny run itself may automate nothing)
    fig = risk_coverage_figure(rc, s["alpha"], (middle["coverage"], middle["risk"]))
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "chosen policy" in labels and any(f"α = {s['alpha']:.0%}" in t for t in labels)
    star = next(line for line in ax.get_lines() if line.get_label() == "chosen policy")
    assert star.get_xdata()[0] == pytest.approx(middle["coverage"])


@pytest.mark.slow  # builds on the shared tiny `triage run` (tests/conftest.py)
def test_cost_coverage_baseline_is_the_all_human_cost(run_result):
    fig = cost_coverage_figure(run_result.tables["cost_coverage"])
    base = next(line for line in fig.axes[0].get_lines() if line.get_label() == "all coded by hand")
    assert base.get_ydata()[0] == pytest.approx(run_result.summary["cost_per_episode_all_human"])


def test_reliability_skips_empty_bins_and_draws_each_model():
    rel = pd.DataFrame({"model": ["a"] * 3 + ["b"] * 3, "bin": [0, 1, 2] * 2, "mean_confidence": [0.1, 0.5, 0.9] * 2,
                        "share_correct": [0.1, 0.4, 0.95, 0.2, 0.5, 0.8], "count": [10, 0, 5, 3, 3, 3]})
    lines = {line.get_label(): line for line in reliability_figure(rel).axes[0].get_lines()}
    assert len(lines["a"].get_xdata()) == 2 and len(lines["b"].get_xdata()) == 3


def test_categories_bars_are_the_shares():
    cat = pd.DataFrame({"n_categories": [1, 2, 3], "share": [0.01, 0.03, 0.96]})
    heights = [p.get_height() for p in categories_figure(cat).axes[0].patches]
    assert np.allclose(heights, [0.01, 0.03, 0.96])


def test_missing_columns_and_empty_tables_are_named():
    with pytest.raises(ValueError, match=r"'bounds' lacks column\(s\) \['exact_match_lower', 'exact_match_upper'\]"):
        subset_bounds_figure(pd.DataFrame({"subset": ["a"], "value": ["b"], "exact_match_rate": [0.5]}))
    with pytest.raises(ValueError, match="'risk_coverage' is empty"):
        risk_coverage_figure(pd.DataFrame({"coverage": [], "risk": []}))


@pytest.mark.slow  # builds on the shared tiny `triage run` (tests/conftest.py)
def test_run_figures_skips_figures_whose_table_is_missing(run_result):
    assert "coverage" in run_figures(run_result)
    run_result.tables.pop("coverage")
    assert "coverage" not in run_figures(run_result)
    assert {"reliability", "risk_coverage", "cost_coverage", "subset_bounds"} <= set(run_figures(run_result))


def _visible_tick_boxes(fig, axis):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    renderer = fig.canvas.get_renderer()
    ticks = axis.get_ticklabels()
    return [t.get_window_extent(renderer) for t in ticks if t.get_visible() and t.get_text()]


@pytest.mark.parametrize("n", [12, 40, 70])
def test_categories_tick_labels_do_not_overlap(n):
    from triage.figures import categories_figure

    values = list(range(1, n)) + [n + 5, n + 9, n + 20]  # a long tail with gaps, as in real cohorts
    fig = categories_figure(pd.DataFrame({"n_categories": values, "share": [1 / len(values)] * len(values)}))
    boxes = _visible_tick_boxes(fig, fig.axes[0].xaxis)
    assert len(boxes) >= 3
    for a, b in itertools.pairwise(boxes):
        assert a.x1 <= b.x0, "x tick labels overlap"
