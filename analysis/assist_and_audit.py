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
# # Assisted coding and code audit (seed paper section 4)
#
# Most episodes go to people. Gan et al. (2024, §4) say that is where AI pays off first: **suggestions** a coder
# accepts or rejects (§4.1: the recall task, the sequential task, the structural task of partial codes) and an
# **offline auditor** that checks coded episodes (§4.3). This notebook shows, for one run:
#
# * Recall@k and Precision@k of the suggestion list, and how many ontology groups a coder reviews;
# * the **pre-filled** codes: certified to be at least as precise as a target (Learn-then-Test on calibration
#   episodes), their share of the gold codes and their realised precision on other episodes against the guarantee;
# * how often the category is right when the full code is wrong (the case for partial codes);
# * steps to full recall of a simulated coder reviewing one suggestion at a time, static ranking vs sequential;
# * the auditor on simulated human coding (omitted secondaries, wrong specificity, wrong principal, at the seed
#   paper's human exact match of 54-67.5%): flag precision vs target, errors caught, MS-DRG-changing flags.

# %%
# Which run to analyse. RUN_ID = None takes the latest finished run of EXPERIMENT.
# TRACKING_URI = None uses MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the working directory.
RUN_ID = None
EXPERIMENT = "coding-triage"
TRACKING_URI = None
# When the run has no assist tables (it predates them), they are computed here on a fresh synthetic cohort
# of this many episodes (seeded), scored by a small coder trained on part of it.
FALLBACK_EPISODES = 1200

# %%
# %matplotlib inline
import warnings

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from triage.tracking import load_latest_run

warnings.filterwarnings("ignore", category=UserWarning)
run = load_latest_run(RUN_ID, experiment=EXPERIMENT, tracking_uri=TRACKING_URI)  # prints the run id
NAMES = ("assist_recall", "assist_prefill", "assist_partial", "assist_sequential", "assist_steps", "assist_audit",
         "assist_audit_curve", "assist_audit_summary")
tables = {name: run.tables[name] for name in NAMES if name in run.tables and not run.tables[name].empty}
source = "the run's tables"

# %% [markdown]
# If the run carries the assist tables (written by `triage.assist.evaluate_assistance`), they are used as they
# are. Otherwise the same evaluation runs here, on a fresh synthetic cohort: a coder is trained on 60% of the
# patients, the thresholds are certified on 20% and everything is measured on the last 20%.

# %%
if len(tables) < len(NAMES):
    from triage.assist import evaluate_assistance
    from triage.coder import DecisionRule, TextCoder
    from triage.data import gold_labels
    from triage.synth import synthesize_episodes

    seed = int(run.config.get("seed", 0) or 0)
    cohort = synthesize_episodes(FALLBACK_EPISODES, seed=seed, note_words_scale=0.05)
    part = pd.util.hash_array(cohort["subject_id"].to_numpy()) % 5
    train, rest = cohort[part < 3].reset_index(drop=True), cohort[part >= 3].reset_index(drop=True)
    coder = TextCoder(min_count=3, epochs=6, random_state=seed).fit(train)
    scores = coder.predict_proba(rest)
    gold = gold_labels(rest)
    calibration = (pd.util.hash_array(rest["subject_id"].to_numpy()) % 5 == 3)
    rule = DecisionRule().fit(scores.subset(scores.episode_ids[calibration]), [g for g, c in zip(gold, calibration) if c])
    tables = evaluate_assistance(scores, rule.predict(scores), gold, rest, calibration, train_gold=gold_labels(train),
                                 target=0.95, extra_targets=(0.9, 0.8), random_state=seed)
    source = f"a fresh synthetic cohort of {FALLBACK_EPISODES:,} episodes (the run has no assist tables)"
print(f"assist tables from {source}")

# %% [markdown]
# ## The recall task: Recall@k, Precision@k and the groups a coder reviews
#
# Grouping by ontology (ICD-10-CM chapter and category, ICD-10-PCS section and body system) is the seed paper's
# suggested choice minimisation: a coder reviews groups rather than a flat list.

# %%
display(tables["assist_recall"])

# %% [markdown]
# ## Pre-filled codes: certified precision against the realised one
#
# A code is pre-filled when its score reaches a threshold certified on calibration episodes so that the precision
# of pre-filled codes is at least the target with probability at least 1 - delta (`unit` = episode: a betting
# test on per-episode counts, valid when codes of one episode are wrong together). A weak coder certifies nothing
# at 95%; the other targets show the trade-off. Partial codes (categories) are certified the same way.

# %%
prefill = tables["assist_prefill"]
display(prefill)
fig, ax = plt.subplots(figsize=(7, 3.5))
for i, (what, part) in enumerate(prefill.groupby("what", sort=False)):
    ok = part["realised_precision"].notna()
    p = part[ok]
    ax.errorbar(p["target"] + 0.004 * (i - 0.5), p["realised_precision"],
                yerr=[p["realised_precision"] - p["ci_low"], p["ci_high"] - p["realised_precision"]],
                fmt="o", capsize=3, label=f"{what} (realised, 95% CI)")
    for t in part.loc[~ok, "target"]:
        ax.annotate("nothing certified", (t, t), fontsize=8, ha="center", va="bottom")
lims = [prefill["target"].min() - 0.03, 1.0]
ax.plot(lims, lims, "k--", lw=1, label="guaranteed precision")
ax.set_xlabel("target precision")
ax.set_ylabel("precision on evaluation episodes")
ax.set_title("Pre-filled codes: realised precision vs the guarantee")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## The structural task: the category is often right when the code is not

# %%
display(tables["assist_partial"])

# %% [markdown]
# ## The sequential task: one suggestion at a time
#
# The simulated coder accepts gold codes and rejects the others; after a rejection the code's siblings drop
# (the rule) or, in the rule chosen on calibration episodes, may rise; after an acceptance the code's
# frequent companions (training co-occurrence lift) rise.

# %%
display(tables["assist_steps"])
seq = tables["assist_sequential"]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
for col, label in (("static", "static ranking"), ("sequential", "sequential (issue's rule)"),
                   ("sequential_tuned", "sequential (tuned on calibration)")):
    axes[0].plot(seq["k"], seq[f"recall_at_k_{col}"], label=label)
    axes[1].plot(seq["k"], seq[f"precision_at_k_{col}"], label=label)
axes[0].set_title("Recall after k reviewed suggestions")
axes[1].set_title("Precision@k")
for ax in axes:
    ax.set_xlabel("k")
axes[0].legend(fontsize=8)
plt.show()

# %% [markdown]
# ## The auditor on simulated human coding
#
# Each flag type has its own threshold certified at delta / 3 (so all three hold together). The curve below is
# uncertified: what each flag type would deliver at a fixed score threshold on the evaluation episodes.

# %%
display(tables["assist_audit_summary"].set_index("target").T)
display(tables["assist_audit"])
curve = tables["assist_audit_curve"]
fig, ax = plt.subplots(figsize=(7, 3.5))
for flag, part in curve.groupby("flag", sort=False):
    ax.plot(part["flags_per_100_episodes"], part["precision"], "o-", label=flag)
ax.set_xscale("symlog")
ax.set_xlabel("flags per 100 episodes")
ax.set_ylabel("flag precision")
ax.set_title("Audit flags: precision vs volume (uncertified)")
ax.legend(fontsize=8)
plt.show()
summary = tables["assist_audit_summary"].iloc[-1]
print(f"human exact match (simulated): {summary['human_exact_match']:.3f}; "
      f"after accepting the right flags at target {summary['target']:.0%}: {summary['exact_match_after_audit']:.3f}")
