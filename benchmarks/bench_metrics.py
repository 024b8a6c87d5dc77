"""Speed and memory of the evaluation suite at MIMIC-IV scale: 20,000 episodes x 26,000 codes.

Target: <= 60 s and <= 4 GB peak RSS for `evaluate` with scores (top-256 stored per episode).
Usage: python benchmarks/bench_metrics.py [--episodes 20000] [--codes 26000] [--top-k 256]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import scipy.sparse as sp


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def make_case(n: int, m: int, top_k: int, seed: int = 0):
    from triage.coder import CodeScores

    rng = np.random.default_rng(seed)
    classes = np.array([f"C{j // 100:03d}.{j % 100:02d}" for j in range(m)], dtype=object)
    freq = 1.0 / (np.arange(m) + 20.0)  # Zipf-like code frequencies
    freq /= freq.sum()
    n_gold = np.clip(rng.lognormal(np.log(14.6), 0.52, n).astype(int), 1, 60)
    cum = np.cumsum(freq)

    def draw(k: int) -> np.ndarray:  # k distinct codes, Zipf-weighted (rejection of repeats)
        out = np.unique(np.minimum(np.searchsorted(cum, rng.random(2 * k + 8)), m - 1))
        return rng.permutation(out)[:k]

    gold_idx = [draw(g) for g in n_gold]
    gold = [list(classes[g]) for g in gold_idx]
    # scores: gold codes high-ish with noise, plus random candidates; top_k stored per row
    rows, cols, vals = [], [], []
    for i, g in enumerate(gold_idx):
        extra = np.minimum(np.searchsorted(cum, rng.random(top_k)), m - 1)
        cand = np.unique(np.concatenate([g, extra]))[:top_k]
        s = rng.beta(1, 8, size=cand.size)
        s[np.isin(cand, g)] += rng.beta(4, 3, size=np.isin(cand, g).sum()) * 0.8
        rows.append(np.full(cand.size, i))
        cols.append(cand)
        vals.append(np.clip(s, 0, 1))
    mat = sp.csr_matrix(
        (np.concatenate(vals).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n, m),
    )
    return CodeScores(np.arange(n), classes, mat), gold


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--episodes", type=int, default=20_000)
    ap.add_argument("--codes", type=int, default=26_000)
    ap.add_argument("--top-k", type=int, default=256)
    args = ap.parse_args()

    from triage.coder import DecisionRule
    from triage.metrics import category_distribution, code_coverage, evaluate

    t0 = time.perf_counter()
    scores, gold = make_case(args.episodes, args.codes, args.top_k)
    t_data = time.perf_counter() - t0
    print(f"data: {args.episodes:,} episodes x {args.codes:,} codes, {scores.matrix.nnz:,} stored scores "
          f"({t_data:.1f} s to build)")

    t0 = time.perf_counter()
    rule = DecisionRule().fit(scores, gold)
    t_rule = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = rule.predict(scores)
    t_pred = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    res = evaluate(pred, gold, scores, threshold=rule.threshold_, ci="normal")
    t_eval, c_eval = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    res_b = evaluate(pred, gold, scores, threshold=rule.threshold_, ci="bootstrap", n_bootstrap=200)
    t_boot = time.perf_counter() - t0
    t0 = time.perf_counter()
    code_coverage(gold)
    code_coverage(gold, principal_only=True)
    category_distribution(gold)
    t_cov = time.perf_counter() - t0

    print(f"threshold tuning (100-point grid): {t_rule:6.2f} s  (threshold {rule.threshold_:.3f})")
    print(f"decision rule predict:            {t_pred:6.2f} s")
    print(f"evaluate (normal CIs):            {t_eval:6.2f} s wall, {c_eval:.2f} s CPU   target <= 60 s")
    print(f"evaluate (bootstrap, 200 draws):  {t_boot:6.2f} s")
    print(f"coverage analysis (Figs 2-4):     {t_cov:6.2f} s")
    print(f"peak RSS:                         {peak_rss_gb():6.2f} GB  target <= 4 GB")
    keys = ["f1_micro", "f1_macro", "jaccard_full", "auc_roc_micro", "auc_roc_macro", "auc_pr_macro",
            "map_documents", "precision_at_8", "r_precision", "coverage_error"]
    print("sanity: " + ", ".join(f"{k}={res[k]:.3f}" for k in keys))
    assert res_b["f1_micro"] == res["f1_micro"]


if __name__ == "__main__":
    main()
