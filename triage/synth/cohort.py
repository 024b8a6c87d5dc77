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
    """Shape parameters of the cohort (defaults reproduce MIMIC-IV ICD-10, seed paper Tables 3-4).

    Only the code-count and simple-episode fields are anchored on published figures (seed paper
    Table 4 and Figure 4); the others are this generator's calibration, chosen so that
    ``triage.synth.fidelity`` reproduces the seed paper's statistics. Changing a default changes
    the cohort of every seed.
    """

    # codes per episode: log-normal fitted to the seed paper's Table 4 (median 15, IQR 10-21)
    codes_log_median: float = np.log(14.6)
    codes_log_sd: float = 0.52
    simple_share: float = 0.05          # inpatient episodes with 1-4 codes (Figure 4's left tail)
    simple_counts: tuple[int, ...] = (1, 2, 3, 4)
    simple_count_probs: tuple[float, ...] = (0.2, 0.35, 0.3, 0.15)
    observation_codes_mean: float = 2.0  # observation stays: 2 + Poisson(mean) codes, at most 8
    observation_codes_min: int = 2
    observation_codes_extra_max: int = 6
    observation_los_median: float = 0.9  # days (log-normal, sd 0.45: ~4% stay 2 days or more)
    observation_los_sd: float = 0.45
    observation_los_range: tuple[float, float] = (0.15, 3.5)
    day_case_los_range: tuple[float, float] = (0.12, 0.6)  # days: 3-14 hours
    age_median: float = 61.0
    age_sd: float = 17.5
    los_log_median: float = np.log(3.6)
    los_log_sd: float = 0.85
    admissions_per_patient: float = 1.86
    tail_log_sd: float = 3.8
    tail_clip_quantile: float = 0.997
    tail_procedure_share: float = 0.10
    short_tail_procedure_share: float = 0.03  # observation stays and day cases
    tail_extra: int = 4                 # tail codes drawn per episode beyond its code count
    vocab_seed: int = 20240101          # fixes which tail codes are common, independent of `seed`

    # latent complexity z ~ N(0, 1), correlated with standardised age
    complexity_age_corr: float = 0.35
    profile_complexity_scale: float = 0.35  # a profile's complexity shifts log(code count) by this
    # common comorbidities: P = clip(base + slope * decades past 60) * scale * exp(slope_z * z)
    reference_age: float = 60.0         # comorbidity and mortality risks are centred here
    comorbidity_max: float = 0.95
    comorbidity_scale: float = 1.25
    comorbidity_complexity_slope: float = 0.45
    short_comorbidity_factor: float = 0.35  # observation stays and day cases
    # a second profile (its principal and some secondaries) for P = clip(base + slope * z)
    second_profile_base: float = 0.25
    second_profile_slope: float = 0.2
    second_profile_range: tuple[float, float] = (0.02, 0.8)
    second_secondary_factor: float = 0.6
    secondary_complexity_slope: float = 0.5  # secondaries' probability scales by exp(slope * z)
    short_secondary_factor: float = 0.25
    observation_procedure_factor: float = 0.3
    # stay metadata: log LOS shifts by half the profile's shift and correlates with z
    los_profile_factor: float = 0.5
    los_complexity_corr: float = 0.45
    mortality_scale: float = 0.5
    mortality_complexity_slope: float = 0.7
    mortality_age_slope: float = 0.02   # per year past 60
    mortality_max: float = 0.6
    # MIMIC-IV admission types of non-elective inpatient episodes and their shares
    inpatient_type_probs: tuple[float, ...] = (.69, .2, .11)
    surgical_same_day_share: float = .6  # elective episodes: SURGICAL SAME DAY ADMISSION, else ELECTIVE
    female_share: float = 0.52


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
    gender = np.where(rng.random(n_pat) < p.female_share, "F", "M")
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
    counts[simple] = rng.choice(list(p.simple_counts), size=simple.sum(), p=list(p.simple_count_probs))
    counts[short] = p.observation_codes_min + np.minimum(
        rng.poisson(p.observation_codes_mean, size=short.sum()), p.observation_codes_extra_max)
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


@dataclass(frozen=True)
class _Profiles:
    """Per episode: its profile index and latent complexity; the profile weights for men."""

    prof: np.ndarray
    z: np.ndarray
    w_other: np.ndarray


@dataclass(frozen=True)
class _Tail:
    """Tail codes drawn up front for every episode (vectorised), consumed per episode."""

    codes: np.ndarray
    start: np.ndarray
    size: np.ndarray


@dataclass(frozen=True)
class _Layers:
    """The per-episode draws of the code layers: comorbidities, second profile, uniforms."""

    com_hit: np.ndarray
    second: np.ndarray
    second_prof: np.ndarray
    u_princ: np.ndarray
    sec_scale: np.ndarray
    u_sec: np.ndarray
    u_sec2: np.ndarray
    u_px: np.ndarray


@dataclass(frozen=True)
class _ProfileTables:
    """The profiles as arrays (principal cumulative weights, secondaries, procedures) and rules."""

    principal_cum: list[np.ndarray]
    secondary: list[tuple[np.ndarray, np.ndarray]]
    procedures: list[tuple[np.ndarray, np.ndarray]]
    rules: dict[str, list[str]]
    exclusive: dict[str, list[str]]
    comorbidity_codes: list[str]
    pcs: frozenset[str]


@lru_cache(maxsize=1)
def _profile_tables() -> _ProfileTables:
    rules: dict[str, list[str]] = {}
    for a, b in SEQUENCE_RULES:
        rules.setdefault(a, []).append(b)
    excl: dict[str, list[str]] = {}
    for a, b in EXCLUSIVE:
        excl.setdefault(a, []).append(b)
    return _ProfileTables(
        principal_cum=[np.cumsum([w for _, w in pr.principal]) / sum(w for _, w in pr.principal)
                       for pr in ALL_PROFILES],
        secondary=[(np.array([c for c, _ in pr.secondary], dtype=object), np.array([q for _, q in pr.secondary]))
                   for pr in ALL_PROFILES],
        procedures=[(np.array([c for c, _ in pr.procedures], dtype=object),
                     np.array([q for _, q in pr.procedures])) for pr in ALL_PROFILES],
        rules=rules,
        exclusive=excl,
        comorbidity_codes=[c for c, *_ in COMMON_COMORBIDITIES],
        pcs=frozenset(icd10pcs().codes.tolist()),
    )


def _draw_profiles(rng: np.random.Generator, sex: np.ndarray, age: np.ndarray, short: np.ndarray,
                   p: CohortParams) -> _Profiles:
    """Profiles conditional on sex and age (no obstetric admissions for men or the over-50s), then
    the latent complexity, correlated with age."""
    n = len(age)
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
    rho = p.complexity_age_corr
    z = rho * age_std + np.sqrt(1 - rho**2) * rng.standard_normal(n)
    return _Profiles(prof, z, w_other)


def _draw_tail(rng: np.random.Generator, counts: np.ndarray, short: np.ndarray, p: CohortParams) -> _Tail:
    """Tail draws for everyone up front (vectorised); each episode reads its own slice."""
    (dx_codes, dx_cum), (px_codes, px_cum) = _tail_distribution(
        p.vocab_seed, p.tail_log_sd, p.tail_clip_quantile)
    n_tail = counts + p.tail_extra
    tail_u = rng.random(n_tail.sum())
    tail_is_px = rng.random(n_tail.sum()) < np.where(
        np.repeat(short, n_tail), p.short_tail_procedure_share, p.tail_procedure_share)
    tail = np.where(tail_is_px, _draw(px_cum, px_codes, tail_u), _draw(dx_cum, dx_codes, tail_u))
    return _Tail(tail, np.r_[0, np.cumsum(n_tail)[:-1]], n_tail)


def _comorbidity_hits(rng: np.random.Generator, age: np.ndarray, z: np.ndarray, sex: np.ndarray,
                      short: np.ndarray, p: CohortParams) -> np.ndarray:
    """Which common comorbidities each episode carries: risk rises with age and complexity."""
    com_base = np.array([b for _, b, _, _ in COMMON_COMORBIDITIES])
    com_slope = np.array([s for _, _, s, _ in COMMON_COMORBIDITIES])
    com_sex = np.array([x or "" for *_, x in COMMON_COMORBIDITIES])
    decades = (age - p.reference_age) / 10.0
    com_p = np.clip(com_base[None, :] + com_slope[None, :] * decades[:, None], 0.0, p.comorbidity_max)
    com_p *= p.comorbidity_scale * np.exp(p.comorbidity_complexity_slope * z)[:, None]
    com_p[:, (com_sex != "")] *= (com_sex[com_sex != ""][None, :] == sex[:, None])
    com_p[short] *= p.short_comorbidity_factor
    return rng.random(com_p.shape) < com_p


def _draw_layers(rng: np.random.Generator, age: np.ndarray, sex: np.ndarray, short: np.ndarray,
                 profiles: _Profiles, tables: _ProfileTables, p: CohortParams) -> _Layers:
    """Every per-episode draw the code lists read, in the stream's order."""
    n, z = len(age), profiles.z
    com_hit = _comorbidity_hits(rng, age, z, sex, short, p)
    second = rng.random(n) < np.clip(p.second_profile_base + p.second_profile_slope * z, *p.second_profile_range)
    second[short] = False
    second_prof = rng.choice(len(ALL_PROFILES), size=n, p=profiles.w_other / profiles.w_other.sum())
    u_princ = rng.random(n)
    sec_scale = np.exp(p.secondary_complexity_slope * z)
    sec_scale[short] *= p.short_secondary_factor
    width_sec = max(len(s[0]) for s in tables.secondary)
    u_sec = rng.random((n, width_sec))
    u_sec2 = rng.random((n, width_sec))
    u_px = rng.random((n, max(max(len(s[0]) for s in tables.procedures), 1)))
    return _Layers(com_hit, second, second_prof, u_princ, sec_scale, u_sec, u_sec2, u_px)


def _fit_to_count(dx: list[str], px: list[str], target: int) -> tuple[list[str], list[str]]:
    """Cut the lists to ``target`` codes: procedures keep room for at least one diagnosis."""
    if len(dx) + len(px) > target:
        keep_dx = max(1, target - len(px))
        if len(px) > target - 1:
            px = px[: max(0, target - 1)]
            keep_dx = target - len(px)
        dx = dx[:keep_dx]
    return dx, px


def _fill_from_tail(dx: list[str], px: list[str], need: int, pool: list[str], pcs: frozenset[str]) -> None:
    """Append ``need`` new codes from the episode's tail pool, each to its own list (in place)."""
    have = set(dx) | set(px)
    for c in pool:
        if need <= 0:
            break
        if c in have:
            continue
        have.add(c)
        (px if c in pcs else dx).append(c)
        need -= 1


def _episode_codes(i: int, prof: int, observation: bool, target: int, layers: _Layers, tail: _Tail,
                   tables: _ProfileTables, p: CohortParams) -> tuple[list[str], list[str]]:
    """One inpatient or observation episode's ordered diagnoses and procedures."""
    pr = ALL_PROFILES[prof]
    principal = pr.principal[int(np.searchsorted(tables.principal_cum[prof], layers.u_princ[i]))][0]
    codes_s, q = tables.secondary[prof]
    sec = codes_s[layers.u_sec[i, : len(q)] < q * layers.sec_scale[i]].tolist()
    if layers.second[i]:
        k2 = layers.second_prof[i]
        c2, q2 = tables.secondary[k2]
        sec.append(ALL_PROFILES[k2].principal[0][0])
        sec += c2[layers.u_sec2[i, : len(q2)] < q2 * p.second_secondary_factor].tolist()
    pcodes, pq = tables.procedures[prof]
    px = pcodes[layers.u_px[i, : len(pq)] < pq * (p.observation_procedure_factor if observation else 1.0)].tolist()
    com = [tables.comorbidity_codes[j] for j in np.flatnonzero(layers.com_hit[i])]
    dx = list(dict.fromkeys([principal] + sec + com))
    present = set(dx)
    excl = tables.exclusive
    drop = {b for a in dx if a in excl for b in excl[a] if b in present and b != principal}
    if drop:
        dx = [c for c in dx if c not in drop]
    dx, px = _fit_to_count(dx, px, target)
    need = target - len(dx) - len(px)
    if need > 0:
        s = tail.start[i]
        _fill_from_tail(dx, px, need, tail.codes[s: s + tail.size[i]].tolist(), tables.pcs)
    return _order(dx, tables.rules), px


@dataclass(frozen=True)
class _Stays:
    """Per-episode stay metadata correlated with complexity."""

    los: np.ndarray
    died: np.ndarray
    elective: np.ndarray
    adm_type: np.ndarray


def _draw_stays(rng: np.random.Generator, prof: np.ndarray, z: np.ndarray, age: np.ndarray,
                observation: np.ndarray, day_case: np.ndarray, p: CohortParams) -> _Stays:
    """Length of stay, death and admission type, each correlated with complexity."""
    n = len(z)
    short = observation | day_case
    los_shift = np.array([pr.los_shift for pr in ALL_PROFILES])[prof]
    rho = p.los_complexity_corr
    log_los = p.los_log_median + p.los_profile_factor * los_shift + p.los_log_sd * (
        rho * z + np.sqrt(1 - rho**2) * rng.standard_normal(n))
    los = np.exp(log_los)
    los[observation] = np.clip(
        p.observation_los_median * np.exp(p.observation_los_sd * rng.standard_normal(observation.sum())),
        *p.observation_los_range)
    los[day_case] = rng.uniform(*p.day_case_los_range, size=day_case.sum())
    mort = p.mortality_scale * np.array([pr.mortality for pr in ALL_PROFILES])[prof] * np.exp(
        p.mortality_complexity_slope * z + p.mortality_age_slope * (age - p.reference_age))
    died = (rng.random(n) < np.clip(mort, 0, p.mortality_max)) & ~short
    elective = np.array([pr.elective for pr in ALL_PROFILES])[prof] & ~short
    # inpatient episodes take inpatient admission types only (one uniform per episode, as before)
    adm_types = np.array(INPATIENT_TYPES)
    adm_type = adm_types[rng.choice(len(adm_types), size=n, p=list(p.inpatient_type_probs))]
    adm_type = np.where(elective, np.where(rng.random(n) < p.surgical_same_day_share,
                                           "SURGICAL SAME DAY ADMISSION", "ELECTIVE"), adm_type)
    obs_types = np.array(OBSERVATION_TYPES)
    adm_type = np.where(observation, obs_types[rng.integers(0, 3, size=n)], adm_type)
    adm_type = np.where(day_case, DAY_CASE_TYPE, adm_type)
    return _Stays(los, died, elective, adm_type)


def _admission_times(rng: np.random.Generator, year: np.ndarray, los: np.ndarray) -> tuple[pd.Series, pd.Series]:
    """Admission at a whole minute of its year; discharge ``los`` days later (whole minutes)."""
    start = pd.to_datetime(pd.Series(year.astype(str)) + "-01-01", format="%Y-%m-%d")
    admit_sec = rng.integers(0, 364 * 86400, size=len(year)) // 60 * 60
    admittime = start + pd.to_timedelta(admit_sec, unit="s")
    dischtime = admittime + pd.to_timedelta(np.round(los * 86400 / 60) * 60, unit="s")
    return admittime, dischtime


def _in_patient_order(rng: np.random.Generator, admissions: pd.DataFrame, diagnoses: list[list[str]],
                      procedures: list[list[str]], z: np.ndarray,
                      ) -> tuple[pd.DataFrame, list[list[str]], list[list[str]], np.ndarray]:
    """Admissions of one patient in time order (MIMIC's natural reading order), death only in the
    last one, then the hospital admission ids."""
    n = len(admissions)
    admissions = admissions.sort_values(["patient_row", "admittime"], kind="stable")
    order = admissions.index.to_numpy()
    admissions = admissions.reset_index(drop=True)
    last = admissions["patient_row"].to_numpy()[1:] != admissions["patient_row"].to_numpy()[:-1]
    admissions["died"] = admissions["died"].to_numpy() & np.r_[last, True]
    admissions.insert(0, "hadm_id", _ids(rng, n, 20_000_000)[rng.permutation(n)])
    return admissions, [diagnoses[j] for j in order], [procedures[j] for j in order], z[order]


def sample_coded_cohort(n_episodes: int, seed: int = 0, workload: str | Workload = "mixed",
                        params: CohortParams | None = None) -> CodedCohort:
    """Sample admissions, their metadata and ordered code lists (no notes).

    ``workload`` is a preset name or shares (:func:`triage.synth.workload.parse_workload`); the
    ``inpatient`` workload reproduces the seed paper's MIMIC-IV statistics. The steps draw from one
    stream in a fixed order (patients, settings, profiles, counts, tail, layers, stays, times, ids;
    day cases from their own stream): reordering them changes every cohort.
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

    profiles = _draw_profiles(rng, sex, age, short, p)
    prof, z = profiles.prof, profiles.z
    shift = np.array([pr.complexity for pr in ALL_PROFILES])[prof] * p.profile_complexity_scale
    counts = _code_counts(rng, z, shift, short, p)
    tail = _draw_tail(rng, counts, short, p)
    tables = _profile_tables()
    layers = _draw_layers(rng, age, sex, short, profiles, tables, p)

    # day cases come from their own sampler and stream: the main stream above is the same for all
    day_idx = np.flatnonzero(day_case)
    day = sample_day_cases(np.random.default_rng([seed, 5]), age[day_idx], sex[day_idx])
    day_pos = {int(j): m for m, j in enumerate(day_idx)}
    diagnoses: list[list[str]] = []
    procedures: list[list[str]] = []
    for i in range(n):
        if day_case[i]:
            dx, px = day.diagnoses[day_pos[i]], day.procedures[day_pos[i]]
        else:
            dx, px = _episode_codes(i, prof[i], observation[i], counts[i], layers, tail, tables, p)
        diagnoses.append(dx)
        procedures.append(px)

    stays = _draw_stays(rng, prof, z, age, observation, day_case, p)
    profile = np.array([pr.name for pr in ALL_PROFILES], dtype=object)[prof]
    day_type = np.full(n, -1, dtype=np.int16)
    day_right = np.zeros(n, dtype=bool)
    if len(day_idx):
        profile[day_idx] = ["day_case:" + DAY_CASE_TYPES[k].name for k in day.types]
        day_type[day_idx] = day.types
        day_right[day_idx] = day.right
    year = patients["anchor_year"].to_numpy()[adm_patient] + years_offset
    admittime, dischtime = _admission_times(rng, year, stays.los)

    admissions = pd.DataFrame({
        "patient_row": adm_patient,
        "subject_id": patients["subject_id"].to_numpy()[adm_patient],
        "admittime": admittime.to_numpy(),
        "dischtime": dischtime.to_numpy(),
        "admission_type": stays.adm_type,
        "died": stays.died,
        "age": age,
        "gender": sex,
        "profile": profile,
        "care_setting": np.array(CARE_SETTINGS, dtype=object)[setting],
        "day_case_type": day_type,       # index into DAY_CASE_TYPES, -1 for other settings
        "day_case_right": day_right,     # side of a lateral day case
        "elective": stays.elective,
    })
    admissions, diagnoses, procedures, z_sorted = _in_patient_order(rng, admissions, diagnoses, procedures, z)
    return CodedCohort(admissions, patients, diagnoses, procedures, z_sorted)
