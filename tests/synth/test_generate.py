"""The written cohort: MIMIC-IV layout, determinism, loader round-trip, sequencing, bad input."""

import gzip
import hashlib
from pathlib import Path

import pandas as pd
import pytest

from triage.synth import MIMIC4_COLUMNS, generate, synthesize_episodes
from triage.synth.profiles import SEQUENCE_RULES
from triage.synth.vocab import icd10cm, icd10pcs

N = 400
SCALE = 0.05


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.csv.gz"))}


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "mimic"
    generate(out, n_episodes=N, seed=7, note_words_scale=SCALE)
    return out


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{name}.csv.gz", dtype={"icd_code": str})


def test_same_seed_gives_byte_identical_files(cohort_dir, tmp_path):
    again = tmp_path / "again"
    generate(again, n_episodes=N, seed=7, note_words_scale=SCALE)
    assert _digest(again) == _digest(cohort_dir)
    other = tmp_path / "other"
    generate(other, n_episodes=N, seed=8, note_words_scale=SCALE)
    assert _digest(other)["note/discharge.csv.gz"] != _digest(cohort_dir)["note/discharge.csv.gz"]


def test_gzip_header_has_no_timestamp_or_name(cohort_dir):
    raw = (cohort_dir / "note/discharge.csv.gz").read_bytes()
    assert raw[4:8] == b"\0\0\0\0"          # MTIME
    assert raw[3] & 0x08 == 0                # no FNAME flag
    assert gzip.decompress(raw).startswith(b"note_id,subject_id,hadm_id")


def test_every_table_has_exactly_mimic_iv_columns(cohort_dir):
    assert sorted(str(p.relative_to(cohort_dir)) for p in cohort_dir.rglob("*.csv.gz")) == sorted(
        f"{n}.csv.gz" for n in MIMIC4_COLUMNS)
    for name, cols in MIMIC4_COLUMNS.items():
        assert tuple(_read(cohort_dir, name).columns) == cols, name


def test_ids_codes_and_versions_are_mimic_shaped(cohort_dir):
    adm = _read(cohort_dir, "hosp/admissions")
    pat = _read(cohort_dir, "hosp/patients")
    dx = _read(cohort_dir, "hosp/diagnoses_icd")
    px = _read(cohort_dir, "hosp/procedures_icd")
    notes = _read(cohort_dir, "note/discharge")
    assert len(adm) == N and adm["hadm_id"].is_unique and pat["subject_id"].is_unique
    assert set(adm["subject_id"]) == set(pat["subject_id"])
    assert notes["note_id"].is_unique and set(notes["hadm_id"]) == set(adm["hadm_id"])
    assert (notes["note_type"] == "DS").all() and notes["text"].str.contains("___").all()
    for table in (dx, px):
        assert (table["icd_version"] == 10).all()
        assert not table["icd_code"].str.contains(r"[.a-z]").any()
        assert not table.duplicated(["hadm_id", "icd_code"]).any()
        first = table.groupby("hadm_id")["seq_num"].agg(["min", "max", "count"])
        assert (first["min"] == 1).all() and (first["max"] == first["count"]).all()
    assert set(dx["icd_code"]) <= set(icd10cm().codes.tolist())
    assert set(px["icd_code"]) <= set(icd10pcs().codes.tolist())
    d_dx = _read(cohort_dir, "hosp/d_icd_diagnoses").set_index("icd_code")["long_title"]
    assert d_dx["I509"] == "Heart failure, unspecified"
    died = adm["hospital_expire_flag"] == 1
    assert (adm.loc[died, "discharge_location"] == "DIED").all()
    assert adm.loc[died, "deathtime"].notna().all() and adm.loc[~died, "deathtime"].isna().all()
    assert (pd.to_datetime(adm["dischtime"]) > pd.to_datetime(adm["admittime"])).all()


def test_loader_reads_the_folder_unchanged_and_matches_in_memory_cohort(cohort_dir):
    from triage.data import load_episodes

    loaded = load_episodes(cohort_dir).sort_values("episode_id").reset_index(drop=True)
    mem = synthesize_episodes(N, seed=7, note_words_scale=SCALE).sort_values("episode_id").reset_index(drop=True)
    assert len(loaded) == N
    assert loaded["episode_id"].tolist() == mem["episode_id"].tolist()
    assert loaded["diagnoses"].tolist() == mem["diagnoses"].tolist()   # order (seq_num) survives
    assert loaded["procedures"].tolist() == mem["procedures"].tolist()
    assert loaded["text"].tolist() == mem["text"].tolist()
    assert loaded["age"].tolist() == mem["age"].tolist()
    assert (loaded["los_days"] - mem["los_days"]).abs().max() < 1e-6
    assert loaded["died"].tolist() == mem["died"].tolist()


def test_sequencing_rules_hold():
    eps = synthesize_episodes(3000, seed=3, note_words_scale=0.02)
    checked = 0
    for dx in eps["diagnoses"]:
        pos = {c: i for i, c in enumerate(dx)}
        for first, then in SEQUENCE_RULES:
            if first in pos and then in pos:
                assert pos[first] < pos[then], (first, then, dx)
                checked += 1
    assert checked > 100
    principal = eps["diagnoses"].str[0]
    assert not principal.str.startswith(("R652", "Z79", "Y92")).any()


@pytest.mark.parametrize("kwargs, word", [
    ({"n_episodes": 0}, "n_episodes"), ({"seed": -1}, "seed"), ({"workload": "icu"}, "icu"),
    ({"note_words_scale": 0}, "note_words_scale"), ({"note_words": -5}, "note_words"),
    ({"workload": "inpatient=0.5,icu=0.5"}, "unknown care setting 'icu'"),
])
def test_bad_arguments_name_the_parameter(tmp_path, kwargs, word):
    args = {"n_episodes": 10, **kwargs}
    with pytest.raises(ValueError, match=word):
        generate(tmp_path / "x", **args)


def test_out_must_not_be_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ValueError, match=str(f)):
        generate(f, n_episodes=5)


def test_cli_writes_and_reports(tmp_path):
    from typer.testing import CliRunner

    from triage.cli import app

    out = tmp_path / "cli"
    res = CliRunner().invoke(app, ["synth", "--out", str(out), "--episodes", "150", "--note-scale", "0.05",
                                   "--report"])
    assert res.exit_code == 0, res.output
    assert (out / "note/discharge.csv.gz").is_file()
    assert "codes per episode" in res.output and "top-50" in res.output
    assert "inpatient episodes" in res.output and "day_case" in res.output
    bad = CliRunner().invoke(app, ["synth", "--out", str(out), "--workload", "inpatient=0.5,icu=0.5"])
    assert bad.exit_code == 2 and "icu" in bad.output


def test_day_case_notes_are_short_procedure_reports():
    eps = synthesize_episodes(300, seed=2, workload="day_case")
    assert (eps["care_setting"] == "day_case").all() and (eps["admission_type"] == "AMBULATORY OBSERVATION").all()
    for section in ("Procedure:", "Indication:", "Findings:", "Diagnosis:", "Plan:"):
        assert eps["text"].str.contains(section, regex=False).all(), section
    words = eps["text"].str.split().str.len()
    assert words.median() < 250 and words.max() < 400
    assert not eps["text"].str.contains("Brief Hospital Course", regex=False).any()
    obs = synthesize_episodes(200, seed=2, workload="observation")
    inp = synthesize_episodes(200, seed=2, workload="inpatient")
    assert obs["text"].str.split().str.len().median() < 0.5 * inp["text"].str.split().str.len().median()


def test_inpatient_episodes_do_not_depend_on_the_other_settings_notes():
    """Day-case notes come from their own stream: the inpatient workload's notes are the same
    as those of the inpatient workload generated with day-case note parameters changed."""
    from triage.synth import DayCaseNoteParams

    a = synthesize_episodes(150, seed=4, workload="inpatient", note_words_scale=SCALE)
    b = synthesize_episodes(150, seed=4, workload="inpatient", note_words_scale=SCALE,
                            day_case_notes=DayCaseNoteParams(p_generic=0.9))
    pd.testing.assert_frame_equal(a, b)
    m = synthesize_episodes(300, seed=4, workload="mixed", note_words_scale=SCALE)
    m2 = synthesize_episodes(300, seed=4, workload="mixed", note_words_scale=SCALE,
                             day_case_notes=DayCaseNoteParams(p_generic=0.9))
    other = (m["care_setting"] != "day_case").to_numpy()
    assert m["text"][other].tolist() == m2["text"][other].tolist()
    assert m["text"][~other].tolist() != m2["text"][~other].tolist()
