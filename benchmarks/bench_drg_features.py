"""Benchmark: what each MS-DRG-aware confidence feature earns, per target and care setting.

Runs the default `triage run` up to the confidence step (same cohort, coder, roles and seed), then
fits the LightGBM confidence model on the fitting part and calibrates it on the calibration part
with every feature, without the new ones (the feature set before issue #22), and without each new
feature in turn. Prints, per target and setting, test AUROC and the precision of the k most
confident test episodes (k = 50 per setting, 100 for all): the table docs/guarantees.md quotes.
Run: PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_drg_features.py [--episodes 10000] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import roc_auc_score

from triage.confidence import ConfidenceModel, RoutingFeatures, RoutingInput
from triage.confidence.features import FEATURE_NAMES
from triage.config import resolve_config
from triage.pipeline import load_data, score_episodes, split_pool

NEW_FEATURES = ("top_dx", "principal_margin", "drg_stable_p", "n_drg_moving_codes", "drg_moving_mass")
TARGETS = ("principal_drg", "principal", "exact", "audit")


def _top_k_precision(p: np.ndarray, y: np.ndarray, k: int) -> float:
    top = np.argsort(-p, kind="stable")[:k]
    return float(y[top].mean()) if top.size else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--episodes", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    config = resolve_config(overrides={"seed": args.seed, "data": {"synthetic_episodes": args.episodes}})
    t0 = time.perf_counter()
    coding = score_episodes(config, load_data(config).episodes)
    parts = split_pool(config, coding).parts
    fit, cal, rep = parts.fitting, parts.probability_calibration, parts.test
    features = RoutingFeatures(threshold=float(coding.rule.threshold_)).fit(RoutingInput(fit.scores, fit.episodes))
    X_fit, X_cal, X_rep = (features.transform(s.scores, s.episodes) for s in (fit, cal, rep))
    print(f"prepared in {time.perf_counter() - t0:.0f} s; fitting {len(fit.episodes)}, calibration "
          f"{len(cal.episodes)}, test {len(rep.episodes)}")
    variants = {"all features": (), "without the new five": NEW_FEATURES,
                **{f"without {f}": (f,) for f in NEW_FEATURES}}
    settings = rep.settings
    print("| target | features | " + " | ".join(f"AUROC {s} | top-k prec. {s}"
                                                 for s in ("all", "day_case", "observation", "inpatient")) + " |")
    print("|---" * 10 + "|")
    for target in TARGETS:
        y_fit, y_cal, y_rep = (s.correct[target] for s in (fit, cal, rep))
        for name, dropped in variants.items():
            keep = [i for i, f in enumerate(FEATURE_NAMES) if f not in dropped]
            names = [FEATURE_NAMES[i] for i in keep]
            model = ConfidenceModel(kind="lightgbm", random_state=args.seed, cal_fraction=0.0, feature_names=names)
            model.fit(X_fit[:, keep], y_fit).calibrate(X_cal[:, keep], y_cal)
            p = model.predict_proba(X_rep[:, keep])[:, 1]
            cells = []
            for setting in ("all", "day_case", "observation", "inpatient"):
                m = np.ones(p.size, bool) if setting == "all" else settings == setting
                y, q = y_rep[m], p[m]
                auc = roc_auc_score(y, q) if 0 < y.sum() < y.size else float("nan")
                cells.append(f"{auc:.3f} | {_top_k_precision(q, y, 100 if setting == 'all' else 50):.2f}")
            print(f"| {target} | {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
