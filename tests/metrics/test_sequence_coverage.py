import numpy as np
import pytest

from triage.metrics import coverage, sequence


def test_principal_is_first_diagnosis_label():
    assert sequence.principal(["0QS734Z", "I50.9", "I10."]) == "I50.9"
    assert sequence.principal(["38.93", "401.9"]) == "401.9"
    assert sequence.principal(["401", "38.93"]) == "401"
    assert sequence.principal(["0QS734Z"]) is None


def test_principal_and_sequence_exact_match():
    gold = [["I50.9", "I10."], ["I10.", "I50.9"], ["E11.9"], ["0QS734Z"]]
    pred = [["I50.9", "I10."], ["I50.9", "I10."], ["E11.9", "I10."], ["0QS734Z"]]
    pa = sequence.principal_correct_per_episode(pred, gold)
    np.testing.assert_array_equal(pa[:3], [1.0, 0.0, 1.0])
    assert np.isnan(pa[3])  # no gold principal: not counted
    sem = sequence.sequence_exact_match_per_episode(pred, gold)
    np.testing.assert_array_equal(sem, [1.0, 0.0, 0.0, 1.0])


def test_code_coverage_by_hand():
    lists = [["A00.", "B00."], ["A00."], ["A00.", "C00."], ["B00.", "A00."]]
    # frequencies A:4, B:2, C:1 -> top1 = A
    df = coverage.code_coverage(lists, ks=[1, 2, 3])
    row = df.set_index("k").loc[1]
    assert row.occurrence_coverage == pytest.approx(4 / 7)
    assert row.episodes_fully_covered == pytest.approx(1 / 4)
    assert row.episodes_any_covered == 1.0
    assert df.set_index("k").loc[3].episodes_fully_covered == 1.0
    prin = coverage.code_coverage(lists, ks=[1], principal_only=True)
    assert prin.occurrence_coverage[0] == pytest.approx(3 / 4)


def test_coverage_is_monotone_in_k():
    rng = np.random.default_rng(0)
    codes = [f"X{i:02d}.{j}" for i in range(30) for j in range(3)]
    lists = [list(rng.choice(codes, rng.integers(1, 8), replace=False)) for _ in range(200)]
    df = coverage.code_coverage(lists, ks=[1, 5, 10, 50, 100])
    for col in ("occurrence_coverage", "episodes_fully_covered", "episodes_any_covered"):
        assert (np.diff(df[col]) >= 0).all()
        assert df[col].between(0, 1).all()


def test_category_distribution_counts_unique_3char_dx():
    lists = [["I50.9", "I50.1", "0QS734Z"], ["I10.", "E11.9"], ["I10."]]
    s = coverage.category_distribution(lists)
    assert s.to_dict() == {1: pytest.approx(2 / 3), 2: pytest.approx(1 / 3)}
    assert s.sum() == pytest.approx(1.0)
