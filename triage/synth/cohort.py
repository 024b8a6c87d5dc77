"""Sample the coded part of a synthetic cohort: patients, admissions and ordered code lists.

Each admission gets a latent complexity (correlated with age), a clinical profile that supplies
its principal diagnosis and correlated secondaries/procedures, a common-comorbidity layer, and a
long tail of codes drawn from the whole ICD-10-CM / ICD-10-PCS vocabularies with Zipf-like weights.
The total number of codes follows a log-normal fitted to the seed paper's Table 4 (median 15,
IQR 10-21) plus a small "simple episode" component that reproduces Figure 4's 1% / 4% shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from triage.synth.profiles import COMMON_COMORBIDITIES, EXCLUSIVE, PROFILES, SEQUENCE_RULES
from triage.synth.vocab import icd10cm, icd10pcs

CARE_TYPES = ("inpatient", "outpatient", "mixed")


@dataclass(frozen=True)
class CohortParams:
    """Shape parameters of the cohort (defaults reproduce MIMIC-IV ICD-10, seed paper Tables 3-4)."""

    codes_log_median: float = np.log(14.6)
    codes_log_sd: float = 0.52
    simple_share: float = 0.05          # inpatient episodes with 1-3 codes (Figure 4's left tail)
    outpatient_codes_mean: float = 2.0  # extra codes beyond the first, Poisson
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


def _code_counts(rng: np.random.Generator, z: np.ndarray, shift: np.ndarray, outpatient: np.ndarray,
                 p: CohortParams) -> np.ndarray:
    n = len(z)
    log_n = p.codes_log_median + shift + p.codes_log_sd * z
    counts = np.maximum(1, np.round(np.exp(log_n))).astype(int)
    simple = rng.random(n) < p.simple_share
    counts[simple] = rng.choice([1, 2, 3, 4], size=simple.sum(), p=[0.2, 0.35, 0.3, 0.15])
    counts[outpatient] = 1 + rng.poisson(p.outpatient_codes_mean, size=outpatient.sum())
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


def sample_coded_cohort(n_episodes: int, seed: int = 0, care_type: str = "inpatient",
                        mixed_outpatient_share: float = 0.3,
                        params: CohortParams | None = None) -> CodedCohort:
    """Sample admissions, their metadata and ordered code lists (no notes)."""
    if n_episodes < 1:
        raise ValueError(f"n_episodes must be >= 1, got {n_episodes!r}")
    if care_type not in CARE_TYPES:
        raise ValueError(f"care_type must be one of {CARE_TYPES}, got {care_type!r}")
    if not 0.0 <= mixed_outpatient_share <= 1.0:
        raise ValueError(f"mixed_outpatient_share must be in [0, 1], got {mixed_outpatient_share!r}")
    p = params or CohortParams()
    rng = np.random.default_rng([seed, 1])
    n = n_episodes

    patients, adm_patient, years_offset = _patients(rng, n, p)
    sex = patients["gender"].to_numpy()[adm_patient]
    age = (patients["anchor_age"].to_numpy()[adm_patient] + years_offset).astype(float)
    if care_type == "outpatient":
        outpatient = np.ones(n, dtype=bool)
    elif care_type == "mixed":
        outpatient = rng.random(n) < mixed_outpatient_share
    else:
        outpatient = np.zeros(n, dtype=bool)

    # profiles, conditional on sex and age (no obstetric admissions for men or the over-50s)
    weights = np.array([pr.weight for pr in PROFILES])
    prof = np.empty(n, dtype=int)
    fertile = (sex == "F") & (age <= 45)
    w_other = np.array([0.0 if pr.sex is not None and pr.sex != "M" else pr.weight for pr in PROFILES])
    # outpatient care sees the low-acuity profiles (no sepsis, shock or ventilation)
    low_acuity = np.array([pr.mortality <= 0.02 for pr in PROFILES])
    for mask, w in ((fertile & ~outpatient, weights), (~fertile & ~outpatient, w_other),
                    (fertile & outpatient, weights * low_acuity), (~fertile & outpatient, w_other * low_acuity)):
        prof[mask] = rng.choice(len(PROFILES), size=mask.sum(), p=w / w.sum())
    age_std = (age - p.age_median) / p.age_sd
    z = 0.35 * age_std + np.sqrt(1 - 0.35**2) * rng.standard_normal(n)
    shift = np.array([pr.complexity for pr in PROFILES])[prof] * 0.35
    counts = _code_counts(rng, z, shift, outpatient, p)

    # tail draws for everyone up front (vectorised), consumed per episode below
    (dx_codes, dx_cum), (px_codes, px_cum) = _tail_distribution(
        p.vocab_seed, p.tail_log_sd, p.tail_clip_quantile)
    n_tail = counts + 4
    tail_u = rng.random(n_tail.sum())
    tail_is_px = rng.random(n_tail.sum()) < np.where(np.repeat(outpatient, n_tail), 0.03, p.tail_procedure_share)
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
    com_p[outpatient] *= 0.35
    com_hit = rng.random(com_p.shape) < com_p

    second = rng.random(n) < np.clip(0.25 + 0.2 * z, 0.02, 0.8)
    second[outpatient] = False
    second_prof = rng.choice(len(PROFILES), size=n, p=w_other / w_other.sum())
    u_princ = rng.random(n)
    sec_scale = np.exp(0.5 * z)
    sec_scale[outpatient] *= 0.25

    diagnoses: list[list[str]] = []
    procedures: list[list[str]] = []
    profile_cum = [np.cumsum([w for _, w in pr.principal]) / sum(w for _, w in pr.principal) for pr in PROFILES]
    profile_sec = [(np.array([c for c, _ in pr.secondary], dtype=object), np.array([q for _, q in pr.secondary]))
                   for pr in PROFILES]
    profile_px = [(np.array([c for c, _ in pr.procedures], dtype=object), np.array([q for _, q in pr.procedures]))
                  for pr in PROFILES]
    u_sec = rng.random((n, max(len(s[0]) for s in profile_sec)))
    u_sec2 = rng.random((n, max(len(s[0]) for s in profile_sec)))
    u_px = rng.random((n, max(max(len(s[0]) for s in profile_px), 1)))
    for i in range(n):
        k = prof[i]
        pr = PROFILES[k]
        principal = pr.principal[int(np.searchsorted(profile_cum[k], u_princ[i]))][0]
        codes_s, q = profile_sec[k]
        sec = codes_s[u_sec[i, : len(q)] < q * sec_scale[i]].tolist()
        if second[i]:
            c2, q2 = profile_sec[second_prof[i]]
            p2 = PROFILES[second_prof[i]]
            sec.append(p2.principal[0][0])
            sec += c2[u_sec2[i, : len(q2)] < q2 * 0.6].tolist()
        pcodes, pq = profile_px[k]
        px = pcodes[u_px[i, : len(pq)] < pq * (0.3 if outpatient[i] else 1.0)].tolist()
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
    los_shift = np.array([pr.los_shift for pr in PROFILES])[prof]
    log_los = p.los_log_median + 0.5 * los_shift + p.los_log_sd * (
        0.45 * z + np.sqrt(1 - 0.45**2) * rng.standard_normal(n))
    los = np.exp(log_los)
    los[outpatient] = rng.uniform(0.1, 0.95, size=outpatient.sum())
    mort = 0.5 * np.array([pr.mortality for pr in PROFILES])[prof] * np.exp(0.7 * z + 0.02 * (age - 60))
    died = (rng.random(n) < np.clip(mort, 0, 0.6)) & ~outpatient
    elective = np.array([pr.elective for pr in PROFILES])[prof]
    adm_types = np.array(["EW EMER.", "EU OBSERVATION", "OBSERVATION ADMIT", "URGENT", "DIRECT EMER.",
                          "DIRECT OBSERVATION"])
    adm_type = adm_types[rng.choice(len(adm_types), size=n, p=[.5, .13, .12, .14, .06, .05])]
    adm_type = np.where(elective, np.where(rng.random(n) < .6, "SURGICAL SAME DAY ADMISSION", "ELECTIVE"), adm_type)
    out_types = np.array(["AMBULATORY OBSERVATION", "EU OBSERVATION", "DIRECT OBSERVATION"])
    adm_type = np.where(outpatient, out_types[rng.integers(0, 3, size=n)], adm_type)

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
        "profile": np.array([pr.name for pr in PROFILES])[prof],
        "outpatient": outpatient,
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
