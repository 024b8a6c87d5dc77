import numpy as np
import pandas as pd
import pytest

from triage.coder import CodeScores, load_predictions


def _reference_frame():
    """The reference pipeline's layout: one float column per dotted code, target, _id."""
    df = pd.DataFrame(
        {
            "I10.": np.array([0.9, 0.2, 0.05], dtype=np.float32),
            "E11.9": np.array([0.1, 0.7, 0.3], dtype=np.float32),
            "0QS734Z": np.array([0.0, 0.6, 0.95], dtype=np.float32),
        }
    )
    df["target"] = [["I10."], ["E11.9", "0QS734Z"], ["0QS734Z"]]
    df["_id"] = np.array([11, 12, 13], dtype=np.int64)
    return df


def _episodes(ids):
    return pd.DataFrame({"episode_id": np.asarray(ids, dtype=np.int64), "icd_version": 10})


def test_reference_feather_round_trip(tmp_path):
    path = tmp_path / "predictions_test.feather"
    _reference_frame().to_feather(path)
    scores, gold, report = load_predictions(path)
    assert isinstance(scores, CodeScores)
    assert list(scores.episode_ids) == [11, 12, 13]
    assert set(scores.classes) == {"I10.", "E11.9", "0QS734Z"}
    assert scores.row(0)["I10."] == pytest.approx(0.9)
    assert gold == [["I10."], ["0QS734Z", "E11.9"], ["0QS734Z"]]
    assert report.format == "wide" and report.ok and report.n_codes == 3


def test_matching_reports_unknown_ids_and_codes(tmp_path):
    df = _reference_frame()
    df["ZZZ.9"] = np.float32(0.5)  # not an ICD-10 code
    path = tmp_path / "p.feather"
    df.to_feather(path)
    scores, gold, report = load_predictions(path, _episodes([11, 13, 99]))
    assert list(scores.episode_ids) == [11, 13]
    assert report.unknown_ids == [12]
    assert report.n_episodes_without_predictions == 1
    assert report.unknown_codes == ["ZZZ.9"]
    assert "ZZZ.9" not in set(scores.classes)
    assert len(gold) == 2
    assert "not in the data" in str(report)


def test_no_matching_ids_is_an_error(tmp_path):
    path = tmp_path / "p.feather"
    _reference_frame().to_feather(path)
    with pytest.raises(ValueError, match="none of its 3 episode ids"):
        load_predictions(path, _episodes([1, 2]))


@pytest.mark.parametrize("bad", [np.nan, 1.5, -0.1])
def test_scores_outside_unit_interval_name_file_column_value(tmp_path, bad):
    df = _reference_frame()
    df.loc[1, "E11.9"] = bad
    path = tmp_path / "p.feather"
    df.to_feather(path)
    with pytest.raises(ValueError, match=r"p\.feather.*'E11\.9'.*episode 12"):
        load_predictions(path)


def test_long_table_csv_and_parquet_agree(tmp_path):
    long = pd.DataFrame(
        {
            "episode_id": [5, 5, 6, 6, 6],
            "code": ["i10", "E119", "I10", "0qs734z", "E11.9"],  # any spelling
            "score": [0.8, 0.3, 0.1, 0.9, 0.4],
        }
    )
    long.to_csv(tmp_path / "p.csv", index=False)
    long.to_parquet(tmp_path / "p.parquet")
    a, gold, report = load_predictions(tmp_path / "p.csv")
    b, _, _ = load_predictions(tmp_path / "p.parquet")
    assert gold is None and report.format == "long"
    assert list(a.episode_ids) == [5, 6]
    assert a.row(1) == pytest.approx({"I10.": 0.1, "0QS734Z": 0.9, "E11.9": 0.4})
    np.testing.assert_array_equal(a.matrix.toarray(), b.matrix.toarray())
    assert list(a.classes) == list(b.classes)


def test_long_table_keeps_top_k_and_rejects_duplicates(tmp_path):
    long = pd.DataFrame({"episode_id": [1, 1, 1], "code": ["I10", "E119", "N179"], "score": [0.2, 0.9, 0.5]})
    long.to_csv(tmp_path / "p.csv", index=False)
    s, _, _ = load_predictions(tmp_path / "p.csv", keep_top_k=2)
    assert set(s.row(0)) == {"E11.9", "N17.9"}
    pd.concat([long, long.head(1)]).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(ValueError, match="more than one score for code I10."):
        load_predictions(tmp_path / "d.csv")


def test_long_table_bad_score_names_row(tmp_path):
    pd.DataFrame({"episode_id": [1], "code": ["I10"], "score": ["high"]}).to_csv(
        tmp_path / "p.csv", index=False)
    with pytest.raises(ValueError, match=r"column 'score', row 0 .*'high'"):
        load_predictions(tmp_path / "p.csv")


def test_unrecognised_layout_and_missing_file(tmp_path):
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "x.csv", index=False)
    with pytest.raises(ValueError, match="neither the reference format"):
        load_predictions(tmp_path / "x.csv")
    with pytest.raises(FileNotFoundError):
        load_predictions(tmp_path / "missing.feather")


def test_scores_to_long_round_trip(tmp_path):
    s = CodeScores([3, 4], np.array(["I10.", "E11.9"], dtype=object),
                   np.array([[0.5, 0.0], [0.25, 0.75]], dtype=np.float32))
    s.to_long().to_parquet(tmp_path / "l.parquet")
    back, _, _ = load_predictions(tmp_path / "l.parquet")
    assert back.subset([3, 4]).row(1) == pytest.approx(s.row(1))
