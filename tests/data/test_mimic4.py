
import pandas as pd
import pytest

from triage.data import DataError, gold_labels, load_episodes, load_episodes_with_report
from triage.data.schema import EPISODE_COLUMNS


def by_id(df: pd.DataFrame) -> pd.DataFrame:
    return df.set_index("episode_id")


def test_schema_order_and_exclusions(mimic4_dir):
    df, report = load_episodes_with_report(mimic4_dir)
    assert list(df.columns) == list(EPISODE_COLUMNS)
    assert {c: str(df[c].dtype) for c in ("episode_id", "icd_version", "los_days", "died")} == {
        "episode_id": "int64", "icd_version": "int8", "los_days": "float64", "died": "boolean"}
    assert df["episode_id"].tolist() == [101, 102, 103, 104, 105]
    assert report.excluded == {"no_note": 1, "no_codes": 1}
    assert report.n_loaded == 5


def test_seq_num_order_is_kept_not_sorted(mimic4_dir):
    e = by_id(load_episodes(mimic4_dir))
    assert e.loc[101, "diagnoses"] == ["I214", "E119", "N1830"]  # file order was E119, I214, N1830
    assert e.loc[101, "procedures"] == ["02703DZ"]
    assert e.loc[103, "diagnoses"] == ["4019", "E8790", "V3001"]
    assert gold_labels(e.loc[[101, 103]].reset_index()) == [
        ["I21.4", "E11.9", "N18.30", "02703DZ"], ["401.9", "E879.0", "V30.01", "38.93"]]


def test_addendum_follows_report(mimic4_dir):
    e = by_id(load_episodes(mimic4_dir))
    assert e.loc[105, "text"] == "Pneumonia, treated.\n\nADDENDUM: culture positive."


def test_admission_metadata(mimic4_dir):
    e = by_id(load_episodes(mimic4_dir))
    assert e.loc[101, "los_days"] == pytest.approx(4.1666667)
    assert e.loc[102, "age"] == 61.0           # anchor_age 60 at anchor_year 2180, admitted 2181
    assert e.loc[101, "gender"] == "M"
    assert bool(e.loc[104, "died"]) and not bool(e.loc[101, "died"])
    assert e.loc[103, "admission_type"] == "NEWBORN"


def test_icd_version_filter(mimic4_dir):
    df10, rep10 = load_episodes_with_report(mimic4_dir, icd_version=10)
    df9, rep9 = load_episodes_with_report(mimic4_dir, icd_version=9)
    assert df10["episode_id"].tolist() == [101, 102, 104, 105]
    assert df9["episode_id"].tolist() == [103]
    assert rep10.filtered == {"icd_version_9": 1} and rep9.filtered == {"icd_version_10": 4}
    assert set(df10["icd_version"]) == {10}


def test_plain_csv_and_missing_optional_tables_degrade(tmp_path, mimic):
    tables = mimic.mimic4_tables()
    tables["hosp/procedures_icd"] = tables["hosp/procedures_icd"].drop(columns="chartdate")
    del tables["hosp/admissions"], tables["hosp/patients"]
    root = mimic.write_mimic4(tmp_path / "m4", tables, gz=False)
    with pytest.warns(UserWarning, match="no admissions table"):
        df = load_episodes(root)
    e = by_id(df)
    assert e.loc[101, "procedures"] == ["02703DZ"]
    assert df["admittime"].isna().all() and df["age"].isna().all() and df["los_days"].isna().all()


def test_no_procedures_table_warns(tmp_path, mimic):
    tables = mimic.mimic4_tables()
    del tables["hosp/procedures_icd"]
    with pytest.warns(UserWarning, match="no procedures_icd"):
        df = load_episodes(mimic.write_mimic4(tmp_path / "m4", tables))
    assert all(p == [] for p in df["procedures"])


def test_strict_turns_exclusions_into_errors(mimic4_dir):
    with pytest.raises(DataError, match="no_note"):
        load_episodes(mimic4_dir, strict=True)


def test_unparseable_codes_excluded_and_counted(tmp_path, mimic):
    tables = mimic.mimic4_tables()
    dx = tables["hosp/diagnoses_icd"]
    dx.loc[dx["hadm_id"] == 104, "icd_code"] = "I50-9?"
    df, rep = load_episodes_with_report(mimic.write_mimic4(tmp_path / "m4", tables))
    assert 104 not in df["episode_id"].tolist()
    assert rep.excluded["unparseable_codes"] == 1
    assert "I50-9?" in rep.examples["unparseable_codes"][0]


def test_inputs_are_read_only(mimic4_dir, tmp_path):
    before = sorted(p.relative_to(mimic4_dir) for p in mimic4_dir.rglob("*"))
    mimic4_dir.chmod(0o555)
    for sub in ("hosp", "note"):
        (mimic4_dir / sub).chmod(0o555)
    try:
        load_episodes(mimic4_dir, cache=True)
        load_episodes(mimic4_dir, cache=True)
    finally:
        for sub in ("hosp", "note"):
            (mimic4_dir / sub).chmod(0o755)
        mimic4_dir.chmod(0o755)
    assert sorted(p.relative_to(mimic4_dir) for p in mimic4_dir.rglob("*")) == before
    assert list((tmp_path / "cache" / "episodes").glob("*.parquet"))


def test_cache_round_trip_is_identical(mimic4_dir):
    a, ra = load_episodes_with_report(mimic4_dir, cache=True)
    b, rb = load_episodes_with_report(mimic4_dir, cache=True)
    pd.testing.assert_frame_equal(a, b)
    assert ra.excluded == rb.excluded


def test_cache_inside_data_folder_is_refused(mimic4_dir, monkeypatch):
    monkeypatch.setenv("TRIAGE_CACHE_DIR", str(mimic4_dir / "cache"))
    with pytest.raises(DataError, match="inside the input folder"):
        load_episodes(mimic4_dir, cache=True)


def test_admission_whose_notes_are_all_blank_counts_as_no_note(tmp_path, mimic):
    tables = mimic.mimic4_tables()
    notes = tables["note/discharge"]
    extra = notes[notes["hadm_id"] == 104].assign(note_id="3-AD-9", note_type="AD", note_seq=9)
    notes = pd.concat([notes, extra], ignore_index=True)
    notes.loc[notes["hadm_id"] == 104, "text"] = "   "
    tables["note/discharge"] = notes
    df, rep = load_episodes_with_report(mimic.write_mimic4(tmp_path / "m4", tables))
    assert 104 not in df["episode_id"].tolist()
    assert rep.excluded["no_note"] == 2  # 104 (blank) and 106 (none)


def test_care_setting_comes_from_admission_type(tmp_path, mimic):
    tables = mimic.mimic4_tables()
    adm = tables["hosp/admissions"]
    adm.loc[adm["hadm_id"] == 102, "admission_type"] = "AMBULATORY OBSERVATION"
    adm.loc[adm["hadm_id"] == 104, "admission_type"] = "eu observation"
    adm.loc[adm["hadm_id"] == 105, "admission_type"] = None
    e = by_id(load_episodes(mimic.write_mimic4(tmp_path / "m4", tables)))
    assert e["care_setting"].to_dict() == {101: "inpatient", 102: "day_case", 103: "inpatient",
                                           104: "observation", 105: "inpatient"}
    assert str(e["care_setting"].dtype) == "string"


def test_mixed_version_episode_keeps_the_requested_versions_codes(tmp_path, mimic):
    tables = mimic.mimic4_tables()
    # admission 102: ICD-10 diagnoses with an ICD-9 procedure (and a second ICD-9 one)
    px = tables["hosp/procedures_icd"]
    tables["hosp/procedures_icd"] = pd.concat([px, pd.DataFrame(
        [(1, 102, 1, "2181-01-02", "3893", 9), (1, 102, 2, "2181-01-02", "9904", 9)], columns=px.columns)])
    root = mimic.write_mimic4(tmp_path / "m4", tables)
    df10, rep10 = load_episodes_with_report(root, icd_version=10)
    e10 = by_id(df10)
    assert e10.loc[102, "diagnoses"] == ["I10", "Z7901"] and e10.loc[102, "procedures"] == []
    assert rep10.filtered == {"icd_version_9": 1, "icd9_codes_in_icd10_episodes": 2}
    assert "mixed_icd_versions" not in rep10.excluded
    df9, rep9 = load_episodes_with_report(root, icd_version=9)
    e9 = by_id(df9)
    assert e9.loc[102, "diagnoses"] == [] and e9.loc[102, "procedures"] == ["3893", "9904"]
    assert int(e9.loc[102, "icd_version"]) == 9
    assert rep9.filtered["icd10_codes_in_icd9_episodes"] == 2
    # with no version requested a mixed episode cannot be one gold set: still excluded and counted
    dfn, repn = load_episodes_with_report(root)
    assert 102 not in dfn["episode_id"].tolist() and repn.excluded["mixed_icd_versions"] == 1
