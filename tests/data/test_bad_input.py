import pandas as pd
import pytest

from triage.data import DataError, load_episodes


def test_missing_required_file(tmp_path, mimic):
    tables = mimic.mimic4_tables()
    del tables["hosp/diagnoses_icd"]
    root = mimic.write_mimic4(tmp_path / "m4", tables)
    with pytest.raises(DataError, match=r"diagnoses_icd\.csv\.gz: file not found"):
        load_episodes(root, format="mimic-iv")


def test_missing_notes_file(tmp_path, mimic):
    tables = mimic.mimic4_tables()
    del tables["note/discharge"]
    with pytest.raises(DataError, match=r"discharge\.csv\.gz: file not found"):
        load_episodes(mimic.write_mimic4(tmp_path / "m4", tables))


def test_missing_column_names_file_and_column(tmp_path, mimic):
    tables = mimic.mimic4_tables()
    tables["hosp/diagnoses_icd"] = tables["hosp/diagnoses_icd"].drop(columns="icd_code")
    with pytest.raises(DataError, match=r"diagnoses_icd\.csv\.gz: missing column 'icd_code'"):
        load_episodes(mimic.write_mimic4(tmp_path / "m4", tables))


def test_wrong_dtype_names_file_column_and_value(tmp_path, mimic):
    tables = mimic.mimic4_tables()
    dx = tables["hosp/diagnoses_icd"]
    dx["hadm_id"] = dx["hadm_id"].astype(object)
    dx.loc[3, "hadm_id"] = "abc"
    with pytest.raises(DataError, match=r"diagnoses_icd\.csv\.gz: column 'hadm_id' should be integer: bad value 'abc'"):
        load_episodes(mimic.write_mimic4(tmp_path / "m4", tables))


def test_wrong_dtype_in_notes(tmp_path, mimic):
    tables = mimic.mimic4_tables()
    notes = tables["note/discharge"]
    notes["subject_id"] = notes["subject_id"].astype(object)
    notes.loc[0, "subject_id"] = "x1"
    with pytest.raises(DataError, match=r"discharge\.csv\.gz: column 'subject_id' should be integer"):
        load_episodes(mimic.write_mimic4(tmp_path / "m4", tables))


def test_empty_table(tmp_path, mimic):
    tables = mimic.mimic4_tables()
    tables["note/discharge"] = tables["note/discharge"].iloc[:0]
    with pytest.raises(DataError, match=r"discharge\.csv\.gz: empty table"):
        load_episodes(mimic.write_mimic4(tmp_path / "m4", tables))


def test_header_only_file_without_columns(tmp_path, mimic):
    root = mimic.write_mimic4(tmp_path / "m4")
    (root / "hosp" / "diagnoses_icd.csv.gz").unlink()
    (root / "hosp" / "diagnoses_icd.csv").write_text("")
    with pytest.raises(DataError, match=r"diagnoses_icd\.csv: empty table"):
        load_episodes(root, format="mimic-iv")


def test_missing_path_and_unknown_layout(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        load_episodes(tmp_path / "nope")
    (tmp_path / "junk").mkdir()
    with pytest.raises(DataError, match="cannot tell the format"):
        load_episodes(tmp_path / "junk")


def test_bad_parameters(mimic4_dir):
    with pytest.raises(DataError, match="icd_version"):
        load_episodes(mimic4_dir, icd_version=11)
    with pytest.raises(DataError, match="format"):
        load_episodes(mimic4_dir, format="mimic-v")
    with pytest.raises(DataError, match="fractions"):
        load_episodes(mimic4_dir, fractions=(0.5, 0.1, 0.1))


def test_mimic3_missing_column(tmp_path, mimic):
    tables = mimic.mimic3_tables()
    tables["NOTEEVENTS"] = tables["NOTEEVENTS"].drop(columns="CATEGORY")
    with pytest.raises(DataError, match=r"NOTEEVENTS\.csv\.gz: missing column 'CATEGORY'"):
        load_episodes(mimic.write_mimic3(tmp_path / "m3", tables))


def test_mimic3_without_discharge_summaries(tmp_path, mimic):
    tables = mimic.mimic3_tables()
    tables["NOTEEVENTS"]["CATEGORY"] = "Nursing"
    with pytest.raises(DataError, match=r"NOTEEVENTS\.csv\.gz: no usable 'Discharge summary' rows"):
        load_episodes(mimic.write_mimic3(tmp_path / "m3", tables))


def test_split_file_errors(mimic4_dir, tmp_path):
    with pytest.raises(DataError, match="split file not found"):
        load_episodes(mimic4_dir, split_file=tmp_path / "none.feather")
    pd.DataFrame({"_id": [101], "fold": ["train"]}).to_feather(tmp_path / "a.feather")
    with pytest.raises(DataError, match=r"a\.feather: missing column 'split'"):
        load_episodes(mimic4_dir, split_file=tmp_path / "a.feather")
    pd.DataFrame({"_id": [101], "split": ["holdout"]}).to_feather(tmp_path / "b.feather")
    with pytest.raises(DataError, match=r"b\.feather: column 'split' must be train/val/test"):
        load_episodes(mimic4_dir, split_file=tmp_path / "b.feather")
    pd.DataFrame({"_id": ["x"], "split": ["train"]}).to_feather(tmp_path / "c.feather")
    with pytest.raises(DataError, match=r"c\.feather: column '_id' should be integer"):
        load_episodes(mimic4_dir, split_file=tmp_path / "c.feather")
    (tmp_path / "d.feather").write_bytes(b"not feather")
    with pytest.raises(DataError, match=r"d\.feather: cannot read split file"):
        load_episodes(mimic4_dir, split_file=tmp_path / "d.feather")
