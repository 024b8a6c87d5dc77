"""Speed and memory of triage.confidence on a MIMIC-IV-ICD-10-sized synthetic cohort.

Targets (issue 5): features + LightGBM + calibration on 122,279 episodes <= ~2 min; scoring
100,000 episodes <= 10 s; one episode (features + model) <= 1 ms in-process.

Scores are synthetic but shaped like a coder's: ~30 stored candidates per episode drawn from
real ICD-10-CM/PCS codes with Zipf-like popularity, gold codes scoring high and the rest low,
with a per-episode difficulty that blurs the two (so correctness is learnable but not trivial).

    .venv/bin/python benchmarks/bench_confidence.py [--n 122279] [--torch]
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp

from triage.codes._package_files import package_file
from triage.codes.labels import canonical, label_kind
from triage.coder.decision import DecisionRule
from triage.coder.scores import CodeScores
from triage.confidence import ConfidenceModel, RoutingFeatures, RoutingInput, compare_models, correctness


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def code_pool(n_dx: int, n_px: int, rng: np.random.Generator) -> np.ndarray:
    import simple_icd_10_cm as cm

    dx = sorted(c for c in cm.get_all_codes(True) if cm.is_leaf(c) and len(c) >= 4)
    dx = [c if "." in c else c + "." for c in rng.choice(dx, n_dx, replace=False)]
    with package_file("drg", "data/tuva/icd_10_pcs.csv").open() as fh:
        px = [row[0] for row in csv.reader(fh)]
    px = list(rng.choice(px, n_px, replace=False))
    return np.array(sorted(dx + px), dtype=object)


def synthesize(n: int, seed: int = 0, k: int = 30, n_dx: int = 1500, n_px: int = 300):
    rng = np.random.default_rng(seed)
    classes = code_pool(n_dx, n_px, rng)
    m = len(classes)
    is_dx = np.array([label_kind(c, 10) == "dx" for c in classes])
    logw = -1.1 * np.log1p(rng.permutation(m)).astype(np.float32)  # Zipf-like popularity
    n_gold = np.minimum(1 + rng.poisson(2.2, n), k)
    hard = rng.beta(2, 2, n).astype(np.float32)
    indices = np.empty((n, k), dtype=np.int32)
    data = np.empty((n, k), dtype=np.float32)
    gold_dx, gold_px = [], []
    for start in range(0, n, 4096):
        stop = min(start + 4096, n)
        b = stop - start
        keys = logw + rng.gumbel(size=(b, m)).astype(np.float32)
        cand = np.argpartition(-keys, k - 1, axis=1)[:, :k]
        cand = np.take_along_axis(cand, np.argsort(-np.take_along_axis(keys, cand, 1), 1), 1)
        is_gold = np.arange(k)[None, :] < n_gold[start:stop, None]
        h = hard[start:stop, None]
        z = np.where(
            is_gold,
            rng.normal(3.0 - 4.5 * h, 1.3, (b, k)),
            rng.normal(-4.5 + 3.0 * h, 1.3, (b, k)),
        )
        order = np.argsort(cand, axis=1)
        indices[start:stop] = np.take_along_axis(cand, order, 1)
        data[start:stop] = np.take_along_axis(1 / (1 + np.exp(-z)), order, 1)
        for row, g in zip(cand, n_gold[start:stop]):
            labels = classes[row[:g]]
            dx = [canonical(c) for c in labels if "." in c]
            px = [c for c in labels if "." not in c]
            if not dx:  # every episode has a principal diagnosis
                dx = [canonical(classes[np.flatnonzero(is_dx)[row[0] % is_dx.sum()]])]
            gold_dx.append(dx)
            gold_px.append(px)
    mat = sp.csr_matrix(
        (data.ravel(), indices.ravel(), np.arange(0, n * k + 1, k)), shape=(n, m)
    )
    ids = np.arange(1, n + 1, dtype=np.int64) + 20_000_000
    scores = CodeScores(ids, classes, mat)
    sections = ["Chief Complaint:\n", "History of Present Illness:\n", "Past Medical History:\n",
                "Medications on Admission:\n", "Discharge Diagnosis:\n", "Discharge Instructions:\n"]
    n_sec = rng.integers(2, len(sections) + 1, n)
    filler = rng.integers(200, 4000, n)
    text = ["".join(sections[:s]) + "word " * (f // 5) for s, f in zip(n_sec, filler)]
    split = rng.choice(["train", "val", "test"], n, p=[0.7287, 0.1094, 0.1619])
    episodes = pd.DataFrame(
        {
            "episode_id": ids,
            "subject_id": ids,
            "text": text,
            "diagnoses": gold_dx,
            "procedures": gold_px,
            "icd_version": 10,
            "admission_type": rng.choice(["EW EMER.", "ELECTIVE", "URGENT", "OBSERVATION ADMIT"], n),
            "age": rng.integers(18, 91, n).astype(float),
            "gender": rng.choice(["M", "F"], n),
            "died": rng.random(n) < 0.02,
            "los_days": rng.gamma(2.0, 2.5, n),
            "split": split,
        }
    )
    return scores, episodes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=122_279)
    ap.add_argument("--score-n", type=int, default=100_000)
    ap.add_argument("--torch", action="store_true", help="also fit and compare the torch MLP")
    args = ap.parse_args()

    t = time.perf_counter()
    scores, episodes = synthesize(args.n)
    print(f"synthesised {len(scores):,} episodes, {scores.matrix.nnz / len(scores):.1f} stored "
          f"scores/episode in {time.perf_counter() - t:.1f} s")

    gold = [[*(c[:3] + "." + c[3:] for c in dx), *px]
            for dx, px in zip(episodes["diagnoses"], episodes["procedures"])]
    pred = DecisionRule(kind="global", threshold=0.5).predict(scores)
    y = correctness(pred, gold)
    split = episodes["split"].to_numpy()
    tr, cal, te = (np.flatnonzero(split == s) for s in ("train", "val", "test"))
    print(f"exact-match rate {y.mean():.3f}; train/cal/test {len(tr):,}/{len(cal):,}/{len(te):,}")

    # warm the code-system packages so the timings below are per-episode work
    t = time.perf_counter()
    warm = RoutingFeatures().fit(RoutingInput(scores.subset(scores.episode_ids[:5]), episodes))
    warm.transform(scores.subset(scores.episode_ids[:5]), episodes)
    print(f"code-system packages loaded in {time.perf_counter() - t:.1f} s (once per process)")

    t0, c0 = time.perf_counter(), time.process_time()
    feats = RoutingFeatures(n_jobs=-1).fit(RoutingInput(scores.subset(scores.episode_ids[tr]), episodes))
    X = feats.transform(scores, episodes)
    t1, c1 = time.perf_counter(), time.process_time()
    model = ConfidenceModel(kind="lightgbm", calibration="auto", random_state=0).fit(
        X[tr], y[tr], X[cal], y[cal]
    )
    t2, c2 = time.perf_counter(), time.process_time()
    print(f"features {t1 - t0:.1f} s + LightGBM & calibration ({model.calibration_method_}) "
          f"{t2 - t1:.1f} s = {t2 - t0:.1f} s wall for {args.n:,} episodes  [target <= ~120 s]")
    print(f"  CPU time: features {c1 - c0:.1f} s + model {c2 - c1:.1f} s = {c2 - c0:.1f} s "
          f"(load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print("  calibration CV log loss:", {k: round(v, 4) for k, v in model.calibration_losses_.items()})

    n_score = min(args.score_n, len(scores))
    sub = scores.subset(scores.episode_ids[:n_score])
    # cold caches: the DRG/Elixhauser results of these episodes were cached by the fit above
    from triage.codes import drg as drg_mod, elixhauser as elix_mod

    drg_mod._default_grouper(drg_mod.DEFAULT_VERSION)._cache.clear()
    elix_mod._comorbidities_of.cache_clear()
    t, c = time.perf_counter(), time.process_time()
    model.predict_proba(feats.transform(sub, episodes))
    dt, dc = time.perf_counter() - t, time.process_time() - c
    print(f"scoring {n_score:,} episodes (features + model): {dt:.2f} s wall, {dc:.2f} s CPU  [target <= 10 s]")
    plain = RoutingFeatures(code_systems=False).fit(RoutingInput(scores.subset(scores.episode_ids[tr]), episodes))
    t, c = time.perf_counter(), time.process_time()
    plain.transform(sub, episodes)
    print(f"  of which without DRG/Elixhauser/chapter lookups (code_systems=False), features only: "
          f"{time.perf_counter() - t:.2f} s wall, {time.process_time() - c:.2f} s CPU")

    rows = te[:2000]
    metas = [episodes.iloc[i].to_dict() for i in rows]
    code_scores = [scores.row(i) for i in rows]
    for cs, md in zip(code_scores[:50], metas[:50]):  # warm-up
        model.predict_one(feats.transform_one(cs, md))
    lat = np.empty(len(rows))
    c = time.process_time()
    for j, (cs, md) in enumerate(zip(code_scores, metas)):
        s = time.perf_counter()
        model.predict_one(feats.transform_one(cs, md))
        lat[j] = time.perf_counter() - s
    cpu_one = (time.process_time() - c) / len(rows)
    assert abs(model.predict_one(feats.transform_one(code_scores[0], metas[0])) - model.predict_proba(X[rows[:1]])[0, 1]) < 1e-6
    lat_feat = np.empty(len(rows))
    for j, (cs, md) in enumerate(zip(code_scores, metas)):
        s = time.perf_counter()
        feats.transform_one(cs, md)
        lat_feat[j] = time.perf_counter() - s
    print(f"one episode (features + model): median {np.median(lat) * 1e3:.3f} ms, "
          f"p99 {np.quantile(lat, 0.99) * 1e3:.3f} ms (features alone median "
          f"{np.median(lat_feat) * 1e3:.3f} ms; mean CPU {cpu_one * 1e3:.3f} ms)  [target <= 1 ms]")

    models = {
        "lightgbm": model,
        "product": ConfidenceModel(kind="product").fit(X[cal], y[cal]),
        "min-accepted": ConfidenceModel(kind="min-accepted").fit(X[cal], y[cal]),
    }
    if args.torch:
        t = time.perf_counter()
        models["torch-mlp"] = ConfidenceModel(kind="torch-mlp", random_state=0).fit(
            X[tr], y[tr], X[cal], y[cal]
        )
        print(f"torch MLP fit + calibration {time.perf_counter() - t:.1f} s")
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    table = compare_models(models, X[te], y[te])
    print("test-split comparison:")
    print(table.drop(columns=["auroc_minus_product", "auroc_minus_min-accepted"]).round(4).to_string())
    print(f"peak RSS {rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
