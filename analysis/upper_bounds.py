# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Upper bounds on tractable subsets
#
# Seed paper §3.5 asks which subsets of episodes could be automated and what a *realistic* upper bound on
# automating them is. For each subset: the coder's exact-match rate with its exact (Clopper–Pearson) interval —
# the **oracle** bound, the automation rate if we could pick exactly the right episodes — and the **realistic**
# automation rate reachable at the target α with the guarantee. Published human instance accuracy
# (54% UK study, 67.5% UK hospital) is the reference.

# %%
# Which run to analyse. RUN_ID = None takes the latest finished run of EXPERIMENT.
# TRACKING_URI = None uses MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the working directory.
RUN_ID = None
EXPERIMENT = "coding-triage"
TRACKING_URI = None

# %%
# %matplotlib inline
import warnings
from functools import partial

import pandas as pd
from IPython.display import display

from triage.tracking import load_latest_run, run_table

warnings.filterwarnings("ignore", category=UserWarning)
run = load_latest_run(RUN_ID, experiment=EXPERIMENT, tracking_uri=TRACKING_URI)  # prints the run id
tables, summary, config = run.tables, run.summary, run.config
table = partial(run_table, run)  # table(name): the run's table, or None with a note

# %%
import matplotlib.pyplot as plt
import numpy as np

from triage.figures import subset_bounds_figure
from triage.policy import (
    HUMAN_INSTANCE_ACCURACY_UK_HOSPITAL,
    HUMAN_INSTANCE_ACCURACY_UK_STUDY,
    clopper_pearson_interval,
)

bounds = table("bounds")  # routable subsets: a router can tell them apart, delta is split across them
if bounds is not None:
    display(subset_bounds_figure(bounds))

# %% [markdown]
# ## Oracle versus realistic
#
# The gap between the two is what better confidence estimates could still win; subsets whose whole interval
# lies above a human reference line are ones where the coder is demonstrably at least as accurate as people.

# %%
if bounds is not None:
    view = bounds.assign(
        oracle_minus_realistic=bounds["oracle_automation_rate"] - bounds["realistic_automation_rate"],
        above_uk_study=bounds["exact_match_lower"] > HUMAN_INSTANCE_ACCURACY_UK_STUDY,
        above_uk_hospital=bounds["exact_match_lower"] > HUMAN_INSTANCE_ACCURACY_UK_HOSPITAL,
    )
    display(view.round(4))
    family = view.groupby("subset").apply(
        lambda g: pd.Series({
            "subsets": len(g),
            "oracle at alpha (share-weighted)": np.average(g["oracle_automation_rate"], weights=g["share"]),
            "realistic (share-weighted)": np.average(g["realistic_automation_rate"], weights=g["share"]),
            "subsets above UK hospital": int(g["above_uk_hospital"].sum()),
        }), include_groups=False)
    display(family.round(4))

# %% [markdown]
# ## Gold-defined subsets (diagnostic)
#
# Subsets defined from the gold codes (number of categories, principal chapter) show where the coder is good;
# no router can see them, so they carry no joint guarantee.

# %%
diagnostic = table("diagnostic_subsets")
if diagnostic is not None:
    display(diagnostic[["subset", "value", "share", "exact_match_rate", "exact_match_lower", "exact_match_upper",
                        "oracle_automation_rate", "realistic_automation_rate"]].round(4))

# %% [markdown]
# ## Recomputed from the episodes
#
# The same oracle bounds recomputed from the per-episode table for every subset column it carries (columns
# with few distinct values), with the share each subset has automated under the run's chosen policy. The
# overall oracle bound must equal the run's `oracle_automation_rate`.

# %%
episodes = table("test_episodes")
test = episodes[episodes["role"] != "calibration"] if "role" in episodes.columns else episodes
correct = test["correct"].to_numpy().astype(bool)
print(f"correct rate on test: {correct.mean():.4f}; run summary: {summary.get('oracle_automation_rate')}")
core = {"episode_id", "p_correct", "correct", "route", "role", "product_p"}
subset_columns = [c for c in test.columns if c not in core and 1 < test[c].nunique() <= 30]
rows = []
for col in subset_columns:
    for value, part in test.groupby(col, observed=True):
        k, n = int(part["correct"].astype(bool).sum()), len(part)
        lo, hi = clopper_pearson_interval(k, n, 0.95)
        rows.append({"column": col, "value": value, "n": n, "share": n / len(test), "exact_match": k / n,
                     "ci_low": float(lo), "ci_high": float(hi),
                     "automated_under_policy": float((part["route"] == "automate").mean())
                     if "route" in part else np.nan})
recomputed = pd.DataFrame(rows)
display(recomputed.round(4) if len(recomputed) else "no subset columns in test_episodes")

# %% [markdown]
# ## Discovered subsets
#
# Rules over routing-time features found on one part of the data and confirmed on another. A rule is useful
# when its confirmed upper error bound stays within α and its confirmed share is not tiny.

# %%
found = table("discovered_subsets")
if found is not None:
    display(found.round(4))
    alpha = summary.get("alpha")
    if {"share_confirm", "upper_confirm"} <= set(found.columns):
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.scatter(found["share_confirm"], found["upper_confirm"])
        for _, r in found.iterrows():
            ax.annotate(str(r["rule"])[:40], (r["share_confirm"], r["upper_confirm"]), fontsize=7)
        if alpha is not None:
            ax.axhline(alpha, color="C3", linestyle="--", label=f"alpha = {alpha:g}")
            ax.legend()
        ax.set(xlabel="share of episodes (confirmation split)", ylabel="upper error bound (confirmation split)")
