"""Speed and memory of the baseline coder: fit on the train split + 5-fold cross-fitting.

Targets: ~10,000 episodes (the `make run` default) <= 3 min; the 122,279-episode cohort
<= 30 min and <= 16 GB peak RSS, on 2 cores. The cohort is the project's synthetic one
(triage.synth.generate, full-length notes), written once under /tmp and reused.
Usage: python benchmarks/bench_coder.py [--episodes 10000] [--note-scale 1.0] [--model torch-mlp]
"""

from __future__ import annotations

import argparse
import resource
import time
import warnings
from pathlib import Path


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--episodes", type=int, default=10_000)
    ap.add_argument("--note-scale", type=float, default=1.0)
    ap.add_argument("--model", default="torch-mlp")
    ap.add_argument("--epochs", type=int, default=None, help="default: TextCoder's")
    ap.add_argument("--max-features", type=int, default=None, help="default: TextCoder's")
    ap.add_argument("--hidden-size", type=int, default=None, help="default: TextCoder's")
    ap.add_argument("--data-dir", default="/tmp/triage-bench-coder")
    args = ap.parse_args()

    from triage.coder import DecisionRule, TextCoder
    from triage.data import gold_labels, load_episodes
    from triage.metrics import evaluate
    from triage.synth import GENERATOR_VERSION, generate

    data = Path(args.data_dir) / f"n{args.episodes}_s{args.note_scale}_g{GENERATOR_VERSION}"
    t0 = time.perf_counter()
    if not (data / "note" / "discharge.csv.gz").exists():
        generate(data, n_episodes=args.episodes, seed=0, note_words_scale=args.note_scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        episodes = load_episodes(data)
    t_data = time.perf_counter() - t0
    train = episodes[episodes.split == "train"]
    val = episodes[episodes.split == "val"]
    test = episodes[episodes.split == "test"]
    words = train.text.str.count(" ").median() + 1
    print(f"data: {len(episodes):,} episodes ({len(train):,} train), median {words:,.0f} words/note "
          f"({t_data:.1f} s to generate/load, not counted below)")

    overrides = {k: v for k, v in (("epochs", args.epochs), ("max_features", args.max_features),
                                   ("hidden_size", args.hidden_size)) if v is not None}
    coder = TextCoder(model=args.model, **overrides)
    t0, c0 = time.perf_counter(), time.process_time()
    oof = coder.fit_cross_fit(train)
    t_fit, c_fit = time.perf_counter() - t0, time.process_time() - c0
    rss_fit = peak_rss_gb()
    t0 = time.perf_counter()
    s_val = coder.predict_proba(val)
    s_test = coder.predict_proba(test)
    t_pred = time.perf_counter() - t0
    rule = DecisionRule().fit(s_val, gold_labels(val))
    res = evaluate(rule.predict(s_test), gold_labels(test), s_test, threshold=rule.threshold_)
    oof_res = evaluate(rule.predict(oof), gold_labels(train), oof, threshold=rule.threshold_, ci=None)

    print(f"codes modelled (>= {coder.min_count} in train): {len(coder.classes_):,}; "
          f"n-gram columns kept (df >= {coder.min_df}): {coder.tfidf_.n_features_:,}")
    print(f"fit + {coder.n_folds}-fold cross-fit: {t_fit:7.1f} s wall ({t_fit / 60:.2f} min), "
          f"{c_fit:.1f} s CPU of this process (hashing workers not included)")
    print(f"predict val + test ({len(val) + len(test):,}): {t_pred:7.1f} s")
    print(f"peak RSS: {max(rss_fit, peak_rss_gb()):.2f} GB")
    keys = ["f1_micro", "f1_macro", "jaccard_full", "exact_match_full", "auc_roc_macro",
            "auc_pr_macro", "map_documents", "precision_at_8", "principal_accuracy"]
    print(f"test (threshold {rule.threshold_:.3f} tuned on val): "
          + ", ".join(f"{k}={res[k]:.3f}" for k in keys))
    print("out-of-fold train: " + ", ".join(f"{k}={oof_res[k]:.3f}" for k in keys))


if __name__ == "__main__":
    main()
