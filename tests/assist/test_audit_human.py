"""The auditor's flags and DRG impact, and simulated human coding at the seed paper's accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from triage.assist.audit import Auditor, calibrate_audit, corrected, flag_candidates, flag_table
from triage.assist.human_coding import rates_for_exact_match, simulate_human_coding
from triage.assist.precision import PrecisionThreshold


def _t(x, cap=3):
    return PrecisionThreshold(x, 0.9, 0.1, "episode", cap, True, 100, 50, 0.95)


def test_flag_candidates_and_corrections():
    scores = {"I50.9": 0.95, "J96.01": 0.9, "I10.": 0.05, "J18.9": 0.4}
    flags = {(f["type"], f["code"]): f for f in flag_candidates(["J18.9", "I10."], scores)}
    assert flags[("missing", "I50.9")]["score"] == 0.95
    assert flags[("unsupported", "I10.")]["score"] == pytest.approx(0.95)
    p = flags[("principal", "I50.9")]
    assert p["replaces"] == "J18.9" and p["score"] == pytest.approx(0.55)
    assert ("unsupported", "J18.9") in flags  # 1 - 0.4 = 0.6 >= MIN_FLAG_SCORE
    # a coded code the model cannot score is not judged, unless it is in the known labels
    assert not any(f["code"] == "K21.9" for f in flag_candidates(["K21.9"], scores))
    assert any(f["code"] == "K21.9" for f in flag_candidates(["K21.9"], scores, known={"K21.9"}))
    assert corrected(["J18.9", "I10."], p) == ["I50.9", "J18.9", "I10."]
    assert corrected(["J18.9", "I10."], {"type": "unsupported", "code": "I10."}) == ["J18.9"]


def test_audit_ranks_drg_changing_flags_first_and_respects_thresholds():
    auditor = Auditor({"missing": _t(0.8), "unsupported": _t(0.99), "principal": _t(0.99, 1)})
    scores = {"J18.9": 0.99, "J96.01": 0.9, "K21.9": 0.95, "E78.5": 0.5}
    res = auditor.audit(["J18.9"], scores, gender="F")
    assert [f["code"] for f in res["flags"]] == ["J96.01", "K21.9"]  # the MCC changes the DRG
    assert res["flags"][0]["drg_changes"] is True and res["flags"][1]["drg_changes"] is False
    assert res["drg"] == res["flags"][0]["drg_before"]


def test_batch_audit_equals_single_audits(cohort):
    scores, gold, episodes = cohort
    coded = simulate_human_coding(gold[:80], list(scores.classes), random_state=3).coded
    auditor = Auditor({"missing": _t(0.7), "unsupported": _t(0.9), "principal": _t(0.5, 1)})
    batch = auditor.audit_batch(coded, scores.subset(scores.episode_ids[:80]), episodes.iloc[:80])
    known = set(scores.classes)
    for i in range(80):
        single = auditor.audit(coded[i], scores.row(i), episodes["gender"][i], False, known=known)
        rows = batch[batch["row"] == i]
        assert rows["code"].tolist() == [f["code"] for f in single["flags"]]


def test_audit_calibration_is_per_flag_type_at_delta_over_three(cohort):
    scores, gold, _ = cohort
    coded = simulate_human_coding(gold, list(scores.classes), random_state=1).coded
    res = calibrate_audit(scores, coded, gold, target=0.8, delta=0.3)
    assert set(res) == {"missing", "unsupported", "principal"}
    assert all(t.delta == pytest.approx(0.1) for t in res.values())
    # this cohort's scores separate gold from the rest: a left-out gold code is a certain flag
    assert res["missing"].feasible and res["missing"].calibration_precision >= 0.8
    frame = flag_table(coded, scores, gold)
    assert {"row", "type", "code", "score", "correct"} <= set(frame.columns)


def test_simulated_human_coding_hits_the_target_exact_match(cohort):
    _, gold, _ = cohort
    pool = sorted({c for g in gold for c in g})
    rates = rates_for_exact_match(gold, pool, 0.6)
    assert all(0 < r < 1 for r in rates.values())
    sims = [simulate_human_coding(gold, pool, 0.6, random_state=s) for s in range(5)]
    em = np.mean([h.exact_match for h in sims])
    assert 0.54 <= em <= 0.675 and abs(em - 0.6) < 0.04
    assert np.mean([h.sequence_exact_match for h in sims]) < em  # wrong principals on top
    kinds = {e[0] for h in sims for errs in h.errors for e in errs}
    assert kinds == {"omit_secondary", "wrong_specificity", "wrong_principal"}
    for h in sims[:1]:
        for g, c, errs in zip(gold, h.coded, h.errors):
            assert (set(g) == set(c) and c[:1] == g[:1]) == (not errs)  # an error changes the coding
