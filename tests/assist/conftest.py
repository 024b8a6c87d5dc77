"""A small scored cohort with real ICD-10 codes, siblings among them, and informative scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from triage.coder.scores import CodeScores
from triage.codes.labels import canonical

DX = ["I50.9", "I50.23", "I10.", "N18.30", "N18.4", "E11.9", "E11.65", "J18.9", "J96.01", "A41.9",
      "E78.5", "K21.9", "F32.9", "D64.9", "E87.1", "N17.9", "Z79.4", "I48.91", "R07.9", "E03.9"]
PX = ["0QS734Z", "02HV33Z", "5A1955Z"]


def scored_cohort(n: int = 600, seed: int = 0):
    """(scores, gold lists principal first, episode table); gold codes score high, others low."""
    rng = np.random.default_rng(seed)
    classes = np.asarray(DX + PX, dtype=object)
    m = len(classes)
    dense = rng.beta(1.0, 9.0, size=(n, m))
    gold = []
    for i in range(n):
        idx = rng.choice(m - len(PX), size=int(rng.integers(2, 6)), replace=False)
        if rng.random() < 0.3:
            idx = np.append(idx, m - len(PX) + rng.integers(len(PX)))
        dense[i, idx] = rng.beta(7.0, 1.2, size=idx.size)
        gold.append([str(classes[j]) for j in idx])
    ids = np.arange(1, n + 1)
    scores = CodeScores.from_dense(ids, classes, dense, keep_top_k=None)
    episodes = pd.DataFrame({
        "episode_id": ids,
        "diagnoses": [[canonical(c) for c in g if "." in c] for g in gold],
        "procedures": [[canonical(c) for c in g if "." not in c] for g in gold],
        "icd_version": 10, "gender": rng.choice(["F", "M"], size=n), "died": False,
        "text": ["word " * 50] * n,
    })
    return scores, gold, episodes


@pytest.fixture(scope="session")
def cohort():
    return scored_cohort()


@pytest.fixture(scope="session")
def make_scored_cohort():
    """``scored_cohort`` itself, for tests that need other sizes or seeds."""
    return scored_cohort
