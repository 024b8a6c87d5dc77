"""The recall task (grouped suggestions, pre-filled codes) and the structural task (partial codes)."""

from __future__ import annotations

import numpy as np
import pytest

from triage.assist import Assistant, calibrate_assistant
from triage.assist.ontology import ontology_group
from triage.assist.partial import (
    category_right_when_code_wrong,
    category_scores,
    partial_suggestions,
)
from triage.assist.precision import PrecisionThreshold
from triage.assist.suggestions import ranked_rows


def _threshold(t, feasible=True):
    return PrecisionThreshold(t, 0.95, 0.1, "episode", 5, feasible, 100, 50, 0.97)


def test_ontology_groups():
    assert ontology_group("I50.9") == ("ICD-10-CM chapter 9", "circulatory system", "I50.")
    assert ontology_group("0QS734Z")[:2] == ("ICD-10-PCS section 0", "medical and surgical")
    assert ontology_group("0QS734Z")[2] == "0Q"


def test_suggest_groups_by_category_and_prefills_above_the_threshold():
    a = Assistant(_threshold(0.9), _threshold(0.8))
    out = a.suggest({"I50.9": 0.95, "I50.23": 0.5, "J18.9": 0.92, "I10.": 0.3, "0QS734Z": 0.6}, k=4)
    assert out["prefilled"] == ["I50.9", "J18.9"]
    assert out["offered"] == ["0QS734Z", "I50.23"]  # the 5th code (I10.) is beyond k
    cats = [g["category"] for g in out["groups"]]
    assert cats == ["I50.", "J18.", "0Q"]  # both I50 codes in one group, groups by best score
    assert [c["code"] for c in out["groups"][0]["codes"]] == ["I50.9", "I50.23"]
    # an uncertified calibration pre-fills nothing
    none = Assistant(_threshold(np.inf, False), _threshold(np.inf, False))
    assert none.suggest({"I50.9": 0.999})["prefilled"] == []
    assert Assistant.from_dict(a.to_dict()).to_dict() == a.to_dict()


def test_partial_codes_for_certain_categories_without_a_prefilled_code():
    scores = {"I50.9": 0.6, "I50.23": 0.6, "E11.9": 0.97, "J18.9": 0.1}
    cats = category_scores(scores)
    assert cats["I50."] == pytest.approx(1 - 0.4 * 0.4)
    out = partial_suggestions(scores, 0.8, prefilled=["E11.9"])
    assert [p["category"] for p in out] == ["I50."]  # E11 is pre-filled already, J18 uncertain
    assert {c["code"] for c in out[0]["candidates"]} == {"I50.9", "I50.23"}
    assert partial_suggestions(scores, np.inf) == []


def test_category_right_when_code_wrong():
    res = category_right_when_code_wrong([["I50.9", "J18.9", "I10."]], [["I50.23", "I10."]])
    assert res == {"n_wrong_codes": 2, "category_right": 1, "category_right_share": 0.5}


def test_calibrated_prefill_on_informative_scores(cohort):
    scores, gold, _ = cohort
    a = calibrate_assistant(scores, gold, target=0.9, delta=0.1)
    assert a.prefill.feasible and a.prefill.calibration_precision >= 0.9
    pre = a.prefilled_lists(scores)
    assert all(len(p) <= a.prefill.max_per_episode for p in pre)
    labs, vals = ranked_rows(scores)[0]
    assert (np.diff(vals) <= 0).all() and pre[0] == labs[: len(pre[0])].tolist()
