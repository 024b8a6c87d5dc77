"""A real router bundle fitted on a tiny synthetic cohort (for the service tests and benchmark)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from triage.coder.decision import DecisionRule
from triage.coder.scores import CodeScores
from triage.codes.labels import canonical
from triage.confidence import ConfidenceModel, RoutingFeatures, RoutingInput, correctness
from triage.policy import CostModel, make_policy
from triage.router import Router

DX = ["I50.9", "I10.", "N18.3", "E11.9", "J18.9", "I48.91", "E78.5", "K21.9", "F32.9", "J44.9",
      "N17.9", "E87.1", "D64.9", "I25.10", "E03.9", "G47.33", "M54.5", "R07.9", "Z79.4", "Z87.891",
      "A41.9", "J96.01", "I21.4", "E66.9", "K57.30", "N39.0", "R33.9", "E86.0", "F17.210", "Z95.1"]
PX = ["0QS734Z", "02HV33Z", "5A1955Z", "0DB98ZX", "3E0G76Z"]


def synthetic_cohort(n: int, seed: int) -> tuple[CodeScores, pd.DataFrame, list[list[str]]]:
    """Scores for ~35 candidate codes per episode; gold sets of 1-5 codes; metadata."""
    rng = np.random.default_rng(seed)
    classes = np.asarray(DX + PX, dtype=object)
    m = len(classes)
    dense = rng.beta(1.0, 8.0, size=(n, m))
    gold: list[list[str]] = []
    for i in range(n):
        k = int(rng.integers(1, 6))
        idx = rng.choice(m, size=k, replace=False)
        hard = rng.random() < 0.35  # some episodes have a code the coder is unsure about
        dense[i, idx] = rng.beta(6.0, 1.3, size=k)
        if hard:
            dense[i, idx[0]] = rng.uniform(0.3, 0.7)
        gold.append([str(classes[j]) for j in idx])
    ids = np.arange(1, n + 1, dtype=np.int64)
    scores = CodeScores.from_dense(ids, classes, dense, keep_top_k=None)
    episodes = pd.DataFrame({
        "episode_id": ids,
        "diagnoses": [[canonical(c) for c in g if c in DX] for g in gold],
        "procedures": [[canonical(c) for c in g if c in PX] for g in gold],
        "icd_version": 10,
        "age": rng.integers(18, 95, size=n),
        "gender": rng.choice(["F", "M"], size=n),
        "admission_type": rng.choice(["EW EMER.", "ELECTIVE", "URGENT"], size=n),
        "los_days": rng.gamma(2.0, 2.0, size=n).round(1),
        "died": rng.random(n) < 0.03,
    })
    return scores, episodes, gold


def build_router(
    n: int = 900,
    seed: int = 0,
    model_version: str = "synthetic-test",
    code_systems: bool = False,
    target: str = "exact",
) -> Router:
    """Fit decision rule, features, confidence model and a three-way policy; return the Router.

    ``code_systems=False`` skips the Elixhauser/DRG feature columns, whose tables take ~20 s
    to load once per process: most service tests need a real router, not those columns; the
    DRG path over HTTP uses ``code_systems=True, target="drg"``.
    """
    scores, episodes, gold = synthetic_cohort(n, seed)
    train = np.arange(n) < int(0.6 * n)
    rule = DecisionRule(kind="global", threshold=0.5)  # fixed: no fitting
    pred = rule.predict(scores)
    y = correctness(pred, gold, target=target, episodes=episodes)
    features = RoutingFeatures(code_systems=code_systems).fit(RoutingInput(scores, episodes))
    X = features.transform(scores, episodes)
    model = ConfidenceModel(
        kind="lightgbm", calibration="isotonic", n_estimators=40, min_child_samples=10,
        random_state=seed,
    ).fit(X[train], y[train])
    p_cal = model.predict_proba(X[~train])[:, 1]
    costs = CostModel(manual_cost=20.0, assist_cost=8.0, error_cost=60.0)
    policy = make_policy("three_way", costs, alpha=0.3, delta=0.1).fit(p_cal, y[~train]).policy_
    return Router(
        decision_rule=rule, features=features, confidence=model, policy=policy,
        p_calibration=p_cal, correct_calibration=y[~train].astype(bool), icd_version=10,
        target=target, model_version=model_version,
    )


def build_bundle(path: str | Path, **kwargs) -> Path:
    return build_router(**kwargs).save(path)


def sample_episodes(n: int, seed: int = 1) -> list[dict]:
    """Request bodies: ~35 scored codes each, with metadata."""
    scores, episodes, _ = synthetic_cohort(n, seed)
    out = []
    for i in range(n):
        row = scores.matrix.getrow(i)
        cs = {str(scores.classes[j]): round(float(v), 4) for j, v in zip(row.indices, row.data)}
        e = episodes.iloc[i]
        out.append({
            "episode_id": int(e.episode_id),
            "code_scores": cs,
            "metadata": {"age": int(e.age), "gender": str(e.gender), "died": bool(e.died),
                         "admission_type": str(e.admission_type), "los_days": float(e.los_days)},
        })
    return out
