"""A year in a hospital, replayed: a synthetic episode stream through the running service.

Three parts, used by ``triage replay`` and by the end-to-end test:

* :func:`simulate_hospital` — a hospital at the code-score level: care settings, gold codes and
  the automated coder's scores per episode, and a **shift** part-way (coder version 2: day-case
  scores look as confident as before, but the principal diagnosis is wrong more often).
* :func:`fit_replay_router` — a small real router bundle (decision rule, routing features,
  LightGBM confidence, per-setting three-way policy at ``alpha``) fitted on the hospital's
  pre-shift history, as a deployment would be.
* :func:`run_replay` — the driver: streams the episodes in arrival order through the HTTP API
  (shadow start, go-live, audits, the watch's alarm and fallback, re-certification from post-alarm
  labelled outcomes) and records a timeline with the simulation's ground truth beside each
  decision.

**What the simulation is anchored on** (and what it assumes). The care-setting mix is the
project's default workload (inpatient 0.50, observation 0.15, day case 0.35; see
:mod:`triage.synth.workload`). Day-case code-level difficulty is set near the one audited
day-care autocoder deployment we know of (Pien, Lambrecht, Verbruggen, PCSI 2024: F1 0.676 on
diagnoses, 0.655 on procedures, 16.6% of 740 reviewed stays accepted unchanged);
:func:`coder_fidelity` reports what the simulation achieves so the reader can compare. The
principal-diagnosis accuracy per setting (about 0.65 inpatient, 0.76 observation, 0.90 day case
for coder version 1) is an assumption: no published figure was found. The shift's size is set so
that the error among the episodes the policy automated in day cases goes from about 5% to about
20% (the scenario asked for); it is a scenario, not an estimate.

The generative model per episode: a latent *clarity* ``z`` (normal on the logit scale, per
setting); the coder's top diagnosis is the gold principal with probability ``sigmoid(z)`` (coder
version 1) or ``sigmoid(z - shift.logit_drop)`` (version 2, shifted setting only), else a
confusable sibling code (cataract right vs left eye, pneumonia unspecified vs bacterial, ...).
The scores the coder reports depend on ``z`` only (plus normal noise, sd ``score_noise`` on the
logit), never on whether it was right, so after the shift the scores "stay confident" while the
codes are wrong more often. Version 2 lowers day-case principal accuracy from about 0.90 to 0.66.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from triage.coder.decision import DecisionRule
from triage.coder.scores import CodeScores
from triage.codes.labels import canonical, label_kind, standard_spelling, to_label
from triage.confidence import ConfidenceModel, RoutingFeatures, RoutingInput, correctness
from triage.data.settings import CARE_SETTINGS
from triage.policy import CostModel, make_policy
from triage.policy.evidence import certified_settings, evidence_plan
from triage.router import Router

#: The project's default care-setting mix (triage.synth.workload "mixed").
SETTING_MIX: dict[str, float] = {"inpatient": 0.50, "observation": 0.15, "day_case": 0.35}
#: The admission type each setting arrives with (triage.data.settings maps it back).
ADMISSION_TYPES: dict[str, tuple[str, ...]] = {
    "inpatient": ("EW EMER.", "URGENT", "ELECTIVE"),
    "observation": ("EU OBSERVATION",),
    "day_case": ("AMBULATORY OBSERVATION",),
}


def _dx(codes: str) -> tuple[str, ...]:
    return tuple(to_label(c, "dx", 10) for c in codes.split())


def _pairs(codes: str) -> tuple[tuple[str, str], ...]:
    labels = _dx(codes)
    return tuple(zip(labels[::2], labels[1::2]))


@dataclass(frozen=True)
class SettingProfile:
    """How one care setting's episodes are coded (real ICD-10-CM/PCS codes)."""

    #: (gold principal, the confusable sibling the coder may pick instead)
    principals: tuple[tuple[str, str], ...]
    secondaries: tuple[str, ...]
    procedures: tuple[str, ...]
    clarity_mean: float      # mean of the logit of P(coder's principal is right), version 1
    clarity_sd: float
    n_secondary: tuple[int, int]   # inclusive range of gold secondary diagnoses
    n_procedures: tuple[int, int]
    secondary_recall: float  # share of gold secondaries scored above the decision threshold
    procedure_recall: float
    false_positives: float   # mean number of non-gold codes scored above the threshold
    los_days: tuple[float, float]  # gamma shape, scale


PROFILES: dict[str, SettingProfile] = {
    "inpatient": SettingProfile(
        principals=_pairs("I509 I5033 J189 J159 A419 A4151 I214 I2109 N179 N170 J441 J440 "
                          "K5732 K5792 I639 I6350 N390 N300 E871 E870 K8510 K8590 J9601 J9600"),
        secondaries=_dx("I10 E785 E119 Z794 Z87891 F17210 E669 D649 E039 G4733 Z951 Z7901 "
                        "Z8673 I4891 F329 N1830 E1165"),
        procedures=("5A1955Z", "02HV33Z", "3E0G76Z", "0DB98ZX"),
        clarity_mean=0.9, clarity_sd=1.6, n_secondary=(2, 8), n_procedures=(0, 2),
        secondary_recall=0.55, procedure_recall=0.7, false_positives=1.2, los_days=(2.0, 2.5)),
    "observation": SettingProfile(
        principals=_pairs("R079 R0789 R55 I951 R1084 R109 J45901 J45909 R519 G44209 R42 H8110"),
        secondaries=_dx("I10 E785 E119 Z87891 F17210 E669 K219 F329 R7303"),
        procedures=("3E0G76Z",),
        clarity_mean=1.6, clarity_sd=1.6, n_secondary=(0, 3), n_procedures=(0, 1),
        secondary_recall=0.6, procedure_recall=0.7, false_positives=0.6, los_days=(1.5, 0.6)),
    "day_case": SettingProfile(
        principals=_pairs("Z1211 Z86010 H2511 H2512 K635 D125 K219 K2270 Z5111 C189 K4090 K4091 "
                          "G5601 G5602 L723 D239"),
        secondaries=_dx("I10 E785 E119 K5730 K449 Z800 Z87891 M1990 H5203"),
        procedures=("0DJD8ZZ", "08RJ3JZ", "0DBN8ZX", "0DJ08ZZ", "3E04305", "0YQ50ZZ",
                    "01N50ZZ", "0JB60ZZ"),
        clarity_mean=3.0, clarity_sd=1.6, n_secondary=(0, 2), n_procedures=(1, 1),
        secondary_recall=0.35, procedure_recall=0.7, false_positives=0.9, los_days=(1.0, 0.2)),
}


@dataclass(frozen=True)
class Shift:
    """Coder version 2 from episode ``at`` on, in ``setting``: the same scores, but the principal
    is right with probability ``sigmoid(z - logit_drop)`` instead of ``sigmoid(z)``."""

    at: int | None
    setting: str = "day_case"
    logit_drop: float = 2.0

    def __post_init__(self) -> None:
        if self.at is not None and self.at < 0:
            raise ValueError(f"shift.at must be >= 0, got {self.at!r}")
        if self.setting not in CARE_SETTINGS:
            raise ValueError(f"shift.setting must be one of {list(CARE_SETTINGS)}, got {self.setting!r}")


@dataclass
class Hospital:
    """A stream of episodes in arrival order with the simulation's ground truth."""

    requests: list[dict[str, Any]]   # POST /v1/route bodies (scores in the standard spelling)
    gold: list[list[str]]            # gold labels, principal first
    scores: CodeScores
    frame: pd.DataFrame              # the episode table (features fit on it)
    settings: np.ndarray
    shifted: np.ndarray              # coded by coder version 2
    correct: np.ndarray              # the decision rule's codes right under ``target``
    target: str
    shift: Shift
    decision_rule: DecisionRule = field(default_factory=lambda: DecisionRule(kind="global", threshold=0.5))

    def __len__(self) -> int:
        return len(self.requests)

    def final_codes(self, i: int) -> list[str]:
        """The auditor's (or coder's) final codes of episode ``i``: the gold codes, API spelling."""
        return [standard_spelling(c) for c in self.gold[i]]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def simulate_hospital(n: int, *, seed: int = 0, shift: Shift | None = None, target: str = "principal",
                      mix: Mapping[str, float] | None = None, first_id: int = 1,
                      score_noise: float = 0.25,
                      profiles: Mapping[str, SettingProfile] | None = None) -> Hospital:
    """``n`` episodes of a hospital in arrival order (see the module docstring for the model);
    ``profiles`` replaces some settings' :data:`PROFILES`."""
    profiles = {**PROFILES, **dict(profiles or {})}
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    shift = shift or Shift(at=None)
    mix = dict(mix or SETTING_MIX)
    names = [s for s in CARE_SETTINGS if mix.get(s, 0.0) > 0]
    shares = np.array([mix[s] for s in names], dtype=float)
    if not math.isclose(float(shares.sum()), 1.0, abs_tol=1e-6):
        raise ValueError(f"mix shares must sum to 1, got {dict(mix)}")
    rng = np.random.default_rng(seed)
    settings = np.asarray(names, dtype=object)[rng.choice(len(names), size=n, p=shares)]
    shifted = np.zeros(n, dtype=bool)
    if shift.at is not None:
        shifted = (np.arange(n) >= shift.at) & (settings == shift.setting)
    rows_i, rows_j, rows_v = [], [], []
    gold: list[list[str]] = []
    requests: list[dict[str, Any]] = []
    table: list[dict[str, Any]] = []
    vocab: dict[str, int] = {}

    def col(label: str) -> int:
        j = vocab.get(label)
        if j is None:
            j = vocab[label] = len(vocab)
        return j

    for i in range(n):
        s = str(settings[i])
        prof = profiles[s]
        z = rng.normal(prof.clarity_mean, prof.clarity_sd)
        p_right = _sigmoid(z - shift.logit_drop) if shifted[i] else _sigmoid(z)
        principal, sibling = prof.principals[rng.integers(len(prof.principals))]
        if rng.random() < 0.5:  # either code of a pair may be the true one
            principal, sibling = sibling, principal
        right = rng.random() < p_right
        # what the coder reports depends on z only: confident episodes look confident either way
        s_top = 0.5 + 0.5 * float(_sigmoid(z + rng.normal(0.0, score_noise)))
        s_alt = 0.5 * float(_sigmoid(-z + rng.normal(0.0, score_noise)))
        scores: dict[str, float] = {}
        scores[principal if right else sibling] = s_top
        scores[sibling if right else principal] = s_alt
        k_sec = int(rng.integers(prof.n_secondary[0], prof.n_secondary[1] + 1))
        pool = [c for c in prof.secondaries if c not in scores]
        secondary = list(rng.choice(pool, size=min(k_sec, len(pool)), replace=False)) if k_sec else []
        for c in secondary:  # below the top score: a secondary never becomes the principal
            hit = rng.random() < prof.secondary_recall
            scores[str(c)] = float(rng.uniform(0.5, s_top) if hit else rng.uniform(0.05, 0.5))
        k_px = int(rng.integers(prof.n_procedures[0], prof.n_procedures[1] + 1))
        procs = list(rng.choice(prof.procedures, size=min(k_px, len(prof.procedures)), replace=False)) \
            if k_px else []
        for c in procs:
            hit = rng.random() < prof.procedure_recall
            scores[str(c)] = float(rng.uniform(0.5, 0.99) if hit else rng.uniform(0.05, 0.5))
        others = [c for c in prof.secondaries + prof.procedures if c not in scores]
        n_fp = min(int(rng.poisson(prof.false_positives)), len(others))
        extra = list(rng.choice(others, size=min(len(others), n_fp + int(rng.integers(1, 4))),
                                replace=False)) if others else []
        for k, c in enumerate(extra):
            dx_cap = s_top if label_kind(str(c), 10) == "dx" else 0.99
            scores[str(c)] = float(rng.uniform(0.5, dx_cap) if k < n_fp else rng.uniform(0.01, 0.3))
        labels = [principal] + [str(c) for c in secondary] + [str(c) for c in procs]
        gold.append(labels)
        for lab, v in scores.items():
            rows_i.append(i)
            rows_j.append(col(lab))
            rows_v.append(round(float(v), 4))
        age = int(rng.integers(18, 95))
        gender = "F" if rng.random() < 0.5 else "M"
        los = round(float(rng.gamma(*prof.los_days)), 1)
        admission = str(rng.choice(ADMISSION_TYPES[s]))
        died = bool(s == "inpatient" and rng.random() < 0.03)
        eid = first_id + i
        metadata = {"age": age, "gender": gender, "admission_type": admission, "los_days": los,
                    "died": died, "care_setting": s}
        requests.append({"episode_id": eid, "metadata": metadata, "code_scores": {
            standard_spelling(lab): round(float(v), 4) for lab, v in scores.items()}})
        table.append({"episode_id": eid, "diagnoses": [canonical(c) for c in labels
                                                       if label_kind(c, 10) == "dx"],
                      "procedures": [canonical(c) for c in labels if label_kind(c, 10) == "px"],
                      "icd_version": 10, "admission_type": admission, "care_setting": s, "age": age,
                      "gender": gender, "los_days": los, "died": died})
    import scipy.sparse as sp

    classes = sorted(vocab)
    remap = np.empty(len(vocab), dtype=np.int64)
    for j, lab in enumerate(classes):
        remap[vocab[lab]] = j
    matrix = sp.csr_matrix((np.asarray(rows_v, dtype=np.float32),
                            (np.asarray(rows_i), remap[np.asarray(rows_j)])), shape=(n, len(classes)))
    ids = np.arange(first_id, first_id + n, dtype=np.int64)
    code_scores = CodeScores(ids, np.asarray(classes, dtype=object), matrix)
    frame = pd.DataFrame(table)
    rule = DecisionRule(kind="global", threshold=0.5)
    predicted = rule.predict(code_scores)
    correct = correctness(predicted, gold, target=target, episodes=frame)
    return Hospital(requests=requests, gold=gold, scores=code_scores, frame=frame,
                    settings=settings.astype(str), shifted=shifted, correct=np.asarray(correct, bool),
                    target=target, shift=shift, decision_rule=rule)


def coder_fidelity(hospital: Hospital) -> pd.DataFrame:
    """Per care setting and coder version: code-level F1 (diagnoses, procedures), exact-set and
    principal accuracy of the decision rule's codes (to compare with the published anchors)."""
    predicted = hospital.decision_rule.predict(hospital.scores)
    rows = []
    for s in CARE_SETTINGS:
        for version, mask in (("v1", ~hospital.shifted), ("v2", hospital.shifted)):
            idx = np.flatnonzero((hospital.settings == s) & mask)
            if idx.size == 0:
                continue
            out: dict[str, Any] = {"care_setting": s, "coder_version": version, "episodes": int(idx.size)}
            for kind in ("dx", "px"):
                tp = fp = fn = 0
                for i in idx:
                    p = {c for c in predicted[i] if label_kind(c, 10) == kind}
                    g = {c for c in hospital.gold[i] if label_kind(c, 10) == kind}
                    tp, fp, fn = tp + len(p & g), fp + len(p - g), fn + len(g - p)
                out[f"f1_{kind}"] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
            out["exact"] = float(np.mean([set(predicted[i]) == set(hospital.gold[i]) for i in idx]))
            pr = correctness([predicted[i] for i in idx], [hospital.gold[i] for i in idx],
                             target="principal")
            out["principal"] = float(np.mean(pr))
            rows.append(out)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------- the bundle
def fit_replay_router(history: Hospital, *, alpha: float = 0.10, delta: float = 0.10,
                      kind: str = "three_way", method: str = "ltt", fwer: str = "holm",
                      seed: int = 0,
                      model_version: str = "replay-hospital") -> Router:
    """A router bundle fitted on the hospital's pre-shift history (no shifted episode may be in it).

    Roles as in the pipeline: half the history teaches the confidence model its ranking, a fifth
    calibrates its probabilities, the rest chooses the per-setting policy (delta shared by the
    settings whose expected evidence can certify anything, planned from the fitting part's labels).

    Learn-then-Test with Holm over a coarse label-free grid (not the library's default fixed
    sequence): re-certification re-runs the bundle's own procedure on post-shift labels, where
    the top of the ranking is no longer the cleanest part; fixed-sequence testing stops at the
    first threshold that fails, so a few errors among the most confident episodes certified
    nothing on 1,500-4,000 post-shift labels in our trials, while Holm kept certifying.
    """
    if history.shifted.any():
        raise ValueError("the bundle is fitted on pre-shift history: history has shifted episodes")
    n = len(history)
    rng = np.random.default_rng(seed)
    role = rng.permutation(n)
    fit_idx, cal_idx, pol_idx = np.split(role, [int(0.5 * n), int(0.7 * n)])
    y = history.correct
    history_input = RoutingInput(history.scores, history.frame)
    features = RoutingFeatures(code_systems=False).fit(history_input)
    X = features.transform(history_input)
    model = ConfidenceModel(kind="lightgbm", calibration="sigmoid", n_estimators=300,
                            min_child_samples=20, random_state=seed)
    model.fit(X[fit_idx], y[fit_idx]).calibrate(X[cal_idx], y[cal_idx])
    p_pol = model.predict_proba(X[pol_idx])[:, 1]
    settings_pol = history.settings[pol_idx]
    rates = {s: float(y[fit_idx][history.settings[fit_idx] == s].mean())
             for s in CARE_SETTINGS if (history.settings[fit_idx] == s).any()}
    costs = CostModel(manual_cost=20.0, assist_cost=8.0, error_cost=60.0)
    estimator = make_policy(kind, costs, alpha=alpha, delta=delta, method=method, fwer=fwer)
    plan = evidence_plan(settings_pol, rates, alpha, delta, estimator.method, estimator.fwer)
    policy = estimator.fit(p_pol, y[pol_idx], groups=settings_pol,
                           certify_groups=certified_settings(plan)).policy_
    return Router(
        decision_rule=history.decision_rule, features=features, confidence=model, policy=policy,
        p_calibration=p_pol.astype(np.float64), correct_calibration=y[pol_idx].astype(bool),
        settings_calibration=settings_pol.astype(str), icd_version=10, target=history.target,
        model_version=model_version, info={"seed": seed, "replay_history": n},
    )


# ------------------------------------------------------------------------------- the driver
@dataclass(frozen=True)
class ReplayPlan:
    """How the hospital operates the service during the replay.

    ``go_live``: ``"recertify"`` (default) re-certifies the bundle's policy on the shadow period's
    own labelled outcomes and puts the settings it certifies live (the hospital's own stream
    confirms the guarantee before anything is automated); ``"admin"`` moves every setting live
    after review (reason ``shadow_evidence_reviewed``) with the bundle's policy as fitted.
    ``recertify_every``: episodes between re-certification attempts while a setting that
    automated is not live. ``patience``: after this many episodes in fallback, a proposal that
    certifies the fallen-back setting is applied even if it does not certify every setting live
    now (those go to shadow under the new version and come back when their shadow labels certify).
    """

    shadow_episodes: int = 5_000
    batch_size: int = 250
    go_live: str = "recertify"
    recertify_every: int = 1_000
    patience: int = 6_000
    audit_lag: int = 0  # episodes between a decision and its audit/outcome arriving

    def __post_init__(self) -> None:
        if self.go_live not in ("recertify", "admin"):
            raise ValueError(f"go_live must be 'recertify' or 'admin', got {self.go_live!r}")
        for name in ("shadow_episodes", "batch_size", "recertify_every", "patience", "audit_lag"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < (1 if name in ("batch_size", "recertify_every") else 0):
                raise ValueError(f"{name} must be a non-negative integer (>= 1 for batch sizes), got {v!r}")


TIMELINE_COLUMNS = ("index", "episode_id", "care_setting", "coder_version", "policy_version", "mode",
                    "policy_route", "route", "automated", "audit", "holdout", "p_correct", "correct",
                    "outcome_posted")


@dataclass
class ReplayResult:
    timeline: pd.DataFrame
    events: list[dict[str, Any]]
    summary: dict[str, Any]


class _Api:
    """The few HTTP calls the driver makes (httpx; fails loudly on an unexpected status)."""

    def __init__(self, base_url: str, router_key: str, admin_key: str, timeout: float = 120.0,
                 client: Any = None) -> None:
        import httpx

        self.client = client or httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self.router = {"X-API-Key": router_key}
        self.admin = {"X-API-Key": admin_key}

    def _check(self, r: Any, what: str) -> Any:
        if r.status_code >= 300:
            raise RuntimeError(f"{what}: HTTP {r.status_code}: {r.text[:500]}")
        return r.json()

    def route(self, episodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        r = self.client.post("/v1/route/batch", json={"episodes": episodes}, headers=self.router)
        return self._check(r, "POST /v1/route/batch")["decisions"]

    def outcome(self, decision_id: str, final_codes: list[str]) -> dict[str, Any]:
        r = self.client.post("/v1/outcomes", json={"decision_id": decision_id,
                                                   "final_codes": final_codes}, headers=self.router)
        return self._check(r, "POST /v1/outcomes")

    def watch(self, events: int = 50) -> dict[str, Any]:
        return self._check(self.client.get("/v1/watch", params={"events": events},
                                           headers=self.router), "GET /v1/watch")

    def recertify(self, **body: Any) -> dict[str, Any]:
        r = self.client.post("/v1/admin/recertify", json=body, headers=self.admin)
        return self._check(r, "POST /v1/admin/recertify")

    def set_state(self, care_setting: str, state: str, reason: str) -> dict[str, Any]:
        r = self.client.post("/v1/admin/policy-state", headers=self.admin, json={
            "care_setting": care_setting, "state": state, "reason": reason})
        return self._check(r, "POST /v1/admin/policy-state")


def _states(watch: Mapping[str, Any]) -> dict[str, str]:
    return {s["care_setting"]: s["policy_state"] for s in watch["settings"]}


def _automates(watch: Mapping[str, Any]) -> dict[str, bool]:
    return {s["care_setting"]: bool(s["automates"]) for s in watch["settings"]}


def run_replay(hospital: Hospital, base_url: str, *, router_key: str, admin_key: str,
               plan: ReplayPlan | None = None, client: Any = None,
               progress: Callable[[str], None] | None = None) -> ReplayResult:
    """Stream every episode of ``hospital`` through the service at ``base_url``, in order.

    Outcomes posted (one POST /v1/outcomes each, with the gold codes as the final codes): every
    shadow-mode and fallback-mode decision (people code them all), every audited automated
    decision (the auditor's codes) and every holdout. Ordinary live decisions routed to people are
    coded too in a real hospital, but their outcomes are a sample chosen by p (the policy), which
    neither the watch nor re-certification reads, so the replay does not post them.
    """
    plan = plan or ReplayPlan()
    api = _Api(base_url, router_key, admin_key, client=client)
    say = progress or (lambda _msg: None)
    n = len(hospital)
    t0 = time.perf_counter()
    cols: dict[str, list[Any]] = {c: [] for c in TIMELINE_COLUMNS}
    events: list[dict[str, Any]] = []
    pending: list[tuple[int, int, str]] = []  # (due at stream position, episode, decision_id)
    watch = api.watch(events=0)
    wanted: set[str] = set()           # settings that automated live under some version
    fell_back_at: dict[str, int] = {}  # setting -> stream position of its alarm
    since: str | None = None           # the first alarm's time (service clock): post-alarm labels
    live_started = False
    next_try = plan.shadow_episodes
    outcomes_posted = 0
    counts = {"recertify_calls": 0}
    timings = {"route": 0.0, "outcomes": 0.0}
    pool = ThreadPoolExecutor(max_workers=4)

    def event(kind: str, at: int, **details: Any) -> None:
        events.append({"kind": kind, "episode": int(at), **details})
        say(f"[{at:>7,}] {kind} {details}")

    if hospital.shift.at is not None and hospital.shift.at < n:
        event("shift", hospital.shift.at, care_setting=hospital.shift.setting,
              logit_drop=hospital.shift.logit_drop)

    def post_due(position: int) -> None:
        """Post the outcomes that have arrived once ``position`` episodes have been routed: the
        audited ones one by one in decision order (each advances the watch), the others (shadow,
        fallback, holdout: labels for re-certification, which reads them in decision order
        whatever order they arrive in) a few at a time."""
        nonlocal since, outcomes_posted
        due = [(i, d) for at, i, d in pending if at < position]
        pending[:] = [(at, i, d) for at, i, d in pending if at >= position]
        watched = [(i, d) for i, d in due if cols["audit"][i]]
        labels = [(i, d) for i, d in due if not cols["audit"][i]]
        t = time.perf_counter()
        if labels:
            for i, out in zip([i for i, _ in labels],
                              pool.map(lambda x: api.outcome(x[1], hospital.final_codes(x[0])), labels)):
                check(i, out)
        for i, decision_id in watched:
            out = api.outcome(decision_id, hospital.final_codes(i))
            check(i, out)
            w = out.get("watch")
            if w and w.get("fell_back"):
                setting = w["care_setting"]
                fell_back_at[setting] = position
                event("alarm", position, care_setting=setting, decision_index=i, audited=w["n"],
                      errors=w["errors"], policy_version=out["policy_version"])
                if since is None:
                    found = [e for e in api.watch(events=20)["events"]
                             if e["kind"] == "fallback" and e["care_setting"] == setting]
                    since = found[0]["created_at"] if found else None
        outcomes_posted += len(due)
        timings["outcomes"] += time.perf_counter() - t

    def check(i: int, out: Mapping[str, Any]) -> None:
        cols["outcome_posted"][i] = True
        if bool(out["correct"]) != bool(hospital.correct[i]):
            raise RuntimeError(f"episode index {i}: the service judged correct={out['correct']}, "
                               f"the simulation's truth is {bool(hospital.correct[i])}")

    def try_recertify(position: int, first: bool) -> None:
        nonlocal live_started, watch
        counts["recertify_calls"] += 1
        proposal = api.recertify(since=None if first else since, apply=False)
        certified = {s for s, ok in proposal["certified"].items() if ok}
        states = _states(watch)
        if first:
            ok = bool(certified)
        else:
            live_now = {s for s in wanted if states.get(s) == "live"}
            gains = (wanted - live_now) & certified
            fallen = {s for s in fell_back_at if states.get(s) == "fallback"}
            waited = max((position - fell_back_at[s] for s in fallen), default=0)
            ok = bool(gains) and (live_now <= certified or (waited >= plan.patience
                                                             and fallen <= certified))
        event("recertify_proposed", position, labelled=proposal["labelled"],
              certified=sorted(certified), n_used=proposal["n_used"], applied=False,
              needed_more=proposal["needed_more"])
        if not ok:
            return
        applied = api.recertify(since=None if first else since, apply=True, go_live=True)
        if not applied["applied"]:
            return
        watch = api.watch(events=0)
        wanted.update(s for s, st in applied["states"].items()
                      if st == "live" and _automates(watch).get(s))
        event("go_live" if first else "recertified", position,
              policy_version=applied["proposed_policy_version"], labelled=applied["labelled"],
              n_used=applied["n_used"], states=applied["states"],
              automated_share=applied["automated_share"])
        live_started = True

    try:
        for start in range(0, n, plan.batch_size):
            stop = min(n, start + plan.batch_size)
            t = time.perf_counter()
            decisions = api.route(hospital.requests[start:stop])
            timings["route"] += time.perf_counter() - t
            for k, d in enumerate(decisions):
                i = start + k
                cols["index"].append(i)
                cols["episode_id"].append(hospital.requests[i]["episode_id"])
                cols["care_setting"].append(d.get("care_setting"))
                cols["coder_version"].append("v2" if hospital.shifted[i] else "v1")
                cols["policy_version"].append(d["policy_version"])
                cols["mode"].append(d.get("mode"))
                cols["policy_route"].append(d.get("policy_route"))
                cols["route"].append(d["route"])
                cols["automated"].append(d["route"] == "automate")
                cols["audit"].append(bool(d.get("audit")))
                cols["holdout"].append(bool(d.get("holdout")))
                cols["p_correct"].append(float(d["p_correct"]))
                cols["correct"].append(bool(hospital.correct[i]))
                cols["outcome_posted"].append(False)
                labelled = d.get("mode") in ("shadow", "fallback") or d.get("audit") or d.get("holdout")
                if labelled:
                    pending.append((i + plan.audit_lag, i, d["decision_id"]))
            post_due(stop)
            if fell_back_at:
                watch = api.watch(events=0)
            if not live_started and stop >= next_try:
                post_due(n + plan.audit_lag + 1)  # the shadow period's codes are all in before go-live
                if plan.go_live == "admin":
                    body = api.set_state("all", "live", "shadow_evidence_reviewed")
                    watch = api.watch(events=0)
                    wanted.update(s for s, ok in _automates(watch).items() if ok)
                    event("go_live", stop, policy_version=body["policy_version"], states=body["states"])
                    live_started = True
                else:
                    try_recertify(stop, first=True)
                next_try = stop + plan.recertify_every
            elif live_started and since is not None and stop >= next_try:
                states = _states(watch)
                if any(states.get(s) != "live" for s in wanted):
                    try_recertify(stop, first=False)
                next_try = stop + plan.recertify_every
            elif live_started and stop >= next_try:
                next_try = stop + plan.recertify_every
            if stop % (10 * plan.batch_size) == 0 or stop == n:
                say(f"[{stop:>7,}] routed, {outcomes_posted:,} outcomes posted, "
                    f"{time.perf_counter() - t0:,.0f} s")
        post_due(n + plan.audit_lag + 1)
    finally:
        pool.shutdown()
    timeline = pd.DataFrame(cols)
    wall = time.perf_counter() - t0
    summary = summarise_replay(timeline, events, hospital, wall_seconds=wall,
                               outcomes_posted=outcomes_posted, plan=plan,
                               recertify_calls=counts["recertify_calls"])
    summary["http_seconds"] = {k: round(v, 1) for k, v in timings.items()}
    return ReplayResult(timeline=timeline, events=events, summary=summary)


# ------------------------------------------------------------------------------- the summary
def _error(t: pd.DataFrame) -> dict[str, Any]:
    auto = t[t["automated"]]
    return {"episodes": len(t), "automated": len(auto),
            "automation_rate": float(len(auto) / len(t)) if len(t) else None,
            "automated_wrong": int((~auto["correct"]).sum()),
            "realised_error": float((~auto["correct"]).mean()) if len(auto) else None}


def summarise_replay(timeline: pd.DataFrame, events: list[dict[str, Any]], hospital: Hospital, *,
                     wall_seconds: float, outcomes_posted: int, plan: ReplayPlan,
                     recertify_calls: int = 0) -> dict[str, Any]:
    """Phases (shadow, live before the shift, shift to alarm, fallback, re-certified) with their
    automation rate and realised error among automated, per setting; the alarm's delay."""
    n = len(timeline)
    first = {}
    for e in events:
        first.setdefault(e["kind"], e)
    live_at = first.get("go_live", {}).get("episode", n)
    shift_at = hospital.shift.at if hospital.shift.at is not None and hospital.shift.at < n else n
    alarm = first.get("alarm")
    alarm_at = alarm["episode"] if alarm else n
    recert = first.get("recertified")
    recert_at = recert["episode"] if recert else n
    bounds = {"shadow": (0, live_at), "live_before_shift": (live_at, shift_at),
              "shift_to_alarm": (shift_at, alarm_at), "fallback": (alarm_at, recert_at),
              "recertified": (recert_at, n)}
    phases = {}
    for name, (a, b) in bounds.items():
        part = timeline.iloc[a:b] if b > a else timeline.iloc[0:0]
        phases[name] = {"from": int(a), "to": int(b), "all": _error(part),
                        **{s: _error(part[part["care_setting"] == s]) for s in CARE_SETTINGS}}
    out: dict[str, Any] = {
        "episodes": int(n), "target": hospital.target, "shift": {
            "at": hospital.shift.at, "setting": hospital.shift.setting,
            "logit_drop": hospital.shift.logit_drop},
        "plan": {k: getattr(plan, k) for k in ("shadow_episodes", "batch_size", "go_live",
                                                "recertify_every", "patience", "audit_lag")},
        "events": events, "phases": phases, "outcomes_posted": int(outcomes_posted),
        "recertify_calls": int(recertify_calls), "wall_seconds": round(float(wall_seconds), 1),
        "policy_versions": list(dict.fromkeys(timeline["policy_version"].tolist())),
    }
    if alarm:
        s = alarm["care_setting"]
        window = timeline.iloc[shift_at:alarm_at]
        passed = window[(window["care_setting"] == s) & window["automated"]]
        out["alarm"] = {
            "care_setting": s, "episode": alarm["episode"],
            "episodes_after_shift": int(alarm["episode"] - shift_at),
            "audited_outcomes": alarm.get("audited"), "audited_errors": alarm.get("errors"),
            "audited_after_shift": int(window[(window["care_setting"] == s) & window["audit"]
                                              & window["automated"]].shape[0]),
            "automated_between_shift_and_alarm": len(passed),
            "wrong_among_them": int((~passed["correct"]).sum()),
        }
        after = timeline.iloc[alarm_at:recert_at]
        out["alarm"]["automated_in_fallen_setting_after_alarm"] = int(
            after[after["care_setting"] == s]["automated"].sum())
    if recert:
        out["recertification"] = {k: recert.get(k) for k in
                                  ("episode", "policy_version", "labelled", "n_used", "states",
                                   "automated_share")}
        if alarm:
            out["recertification"]["episodes_after_alarm"] = int(recert["episode"] - alarm["episode"])
    return out
