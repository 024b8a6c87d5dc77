"""Benchmark: what each issue #22 confidence feature earns, per target and care setting.

Runs the default `triage run` up to the confidence step (same cohort, coder, roles and seed), then
fits the LightGBM confidence model on the fitting part and calibrates it on the calibration part
with every feature, without each group of issue #22's features (the MS-DRG five; the observation
three) and without each feature in turn. Prints, per target and setting, AUROC and the precision
of the k most confident episodes (k = 50 per setting, 100 for all) on the test part (the table
docs/guarantees.md quotes) and, with ``--part calibration``, on the calibration part too.
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

DRG_FEATURES = ("top_dx", "principal_margin", "drg_stable_p", "n_drg_moving_codes", "drg_moving_mass")
OBSERVATION_FEATURES = ("principal_rate", "principal_rate_margin", "unpredicted_procedures")
TARGETS = ("principal_drg", "principal", "exact", "audit")
SETTINGS = ("all", "day_case", "observation", "inpatient")


def _top_k_precision(p: np.ndarray, y: np.ndarray, k: int) -> float:
    top = np.argsort(-p, kind="stable")[:k]
    return float(y[top].mean()) if top.size else float("nan")


def variants() -> dict[str, tuple[str, ...]]:
    """Feature sets compared: name -> the features left out."""
    return {"all features": (), "without the MS-DRG five": DRG_FEATURES,
            "without the observation three": OBSERVATION_FEATURES,
            "without all eight": DRG_FEATURES + OBSERVATION_FEATURES,
            **{f"without {f}": (f,) for f in OBSERVATION_FEATURES}}


def table(fit, cal, rep, X: dict[str, np.ndarray], parts: tuple[str, ...] = ("test",),
          targets: tuple[str, ...] = TARGETS, seed: int = 0) -> list[str]:
    """Markdown rows (one per part, target and variant) for the scored roles and their features
    ``X`` (keyed "fitting", "calibration", "test")."""
    rows = ["| part | target | features | " + " | ".join(f"AUROC {s} | top-k prec. {s}" for s in SETTINGS) + " |",
            "|---" * 11 + "|"]
    for target in targets:
        y_fit, y_cal, y_rep = (s.correct[target] for s in (fit, cal, rep))
        for name, dropped in variants().items():
            keep = [i for i, f in enumerate(FEATURE_NAMES) if f not in dropped]
            model = ConfidenceModel(kind="lightgbm", random_state=seed, cal_fraction=0.0,
                                    feature_names=[FEATURE_NAMES[i] for i in keep])
            model.fit(X["fitting"][:, keep], y_fit).calibrate(X["calibration"][:, keep], y_cal)
            for part in parts:
                s, y_all = (rep, y_rep) if part == "test" else (cal, y_cal)
                p = model.predict_proba(X[part][:, keep])[:, 1]
                cells = []
                for setting in SETTINGS:
                    m = np.ones(p.size, bool) if setting == "all" else s.settings == setting
                    y, q = y_all[m], p[m]
                    auc = roc_auc_score(y, q) if 0 < y.sum() < y.size else float("nan")
                    cells.append(f"{auc:.3f} | {_top_k_precision(q, y, 100 if setting == 'all' else 50):.2f}")
                rows.append(f"| {part} | {target} | {name} | " + " | ".join(cells) + " |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--episodes", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--part", choices=("test", "calibration", "both"), default="test")
    args = ap.parse_args()
    config = resolve_config(overrides={"seed": args.seed, "data": {"synthetic_episodes": args.episodes}})
    t0 = time.perf_counter()
    coding = score_episodes(config, load_data(config).episodes)
    roles = split_pool(config, coding).parts
    fit, cal, rep = roles.fitting, roles.probability_calibration, roles.test
    features = RoutingFeatures(threshold=float(coding.rule.threshold_)).fit(RoutingInput(fit.scores, fit.episodes))
    X = {name: features.transform(s.scores, s.episodes)
         for name, s in (("fitting", fit), ("calibration", cal), ("test", rep))}
    print(f"prepared in {time.perf_counter() - t0:.0f} s; fitting {len(fit.episodes)}, calibration "
          f"{len(cal.episodes)}, test {len(rep.episodes)}")
    parts = ("calibration", "test") if args.part == "both" else (args.part,)
    print("\n".join(table(fit, cal, rep, X, parts, seed=args.seed)))


if __name__ == "__main__":
    main()
