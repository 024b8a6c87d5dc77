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
# # Policy analysis: how thresholds, automation and cost move
#
# The router automates an episode when its calibrated probability of being correct (under the run's
# correctness target, printed below: `principal_drg` by default, the principal diagnosis right and the same
# MS-DRG) is above `t_automate`, sends it to assisted review above `t_assist`, and to manual coding otherwise.
# This notebook
# recomputes the policies with `triage.policy` from the run's per-episode confidences (table `test_episodes`)
# and shows how they move with the cost of an automation error, the cost of human coding, human capacity and
# the target error α — and what the three-way (automate / assist / manual) routing buys.

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

from triage.confidence.targets import MEANINGS
from triage.tracking import load_latest_run, run_table

warnings.filterwarnings("ignore", category=UserWarning)
run = load_latest_run(RUN_ID, experiment=EXPERIMENT, tracking_uri=TRACKING_URI)  # prints the run id
tables, summary, config = run.tables, run.summary, run.config
table = partial(run_table, run)  # table(name): the run's table, or None with a note
TARGET = str(summary.get("target") or (config.get("confidence") or {}).get("target") or "exact")
print(f"correctness target of this run: {TARGET} ({MEANINGS.get(TARGET, 'see triage.confidence.targets')})")

# %% [markdown]
# ## Calibration and evaluation episodes
#
# Policies are chosen on calibration episodes and evaluated on held-out test episodes, as in the run: the
# `test_episodes` table marks the episodes the run chose its policy on with `role == "calibration"`. (A table
# without a `role` column is halved at random, seeded, so choosing and evaluating never share episodes.)

# %%
import dataclasses

import matplotlib.pyplot as plt
import numpy as np

from triage.policy import CostModel, evaluate_policy, make_policy, risk_coverage_curve

SEED = int(config.get("seed", 0))
episodes = table("test_episodes")
if "role" in episodes.columns and episodes["role"].eq("calibration").any():
    cal, test = episodes[episodes["role"] == "calibration"], episodes[episodes["role"] != "calibration"]
else:
    half = np.random.default_rng(SEED).random(len(episodes)) < 0.5
    cal, test = episodes[half], episodes[~half]
p_cal, c_cal = cal["p_correct"].to_numpy(float), cal["correct"].to_numpy().astype(bool)
p_test, c_test = test["p_correct"].to_numpy(float), test["correct"].to_numpy().astype(bool)
PER_SETTING = bool(summary.get("per_setting")) and "care_setting" in episodes.columns
g_cal = cal["care_setting"].astype(str).to_numpy() if PER_SETTING else None
g_test = test["care_setting"].astype(str).to_numpy() if PER_SETTING else None

policy_cfg = config.get("policy") or {}
cost_cfg = policy_cfg.get("costs") or {}
base = CostModel(**{k: v for k, v in cost_cfg.items() if k in CostModel.__dataclass_fields__})
ALPHA, DELTA = float(policy_cfg.get("alpha", 0.1)), float(policy_cfg.get("delta", 0.1))
METHOD = policy_cfg.get("method", "ltt")
FWER = policy_cfg.get("fwer", "fixed_sequence")
KIND = policy_cfg.get("kind", "three_way")
print(f"{len(cal)} calibration and {len(test)} test episodes; correct rate on test {c_test.mean():.1%}")
print(f"costs: {base}; alpha={ALPHA}, delta={DELTA}, method={METHOD}/{FWER}, configured kind={KIND}, "
      f"per care setting: {PER_SETTING}")


def choose(kind, costs=base, alpha=ALPHA, delta=DELTA):
    """A policy of ``kind`` fitted on the calibration episodes (per care setting when the run was)."""
    estimator = make_policy(kind, costs, alpha=alpha, delta=delta, method=METHOD, fwer=FWER)
    return estimator.fit(p_cal, c_cal, groups=g_cal if kind != "capacity" else None).policy_


def run_policy(kind, costs=base, alpha=ALPHA, delta=DELTA):
    """Choose a policy on the calibration episodes and evaluate it on the test episodes."""
    policy = choose(kind, costs, alpha, delta)
    result = evaluate_policy(policy, p_test, c_test, groups=g_test if policy.group_by else None)
    keep = ("automation_rate", "assist_rate", "manual_rate", "automated_error_rate", "automated_error_lower",
            "automated_error_upper", "cost_per_episode", "cost_per_episode_all_human")
    return {"kind": kind, "t_automate": policy.t_automate, "t_assist": policy.t_assist,
            "feasible": policy.feasible, **{k: result[k] for k in keep}}


# %% [markdown]
# ## The configured policy, recomputed
#
# The recomputed policy of the configured kind next to what the run reported. They agree when the run chose its
# policy on the same calibration episodes; otherwise differences show how much the choice depends on which
# episodes it was chosen on.

# %%
kind = KIND if KIND != "three_way" or base.has_assist else "guaranteed"
if kind == "capacity" and base.capacity is None:
    kind = "guaranteed"
recomputed = run_policy(kind)
reported = {k: summary.get(k) for k in ("threshold", "automation_rate", "automated_error_rate", "cost_per_episode")}
display(pd.DataFrame({"recomputed": pd.Series(recomputed), "reported by the run": pd.Series(reported)}))

# %% [markdown]
# ## Per care setting
#
# Each care setting has its own thresholds, and the guarantee holds in every setting at once (δ split across the
# settings). For each: its share of the workload, the coder's quality, the automation certified at α = 0.10 and at
# α = 0.05 (the 95% standard coding audits use) next to the oracle at the same α, the test error among automated
# episodes with its exact 95% interval, and the saving. `evidence` says how much calibration evidence each setting
# had and needed.

# %%
settings = table("settings")
if settings is not None:
    display(settings.set_index("setting").T)
evidence = table("evidence")
if evidence is not None:
    display(evidence)

# %% [markdown]
# ## By correctness target and risk-control method
#
# Coding audits judge fields: the principal diagnosis, the MS-DRG, secondary codes one by one. Guaranteed
# automation for each target and method beside the oracle at α.

# %%
by_target = table("automation_by_target")
if by_target is not None:
    view = by_target[by_target["setting"] == "all"].pivot_table(
        index=["target", "alpha"], columns="method", values=["guaranteed_automation", "oracle_at_alpha"])
    display(view.round(4))
    if len(by_target["setting"].unique()) > 1:
        headline_method = summary.get("method", "ltt_fixed_sequence")
        per_setting = by_target[by_target["method"] == headline_method].pivot_table(
            index=["target", "alpha"], columns="setting", values="guaranteed_automation")
        display(per_setting.round(4))

# %% [markdown]
# ## Error cost
#
# The more an automation error costs, the surer the router must be before it automates (Chow's rule:
# automate when (1 − p)·C_error < C_human). The guaranteed three-way policy also respects α, so its threshold
# never drops below the lowest guaranteed-valid threshold.

# %%
error_costs = base.manual_cost * np.array([1, 2, 3, 6, 12, 24])
rows = []
for e in error_costs:
    costs = dataclasses.replace(base, error_cost=float(e))
    for k in ("chow", "three_way") if base.has_assist else ("chow",):
        rows.append({"error_cost": e, **run_policy(k, costs)})
by_error = pd.DataFrame(rows)
display(by_error.round(4))

fig, axes = plt.subplots(1, 3, figsize=(15, 4))
for k, part in by_error.groupby("kind"):
    axes[0].plot(part["error_cost"], part["t_automate"].replace(np.inf, np.nan), marker="o", label=k)
    axes[1].plot(part["error_cost"], part["automation_rate"], marker="o", label=k)
    axes[2].plot(part["error_cost"], part["cost_per_episode"], marker="o", label=k)
axes[2].axhline(base.all_human_cost(), color="grey", linestyle="--", label="all by hand")
for ax, label in zip(axes, ("t_automate", "automation rate (test)", f"cost per episode ({base.unit})")):
    ax.set(xlabel=f"cost of an automation error ({base.unit})", ylabel=label, xscale="log")
    ax.legend()
plt.tight_layout()

# %% [markdown]
# ## Human coding cost
#
# Cheaper manual coding makes automation worth less: thresholds rise and automation falls.

# %%
rows = []
for m in base.manual_cost * np.array([0.25, 0.5, 1.0, 2.0, 4.0]):
    assist = None if base.assist_cost is None else float(min(base.assist_cost, m))
    costs = dataclasses.replace(base, manual_cost=float(m), assist_cost=assist)
    rows.append({"manual_cost": m, **run_policy("chow", costs)})
by_human = pd.DataFrame(rows)
display(by_human.round(4))
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(by_human["manual_cost"], by_human["automation_rate"], marker="o", label="automation rate")
ax.plot(by_human["manual_cost"], by_human["t_automate"].replace(np.inf, np.nan), marker="s", label="t_automate")
ax.set(xlabel=f"cost of coding one episode by hand ({base.unit})", xscale="log")
ax.legend();

# %% [markdown]
# ## Human capacity
#
# When coders can absorb only part of the arrivals, the router must automate the rest. The capacity policy
# automates the most confident episodes that capacity cannot absorb and says when that breaks the target α.

# %%
rows = []
for share in (0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0):
    costs = dataclasses.replace(base, capacity=1000.0 * share, period_episodes=1000.0)
    rows.append({"capacity_share": share, **run_policy("capacity", costs)})
by_capacity = pd.DataFrame(rows)
display(by_capacity.round(4))
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(1 - by_capacity["capacity_share"], by_capacity["automation_rate"], marker="o", label="automation rate (test)")
ax.plot(1 - by_capacity["capacity_share"], by_capacity["automated_error_rate"], marker="s", label="error among automated")
ax.axhline(ALPHA, color="C3", linestyle="--", label=f"alpha = {ALPHA:g}")
bad = by_capacity[~by_capacity["feasible"]]
ax.plot(1 - bad["capacity_share"], bad["automated_error_rate"], "x", color="C3", markersize=10, label="target not met")
ax.set(xlabel="share of arrivals people cannot code", ylabel="rate")
ax.legend();

# %% [markdown]
# ## Target error α
#
# The guaranteed policy picks the lowest threshold whose error among automated episodes stays ≤ α with
# probability ≥ 1 − δ. On test data the realised error should sit below the diagonal (most of the time).

# %%
rows = [{"alpha": a, **run_policy("guaranteed", alpha=float(a))} for a in (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4)]
by_alpha = pd.DataFrame(rows)
display(by_alpha.round(4))
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
axes[0].plot(by_alpha["alpha"], by_alpha["automated_error_rate"], marker="o", label="error among automated (test)")
axes[0].plot([0, by_alpha["alpha"].max()], [0, by_alpha["alpha"].max()], color="grey", linestyle="--", label="= alpha")
axes[0].set(xlabel="alpha", ylabel="error rate")
axes[0].legend()
axes[1].plot(by_alpha["alpha"], by_alpha["automation_rate"], marker="o")
axes[1].set(xlabel="alpha", ylabel="automation rate (test)")
rc = risk_coverage_curve(p_test, c_test, delta=DELTA)
print(f"highest test coverage with risk <= alpha={ALPHA:g}: {rc.loc[rc['risk'] <= ALPHA, 'coverage'].max():.1%}")
plt.tight_layout()

# %% [markdown]
# ## Three-way routing
#
# With assisted review in between, episodes the router is unsure about get a cheaper check instead of full
# manual coding. Compare the two-way guaranteed policy with the three-way one at the same α.

# %%
if not base.has_assist:
    print("the run's cost model has no assist_cost: three-way routing is not available")
else:
    compare = pd.DataFrame([run_policy("guaranteed"), run_policy("three_way")]).set_index("kind")
    display(compare.round(4))
    three = choose("three_way")
    routes = three.route(p_test, groups=g_test if three.group_by else None)
    per_route = pd.DataFrame({"route": routes, "correct": c_test}).groupby("route")["correct"].agg(["size", "mean"])
    per_route.columns = ["episodes", f"share correct ({TARGET})"]
    display(per_route)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist([p_test[routes == r] for r in ("manual", "assist", "automate")], bins=30, stacked=True,
            label=["manual", "assist", "automate"])
    for t, name in (() if three.group_by else ((three.t_automate, "t_automate"), (three.t_assist, "t_assist"))):
        if t is not None and np.isfinite(t):
            ax.axvline(t, color="k", linestyle="--")
            ax.text(t, ax.get_ylim()[1] * 0.9, f" {name}", rotation=90, va="top")
    ax.set(xlabel=f"P(correct under {TARGET})", ylabel="test episodes")
    ax.legend()

# %% [markdown]
# ## The run's own sweep (if it logged one)

# %%
sweep = table("policy_sweep")
if sweep is not None:
    display(sweep.round(4))

# %% [markdown]
# ## Backlog under different policies
#
# What a coding manager asks: with this roster, how big does the backlog get, how long do episodes wait and what
# does coding cost under each policy? Each policy is simulated with `triage.allocation` on the same seeded
# arrivals (200 episodes a day for 30 days) and the same roster of 20 coders. Automated episodes skip the
# coders; assisted ones take fewer minutes than manual ones; each day the optimiser gives coders the
# highest-priority work they can fit. The arrivals carry confidences resampled from this run's test episodes,
# so threshold policies — including **the run's own chosen policy** — route them as the run's router would.
# The simulation is deliberately small so the notebook stays quick; `triage simulate-backlog` runs larger ones.

# %%
import math

from triage.allocation import (
    Allocator,
    SimulatedRouting,
    example_roster,
    load_config,
    simulate_backlog,
    synthetic_arrivals,
)

DAYS, ARRIVALS_PER_DAY, CODERS = 30, 200, 20
# LP relaxation + exact repair of its leftover part for every day's assignment (the solver's path for large
# days; it reports its gap to the optimum): on a small pooled roster the one-shot exact MILP can take its
# full time limit per day, which would make this notebook slow without changing the picture.
allocator = Allocator(load_config(overrides={"solver": {"exact_max_pairs": 0}}))
roster = example_roster(CODERS, hours=7.5, seed=SEED)
arrivals = synthetic_arrivals(DAYS, ARRIVALS_PER_DAY, allocator, seed=SEED)
if len(p_test):
    arrivals["p_correct"] = np.random.default_rng(SEED).choice(p_test, size=len(arrivals))
else:
    print("no test episodes in this run: arrivals keep the simulation's own confidences")


def finite_or_none(value):
    """A threshold from the summary; None when the run has none (infeasible policy) or it is +/-inf/NaN."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _from(threshold):
    """How a simulated policy's threshold reads (a rate-based policy has none)."""
    t = finite_or_none(threshold)
    return "by rate" if threshold is None else ("never" if t is None else f"p >= {t:.3f}")


t_run, t_run_assist = finite_or_none(summary.get("threshold")), finite_or_none(summary.get("t_assist"))
run_name = f"this run ({summary.get('policy_kind', 'chosen policy')})"
if summary.get("per_setting"):
    # per-setting thresholds do not reduce to one threshold on arrivals without settings: simulate the
    # run's own test automation rate instead
    run_policy = SimulatedRouting.from_rate(float(summary.get("automation_rate") or 0.0))
    run_name = f"this run (per setting, automating {float(summary.get('automation_rate') or 0):.1%})"
elif t_run is None:
    # The run's router automates nothing; it still sends episodes above t_assist to assisted review.
    print(f"the run's policy has no feasible automation threshold at alpha={summary.get('alpha')}: "
          "simulated as automating nothing, "
          + (f"assisted review for p >= {t_run_assist:.3f}" if t_run_assist is not None else "all coded by hand"))
    run_policy = SimulatedRouting(run_name, automate_threshold=math.inf,
                               assist_threshold=math.inf if t_run_assist is None else t_run_assist)
else:
    run_policy = SimulatedRouting(run_name, automate_threshold=t_run,
                               assist_threshold=t_run if t_run_assist is None else min(t_run_assist, t_run))
print(f"{run_name}: automate {_from(run_policy.automate_threshold)}, assist {_from(run_policy.assist_threshold)}")

backlog_policies = {
    "all-human": SimulatedRouting.all_human(),
    "automate 20%": SimulatedRouting.from_rate(0.2),
    "automate 40%": SimulatedRouting.from_rate(0.4),
    "p>=0.9 auto, p>=0.5 assist": SimulatedRouting("thresholds", automate_threshold=0.9, assist_threshold=0.5),
    run_name: run_policy,
}
simulations = {name: simulate_backlog(roster, DAYS, ARRIVALS_PER_DAY, policy, allocator=allocator,
                                      arrivals=arrivals, seed=SEED)
               for name, policy in backlog_policies.items()}
backlog = pd.DataFrame([{**res.summary, "policy": name} for name, res in simulations.items()]).set_index("policy")
display(backlog[["arrivals", "automated", "coded", "final_backlog", "mean_wait_days", "p90_wait_days",
                 "overdue_in_final_backlog", "coding_minutes", "cost_per_episode"]].round(2))

fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for name, res in simulations.items():
    style = {"linewidth": 3, "color": "k"} if name == run_name else {}
    axes[0].plot(res.daily["day"], res.daily["backlog_end"], label=name, **style)
    axes[1].plot(res.daily["day"], res.daily["cost"].cumsum(), label=name, **style)
axes[0].set(xlabel="day", ylabel="episodes waiting", title="Backlog at end of day")
axes[1].set(xlabel="day", ylabel="cumulative coding cost", title="Coding cost")
axes[0].legend(fontsize=8)
fig.tight_layout()
