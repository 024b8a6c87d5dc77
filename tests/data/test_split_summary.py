import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from triage.data import dataset_summary, patient_split
from triage.data.summary import SUMMARY_KEYS


def cohort(n_subjects: int, seed: int) -> pd.DataFrame:
    """Episodes with 1-4 admissions per subject and codes drawn from a skewed vocabulary."""
    rng = np.random.default_rng(seed)
    vocab = [f"A{i:02d}{j}" for i in range(40) for j in range(3)]
    p = 1.0 / np.arange(1, len(vocab) + 1)
    p /= p.sum()
    rows = []
    for s in range(n_subjects):
        for _ in range(rng.integers(1, 5)):
            k = int(rng.integers(1, 8))
            dx = list(dict.fromkeys(rng.choice(vocab, size=k, p=p).tolist()))
            rows.append((len(rows) + 1, 1000 + s, dx))
    return pd.DataFrame({"episode_id": [r[0] for r in rows], "subject_id": [r[1] for r in rows],
                         "diagnoses": [r[2] for r in rows], "procedures": [[] for _ in rows],
                         "icd_version": 10})


@settings(max_examples=15, deadline=None)
@given(st.integers(5, 120), st.integers(0, 10_000))
def test_no_subject_in_two_splits(n_subjects, seed):
    eps = cohort(n_subjects, seed)
    split = patient_split(eps, seed=seed)
    assert set(split) <= {"train", "val", "test"}
    per_subject = split.groupby(eps["subject_id"]).nunique()
    assert (per_subject == 1).all()


def test_split_is_seeded_and_sized():
    eps = cohort(600, 1)
    a, b, c = patient_split(eps, seed=3), patient_split(eps, seed=3), patient_split(eps, seed=4)
    assert a.equals(b) and not a.equals(c)
    shares = a.value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.75, abs=0.03)
    assert shares["val"] == pytest.approx(0.10, abs=0.03)
    assert shares["test"] == pytest.approx(0.15, abs=0.03)
    custom = patient_split(eps, fractions=(0.5, 0.25, 0.25), seed=0).value_counts(normalize=True)
    assert custom["val"] == pytest.approx(0.25, abs=0.03)


def test_split_is_stratified_on_codes():
    eps = cohort(600, 2)
    split = patient_split(eps, seed=0)
    test_codes = {c for dx in eps.loc[split == "test", "diagnoses"] for c in dx}
    train_codes = {c for dx in eps.loc[split == "train", "diagnoses"] for c in dx}
    # every code given to >= 10 subjects reaches both train and test
    subj_per_code = eps.explode("diagnoses").groupby("diagnoses")["subject_id"].nunique()
    common = set(subj_per_code[subj_per_code >= 10].index.map(lambda c: c))
    assert common <= test_codes and common <= train_codes


def test_summary_values_by_hand():
    eps = pd.DataFrame({
        "episode_id": [1, 2, 3, 4],
        "subject_id": [1, 1, 2, 3],
        "text": ["a b  c", "one\ntwo", "x", "w1 w2 w3 w4"],
        "diagnoses": [["I509", "I10"], ["I509"], ["J189", "J181", "I509"], ["E119"]],
        "procedures": [["02703DZ"], [], [], []],
        "icd_version": [10, 10, 10, 10],
        "age": [50.0, 52.0, np.nan, 70.0],
        "los_days": [1.0, 2.0, 3.0, 4.0],
    })
    s = dataset_summary(eps)
    assert tuple(s) == SUMMARY_KEYS
    assert s["n_episodes"] == 4 and s["n_subjects"] == 3
    assert (s["codes_per_episode_q1"], s["codes_per_episode_median"], s["codes_per_episode_q3"]) == (1.0, 2.0, 3.0)
    assert s["words_per_note_median"] == 2.5            # counts 3, 2, 1, 4
    assert s["unique_codes_full"] == 6                   # I50.9 I10. 02703DZ J18.9 J18.1 E11.9
    assert s["unique_codes_4"] == 6 and s["unique_codes_3"] == 5  # J18. merges; PCS 027 stays apart
    assert s["code_freq_ge10_share"] == 0.0
    assert s["top50_occurrence_share"] == 1.0 and s["top50_episode_full_coverage"] == 1.0
    assert s["share_episodes_1_cat3"] == 0.5             # episodes 2 and 4
    assert s["share_episodes_le2_cat3"] == 1.0           # episode 3: I50, J18
    assert s["share_episodes_ge6_cat3"] == 0.0
    assert s["age_median"] == 52.0 and s["los_days_median"] == 2.5
    json.dumps(s)


def test_top50_coverage_on_many_codes():
    # 60 codes: episode i has code i; codes 0..9 appear in 3 extra episodes each
    dx = [[f"A{i:02d}"] for i in range(60)] + [[f"A{i:02d}"] for i in range(10) for _ in range(3)]
    eps = pd.DataFrame({"episode_id": range(len(dx)), "subject_id": range(len(dx)), "text": "t",
                        "diagnoses": dx, "procedures": [[]] * len(dx), "icd_version": 10,
                        "age": np.nan, "los_days": np.nan})
    s = dataset_summary(eps)
    assert s["top50_occurrence_share"] == pytest.approx(80 / 90)
    assert s["top50_episode_any_coverage"] == pytest.approx(80 / 90)
    assert s["top800_episode_full_coverage"] == 1.0
    assert s["age_median"] is None


def test_cli_summary_json(mimic, tmp_path):
    from triage.cli import app

    root = mimic.write_mimic4(tmp_path / "m4")
    result = CliRunner().invoke(app, ["data", "summary", "--data", str(root), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert tuple(stats) == SUMMARY_KEYS and stats["n_episodes"] == 5
    table = CliRunner().invoke(app, ["data", "summary", "--data", str(root), "--format", "mimic-iv"])
    assert table.exit_code == 0 and "top800_episode_full_coverage" in table.stdout
    bad = CliRunner().invoke(app, ["data", "summary", "--data", str(tmp_path / "missing")])
    assert bad.exit_code == 2 and "no such file or folder" in bad.output


def test_cat3_counts_icd9_e_codes_on_four_characters():
    eps = pd.DataFrame({"episode_id": [1], "subject_id": [1], "text": ["a"],
                        "diagnoses": [["E8790", "E8791", "4019", "4011"]], "procedures": [["3893"]],
                        "icd_version": [9], "age": [np.nan], "los_days": [np.nan]})
    s = dataset_summary(eps)
    assert s["share_episodes_le2_cat3"] == 1.0 and s["share_episodes_1_cat3"] == 0.0  # E879 and 401
    assert s["unique_codes_3"] == 3  # E879. 401. 38.9 (procedure kept apart)


def test_patient_parts_is_the_one_patient_grouped_assignment():
    """The run's roles (shares cut in runs) and the coder's folds (dealt) come from one function:
    no patient in two parts, the shares kept, folds within one patient of each other, same seed
    same parts; the pipeline's name is this function."""
    from triage.coder import patient_folds as coder_folds
    from triage.data.split import patient_folds, patient_parts
    from triage.pipeline import patient_parts as pipeline_parts

    assert pipeline_parts is patient_parts and coder_folds is patient_folds
    subjects = np.repeat(np.arange(200), np.random.default_rng(1).integers(1, 4, 200))
    parts = patient_parts(subjects, (0.4, 0.3, 0.3), 7)
    assert (pd.Series(parts).groupby(subjects).nunique() == 1).all()
    per_patient = pd.Series(parts).groupby(subjects).first().value_counts().sort_index()
    assert per_patient.tolist() == [80, 60, 60]
    np.testing.assert_array_equal(parts, patient_parts(subjects, (0.4, 0.3, 0.3), 7))
    assert not np.array_equal(parts, patient_parts(subjects, (0.4, 0.3, 0.3), 8))
    folds = patient_folds(subjects, 7, 0)  # 200 patients into 7 folds: 28 or 29 each
    sizes = pd.Series(folds).groupby(subjects).first().value_counts()
    assert sorted(sizes.index) == list(range(7)) and sizes.max() - sizes.min() <= 1
    with pytest.raises(ValueError, match="at least n_folds=5 patients"):
        patient_folds(np.array([1, 1, 2]), 5, 0)
