"""A router bundle with a real (tiny) text coder, and notes that carry signal about the codes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))
from router_bundle import DX, PX, build_router

FAST_CODER = {"min_count": 5, "max_features": 2**16, "ngram_range": (1, 1), "epochs": 6, "batch_size": 64, "n_jobs": 1,
                  "hidden_size": 64, "n_threads": 1, "n_folds": 2}


def note_episodes(n: int, seed: int = 0, words: int = 80) -> pd.DataFrame:
    """Episodes whose notes mention cue words of their codes among ``words`` noise words."""
    rng = np.random.default_rng(seed)
    codes = DX[:20] + PX[:3]
    cue = {c: [f"cue{c.lower().replace('.', '')}{k}" for k in range(3)] for c in codes}
    noise = np.array([f"w{k}" for k in range(2000)])
    rows = []
    for i in range(n):
        gold = list(rng.choice(DX[:20], size=int(rng.integers(1, 4)), replace=False))
        gold += list(rng.choice(PX[:3], size=int(rng.integers(0, 2)), replace=False))
        toks = list(rng.choice(noise, size=words))
        for c in gold:
            toks += list(rng.choice(cue[c], size=2))
        rng.shuffle(toks)
        rows.append({
            "episode_id": i + 1, "subject_id": 10_000 + i, "text": "Discharge summary:\n" + " ".join(toks),
            "diagnoses": [c.replace(".", "") for c in gold if c in DX],
            "procedures": [c for c in gold if c in PX], "icd_version": 10,
            "age": float(rng.integers(18, 95)), "gender": str(rng.choice(["F", "M"])),
            "died": bool(rng.random() < 0.05),
        })
    return pd.DataFrame(rows)


def build_coder_bundle(path: str | Path, n_train: int = 300, seed: int = 0) -> Path:
    """The synthetic router of ``router_bundle`` with a TextCoder fitted on note episodes."""
    from triage.coder import TextCoder

    router = build_router(n=600, seed=seed, code_systems=False, model_version="synthetic-coder-test")
    router.coder = TextCoder(**FAST_CODER).fit(note_episodes(n_train, seed=seed + 100))
    return router.save(path)
