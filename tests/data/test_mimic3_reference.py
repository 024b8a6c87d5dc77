import numpy as np
import pandas as pd
import pytest

from triage.data import DataError, load_episodes, load_episodes_with_report


def test_mimic3_discharge_summaries(mimic3_dir):
    df, rep = load_episodes_with_report(mimic3_dir)
    e = df.set_index("episode_id")
    assert sorted(e.index) == [201, 202]
    assert e.loc[201, "text"] == "Main report.\n\nAddendum text."     # report first, then addendum
    assert e.loc[202, "text"] == "Newborn report."                    # ISERROR=1 row dropped
    assert e.loc[201, "diagnoses"] == ["4280", "25000", "E8790"]       # SEQ_NUM order
    assert e.loc[202, "diagnoses"] == ["V3001", "V053"]                # missing SEQ_NUM last
    assert e.loc[201, "procedures"] == ["3893"]
    assert set(df["icd_version"]) == {9}
    assert rep.excluded == {"no_note": 1}                              # 203 has only a radiology note
    assert e.loc[201, "age"] == pytest.approx(70.0, abs=0.01)
    assert e.loc[201, "gender"] == "M"
    # EMERGENCY and NEWBORN are MIMIC-III inpatient admission types
    assert e["care_setting"].to_dict() == {201: "inpatient", 202: "inpatient"}


def test_mimic3_age_over_89_is_not_300(tmp_path, mimic):
    tables = mimic.mimic3_tables()
    tables["PATIENTS"].loc[0, "DOB"] = "1800-01-01 00:00:00"
    e = load_episodes(mimic.write_mimic3(tmp_path / "m3", tables)).set_index("episode_id")
    assert e.loc[201, "age"] == 91.4


def test_mimic3_rejects_icd10(mimic3_dir):
    with pytest.raises(DataError, match="ICD-9 only"):
        load_episodes(mimic3_dir, icd_version=10)


def reference_frame() -> pd.DataFrame:
    """The columns prepare_mimiciv.py writes (codes dotted and sorted, procedures first in target)."""
    return pd.DataFrame({
        "note_id": ["1-DS-1", "2-DS-1", "3-DS-1", "4-DS-1"],
        "subject_id": [1, 1, 2, 3],
        "_id": [11, 12, 13, 14],
        "note_type": ["DS"] * 4,
        "note_seq": [1, 2, 1, 1],
        "charttime": pd.to_datetime(["2180-01-01"] * 4),
        "storetime": pd.to_datetime(["2180-01-01"] * 4),
        "text": ["chest pain stent", "hypertension", "heart failure", ""],
        "icd10_proc": [np.array(["02703DZ"]), np.array([], dtype=object), np.array([], dtype=object), np.array([], dtype=object)],
        "icd10_diag": [np.array(["E11.9", "I21.4", "N18.30"]), np.array(["I10."]), np.array(["I50.9"]), np.array(["I10."])],
        "target": [np.array(["02703DZ", "E11.9", "I21.4", "N18.30"]), np.array(["I10."]), np.array(["I50.9"]), np.array(["I10."])],
        "num_words": [3, 1, 2, 0],
        "num_targets": [4, 1, 1, 1],
    })


def test_reference_feather_and_published_split(tmp_path):
    d = tmp_path / "ref"
    d.mkdir()
    reference_frame().to_feather(d / "mimiciv_icd10.feather")
    pd.DataFrame({"_id": [11, 12, 13], "split": ["train", "train", "test"]}).to_feather(tmp_path / "mimiciv_icd10_split.feather")
    with pytest.warns(UserWarning, match="alphabetically"):
        df, rep = load_episodes_with_report(d, split_file=tmp_path / "mimiciv_icd10_split.feather")
    e = df.set_index("episode_id")
    assert rep.format == "reference" and rep.excluded == {"no_note": 1}
    assert e.loc[11, "diagnoses"] == ["E119", "I214", "N1830"] and e.loc[11, "procedures"] == ["02703DZ"]
    assert e.loc[12, "diagnoses"] == ["I10"]
    assert e["split"].to_dict() == {11: "train", 12: "train", 13: "test"}
    assert set(e["icd_version"]) == {10}
    # the reference file has no admission type: every episode is an inpatient admission
    assert e["admission_type"].isna().all() and set(e["care_setting"]) == {"inpatient"}


def test_reference_target_only_and_missing_columns(tmp_path):
    f = reference_frame().drop(columns=["icd10_proc", "icd10_diag"])
    f.to_feather(tmp_path / "t.feather")
    with pytest.raises(DataError, match="pass icd_version"):
        load_episodes(tmp_path / "t.feather")
    df = load_episodes(tmp_path / "t.feather", icd_version=10)
    assert df.set_index("episode_id").loc[11, "procedures"] == ["02703DZ"]
    reference_frame().drop(columns="text").to_feather(tmp_path / "u.feather")
    with pytest.raises(DataError, match=r"u\.feather: missing column 'text'"):
        load_episodes(tmp_path / "u.feather")


def test_published_split_drops_and_counts_unlisted(mimic3_dir, tmp_path):
    pd.DataFrame({"_id": [201], "split": ["val"]}).to_feather(tmp_path / "s.feather")
    df, rep = load_episodes_with_report(mimic3_dir, split_file=tmp_path / "s.feather")
    assert df["episode_id"].tolist() == [201] and df["split"].tolist() == ["val"]
    assert rep.filtered["not_in_split_file"] == 1
