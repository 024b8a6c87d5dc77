"""Synthetic scores + episodes where correctness depends on the routing features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from triage.codes.labels import canonical, label_kind
from triage.coder.scores import CodeScores

DX = ["I10.", "E11.9", "I50.9", "N18.3", "J18.9", "E78.5", "K21.9", "F32.9", "Z79.4", "I25.10",
      "N17.9", "E87.1", "D64.9", "J44.9", "A41.9", "E03.9", "I48.91", "F17.210", "G47.33", "K57.30"]
PX = ["02HV33Z", "0DJ08ZZ", "5A1955Z", "3E0336Z", "0BH17EZ"]
CLASSES = np.array(sorted(DX + PX), dtype=object)


def make_data(n: int = 600, seed: int = 0, top_k: int = 12):
    """(scores, episodes, predicted label lists, gold label lists)."""
    rng = np.random.default_rng(seed)
    m = len(CLASSES)
    dx_idx = np.array([i for i, c in enumerate(CLASSES) if label_kind(c, 10) == "dx"])
    px_idx = np.array([i for i, c in enumerate(CLASSES) if label_kind(c, 10) == "px"])
    dense = np.zeros((n, m), dtype=np.float32)
    gold, rows = [], []
    for i in range(n):
        g = 1 + rng.poisson(1.5)
        gdx = list(rng.choice(dx_idx, size=min(g, len(dx_idx)), replace=False))
        gpx = list(rng.choice(px_idx, size=rng.integers(0, 2), replace=False))
        hard = rng.random()  # latent difficulty: moves gold and non-gold scores together
        z = rng.normal(-4 + 3 * hard, 1.0, size=m)
        z[gdx + gpx] = rng.normal(3 - 3 * hard, 1.0, size=len(gdx) + len(gpx))
        dense[i] = 1 / (1 + np.exp(-z))
        gold.append([CLASSES[j] for j in gdx + gpx])
        rows.append(
            {
                "episode_id": 1000 + i,
                "subject_id": 1 + i // 2,
                "text": "Chief Complaint:\nchest pain\nHistory of Present Illness:\n" + "x " * rng.integers(10, 500),
                "diagnoses": [canonical(c) for c in gold[-1] if label_kind(c, 10) == "dx"],
                "procedures": [canonical(c) for c in gold[-1] if label_kind(c, 10) == "px"],
                "icd_version": 10,
                "admission_type": rng.choice(["EW EMER.", "ELECTIVE", "URGENT"]),
                "age": float(rng.integers(18, 90)),
                "gender": rng.choice(["M", "F"]),
                "died": bool(rng.random() < 0.05),
                "los_days": float(rng.gamma(2, 2)),
            }
        )
    scores = CodeScores.from_dense(1000 + np.arange(n), CLASSES, dense, keep_top_k=top_k)
    pred = []
    for i in range(n):
        r = scores.row(i)
        pred.append([lab for lab, s in sorted(r.items(), key=lambda t: (-t[1], t[0])) if s > 0.5])
    return scores, pd.DataFrame(rows), pred, gold


@pytest.fixture(scope="session")
def data():
    return make_data()
