"""``generate``: write a synthetic cohort as a MIMIC-IV (v2.2+) folder; ``synthesize_episodes``:
the same cohort directly as an episode table, for tests and in-process pipelines."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from triage.data.settings import care_settings
from triage.synth.cohort import CodedCohort, sample_coded_cohort
from triage.synth.daycase import DAY_CASE_TYPES, DayCaseNoteParams, DayCaseNoteWriter
from triage.synth.notes import NoteParams, NoteWriter
from triage.synth.workload import Workload
from triage.synth.vocab import icd10cm, icd10pcs
from triage.synth.writer import GzipCsvWriter, gzip_csv_bytes, write_csv_gz

#: MIMIC-IV's exact columns (docs/references.md#mimic-layouts), in order.
MIMIC4_COLUMNS: dict[str, tuple[str, ...]] = {
    "hosp/patients": ("subject_id", "gender", "anchor_age", "anchor_year", "anchor_year_group", "dod"),
    "hosp/admissions": ("subject_id", "hadm_id", "admittime", "dischtime", "deathtime", "admission_type",
                        "admit_provider_id", "admission_location", "discharge_location", "insurance",
                        "language", "marital_status", "race", "edregtime", "edouttime",
                        "hospital_expire_flag"),
    "hosp/diagnoses_icd": ("subject_id", "hadm_id", "seq_num", "icd_code", "icd_version"),
    "hosp/procedures_icd": ("subject_id", "hadm_id", "seq_num", "chartdate", "icd_code", "icd_version"),
    "hosp/d_icd_diagnoses": ("icd_code", "icd_version", "long_title"),
    "hosp/d_icd_procedures": ("icd_code", "icd_version", "long_title"),
    "note/discharge": ("note_id", "subject_id", "hadm_id", "note_type", "note_seq", "charttime",
                       "storetime", "text"),
}

_SERVICE = {"acute_mi": "CARDIOLOGY", "hip_fracture": "ORTHOPAEDICS", "joint_replacement": "ORTHOPAEDICS",
            "stroke": "NEUROLOGY", "neuro": "NEUROLOGY", "gallbladder_pancreas": "SURGERY",
            "bowel": "SURGERY", "surgery_complication": "SURGERY", "obstetric": "OBSTETRICS/GYNECOLOGY",
            "psych": "PSYCHIATRY", "head_injury": "NEUROSURGERY"}
_TIME = "%Y-%m-%d %H:%M:%S"
# Bump whenever the same arguments would write different files (cached cohorts are keyed on it).
# 3: care settings (inpatient / observation / day case) replace the "outpatient" care type.
# 4: day-case notes retuned; 5: day-case note defaults of tuning step 8 (README, care settings).
GENERATOR_VERSION = 5


@dataclass
class SynthResult:
    """What ``generate`` wrote."""

    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    n_episodes: int = 0
    n_subjects: int = 0


def _note_params(note_words_scale: float, note_words: float | None) -> NoteParams:
    if note_words is not None:
        if not note_words > 0:
            raise ValueError(f"note_words must be > 0, got {note_words!r}")
        return NoteParams(words_median=float(note_words))
    if not note_words_scale > 0:
        raise ValueError(f"note_words_scale must be > 0, got {note_words_scale!r}")
    return NoteParams(note_words_scale=float(note_words_scale))


def _notes(cohort: CodedCohort, seed: int, params: NoteParams, chunk: int,
           day_params: DayCaseNoteParams | None = None):
    """Yield (start, texts) chunks of notes in admission order.

    Inpatient and observation stays get discharge summaries (observation ones shorter, scaled by
    ``params.observation_words_scale``); day cases get procedure reports from their own writer, so
    inpatient notes are the same whatever the workload's other settings.
    """
    writer = NoteWriter(seed, params)
    day_writer = DayCaseNoteWriter(seed, day_params)
    adm = cohort.admissions
    note_rng = np.random.default_rng([seed, 2])
    targets = writer.target_words(cohort.complexity, note_rng)
    setting = adm["care_setting"].to_numpy()
    targets = np.where(setting == "observation", targets * params.observation_words_scale, targets)
    n_codes = np.array([len(d) + len(q) for d, q in zip(cohort.diagnoses, cohort.procedures)])
    distractors = writer.distractor_counts(n_codes, note_rng).tolist()
    day_type = adm["day_case_type"].to_numpy()
    day_right = adm["day_case_right"].tolist()
    services = [DAY_CASE_TYPES[k].service if k >= 0 else _SERVICE.get(p, "MEDICINE")
                for p, k in zip(adm["profile"].tolist(), day_type.tolist())]
    sex = adm["gender"].tolist()
    died = adm["died"].tolist()
    for start in range(0, len(adm), chunk):
        stop = min(start + chunk, len(adm))
        texts = [day_writer.write(cohort.diagnoses[i], cohort.procedures[i], int(day_type[i]), day_right[i], sex[i])
                 if day_type[i] >= 0 else
                 writer.write(cohort.diagnoses[i], cohort.procedures[i], sex[i], died[i], services[i],
                              float(targets[i]), distractors[i]) for i in range(start, stop)]
        yield start, texts


def _validate(n_episodes: int, seed: int) -> None:
    if not isinstance(n_episodes, (int, np.integer)) or n_episodes < 1:
        raise ValueError(f"n_episodes must be a positive integer, got {n_episodes!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def synthesize_episodes(n_episodes: int = 10_000, seed: int = 0, workload: str | Workload = "mixed",
                        note_words_scale: float = 1.0, note_words: float | None = None, chunk: int = 5000,
                        day_case_notes: DayCaseNoteParams | None = None) -> pd.DataFrame:
    """The cohort ``generate`` would write, as an episode table (``triage.data.schema``), in memory.

    ``split`` is left empty: splitting is the loader's job.
    """
    _validate(n_episodes, seed)
    params = _note_params(note_words_scale, note_words)
    cohort = sample_coded_cohort(n_episodes, seed, workload)
    texts: list[str] = []
    for _, chunk_texts in _notes(cohort, seed, params, chunk, day_case_notes):
        texts += chunk_texts
    adm = cohort.admissions
    los = (adm["dischtime"] - adm["admittime"]).dt.total_seconds() / 86400.0
    return pd.DataFrame({
        "episode_id": adm["hadm_id"].astype("int64"),
        "subject_id": adm["subject_id"].astype("int64"),
        "text": pd.Series(texts, dtype="string"),
        "diagnoses": pd.Series(cohort.diagnoses, dtype="object"),
        "procedures": pd.Series(cohort.procedures, dtype="object"),
        "icd_version": np.full(len(adm), 10, dtype="int8"),
        "admittime": adm["admittime"].astype("datetime64[ns]"),
        "dischtime": adm["dischtime"].astype("datetime64[ns]"),
        "los_days": los.astype("float64"),
        "admission_type": adm["admission_type"].astype("string"),
        "care_setting": care_settings(adm["admission_type"]),
        "age": adm["age"].astype("float64"),
        "gender": adm["gender"].astype("string"),
        "died": adm["died"].astype("boolean"),
        "split": pd.Series([pd.NA] * len(adm), dtype="string"),
    })


def _admissions_table(cohort: CodedCohort, rng: np.random.Generator) -> pd.DataFrame:
    adm = cohort.admissions
    n = len(adm)
    emergency = adm["admission_type"].isin(["EW EMER.", "EU OBSERVATION", "DIRECT EMER."]).to_numpy()
    ed_in = adm["admittime"] - pd.to_timedelta(rng.integers(60, 12 * 60, n) * 60, unit="s")
    ed_out = adm["admittime"] + pd.to_timedelta(rng.integers(0, 60, n) * 60, unit="s")
    died = adm["died"].to_numpy()
    disch = np.array(["HOME", "HOME HEALTH CARE", "SKILLED NURSING FACILITY", "REHAB", "CHRONIC/LONG TERM ACUTE CARE"])
    disch_loc = disch[rng.choice(len(disch), n, p=[.45, .28, .17, .06, .04])]
    disch_loc = np.where(died, "DIED", disch_loc)
    adm_loc = np.where(emergency, "EMERGENCY ROOM",
                       np.array(["PHYSICIAN REFERRAL", "TRANSFER FROM HOSPITAL", "CLINIC REFERRAL"])[rng.integers(0, 3, n)])
    fmt = lambda s: s.dt.strftime(_TIME)  # noqa: E731
    return pd.DataFrame({
        "subject_id": adm["subject_id"],
        "hadm_id": adm["hadm_id"],
        "admittime": fmt(adm["admittime"]),
        "dischtime": fmt(adm["dischtime"]),
        "deathtime": np.where(died, fmt(adm["dischtime"]), None),
        "admission_type": adm["admission_type"],
        "admit_provider_id": np.char.add("P", np.char.zfill(rng.integers(0, 99999, n).astype(str), 5)),
        "admission_location": adm_loc,
        "discharge_location": disch_loc,
        "insurance": np.array(["Medicare", "Medicaid", "Other"])[rng.choice(3, n, p=[.45, .15, .4])],
        "language": np.where(rng.random(n) < .9, "ENGLISH", "?"),
        "marital_status": np.array(["MARRIED", "SINGLE", "WIDOWED", "DIVORCED"])[rng.choice(4, n, p=[.45, .32, .13, .1])],
        "race": np.array(["WHITE", "BLACK/AFRICAN AMERICAN", "HISPANIC/LATINO - PUERTO RICAN", "ASIAN",
                          "OTHER", "UNKNOWN"])[rng.choice(6, n, p=[.66, .14, .05, .04, .06, .05])],
        "edregtime": np.where(emergency, fmt(ed_in), None),
        "edouttime": np.where(emergency, fmt(ed_out), None),
        "hospital_expire_flag": died.astype(int),
    })


def _patients_table(cohort: CodedCohort) -> pd.DataFrame:
    pat = cohort.patients.copy()
    adm = cohort.admissions
    dead = adm.loc[adm["died"], ["subject_id", "dischtime"]]
    dod = pd.Series(dead["dischtime"].dt.strftime("%Y-%m-%d").to_numpy(), index=dead["subject_id"].to_numpy())
    pat["dod"] = pat["subject_id"].map(dod)
    return pat[list(MIMIC4_COLUMNS["hosp/patients"])]


def _code_tables(cohort: CodedCohort, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    adm = cohort.admissions
    n_dx = np.array([len(d) for d in cohort.diagnoses])
    n_px = np.array([len(p) for p in cohort.procedures])
    dx = pd.DataFrame({
        "subject_id": np.repeat(adm["subject_id"].to_numpy(), n_dx),
        "hadm_id": np.repeat(adm["hadm_id"].to_numpy(), n_dx),
        "seq_num": np.concatenate([np.arange(1, k + 1) for k in n_dx]) if n_dx.sum() else np.array([], int),
        "icd_code": [c for d in cohort.diagnoses for c in d],
        "icd_version": 10,
    })
    admit = np.repeat(adm["admittime"].to_numpy(), n_px)
    span = np.repeat((adm["dischtime"] - adm["admittime"]).to_numpy(), n_px)
    chart = pd.Series(admit + (span * rng.random(len(admit))).astype("timedelta64[s]"))
    px = pd.DataFrame({
        "subject_id": np.repeat(adm["subject_id"].to_numpy(), n_px),
        "hadm_id": np.repeat(adm["hadm_id"].to_numpy(), n_px),
        "seq_num": np.concatenate([np.arange(1, k + 1) for k in n_px]) if n_px.sum() else np.array([], int),
        "chartdate": chart.dt.strftime("%Y-%m-%d"),
        "icd_code": [c for p in cohort.procedures for c in p],
        "icd_version": 10,
    })
    return dx, px


@lru_cache(maxsize=2)
def _dictionary_bytes(compresslevel: int) -> dict[str, bytes]:
    """The two code dictionaries, compressed once per process: they do not depend on the cohort."""
    out = {}
    for name, voc in (("hosp/d_icd_diagnoses", icd10cm()), ("hosp/d_icd_procedures", icd10pcs())):
        frame = pd.DataFrame({"icd_code": voc.codes, "icd_version": 10, "long_title": voc.titles})
        out[name] = gzip_csv_bytes(frame, compresslevel)
    return out


def generate(out_dir: str | Path, n_episodes: int = 10_000, seed: int = 0, workload: str | Workload = "mixed",
             note_words_scale: float = 1.0, note_words: float | None = None, compresslevel: int = 4,
             chunk: int = 4000, day_case_notes: DayCaseNoteParams | None = None) -> SynthResult:
    """Write a synthetic cohort as ``out_dir/hosp/*.csv.gz`` and ``out_dir/note/discharge.csv.gz``.

    Columns are exactly MIMIC-IV's, codes undotted with ``icd_version`` 10. The same arguments give
    byte-identical files. ``note_words`` sets the median note length directly; otherwise
    ``note_words_scale`` scales the seed paper's 1,492-word median (small values for fast tests).
    ``workload`` is a preset (``mixed``, ``inpatient``, ``observation``, ``day_case``) or shares
    such as ``"inpatient=0.5,observation=0.15,day_case=0.35"`` (``triage.synth.workload``); the
    ``inpatient`` workload is the one whose statistics follow the seed paper.
    """
    _validate(n_episodes, seed)
    if not 0 <= compresslevel <= 9:
        raise ValueError(f"compresslevel must be in 0..9, got {compresslevel!r}")
    params = _note_params(note_words_scale, note_words)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a directory")
    (out / "hosp").mkdir(parents=True, exist_ok=True)
    (out / "note").mkdir(parents=True, exist_ok=True)

    cohort = sample_coded_cohort(n_episodes, seed, workload)
    rng = np.random.default_rng([seed, 3])
    result = SynthResult(out, n_episodes=n_episodes, n_subjects=len(cohort.patients))
    files = {name: out / f"{name}.csv.gz" for name in MIMIC4_COLUMNS}
    result.files = files

    dx, px = _code_tables(cohort, rng)
    used_dx = set(dx["icd_code"])
    used_px = set(px["icd_code"])
    cm, pcs = icd10cm(), icd10pcs()
    missing = (used_dx - set(cm.codes.tolist())) | (used_px - set(pcs.codes.tolist()))
    if missing:  # a profile typo must never reach the files
        raise RuntimeError(f"generated codes missing from the code tables: {sorted(missing)[:10]}")

    tables = {
        "hosp/patients": _patients_table(cohort),
        "hosp/admissions": _admissions_table(cohort, rng),
        "hosp/diagnoses_icd": dx,
        "hosp/procedures_icd": px,
    }
    for name, frame in tables.items():
        write_csv_gz(frame[list(MIMIC4_COLUMNS[name])], files[name], compresslevel)
    for name, data in _dictionary_bytes(compresslevel).items():
        files[name].write_bytes(data)

    adm = cohort.admissions
    note_seq = adm.groupby("subject_id").cumcount().to_numpy() + 1
    note_ids = adm["subject_id"].astype(str).to_numpy() + "-DS-" + note_seq.astype(str)
    charttime = adm["dischtime"].dt.strftime("%Y-%m-%d 00:00:00").to_numpy()
    store = (adm["dischtime"] + pd.to_timedelta(rng.integers(30, 48 * 60, len(adm)) * 60, unit="s"))
    storetime = store.dt.strftime(_TIME).to_numpy()
    with GzipCsvWriter(files["note/discharge"], compresslevel) as w:
        for start, texts in _notes(cohort, seed, params, chunk, day_case_notes):
            stop = start + len(texts)
            w.write(pd.DataFrame({
                "note_id": note_ids[start:stop],
                "subject_id": adm["subject_id"].to_numpy()[start:stop],
                "hadm_id": adm["hadm_id"].to_numpy()[start:stop],
                "note_type": "DS",
                "note_seq": note_seq[start:stop],
                "charttime": charttime[start:stop],
                "storetime": storetime[start:stop],
                "text": texts,
            }))
    return result
