"""Small synthetic episode tables whose text carries signal about the codes."""

import numpy as np
import pandas as pd
import pytest


def make_episodes(n=400, n_codes=12, seed=0, words=80):
    rng = np.random.default_rng(seed)
    dx = [f"{chr(65 + j % 20)}{10 + j}{j % 10}" for j in range(n_codes)]  # e.g. A100 -> A10.0
    px = ["0QS734Z", "02HV33Z", "0DTJ4ZZ"]
    cue = {c: [f"cue{c.lower()}{k}" for k in range(3)] for c in dx + px}
    noise = np.array([f"w{k}" for k in range(500)])
    rows = []
    for i in range(n):
        k = rng.integers(1, 4)
        d = list(rng.choice(dx, size=k, replace=False, p=np.linspace(2, 1, n_codes) / np.linspace(2, 1, n_codes).sum()))
        p = list(rng.choice(px, size=rng.integers(0, 2), replace=False))
        toks = list(rng.choice(noise, size=words))
        for c in d + p:
            toks += list(rng.choice(cue[c], size=2))
        rng.shuffle(toks)
        rows.append(
            {
                "episode_id": 1000 + i,
                "subject_id": 50 + i // 2,
                "text": " ".join(toks),
                "diagnoses": d,
                "procedures": p,
                "icd_version": 10,
                "split": "train" if i < 0.7 * n else ("val" if i < 0.85 * n else "test"),
            }
        )
    df = pd.DataFrame(rows)
    df["icd_version"] = df["icd_version"].astype("int8")
    return df


@pytest.fixture(scope="session")
def episodes():
    return make_episodes()
