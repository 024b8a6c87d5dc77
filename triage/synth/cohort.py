"""Sample the coded part of a synthetic cohort: patients, admissions and ordered code lists.

Each admission gets a latent complexity (correlated with age), a clinical profile that supplies
its principal diagnosis and correlated secondaries/procedures, a common-comorbidity layer, and a
long tail of codes drawn from the whole ICD-10-CM / ICD-10-PCS vocabularies with Zipf-like weights.
The total number of codes follows a log-normal fitted to the seed paper's Table 4 (median 15,
IQR 10-21) plus a small "simple episode" component that reproduces Figure 4's 1% / 4% shares.

Episodes belong to one care setting (``triage.data.settings``) drawn from the workload
(``triage.synth.workload``): *inpatient* episodes are the MIMIC-like ones above; *observation* stays
draw low-acuity profiles with 2-8 codes and stays mostly under 2 days; *day cases* are elective
same-day procedures sampled by ``triage.synth.daycase``. Each setting gets its MIMIC-IV
``admission_type`` so the setting derived from it is the one the episode was generated in.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from triage.data.settings import CARE_SETTINGS
from triage.synth.daycase import DAY_CASE_TYPES, sample_day_cases
from triage.synth.profiles import (COMMON_COMORBIDITIES, EXCLUSIVE, OBSERVATION_PROFILES, OBSERVATION_WEIGHTS,
                                   PROFILES, SEQUENCE_RULES)
from triage.synth.vocab import icd10cm, icd10pcs
from triage.synth.workload import Workload, parse_workload

#: Profiles the main sampler draws from: the inpatient ones, then observation-only ones (weight 0
#: for inpatients, so inpatient draws are unchanged).
ALL_PROFILES = PROFILES + OBSERVATION_PROFILES

#: MIMIC-IV admission types written per setting (``triage.data.settings`` maps them back).
INPATIENT_TYPES = ("EW EMER.", "URGENT", "DIRECT EMER.")
OBSERVATION_TYPES = ("EU OBSERVATION", "OBSERVATION ADMIT", "DIRECT OBSERVATION")
DAY_CASE_TYPE = "AMBULATORY OBSERVATION"


@dataclass(frozen=True)
class CohortParams:
    """Shape parameters of the cohort (defaults reproduce MIMIC-IV ICD-10, seed paper Tables 3-4)."""

    codes_log_median: float = np.log(14.6)
    codes_log_sd: float = 0.52
    simple_share: float = 0.05          # inpatient episodes with 1-3 codes (Figure 4's left tail)
    observation_codes_mean: float = 2.0  # observation stays: 2 + Poisson(mean) codes, at most 8
    observation_los_median: float = 0.9  # days (log-normal, sd 0.45: ~4% stay 2 days or more)
    age_median: float = 61.0
    age_sd: float = 17.5
    los_log_median: float = np.log(3.6)
    los_log_sd: float = 0.85
    admissions_per_patient: float = 1.86
    tail_log_sd: float = 3.8
    tail_clip_quantile: float = 0.997
    tail_procedure_share: float = 0.10
    vocab_seed: int = 20240101          # fixes which tail codes are common, independent of `seed`


@dataclass
class CodedCohort:
    """Admissions with metadata and ordered codes, before any text is written."""

    admissions: pd.DataFrame            # one row per admission (ids, times, metadata, profile)
    patients: pd.DataFrame
    diagnoses: list[list[str]]
    procedures: list[list[str]]
    complexity: np.ndarray


_CHAPTER_WEIGHT = {"P": 0.02, "O": 0.25, "Q": 0.3, "V": 0.3, "W": 0.6, "X": 0.4, "Y": 0.6, "U": 0.0}


@lru_cache(maxsize=4)
def _tail_distribution(vocab_seed: int, log_sd: float, clip_quantile: float):
    """Cumulative draw probabilities over each vocabulary: log-normal code weights.

    Log-normal weights (rather than a pure Zipf law) reproduce both MIMIC's vocabulary size and its
    share of codes seen >= 10 times; clipping the largest weights keeps random tail codes out of the
    top 50, which belongs to the profiles and the comorbidity layer as in real data.
    """
    rng = np.random.default_rng(vocab_seed)
    out = []
    for voc, is_dx in ((icd10cm(), True), (icd10pcs(), False)):
        codes = voc.codes
        pref = np.ones(len(codes))
        if is_dx:
            first = np.array([c[0] for c in codes.tolist()])
            for ch, w in _CHAPTER_WEIGHT.items():
                pref[first == ch] = w
            # subsequent-encounter and sequela injury codes are rare in inpatient data
            later = np.array([len(c) == 7 and c[0] in "ST" and c[6] not in "ABC" for c in codes.tolist()])
            pref[later] *= 0.04
        w = np.exp(log_sd * rng.standard_normal(len(codes))) * pref
        w = np.minimum(w, np.quantile(w, clip_quantile))
        out.append((codes, np.cumsum(w) / w.sum()))
    return out


def _draw(cum: np.ndarray, codes: np.ndarray, u: np.ndarray) -> np.ndarray:
    return codes[np.minimum(np.searchsorted(cum, u), len(codes) - 1)]


def _ids(rng: np.random.Generator, n: int, base: int) -> np.ndarray:
    """Unique MIMIC-style 8-digit ids, sorted so files read in a natural order."""
    ids = rng.choice(9_000_000, size=n, replace=False) + base
    return np.sort(ids).astype(np.int64)


def _patients(rng: np.random.Generator, n: int, p: CohortParams) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Patients and, per admission, its patient row and the year offset since the anchor year."""
    n_pat = max(1, int(round(n / p.admissions_per_patient)))
    extra = rng.geometric(1.0 / p.admissions_per_patient, size=n_pat) - 1
    counts = 1 + extra
    # make the counts sum to n exactly
    total = counts.sum()
    if total > n:
        cum = np.cumsum(counts)
        counts = counts[cum <= n] if (cum <= n).any() else counts[:1]
        counts = counts.copy()
        counts[-1] += n - counts.sum()
        if counts[-1] <= 0:
            counts = counts[counts > 0]
    elif total < n:
        counts = np.concatenate([counts, np.ones(n - total, dtype=counts.dtype)])
    n_pat = len(counts)
    adm_patient = np.repeat(np.arange(n_pat), counts)
    first_in_patient = np.r_[0, np.cumsum(counts)[:-1]]
    within = np.arange(n) - np.repeat(first_in_patient, counts)
    years_offset = np.minimum(within * rng.integers(0, 3, size=n), 10)
    gender = np.where(rng.random(n_pat) < 0.52, "F", "M")
    anchor_age = np.clip(np.round(rng.normal(p.age_median - 1.0, p.age_sd, n_pat)), 18, 91).astype(int)
    anchor_year = rng.integers(2110, 2190, size=n_pat)
    groups = np.array(["2008 - 2010", "2011 - 2013", "2014 - 2016", "2017 - 2019"])
    anchor_group = groups[rng.integers(1, 4, size=n_pat)]
    patients = pd.DataFrame({
        "subject_id": _ids(rng, n_pat, 10_000_000),
        "gender": gender,
        "anchor_age": anchor_age,
        "anchor_year": anchor_year,
        "anchor_year_group": anchor_group,
    })
    return patients, adm_patient, years_offset


def _code_counts(rng: np.random.Generator, z: np.ndarray, shift: np.ndarray, short: np.ndarray,
                 p: CohortParams) -> np.ndarray:
    n = len(z)
    log_n = p.codes_log_median + shift + p.codes_log_sd * z
    counts = np.maximum(1, np.round(np.exp(log_n))).astype(int)
    simple = rng.random(n) < p.simple_share
    counts[simple] = rng.choice([1, 2, 3, 4], size=simple.sum(), p=[0.2, 0.35, 0.3, 0.15])
    counts[short] = 2 + np.minimum(rng.poisson(p.observation_codes_mean, size=short.sum()), 6)
    return counts


def _order(codes: list[str], rules: dict[str, list[str]]) -> list[str]:
    """Enforce 'code first' pairs: the etiology moves right before its manifestation."""
    if rules.keys().isdisjoint(codes):
        return codes
    for _ in range(2):
        pos = {c: i for i, c in enumerate(codes)}
        moved = False
        for first, thens in rules.items():
            if first not in pos:
                continue
            for then in thens:
                if then in pos and pos[then] < pos[first]:
                    codes.remove(first)
                    codes.insert(codes.index(then), first)
                    pos = {c: i for i, c in enumerate(codes)}
                    moved = True
        if not moved:
            break
    return codes


def _settings(rng: np.random.Generator, n: int, workload: Workload) -> np.ndarray:
    """Setting index (into CARE_SETTINGS) per episode; a single-setting workload draws nothing."""
    single = workload.single
    if single is not None:
        return np.full(n, CARE_SETTINGS.index(single), dtype=np.int8)
    cum = np.cumsum(workload.shares)
    return np.minimum(np.searchsorted(cum / cum[-1], rng.random(n), side="right"), len(cum) - 1).astype(np.int8)


def sample_coded_cohort(n_episodes: int, seed: int = 0, workload: str | Workload = "mixed",
                        params: CohortParams | None = None) -> CodedCohort:
    """Sample admissions, their metadata and ordered code lists (no notes).

    ``workload`` is a preset name or shares (:func:`triage.synth.workload.parse_workload`); the
    ``inpatient`` workload reproduces the seed paper's MIMIC-IV statistics.
    """
    if n_episodes < 1:
        raise ValueError(f"n_episodes must be >= 1, got {n_episodes!r}")
    wl = parse_workload(workload)
    p = params or CohortParams()
    rng = np.random.default_rng([seed, 1])
    n = n_episodes

    patients, adm_patient, years_offset = _patients(rng, n, p)
    sex = patients["gender"].to_numpy()[adm_patient]
    age = (patients["anchor_age"].to_numpy()[adm_patient] + years_offset).astype(float)
    setting = _settings(rng, n, wl)
    observation = setting == CARE_SETTINGS.index("observation")
    day_case = setting == CARE_SETTINGS.index("day_case")
    short = observation | day_case  # non-inpatient: their codes are overridden or few

    # profiles, conditional on sex and age (no obstetric admissions for men or the over-50s)
    n_prof = len(ALL_PROFILES)
    weights = np.array([pr.weight for pr in PROFILES] + [0.0] * len(OBSERVATION_PROFILES))
    prof = np.empty(n, dtype=int)
    fertile = (sex == "F") & (age <= 45)
    w_other = np.array([0.0 if pr.sex is not None and pr.sex != "M" else w for pr, w in zip(ALL_PROFILES, weights)])
    # observation stays see low-acuity profiles only (chest pain, syncope, cellulitis, asthma, ...)
    w_obs = np.array([OBSERVATION_WEIGHTS.get(pr.name, 0.0) for pr in ALL_PROFILES])
    w_obs_other = np.array([0.0 if pr.sex is not None and pr.sex != "M" else w for pr, w in zip(ALL_PROFILES, w_obs)])
    for mask, w in ((fertile & ~short, weights), (~fertile & ~short, w_other),
                    (fertile & short, w_obs), (~fertile & short, w_obs_other)):
        prof[mask] = rng.choice(n_prof, size=mask.sum(), p=w / w.sum())
    age_std = (age - p.age_median) / p.age_sd
    z = 0.35 * age_std + np.sqrt(1 - 0.35**2) * rng.standard_normal(n)
    shift = np.array([pr.complexity for pr in ALL_PROFILES])[prof] * 0.35
    counts = _code_counts(rng, z, shift, short, p)

    # tail draws for everyone up front (vectorised), consumed per episode below
    (dx_codes, dx_cum), (px_codes, px_cum) = _tail_distribution(
        p.vocab_seed, p.tail_log_sd, p.tail_clip_quantile)
    n_tail = counts + 4
    tail_u = rng.random(n_tail.sum())
    tail_is_px = rng.random(n_tail.sum()) < np.where(np.repeat(short, n_tail), 0.03, p.tail_procedure_share)
    tail = np.where(tail_is_px, _draw(px_cum, px_codes, tail_u), _draw(dx_cum, dx_codes, tail_u))
    tail_start = np.r_[0, np.cumsum(n_tail)[:-1]]

    pcs_set = frozenset(icd10pcs().codes.tolist())
    rules: dict[str, list[str]] = {}
    for a, b in SEQUENCE_RULES:
        rules.setdefault(a, []).append(b)
    excl: dict[str, list[str]] = {}
    for a, b in EXCLUSIVE:
        excl.setdefault(a, []).append(b)
    com_codes = [c for c, *_ in COMMON_COMORBIDITIES]
    com_base = np.array([b for _, b, _, _ in COMMON_COMORBIDITIES])
    com_slope = np.array([s for _, _, s, _ in COMMON_COMORBIDITIES])
    com_sex = np.array([x or "" for *_, x in COMMON_COMORBIDITIES])
    decades = (age - 60.0) / 10.0
    com_p = np.clip(com_base[None, :] + com_slope[None, :] * decades[:, None], 0.0, 0.95)
    com_p *= 1.25 * np.exp(0.45 * z)[:, None]
    com_p[:, (com_sex != "")] *= (com_sex[com_sex != ""][None, :] == sex[:, None])
    com_p[short] *= 0.35
    com_hit = rng.random(com_p.shape) < com_p

    second = rng.random(n) < np.clip(0.25 + 0.2 * z, 0.02, 0.8)
    second[short] = False
    second_prof = rng.choice(n_prof, size=n, p=w_other / w_other.sum())
    u_princ = rng.random(n)
    sec_scale = np.exp(0.5 * z)
    sec_scale[short] *= 0.25

    diagnoses: list[list[str]] = []
    procedures: list[list[str]] = []
    profile_cum = [np.cumsum([w for _, w in pr.principal]) / sum(w for _, w in pr.principal) for pr in ALL_PROFILES]
    profile_sec = [(np.array([c for c, _ in pr.secondary], dtype=object), np.array([q for _, q in pr.secondary]))
                   for pr in ALL_PROFILES]
    profile_px = [(np.array([c for c, _ in pr.procedures], dtype=object), np.array([q for _, q in pr.procedures]))
                  for pr in ALL_PROFILES]
    u_sec = rng.random((n, max(len(s[0]) for s in profile_sec)))
    u_sec2 = rng.random((n, max(len(s[0]) for s in profile_sec)))
    u_px = rng.random((n, max(max(len(s[0]) for s in profile_px), 1)))
    # day cases come from their own sampler and stream: the main stream above is the same for all
    day_idx = np.flatnonzero(day_case)
    day = sample_day_cases(np.random.default_rng([seed, 5]), age[day_idx], sex[day_idx])
    day_pos = {int(j): m for m, j in enumerate(day_idx)}
    for i in range(n):
        if day_case[i]:
            m = day_pos[i]
            diagnoses.append(day.diagnoses[m])
            procedures.append(day.procedures[m])
            continue
        k = prof[i]
        pr = ALL_PROFILES[k]
        principal = pr.principal[int(np.searchsorted(profile_cum[k], u_princ[i]))][0]
        codes_s, q = profile_sec[k]
        sec = codes_s[u_sec[i, : len(q)] < q * sec_scale[i]].tolist()
        if second[i]:
            c2, q2 = profile_sec[second_prof[i]]
            p2 = ALL_PROFILES[second_prof[i]]
            sec.append(p2.principal[0][0])
            sec += c2[u_sec2[i, : len(q2)] < q2 * 0.6].tolist()
        pcodes, pq = profile_px[k]
        px = pcodes[u_px[i, : len(pq)] < pq * (0.3 if observation[i] else 1.0)].tolist()
        com = [com_codes[j] for j in np.flatnonzero(com_hit[i])]
        dx = list(dict.fromkeys([principal] + sec + com))
        present = set(dx)
        drop = {b for a in dx if a in excl for b in excl[a] if b in present and b != principal}
        if drop:
            dx = [c for c in dx if c not in drop]
        target = counts[i]
        if len(dx) + len(px) > target:
            keep_dx = max(1, target - len(px))
            if len(px) > target - 1:
                px = px[: max(0, target - 1)]
                keep_dx = target - len(px)
            dx = dx[:keep_dx]
        need = target - len(dx) - len(px)
        if need > 0:
            s = tail_start[i]
            pool = tail[s: s + n_tail[i]].tolist()
            have = set(dx) | set(px)
            for c in pool:
                if need <= 0:
                    break
                if c in have:
                    continue
                have.add(c)
                (px if c in pcs_set else dx).append(c)
                need -= 1
        diagnoses.append(_order(dx, rules))
        procedures.append(px)

    # metadata correlated with complexity
    los_shift = np.array([pr.los_shift for pr in ALL_PROFILES])[prof]
    log_los = p.los_log_median + 0.5 * los_shift + p.los_log_sd * (
        0.45 * z + np.sqrt(1 - 0.45**2) * rng.standard_normal(n))
    los = np.exp(log_los)
    los[observation] = np.clip(p.observation_los_median * np.exp(0.45 * rng.standard_normal(observation.sum())),
                               0.15, 3.5)
    los[day_case] = rng.uniform(0.12, 0.6, size=day_case.sum())  # 3-14 hours
    mort = 0.5 * np.array([pr.mortality for pr in ALL_PROFILES])[prof] * np.exp(0.7 * z + 0.02 * (age - 60))
    died = (rng.random(n) < np.clip(mort, 0, 0.6)) & ~short
    elective = np.array([pr.elective for pr in ALL_PROFILES])[prof] & ~short
    # inpatient episodes take inpatient admission types only (one uniform per episode, as before)
    adm_types = np.array(INPATIENT_TYPES)
    adm_type = adm_types[rng.choice(len(adm_types), size=n, p=[.69, .2, .11])]
    adm_type = np.where(elective, np.where(rng.random(n) < .6, "SURGICAL SAME DAY ADMISSION", "ELECTIVE"), adm_type)
    obs_types = np.array(OBSERVATION_TYPES)
    adm_type = np.where(observation, obs_types[rng.integers(0, 3, size=n)], adm_type)
    adm_type = np.where(day_case, DAY_CASE_TYPE, adm_type)
    profile = np.array([pr.name for pr in ALL_PROFILES], dtype=object)[prof]
    day_type = np.full(n, -1, dtype=np.int16)
    day_right = np.zeros(n, dtype=bool)
    if len(day_idx):
        profile[day_idx] = ["day_case:" + DAY_CASE_TYPES[k].name for k in day.types]
        day_type[day_idx] = day.types
        day_right[day_idx] = day.right

    anchor_year = patients["anchor_year"].to_numpy()[adm_patient]
    year = anchor_year + years_offset
    start = pd.to_datetime(pd.Series(year.astype(str)) + "-01-01", format="%Y-%m-%d")
    admit_sec = rng.integers(0, 364 * 86400, size=n) // 60 * 60
    admittime = start + pd.to_timedelta(admit_sec, unit="s")
    dischtime = admittime + pd.to_timedelta(np.round(los * 86400 / 60) * 60, unit="s")

    admissions = pd.DataFrame({
        "patient_row": adm_patient,
        "subject_id": patients["subject_id"].to_numpy()[adm_patient],
        "admittime": admittime.to_numpy(),
        "dischtime": dischtime.to_numpy(),
        "admission_type": adm_type,
        "died": died,
        "age": age,
        "gender": sex,
        "profile": profile,
        "care_setting": np.array(CARE_SETTINGS, dtype=object)[setting],
        "day_case_type": day_type,       # index into DAY_CASE_TYPES, -1 for other settings
        "day_case_right": day_right,     # side of a lateral day case
        "elective": elective,
    })
    # admissions of one patient in time order keep MIMIC's natural reading order
    admissions = admissions.sort_values(["patient_row", "admittime"], kind="stable")
    order = admissions.index.to_numpy()
    admissions = admissions.reset_index(drop=True)
    # a patient can only die in their last admission
    last = admissions["patient_row"].to_numpy()[1:] != admissions["patient_row"].to_numpy()[:-1]
    admissions["died"] = admissions["died"].to_numpy() & np.r_[last, True]
    admissions.insert(0, "hadm_id", _ids(rng, n, 20_000_000)[rng.permutation(n)])
    diagnoses = [diagnoses[j] for j in order]
    procedures = [procedures[j] for j in order]
    return CodedCohort(admissions, patients, diagnoses, procedures, z[order])
