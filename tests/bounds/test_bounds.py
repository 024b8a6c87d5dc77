import re

import numpy as np
import pandas as pd
import pytest

from triage.bounds import (
    build_subset_columns,
    category_band,
    discover_subsets,
    human_reference_frame,
    subset_bounds,
)
from triage.policy import CostModel, clopper_pearson_interval


def test_category_bands_follow_seed_figure_4():
    assert [category_band(k) for k in (1, 2, 3, 4, 5, 6, 40)] == ["1", "2", "3", "4-5", "4-5", ">=6", ">=6"]


def test_build_subset_columns_hand_example():
    episodes = pd.DataFrame(
        {
            "diagnoses": [["I509"], ["I509", "I10", "E119", "N179", "J189", "K219"], ["4019", "E8790", "E8791"]],
            "icd_version": [10, 10, 9],
            "los_days": [0.5, 4.0, np.nan],
            "admission_type": ["AMBULATORY OBSERVATION", None, "EU OBSERVATION"],
            "text": ["a " * 10, "b " * 1200, "c " * 4000],
        }
    )
    predicted = [["I50.9"], ["I50.9", "I50.1", "I10.", "0QS734Z"], []]
    out = build_subset_columns(episodes, predicted, mdc=["05", "05", None])
    assert list(out["gold_categories_band"]) == ["1", ">=6", "2"]
    assert list(out["pred_categories_band"]) == ["1", "2", "0"]
    assert list(out["n_predicted_codes_band"]) == ["1", "4-5", "0"]
    assert list(out["principal_chapter"]) == ["ICD-10 09 circulatory system"] * 2 + ["ICD-9 09 circulatory system"]
    assert list(out["los_band"]) == ["0-1d", "3-7d", "unknown"]
    # the setting comes from the admission type (never codes or LOS); a missing type is inpatient
    assert list(out["care_setting"]) == ["day_case", "inpatient", "observation"]
    assert list(out["note_length_band"]) == ["0-500w", "1000-1500w", ">=3000w"]
    assert list(out["admission_type"]) == ["AMBULATORY OBSERVATION", "unknown", "EU OBSERVATION"]
    assert list(out["mdc"]) == ["05", "05", "unknown"]
    with pytest.raises(ValueError, match="icd_version"):
        build_subset_columns(episodes.drop(columns="icd_version"))
    with pytest.raises(ValueError, match="predicted"):
        build_subset_columns(episodes, predicted[:2])


def _two_subsets():
    """Subset 'easy': the coder is always right and confident; 'hard': always wrong."""
    n = 800
    group = np.repeat(["easy", "hard"], n // 2)
    p = np.where(group == "easy", 0.99, 0.10)
    correct = group == "easy"
    cal = np.tile([True, False], n // 2)
    return pd.DataFrame({"admission_type": group}), p, correct, cal


def test_subset_bounds_known_answer():
    subsets, p, correct, cal = _two_subsets()
    cm = CostModel(manual_cost=10, error_cost=50)
    df = subset_bounds(subsets, p, correct, cal, costs=cm, alpha=0.05, delta=0.1).set_index("value")
    easy, hard, all_ = df.loc["easy"], df.loc["hard"], df.loc["all"]
    assert easy["share"] == 0.5 and easy["n_test"] == 200 and easy["n_calibration"] == 200
    assert easy["exact_match_rate"] == 1.0 and easy["oracle_automation_rate"] == 1.0
    lo, _ = clopper_pearson_interval(200, 200, 0.95)
    assert easy["exact_match_lower"] == pytest.approx(lo) and easy["exact_match_upper"] == 1.0
    # zero errors in 200: the guarantee lets us automate all of 'easy' and save the whole manual cost
    assert easy["feasible"] and easy["realistic_automation_rate"] == 1.0
    assert easy["automated_error_rate"] == 0.0 and easy["cost_saving_per_episode"] == 10.0
    assert hard["exact_match_rate"] == 0.0 and not hard["feasible"]
    assert hard["realistic_automation_rate"] == 0.0 and hard["cost_saving_per_episode"] == 0.0
    # pooled, the policy automates exactly the easy half; the oracle at alpha adds wrong ones up to alpha
    assert all_["realistic_automation_rate"] == 0.5 and all_["exact_match_rate"] == 0.5
    assert all_["oracle_automation_rate"] == pytest.approx(0.5 / 0.95) and all_["oracle_zero_error_rate"] == 0.5
    assert all_["cost_saving_per_episode"] == pytest.approx(5.0)
    lo, hi = clopper_pearson_interval(100, 200, 0.95)
    assert all_["realistic_lower"] == pytest.approx(float(lo)) or all_["n_test"] != 200
    # three routable rows (all, easy, hard) share delta; LTT certifies alpha itself
    assert (df["kind"] == "routable").all() and df["delta_row"].iloc[0] == pytest.approx(0.1 / 3)
    assert easy["guarantee"] == pytest.approx(0.05)


def test_gold_defined_subsets_are_diagnostic_and_do_not_share_delta():
    subsets, p, correct, cal = _two_subsets()
    subsets["gold_categories_band"] = np.where(subsets["admission_type"] == "easy", "1", ">=6")
    df = subset_bounds(subsets, p, correct, cal, alpha=0.05, delta=0.1)
    diag = df[df["subset"] == "gold_categories_band"]
    assert (diag["kind"] == "diagnostic").all() and (diag["delta_row"] == 0.1).all()
    np.testing.assert_allclose(df[df["kind"] == "routable"]["delta_row"], 0.1 / 3)


def test_subset_bounds_small_subset_and_bad_input():
    subsets, p, correct, cal = _two_subsets()
    df = subset_bounds(subsets, p, correct, cal, min_calibration=500)
    assert (df["note"].str.contains("fewer than 500")).all()
    with pytest.raises(ValueError, match="los_band"):
        subset_bounds(subsets, p, correct, cal, columns=["los_band"])
    with pytest.raises(ValueError, match="overlap"):
        subset_bounds(subsets, p, correct, cal, test=np.ones(len(p), bool))
    with pytest.raises(ValueError, match="aligned"):
        subset_bounds(subsets.iloc[:10], p, correct, cal)


def test_discover_subsets_finds_and_confirms_the_tractable_rule():
    rng = np.random.default_rng(0)
    n = 6000
    x = rng.random(n)
    noise = rng.random(n)
    correct = np.where(x > 0.6, rng.random(n) < 0.99, rng.random(n) < 0.4)
    find = np.arange(n) % 2 == 0
    df = discover_subsets(pd.DataFrame({"x": x, "noise": noise}), correct, find, ~find, alpha=0.05, max_depth=2)
    confirmed = df[df["confirmed"] & (df["leaf"] >= 0)]
    assert len(confirmed) >= 1
    for rule in confirmed["rule"]:  # every confirmed rule lies inside the tractable region x > 0.6
        lower = float(re.search(r"x > ([0-9.]+)", rule).group(1))
        assert lower >= 0.59, rule
    union = df[df["rule"] == "confirmed union"].iloc[0]
    assert union["share_confirm"] == pytest.approx((x[~find] > 0.6).mean(), abs=0.02)
    assert union["error_confirm"] <= 0.05 and union["upper_confirm"] <= 0.05
    assert "tree" in df.attrs


def test_discover_subsets_rejects_leakage_and_bad_features():
    f = pd.DataFrame({"x": [0.1, 0.2], "correct": [1, 0]})
    with pytest.raises(ValueError, match="gold"):
        discover_subsets(f, [True, False], [True, False], [False, True])
    with pytest.raises(ValueError, match="not numeric"):
        discover_subsets(pd.DataFrame({"t": ["a", "b"]}), [True, False], [True, False], [False, True])
    with pytest.raises(ValueError, match="overlap"):
        discover_subsets(pd.DataFrame({"x": [0.1, 0.2]}), [True, False], [True, True], [True, False])
    with pytest.raises(ValueError, match="missing"):
        discover_subsets(pd.DataFrame({"x": [0.1, np.nan]}), [True, False], [True, False], [False, True])


def test_human_reference_frame():
    df = human_reference_frame()
    assert dict(zip(df["reference"], df["accuracy"])) == {
        "human_instance_accuracy_uk_study": 0.54,
        "human_instance_accuracy_uk_hospital": 0.675,
        "human_code_accuracy_uk_median": 0.832,
    }
