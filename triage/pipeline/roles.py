"""Which episodes play which part in a run, fixed once (docs/guarantees.md, "The roles of the episodes").

* coder trained here: the deployed coder is cross-fitting fold 0's model. The confidence ranking
  learns from folds 1-4's out-of-fold scores (never from scores of episodes a model saw); the
  held-out pool (fold 0, scored by the deployed model itself, plus val) is split by patient into
  probability calibration and policy choice (its guarantee holds: neither the coder nor the
  confidence model touched it), sized from the evidence the guarantee needs; test is reported;
* bring-your-own predictions (val + test files, as the reference pipeline writes them): val is
  split by patient into a fitting part and the held-out pool; test is reported;
* test predictions only: test is split by patient into fitting, pool and report parts.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np
import pandas as pd

from triage.coder import CodeScores, DecisionRule, TextCoder, load_predictions
from triage.confidence import correctness
from triage.confidence.targets import REPORTED_TARGETS
from triage.config import RunConfig
from triage.data import gold_labels
from triage.data.settings import episode_settings
from triage.data.split import patient_folds, patient_parts
from triage.policy.evidence import evidence_plan, policy_share_of_pool

T = TypeVar("T")
U = TypeVar("U")

#: Targets that group codes to an MS-DRG (ICD-10 only).
DRG_TARGETS = ("drg", "principal_drg")


class PipelineError(RuntimeError):
    """A run that cannot go on; the message says which step and why."""


@dataclass(frozen=True)
class Parts(Generic[T]):
    """One value per part of a run's episodes, in the order docs/guarantees.md lists them."""

    #: teaches the confidence model its ranking (out-of-fold coder scores); plans the evidence
    fitting: T
    #: calibrates the confidence probabilities; places each setting's fixed sequence start
    probability_calibration: T
    #: the policy's binomial tests (the guarantee's data; "calibration" in the run's tables)
    policy: T
    #: reported only
    test: T

    def items(self) -> Iterator[tuple[str, T]]:
        return ((f.name, getattr(self, f.name)) for f in fields(self))

    def map(self, fn: Callable[[T], U]) -> Parts[U]:
        return Parts(*(fn(value) for _, value in self.items()))


@dataclass(frozen=True)
class Scored:
    """One part's episodes as the coder scored them: scores, gold and predicted code lists, and
    correctness under each of the run's targets (every list and array aligned with ``episodes``)."""

    episodes: pd.DataFrame
    scores: CodeScores
    gold: list[list[str]]
    predicted: list[list[str]]
    #: target -> correct per episode (computed once: the DRG targets group every episode)
    correct: Mapping[str, np.ndarray]

    def take(self, mask: np.ndarray) -> Scored:
        idx = np.flatnonzero(mask)
        return Scored(self.episodes.iloc[idx].reset_index(drop=True), self.scores.subset(self.scores.episode_ids[idx]),
                      [self.gold[i] for i in idx], [self.predicted[i] for i in idx],
                      {t: c[idx] for t, c in self.correct.items()})

    @property
    def settings(self) -> np.ndarray:
        """Care setting per episode (the table's column, else mapped from admission_type)."""
        return episode_settings(self.episodes).astype(str).to_numpy()


@dataclass(frozen=True)
class CoderScoring:
    """The coder step: three roles scored (the pool is split later), the decision rule fitted on
    the fitting role, and the coder (None for bring-your-own predictions)."""

    fitting: Scored
    pool: Scored
    test: Scored
    rule: DecisionRule
    coder: TextCoder | None
    targets: tuple[str, ...]


@dataclass(frozen=True)
class PoolSplit:
    """Every part of the run, and the evidence plan that sized the policy part."""

    parts: Parts[Scored]
    evidence: pd.DataFrame


@dataclass(frozen=True)
class _Coded:
    """Episodes with the coder's scores and their gold lists, before the decision rule."""

    episodes: pd.DataFrame
    scores: CodeScores
    gold: list[list[str]]

    @classmethod
    def of(cls, episodes: pd.DataFrame, scores: CodeScores) -> _Coded:
        return cls(episodes, scores, gold_labels(episodes))

    def take(self, mask: np.ndarray) -> _Coded:
        idx = np.flatnonzero(mask)
        return _Coded(self.episodes.iloc[idx].reset_index(drop=True), self.scores.subset(self.scores.episode_ids[idx]),
                      [self.gold[i] for i in idx])

    def concat(self, other: _Coded) -> _Coded:
        """Two roles' episodes as one (same coder, same classes)."""
        return _Coded(pd.concat([self.episodes, other.episodes], ignore_index=True), self.scores.concat(other.scores),
                      self.gold + other.gold)


def _by_split(episodes: pd.DataFrame, name: str) -> pd.DataFrame:
    return episodes[episodes["split"] == name].reset_index(drop=True)


def run_targets(config: RunConfig, test_episodes: pd.DataFrame) -> tuple[str, ...]:
    """The headline target first, then the reported ones (no MS-DRG target on ICD-9 data)."""
    head = config.confidence.target
    icd10 = all(int(e) == 10 for e in test_episodes["icd_version"].unique())
    return tuple(t for t in dict.fromkeys([head, *REPORTED_TARGETS]) if t == head or icd10 or t not in DRG_TARGETS)


def score_episodes(config: RunConfig, episodes: pd.DataFrame) -> CoderScoring:
    """The coder's scores for three roles (fitting, held-out pool, test), the decision rule, the coder.

    The fitting role teaches the confidence model its ranking; the held-out pool (split later
    into probability calibration and policy choice) and the test role are scored the way
    routing will score them. With a coder trained here and ``coder.deploy == "fold"`` the
    deployed coder is cross-fitting fold 0's model: the other folds' out-of-fold scores fit the
    confidence model, fold 0's (the deployed model's own, on episodes it never saw) and val form
    the pool, test the report. Every role's correctness under every run target is computed here.
    """
    c = config.coder
    test = _by_split(episodes, "test")
    coder: TextCoder | None
    if c.predictions is not None:
        coder = None
        test_coded = _from_predictions(c.predictions, episodes, "--predictions")
        if c.val_predictions is not None:
            val_coded = _from_predictions(c.val_predictions, episodes, "--val-predictions")
            parts = patient_parts(val_coded.episodes["subject_id"].to_numpy(), (0.45, 0.55), config.seed)
            fitting, pool, test_role = val_coded.take(parts == 0), val_coded.take(parts == 1), test_coded
        else:
            parts = patient_parts(test_coded.episodes["subject_id"].to_numpy(), (0.4, 0.3, 0.3), config.seed)
            fitting, pool, test_role = (test_coded.take(parts == i) for i in range(3))
    elif c.path is not None:
        coder = TextCoder.load(c.path)
        val = _by_split(episodes, "val")
        val_coded = _Coded.of(val, coder.predict_proba(val))
        parts = patient_parts(val["subject_id"].to_numpy(), (0.45, 0.55), config.seed)
        fitting, pool = val_coded.take(parts == 0), val_coded.take(parts == 1)
        test_role = _Coded.of(test, coder.predict_proba(test))
    else:
        train, val = _by_split(episodes, "train"), _by_split(episodes, "val")
        params = {"model": c.model, "min_count": c.min_count, "n_folds": c.n_folds, "random_state": config.seed,
                  **c.params}
        coder = TextCoder(**params)
        deploy_fold = 0 if c.deploy == "fold" else None
        oof = coder.fit_cross_fit(train, deploy_fold=deploy_fold)
        train_coded = _Coded.of(train, oof)
        val_coded = _Coded.of(val, coder.predict_proba(val))
        test_role = _Coded.of(test, coder.predict_proba(test))
        if deploy_fold is not None:
            folds = patient_folds(train["subject_id"].to_numpy(), coder.n_folds, coder.random_state)
            fitting = train_coded.take(folds != deploy_fold)
            pool = train_coded.take(folds == deploy_fold).concat(val_coded)
        else:
            # a final coder scores val more sharply than the fold models scored train: only val
            # is deployment-like, so it alone forms the pool
            fitting, pool = train_coded, val_coded
    for role, s in (("fitting", fitting), ("held-out", pool), ("report", test_role)):
        if len(s.episodes) == 0:
            raise PipelineError(f"coder step: no episodes for the {role} role; check the split and predictions files")
    # a fixed --threshold is kept by fit (which still records its micro-F1); otherwise fit tunes it
    rule = DecisionRule(kind="global" if c.threshold is not None else c.decision_rule, threshold=c.threshold,
                        k=c.top_k).fit(fitting.scores, fitting.gold)
    targets = run_targets(config, test_role.episodes)

    def scored(coded: _Coded) -> Scored:
        predicted = rule.predict(coded.scores)
        return Scored(coded.episodes, coded.scores, coded.gold, predicted, {
            t: correctness(predicted, coded.gold, target=t, tau=config.confidence.jaccard_tau, episodes=coded.episodes)
            for t in targets})

    return CoderScoring(scored(fitting), scored(pool), scored(test_role), rule, coder, targets)


def _from_predictions(path: Path, episodes: pd.DataFrame, option: str) -> _Coded:
    scores, _gold, _report = load_predictions(path, episodes=episodes)
    ids = pd.Index(episodes["episode_id"])
    pos = ids.get_indexer(scores.episode_ids)
    if (pos < 0).any():
        raise PipelineError(f"{option} {path}: {int((pos < 0).sum())} episode ids are not in the data")
    return _Coded.of(episodes.iloc[pos].reset_index(drop=True), scores)


def rates_by_setting(settings: np.ndarray, correct: np.ndarray) -> dict[str, float]:
    """Correct rate overall (``all``) and per care setting: what the evidence plan expects."""
    out = {"all": float(correct.mean()) if correct.size else float("nan")}
    for name in np.unique(settings):
        out[str(name)] = float(correct[settings == name].mean())
    return out


def split_pool(config: RunConfig, coding: CoderScoring) -> PoolSplit:
    """Split the held-out pool by patient into probability calibration and policy parts, sized from
    the evidence.

    The policy part gets what the guarantee needs in each care setting (planned from the fitting
    part's correct rates, never from the pool's labels), between 40% and 75% of the pool unless
    ``policy.policy_share`` fixes it; the rest calibrates the confidence probabilities. The plan
    returned (``evidence``) is recomputed on the policy part as split, and says which settings
    share delta (those that can certify anything at all).
    """
    pc = config.policy
    fitting, pool = coding.fitting, coding.pool
    rates = rates_by_setting(fitting.settings, fitting.correct[config.confidence.target])
    plan = evidence_plan(pool.settings, rates, pc.alpha, pc.delta, pc.method, pc.fwer, per_setting=pc.per_setting,
                         one_start=True)
    share = pc.policy_share if pc.policy_share is not None else policy_share_of_pool(
        plan, pool.settings, floor=0.4, ceiling=0.75)
    parts = patient_parts(pool.episodes["subject_id"].to_numpy(), (1 - share, share), config.seed + 1)
    calibration, policy = pool.take(parts == 0), pool.take(parts == 1)
    plan = evidence_plan(policy.settings, rates, pc.alpha, pc.delta, pc.method, pc.fwer, per_setting=pc.per_setting,
                         one_start=True)
    plan.insert(1, "policy_share_of_pool", share)
    return PoolSplit(Parts(fitting, calibration, policy, coding.test), plan)

