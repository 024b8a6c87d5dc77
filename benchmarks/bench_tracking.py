"""Report + MLflow benchmark at MIMIC-IV ICD-10 test size (19,802 report + 13,378 calibration episodes).

Times write_report, log_run (params, metrics, artifacts; no router bundle) and load_run_result on a
fresh SQLite store in a temporary folder, and prints peak RSS. With ``--router DIR`` (a bundle from
``triage run``) it also logs the router as a pyfunc model and times batch prediction via MLflow.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from triage.policy import (
    CostModel,
    cost_coverage_curve,
    evaluate_policy,
    make_policy,
    risk_coverage_curve,
)
from triage.results import RunResult

N_TEST, N_CAL = 19_802, 13_378


def full_size_result(seed: int = 0) -> RunResult:
    rng = np.random.default_rng(seed)
    p = rng.beta(4.0, 1.2, N_TEST + N_CAL)
    correct = rng.random(p.size) < p
    p_cal, c_cal, p_test, c_test = p[:N_CAL], correct[:N_CAL], p[N_CAL:], correct[N_CAL:]
    costs = CostModel(manual_cost=20.0, assist_cost=8.0, error_cost=60.0)
    policy = make_policy("three_way", costs, alpha=0.1, delta=0.1).fit(p_cal, c_cal).policy_
    ev = evaluate_policy(policy, p_test, c_test)
    bins = np.clip((p_test * 10).astype(int), 0, 9)
    rel = pd.DataFrame({"bin": bins, "p": p_test, "c": c_test}).groupby("bin").agg(
        p_mean=("p", "mean"), observed=("c", "mean"), count=("c", "size")).reset_index().assign(model="lightgbm")
    families = {"chapter": [f"ch{i:02d}" for i in range(22)], "categories": ["1", "2", "3", "4-5", ">=6"],
                "admission_type": ["EW EMER.", "ELECTIVE", "URGENT", "OBSERVATION"]}
    bounds = pd.DataFrame([{"subset_family": f, "subset": s, "share": 1 / len(v), "n": N_TEST // len(v),
                            "exact_match": 0.3, "ci_low": 0.25, "ci_high": 0.35, "realistic_automation": 0.1,
                            "cost_saving": 1.0} for f, v in families.items() for s in v])
    episodes = pd.DataFrame({"episode_id": np.arange(p.size), "role": ["calibration"] * N_CAL + ["test"] * N_TEST,
                             "p_correct": p, "correct": correct, "route": policy.route(p),
                             "chapter": rng.choice(families["chapter"], p.size)})
    tables = {
        "reliability": rel,
        "risk_coverage": risk_coverage_curve(p_test, c_test, delta=0.1),
        "cost_coverage": cost_coverage_curve(p_test, c_test, costs),
        "bounds": bounds,
        "coverage": pd.DataFrame({"top_k": [10, 50, 100, 800], "occurrence_share": [0.1, 0.3, 0.4, 0.8],
                                  "episode_any": [0.5, 0.9, 0.95, 1.0], "episode_full": [0.0, 0.0, 0.01, 0.2]}),
        "categories_per_episode": pd.DataFrame({"n_categories": np.arange(1, 40), "share": np.full(39, 1 / 39)}),
        "test_episodes": episodes,
    }
    summary = {"target": "exact", "alpha": 0.1, "delta": 0.1, **{k: v for k, v in ev.items()
                                                                 if isinstance(v, (int, float))}}
    config = {"seed": seed, "policy": {"alpha": 0.1, "delta": 0.1, "costs": costs.to_dict()},
              "confidence": {"target": "exact"}}
    return RunResult(config=config, summary=summary, tables=tables)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--router", type=Path, default=None, help="router bundle to log and predict with")
    args = parser.parse_args()
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        result = full_size_result()
        figures["build_tables_s"] = time.perf_counter() - t

        from triage.report import write_report

        t = time.perf_counter()
        write_report(result, tmp / "out")
        figures["write_report_s"] = time.perf_counter() - t
        figures["report_html_mb"] = (tmp / "out" / "report.html").stat().st_size / 1e6
        result.out_dir = tmp / "out"

        from triage.tracking import load_run_result, log_run

        uri = f"sqlite:///{tmp / 'mlflow.db'}"
        t = time.perf_counter()
        info = log_run(result, tracking_uri=uri, experiment="bench")
        figures["log_run_no_router_s"] = time.perf_counter() - t
        t = time.perf_counter()
        back = load_run_result(info.run_id, tracking_uri=uri, cache_dir=tmp / "cache")
        figures["load_run_result_s"] = time.perf_counter() - t
        assert len(back.tables["test_episodes"]) == N_TEST + N_CAL

        if args.router is not None:
            import mlflow

            from triage.tracking.uri import tracking_uri_set

            result.router_dir = args.router
            t = time.perf_counter()
            info = log_run(result, tracking_uri=uri, experiment="bench")
            figures["log_run_with_router_s"] = time.perf_counter() - t
            with tracking_uri_set(uri):
                model = mlflow.pyfunc.load_model(info.model_uri)
            rng = np.random.default_rng(0)
            codes = ["I50.9", "I10.", "E11.9", "J18.9", "N17.9", "E78.5"]
            batch = pd.DataFrame({"episode_id": np.arange(1000), "code_scores": [
                json.dumps({c: float(rng.uniform(0.05, 0.99)) for c in rng.choice(codes, 3, replace=False)})
                for _ in range(1000)]})
            model.predict(batch.head(5))
            t = time.perf_counter()
            model.predict(batch)
            figures["pyfunc_predict_1000_episodes_s"] = time.perf_counter() - t

    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for key, value in figures.items():
        print(f"{key:32s} {value:10.2f}")


if __name__ == "__main__":
    main()
