"""The automation table's reason says, for the MS-DRG targets where a setting certifies nothing,
how many of its episodes have an MS-DRG the coder could not see move."""

from __future__ import annotations

import pandas as pd

from triage.pipeline.steps import with_unseen_reasons

UNSEEN = pd.DataFrame({"setting": ["all", "day_case", "observation"], "unseen_drg_move_share": [0.2, 0.01, 0.129],
                       "below": 0.01})


def _table(settings, target="principal_drg", automated=0.0, reason="too little evidence"):
    return pd.DataFrame({"target": target, "setting": settings, "guaranteed_automation": automated,
                         "reason": reason})


def test_a_setting_that_certifies_nothing_gets_its_share():
    out = with_unseen_reasons(_table(["all", "observation"]), UNSEEN).set_index("setting")["reason"]
    assert out["observation"] == ("too little evidence; the MS-DRG of 12.9% of these episodes is moved by gold "
                                  "codes the coder scored below 0.01 (tables/unseen_drg_moves)")
    assert out["all"] == "too little evidence"  # joins the settings' reasons, which say their shares


def test_an_ungrouped_policy_says_it_on_its_one_row():
    out = with_unseen_reasons(_table(["all"]), UNSEEN)["reason"].iloc[0]
    assert "20.0% of these episodes" in out


def test_nothing_is_added_where_it_does_not_apply():
    for table in (_table(["observation"], target="principal"),     # no MS-DRG in the target
                  _table(["observation"], automated=0.3, reason=""),  # something certified
                  _table(["inpatient"])):                          # no share measured
        assert with_unseen_reasons(table, UNSEEN)["reason"].tolist() == table["reason"].tolist()
