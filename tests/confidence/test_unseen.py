"""Unseen MS-DRG moves: gold codes the coder scored ~0 that change the MS-DRG, per setting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from triage.coder.scores import CodeScores
from triage.confidence._codes import drg_of
from triage.confidence.unseen import unseen_drg_moved, unseen_drg_moves
from triage.policy.guarantees import clopper_pearson_interval

CLASSES = np.array(["J44.1", "N17.0", "Z79.4"], dtype=object)
# COPD with exacerbation: acute kidney failure with tubular necrosis is an MCC for it (190 vs 192);
# long-term insulin use is no CC (drgpy) and moves nothing.
GOLD = [["J44.1", "N17.0"], ["J44.1", "N17.0"], ["J44.1", "Z79.4"], ["J44.1"], ["J44.1", "N17.0"]]
SCORES = np.array([[0.9, 0.0, 0.0],    # MCC unseen: moved
                   [0.9, 0.5, 0.0],    # MCC seen
                   [0.9, 0.0, 0.004],  # unseen, but no CC: not moved
                   [0.9, 0.0, 0.0],    # nothing to see
                   [0.9, 0.0, 0.0]],   # ICD-9 episode: no MS-DRG here
                  dtype=np.float32)


def _data(ids=(11, 12, 13, 14, 15)):
    scores = CodeScores(np.array(ids), CLASSES, SCORES)
    episodes = pd.DataFrame({"episode_id": [15, 14, 13, 12, 11][::-1], "gender": "M", "died": 0,
                             "icd_version": [10, 10, 10, 10, 9]})
    return scores, episodes


def test_the_grouper_agrees_the_fixture_moves():
    assert drg_of(["J44.1", "N17.0"], "M", 0)[0] != drg_of(["J44.1"], "M", 0)[0]
    assert drg_of(["J44.1", "Z79.4"], "M", 0)[0] == drg_of(["J44.1"], "M", 0)[0]


def test_unseen_codes_that_move_the_drg_are_found():
    scores, episodes = _data()
    unseen, moved = unseen_drg_moved(GOLD, scores, episodes)
    assert unseen.tolist() == [True, False, True, False, True]
    assert moved[:4].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert np.isnan(moved[4])  # ICD-9: no MS-DRG


def test_the_score_floor_decides_what_is_unseen():
    scores, episodes = _data()
    _, moved = unseen_drg_moved(GOLD, scores, episodes, below=0.6)
    assert moved[:4].tolist() == [1.0, 1.0, 0.0, 0.0]  # the 0.5 MCC is now below the floor


def test_scores_are_matched_on_episode_id_not_position():
    scores, episodes = _data()
    order = [4, 3, 2, 1, 0]
    shuffled = CodeScores(scores.episode_ids[order], CLASSES, SCORES[order])
    assert np.array_equal(unseen_drg_moved(GOLD, shuffled, episodes)[0], unseen_drg_moved(GOLD, scores, episodes)[0])


def test_shares_per_setting_with_exact_intervals():
    scores, episodes = _data()
    table = unseen_drg_moves(GOLD, scores, episodes, ["a", "a", "b", "b", "b"]).set_index("setting")
    assert table.loc["all", "n"] == 5 and table.loc["all", "n_grouped"] == 4
    assert table.loc["a", "unseen_drg_move_share"] == pytest.approx(0.5)
    assert table.loc["b", "unseen_drg_move_share"] == 0.0 and table.loc["b", "n_grouped"] == 2
    assert table.loc["b", "unseen_code_share"] == pytest.approx(2 / 3)
    lo, hi = clopper_pearson_interval(1, 2, 0.95)
    assert table.loc["a", ["unseen_drg_move_lower", "unseen_drg_move_upper"]].tolist() == pytest.approx([float(lo), float(hi)])


def test_without_sex_or_discharge_status_it_still_groups():
    scores, episodes = _data()
    _, moved = unseen_drg_moved(GOLD, scores, episodes.drop(columns=["gender", "died"]))
    assert moved[:4].tolist() == [1.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("change, message", [
    (lambda s, e: (s, e.drop(columns="episode_id")), "episode_id"),
    (lambda s, e: (CodeScores(np.array([11, 12, 13, 14, 99]), CLASSES, SCORES), e), "episode_id 15"),
])
def test_bad_input_names_what_is_wrong(change, message):
    scores, episodes = change(*_data())
    with pytest.raises(ValueError, match=message):
        unseen_drg_moved(GOLD, scores, episodes)


def test_below_must_be_a_score():
    scores, episodes = _data()
    with pytest.raises(ValueError, match="below"):
        unseen_drg_moved(GOLD, scores, episodes, below=0.0)
