import numpy as np
import pandas as pd
import pytest

from triage.confidence.targets import correctness


def test_exact_ignores_order_and_needs_same_set():
    pred = [["I10.", "E11.9"], ["I10."], []]
    gold = [["E11.9", "I10."], ["I10.", "E11.9"], ["I10."]]
    assert correctness(pred, gold).tolist() == [True, False, False]


def test_exact3_compares_categories():
    pred = [["E11.9", "I10."], ["I10."], ["0DJ08ZZ"]]
    gold = [["E11.65", "I10."], ["I11.9"], ["0DJ07ZZ"]]
    assert correctness(pred, gold, target="exact3").tolist() == [True, False, True]


def test_sequence_needs_the_principal_first_diagnosis():
    pred = [["02HV33Z", "I50.9", "E11.9"], ["E11.9", "I50.9"], ["I50.9", "E11.9"]]
    gold = [["I50.9", "E11.9", "02HV33Z"], ["I50.9", "E11.9"], ["I50.9", "E11.9", "I10."]]
    out = correctness(pred, gold, target="sequence")
    assert out.tolist() == [True, False, False]
    # ICD-9: "38.93" is a procedure, "428.0" the principal diagnosis
    ep = pd.DataFrame({"icd_version": [9]})
    assert correctness([["38.93", "428.0"]], [["428.0", "38.93"]], "sequence", episodes=ep).tolist() == [True]


def test_jaccard_threshold():
    pred = [["a", "b", "c"], [], ["a"]]
    gold = [["a", "b"], [], ["b"]]
    assert correctness(pred, gold, "jaccard", tau=0.6).tolist() == [True, True, False]
    assert correctness(pred, gold, "jaccard", tau=0.8).tolist() == [False, True, False]


def test_same_drg_matches_the_grouper():
    from triage.codes.drg import group_episode

    pred = [["I50.9"], ["J18.9"], ["I50.9", "N18.3"]]
    gold = [["I50.9", "I10."], ["I50.9"], ["I50.9", "N18.3"]]
    ep = pd.DataFrame({"age": [70, 70, 60], "gender": ["M", "F", "M"], "died": [False, False, False]})
    out = correctness(pred, gold, "drg", episodes=ep)
    expected = []
    for p, g, sex in zip(pred, gold, ep["gender"]):
        dp = group_episode([c for c in p if "." in c], [], sex, True).drg
        dg = group_episode([c for c in g if "." in c], [], sex, True).drg
        expected.append(dp == dg)
    assert out.tolist() == expected
    assert out.any() and not out.all()


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="target"):
        correctness([["a"]], [["a"]], target="nope")
    with pytest.raises(ValueError, match="gold_labels has 2"):
        correctness([["a"]], [["a"], ["b"]])
    with pytest.raises(ValueError, match="episodes"):
        correctness([["I10."]], [["I10."]], target="drg")
    with pytest.raises(ValueError, match="icd_version"):
        correctness([["a"]], [["a"]], "sequence", episodes=pd.DataFrame({"icd_version": [11]}))
    assert correctness([["a"]], [["a"]]).dtype == np.bool_


def test_principal_judges_the_first_diagnosis_only():
    pred = [["I50.9", "E11.9"], ["02HV33Z", "I50.9"], ["E11.9", "I50.9"], []]
    gold = [["I50.9", "I10."], ["I50.9"], ["I50.9", "E11.9"], ["I50.9"]]
    assert correctness(pred, gold, target="principal").tolist() == [True, True, False, False]


def test_audit_allows_one_missed_secondary_and_no_wrong_code():
    gold = [["I50.9", "E11.9", "I10.", "0DJ08ZZ"]]
    cases = {
        ("I50.9", "E11.9", "I10.", "0DJ08ZZ"): True,   # exact
        ("I50.9", "E11.9", "I10."): True,             # one secondary (a procedure) missed
        ("I50.9", "E11.9"): False,                    # two missed
        ("I50.9", "E11.9", "I10.", "0DJ08ZZ", "N18.30"): False,  # a wrong code added
        ("E11.9", "I50.9", "I10.", "0DJ08ZZ"): False,  # principal sequenced differently
    }
    for pred, expected in cases.items():
        assert correctness([list(pred)], gold, target="audit").tolist() == [expected], pred
    # audit is never stricter than exact-with-the-right-principal ("sequence"), never looser than principal
    rng = np.random.default_rng(0)
    pool = ["I50.9", "E11.9", "I10.", "N18.30", "J18.9", "0DJ08ZZ"]
    pred = [list(rng.choice(pool, rng.integers(1, 5), replace=False)) for _ in range(300)]
    gold = [list(rng.choice(pool, rng.integers(1, 5), replace=False)) for _ in range(300)]
    exact, audit, principal = (correctness(pred, gold, target=t) for t in ("sequence", "audit", "principal"))
    assert (exact <= audit).all() and (audit <= principal).all() and audit.sum() > exact.sum()


def test_principal_drg_needs_both():
    ep = pd.DataFrame({"age": [70, 70], "gender": ["M", "M"], "died": [False, False], "icd_version": [10, 10]})
    # same principal, one list adds an MCC (J96.01 acute respiratory failure): DRG changes
    pred = [["I50.9"], ["I50.9", "J96.01"]]
    gold = [["I50.9"], ["I50.9"]]
    out = correctness(pred, gold, target="principal_drg", episodes=ep)
    assert out.tolist() == [True, False]
    assert correctness(pred, gold, target="principal", episodes=ep).tolist() == [True, True]
