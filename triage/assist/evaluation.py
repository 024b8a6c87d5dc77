"""The run's assisted-coding and audit tables: one call, calibration and evaluation kept apart.

:func:`evaluate_assistance` certifies every threshold on the calibration episodes only and
measures on the others, so each realised precision can be set against its guarantee.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from triage.allocation.effort import EffortModel
from triage.assist.audit import FLAG_TYPES, Auditor, corrected, flag_is_right, flag_table
from triage.assist.human_coding import HUMAN_EXACT_MATCH, simulate_human_coding
from triage.assist.ontology import category_of, ontology_group
from triage.assist.partial import category_right_when_code_wrong
from triage.assist.precision import realised_precision, shown_mask
from triage.assist.sequential import CompanionModel, simulate_sequential
from triage.assist.suggestions import (
    calibrate_assistant,
    calibration_inputs,
    category_candidates,
    code_candidates,
    ranked_rows,
)
from triage.coder.align import align
from triage.coder.scores import CodeScores
from triage.metrics import ranking
from triage.metrics.sequence import principal, sequence_exact_match_per_episode
from triage.metrics.sets import exact_match_per_episode


def _subset(scores: CodeScores, mask: np.ndarray) -> CodeScores:
    return CodeScores(scores.episode_ids[mask], scores.classes, scores.matrix[np.flatnonzero(mask)])


def _pick(items: Sequence, mask: np.ndarray) -> list:
    return [items[i] for i in np.flatnonzero(mask)]


@dataclass(frozen=True)
class AssistSettings:
    """Settings of :func:`evaluate_assistance` (the run's ``assist`` section), one object.

    ``target``, ``delta`` and ``unit`` fix the certified precision of pre-filled codes, partial
    codes and audit flags (:func:`triage.assist.precision.certify_precision`); ``extra_targets``
    adds rows at other targets to the pre-fill and audit tables (a weak coder may certify nothing
    at 95%). The sequential simulation runs on at most ``max_sequential_episodes`` evaluation
    episodes (a seeded sample). ``human_exact_match`` sets the simulated coder's error rates.
    """

    target: float = 0.95
    extra_targets: Sequence[float] = (0.9, 0.8)
    delta: float = 0.1
    unit: str = "episode"
    ks: Sequence[int] = (5, 10, 15)
    k_suggest: int = 15
    max_steps: int = 50
    human_exact_match: float = 0.61
    max_sequential_episodes: int = 1000
    icd_version: int = 10
    random_state: int | None = 0

    @property
    def targets(self) -> list[float]:
        """The main target first, then the extra ones, without repeats."""
        return list(dict.fromkeys([float(self.target), *map(float, self.extra_targets)]))


@dataclass(frozen=True)
class AssistanceTables:
    """The eight tables of :func:`evaluate_assistance` (see there for their columns)."""

    recall: pd.DataFrame
    prefill: pd.DataFrame
    partial: pd.DataFrame
    sequential: pd.DataFrame
    steps: pd.DataFrame
    audit: pd.DataFrame
    audit_curve: pd.DataFrame
    audit_summary: pd.DataFrame

    def as_dict(self) -> dict[str, pd.DataFrame]:
        """The tables under their run names (``assist_recall``, ...), in the run's order."""
        return {f"assist_{f.name}": getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class _Split:
    """The cohort cut into its calibration part and its evaluation part (row-aligned)."""

    ev: np.ndarray
    s_cal: CodeScores
    s_ev: CodeScores
    g_cal: list[list[str]]
    g_ev: list[list[str]]
    pred_ev: list
    ranked: list            # evaluation episodes' ranked (labels, scores)

    @property
    def n_ev(self) -> int:
        return len(self.g_ev)


def _check_inputs(scores: CodeScores, predicted: Sequence, gold: Sequence, episodes: pd.DataFrame | None,
                  cal: np.ndarray) -> None:
    n = len(gold)
    if not (len(scores) == len(predicted) == n == cal.size):
        raise ValueError(f"evaluate_assistance: {len(scores)} score rows, {len(predicted)} predicted, {n} gold "
                         f"and {cal.size} calibration flags must be row-aligned")
    if episodes is not None and len(episodes) != n:
        raise ValueError(f"evaluate_assistance: episodes has {len(episodes)} rows, gold {n}")
    if cal.all() or not cal.any():
        raise ValueError("evaluate_assistance: calibration_mask must mark some, but not all, episodes")


def _split(scores: CodeScores, predicted: Sequence, gold: list[list[str]], cal: np.ndarray) -> _Split:
    ev = ~cal
    s_ev = _subset(scores, ev)
    return _Split(ev, _subset(scores, cal), s_ev, _pick(gold, cal), _pick(gold, ev), _pick(predicted, ev),
                  ranked_rows(s_ev))


def _simulated_coders(scores: CodeScores, gold: list[list[str]], part: _Split, cfg: AssistSettings):
    """A simulated human coder on each part. Each part's error rates are set to give the target
    exact match on that part's own episodes (a coder makes more errors on longer code lists);
    nothing of the evaluation part is used to certify thresholds."""
    pool = sorted({str(x) for x in scores.classes} | {lab for g in gold for lab in g})
    rs = cfg.random_state
    human_cal = simulate_human_coding(part.g_cal, pool, cfg.human_exact_match, random_state=rs)
    human_ev = simulate_human_coding(part.g_ev, pool, cfg.human_exact_match,
                                     random_state=None if rs is None else rs + 1)
    return human_cal, human_ev


def _calibrated_assistants(part: _Split, coded_cal: list[list[str]], cfg: AssistSettings) -> dict:
    """One assistant per target, certified on the calibration episodes only."""
    inputs = calibration_inputs(part.s_cal, part.g_cal, coded_cal, cfg.k_suggest)
    return {t: calibrate_assistant(part.s_cal, part.g_cal, target=t, delta=cfg.delta, unit=cfg.unit,
                                   coded=coded_cal, icd_version=cfg.icd_version, k=cfg.k_suggest,
                                   random_state=cfg.random_state, inputs=inputs)
            for t in cfg.targets}


def _recall_table(part: _Split, aligned, cfg: AssistSettings) -> pd.DataFrame:
    """Recall task: Recall@k, Precision@k and ontology groups to review per suggestion list."""
    rr = ranking.row_ranking(aligned)
    has_gold = rr.n_gold > 0
    rows = []
    for k in cfg.ks:
        groups = [len({ontology_group(lab, cfg.icd_version)[::2] for lab in labs[:k]}) for labs, _ in part.ranked]
        prec = np.where(has_gold, ranking.precision_at_k_per_episode(rr, k), np.nan)
        rows.append({"k": k, "recall_at_k": float(np.nanmean(ranking.recall_at_k_per_episode(rr, k))),
                     "precision_at_k": float(np.nanmean(prec)),
                     "mean_groups_to_review": float(np.mean(groups)), "n_episodes": part.n_ev})
    return pd.DataFrame(rows)


def _prefill_table(part: _Split, aligned, episodes: pd.DataFrame | None, assistants: dict,
                   cfg: AssistSettings) -> pd.DataFrame:
    """Pre-filled codes and partial categories, and the coding minutes they save."""
    s, c, g, rank = code_candidates(part.s_ev, part.g_ev, aligned)
    top = rank < cfg.k_suggest
    eff = EffortModel()
    n_codes = np.array([len(x) for x in part.pred_ev], dtype=float)
    words = _note_words(episodes, part.ev)
    n_cats = np.array([len({category_of(x, 3) for x in p}) for p in part.pred_ev], dtype=float)
    route = np.full(part.n_ev, "assist")
    effort = (eff, route, words, n_codes, n_cats, eff.predict(route, words, n_codes, n_cats))
    cs, cc, cg, _ = category_candidates(part.s_ev, part.g_ev)
    gold_counts = (sum(len(set(x)) for x in part.g_ev), sum(len({category_of(x, 3) for x in gl}) for gl in part.g_ev))
    rows = []
    for tgt, a in assistants.items():
        rows += _prefill_rows(a, tgt, cfg.delta, (s, c, g, top), (cs, cc, cg), gold_counts, part.n_ev, effort)
    return pd.DataFrame(rows)


def _partial_table(part: _Split, cfg: AssistSettings) -> pd.DataFrame:
    """Structural task: the category is right when the full code is wrong."""
    rows = []
    for source, lists in (("predicted codes", part.pred_ev),
                          (f"top-{cfg.k_suggest} suggestions",
                           [labs[:cfg.k_suggest].tolist() for labs, _ in part.ranked])):
        for level in (3, 4):
            rows.append({"source": source, "level": level,
                         **category_right_when_code_wrong(lists, part.g_ev, level)})
    return pd.DataFrame(rows)


def _human_errors(g_ev: list[list[str]], coded: list[list[str]]) -> dict[str, int]:
    """What each flag type can catch: gold codes left out (omissions, and the right code behind a
    wrong specificity), coded codes that are not gold, and a principal that is not gold's."""
    return {"missing": sum(len(set(gl) - set(cd)) for gl, cd in zip(g_ev, coded)),
            "unsupported": sum(len(set(cd) - set(gl)) for gl, cd in zip(g_ev, coded)),
            "principal": sum(principal(cd) != principal(gl) for gl, cd in zip(g_ev, coded))}


def _audit_tables(part: _Split, episodes: pd.DataFrame | None, human_ev, assistants: dict,
                  cfg: AssistSettings) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Audit: flags per type and target, the uncertified curve and the after-audit summary."""
    s_ev, g_ev = part.s_ev, part.g_ev
    frame = flag_table(human_ev.coded, s_ev, g_ev)
    eps = (episodes.loc[part.ev, [c for c in ("gender", "died") if c in episodes.columns]].reset_index(drop=True)
           if episodes is not None else None)
    n_err = _human_errors(g_ev, human_ev.coded)
    omitted = {(i, e[1]) for i, errs in enumerate(human_ev.errors) for e in errs if e[0] == "omit_secondary"}
    rows, raised_at = [], {}
    for tgt, a in assistants.items():
        raised_at[tgt] = Auditor(a.audit, cfg.icd_version).audit_batch(
            human_ev.coded, s_ev, eps, with_drg=cfg.icd_version == 10, frame=frame)
        rows += _audit_rows(a, tgt, cfg.delta, raised_at[tgt], n_err, omitted)
    return (pd.DataFrame(rows), _audit_curve(frame, n_err, part.n_ev),
            _audit_summary(part, human_ev, raised_at))


def _audit_summary(part: _Split, human_ev, raised_at: dict) -> pd.DataFrame:
    """Per target: the simulated coder's exact match, episodes to open, exact match after audit."""
    g_ev, n_ev = part.g_ev, part.n_ev
    em_h = exact_match_per_episode(human_ev.coded, g_ev)
    seq_h = sequence_exact_match_per_episode(human_ev.coded, g_ev)
    rows = []
    for tgt, raised in raised_at.items():
        after = _apply_right_flags(human_ev.coded, raised, part.s_ev.episode_ids, g_ev)
        rows.append({
            "target": tgt, "episodes": n_ev, "human_exact_match": float(em_h.mean()),
            "human_exact_match_range": f"{HUMAN_EXACT_MATCH[0]:.3f}-{HUMAN_EXACT_MATCH[1]:.3f}",
            "episodes_with_error": int((em_h == 0).sum()),
            "episodes_to_open": float(raised["episode_id"].nunique() / n_ev),
            "flags": len(raised), "drg_changing_flags": int(_is_true(raised["drg_changes"]).sum()),
            "exact_match_after_audit": float(exact_match_per_episode(after, g_ev).mean()),
            "human_sequence_exact_match": float(seq_h.mean()),
            "sequence_exact_match_after_audit": float(sequence_exact_match_per_episode(after, g_ev).mean()),
            "rate_omit_secondary": human_ev.rates["omit_secondary"],
            "rate_wrong_specificity": human_ev.rates["wrong_specificity"],
            "rate_wrong_principal": human_ev.rates["wrong_principal"],
        })
    return pd.DataFrame(rows)


def assistance_tables(
    scores: CodeScores,
    predicted: Sequence[Sequence[str]],
    gold: Sequence[Sequence[str]],
    episodes: pd.DataFrame | None,
    calibration_mask: np.ndarray,
    settings: AssistSettings | None = None,
    *,
    train_gold: Sequence[Sequence[str]] | None = None,
) -> AssistanceTables:
    """The tables of :func:`evaluate_assistance` as a typed result, settings as one object."""
    cfg = settings or AssistSettings()
    cal = np.asarray(calibration_mask, dtype=bool)
    _check_inputs(scores, predicted, gold, episodes, cal)
    gold = [list(g) for g in gold]
    part = _split(scores, predicted, gold, cal)
    human_cal, human_ev = _simulated_coders(scores, gold, part, cfg)
    assistants = _calibrated_assistants(part, human_cal.coded, cfg)
    aligned = align(part.s_ev, part.g_ev)
    recall = _recall_table(part, aligned, cfg)
    prefill = _prefill_table(part, aligned, episodes, assistants, cfg)
    partial = _partial_table(part, cfg)
    sequential, steps = _sequential_tables(
        part.ranked, part.g_ev, ranked_rows(part.s_cal), part.g_cal, train_gold, cfg.max_steps,
        cfg.max_sequential_episodes, cfg.random_state)
    audit, audit_curve, audit_summary = _audit_tables(part, episodes, human_ev, assistants, cfg)
    return AssistanceTables(recall, prefill, partial, sequential, steps, audit, audit_curve, audit_summary)


def evaluate_assistance(
    scores: CodeScores,
    predicted: Sequence[Sequence[str]],
    gold: Sequence[Sequence[str]],
    episodes: pd.DataFrame | None,
    calibration_mask: np.ndarray,
    *,
    train_gold: Sequence[Sequence[str]] | None = None,
    target: float = 0.95,
    extra_targets: Sequence[float] = (0.9, 0.8),
    delta: float = 0.1,
    unit: str = "episode",
    ks: Sequence[int] = (5, 10, 15),
    k_suggest: int = 15,
    max_steps: int = 50,
    human_exact_match: float = 0.61,
    max_sequential_episodes: int = 1000,
    icd_version: int = 10,
    random_state: int | None = 0,
) -> dict[str, pd.DataFrame]:
    """Tables of the seed paper's section 4 on one scored cohort.

    The keyword form of :func:`assistance_tables` (settings in :class:`AssistSettings`), returning
    the tables under their run names.

    Parameters
    ----------
    scores, predicted, gold, episodes
        Row-aligned: the coder's scores, the decision rule's predicted lists, the gold lists
        (principal first) and the episode table (``gender``, ``died`` for MS-DRGs; may be None).
    calibration_mask
        True for the episodes the thresholds are certified on (e.g. the policy/val role); the
        tables measure the others.
    train_gold
        Training episodes' gold lists for the sequential task's companion model (default: the
        calibration episodes' gold).
    target, delta, unit, extra_targets, max_sequential_episodes, ...
        The fields of :class:`AssistSettings`.

    Returns
    -------
    dict of DataFrames: ``assist_recall`` (Recall@k, Precision@k, ontology groups per list),
    ``assist_prefill`` (pre-filled share of gold codes and realised precision vs the guarantee,
    full codes and partial categories), ``assist_partial`` (category right when the code is
    wrong), ``assist_sequential`` (Precision@k / Recall@k per step, static vs sequential),
    ``assist_steps`` (steps to full recall), ``assist_audit`` (per flag type and target:
    threshold, flags, realised precision vs target, errors caught, DRG-changing flags),
    ``assist_audit_curve`` (uncertified: flags, precision and error recall by score) and
    ``assist_audit_summary`` (per target: simulated human exact match, episodes to open,
    after-audit exact match). Every realised figure is measured on the non-calibration episodes.
    """
    settings = AssistSettings(
        target=target, extra_targets=extra_targets, delta=delta, unit=unit, ks=ks, k_suggest=k_suggest,
        max_steps=max_steps, human_exact_match=human_exact_match,
        max_sequential_episodes=max_sequential_episodes, icd_version=icd_version, random_state=random_state)
    return assistance_tables(scores, predicted, gold, episodes, calibration_mask, settings,
                             train_gold=train_gold).as_dict()


def _note_words(episodes: pd.DataFrame | None, rows: np.ndarray) -> np.ndarray:
    """Words per note for the effort model (``note_words`` if given, else spaces + 1: cheap)."""
    if episodes is None:
        return np.full(int(rows.sum()), 1000.0)
    if "note_words" in episodes.columns:
        return pd.to_numeric(episodes.loc[rows, "note_words"], errors="coerce").fillna(1000.0).to_numpy(float)
    if "text" in episodes.columns:
        return episodes.loc[rows, "text"].astype(str).str.count(" ").to_numpy(float) + 1.0
    return np.full(int(rows.sum()), 1000.0)


#: (sibling_factor, lift_power) tried on calibration episodes; the first is the issue's rule.
SEQUENTIAL_GRID = ((0.5, 0.5), (1.0, 0.0), (1.5, 0.0), (1.5, 0.5))


def _is_true(col: pd.Series) -> np.ndarray:
    return np.asarray([v is True or v == True for v in col], dtype=bool)


def _sequential_tables(ranked, g_ev, cal_ranked, g_cal, train_gold, max_steps, max_eps, random_state):
    rng = np.random.default_rng(random_state)
    idx = np.arange(len(g_ev))
    if idx.size > max_eps:
        idx = np.sort(rng.choice(idx, max_eps, replace=False))
    comp = CompanionModel().fit(train_gold if train_gold is not None else g_cal)
    sub_r, sub_g = [ranked[i] for i in idx], [g_ev[i] for i in idx]
    sf0, lp0 = SEQUENTIAL_GRID[0]
    seq = simulate_sequential(sub_r, sub_g, comp, max_steps=max_steps, sibling_factor=sf0, lift_power=lp0)
    # the rule (a rejected code's siblings drop, an accepted code's companions rise)
    # against the rule that does best on calibration episodes (chosen there, measured here)
    cal_idx = np.arange(min(len(g_cal), max(max_eps // 5, 1)))
    best, best_val = SEQUENTIAL_GRID[0], -1.0
    for sf, lp in SEQUENTIAL_GRID:
        r = simulate_sequential([cal_ranked[i] for i in cal_idx], [g_cal[i] for i in cal_idx], comp,
                                max_steps=max_steps, sibling_factor=sf, lift_power=lp)
        val = float(np.nanmean(r.per_step()["recall_at_k_sequential"].to_numpy()[:15]))
        if val > best_val:
            best, best_val = (sf, lp), val
    tuned = simulate_sequential(sub_r, sub_g, comp, max_steps=max_steps, sibling_factor=best[0],
                                lift_power=best[1])
    per_step = seq.per_step()
    t_step = tuned.per_step()
    per_step["precision_at_k_sequential_tuned"] = t_step["precision_at_k_sequential"]
    per_step["recall_at_k_sequential_tuned"] = t_step["recall_at_k_sequential"]
    steps = seq.summary().assign(sibling_factor=[np.nan, sf0], lift_power=[np.nan, lp0])
    t_row = tuned.summary().iloc[[1]].assign(ranking="sequential (tuned on calibration)",
                                             sibling_factor=best[0], lift_power=best[1])
    return per_step, pd.concat([steps, t_row], ignore_index=True)


def _prefill_rows(assistant, tgt, delta, codes, categories, gold_counts, n_ep, effort) -> list[dict]:
    s, c, g, top = codes
    cs, cc, cg = categories
    eff, route, words, n_codes, n_cats, base = effort
    pf = assistant.prefill
    shown = np.zeros(s.size, dtype=bool)
    if pf.feasible:
        shown[top] = shown_mask(s[top], g[top], pf.threshold, pf.max_per_episode)
    real = realised_precision(c[shown])
    per_ep = np.bincount(g[shown], minlength=n_ep)
    with_pf = eff.predict(route, words, n_codes, n_cats, n_prefilled=np.minimum(per_ep, n_codes))
    rows = [{"what": "full codes", "target": tgt, "delta": delta, "unit": pf.unit,
             "threshold": pf.threshold if pf.feasible else None, "feasible": pf.feasible,
             "calibration_shown": pf.n_shown, "shown": real["n_shown"],
             "share_of_gold": int(c[shown].sum()) / gold_counts[0] if gold_counts[0] else None,
             "realised_precision": real["precision"], "ci_low": real["ci_low"], "ci_high": real["ci_high"],
             "per_episode": float(per_ep.mean()), "episodes_with_any": float((per_ep > 0).mean()),
             "assist_minutes_without": float(base.mean()), "assist_minutes_with": float(with_pf.mean())}]
    ct = assistant.category
    cshown = shown_mask(cs, cg, ct.threshold, ct.max_per_episode) if ct.feasible else np.zeros(cs.size, bool)
    creal = realised_precision(cc[cshown])
    rows.append({"what": "categories (partial codes)", "target": tgt, "delta": delta, "unit": ct.unit,
                 "threshold": ct.threshold if ct.feasible else None, "feasible": ct.feasible,
                 "calibration_shown": ct.n_shown, "shown": creal["n_shown"],
                 "share_of_gold": int(cc[cshown].sum()) / gold_counts[1] if gold_counts[1] else None,
                 "realised_precision": creal["precision"], "ci_low": creal["ci_low"], "ci_high": creal["ci_high"],
                 "per_episode": float(cshown.sum() / n_ep),
                 "episodes_with_any": float(np.isin(np.arange(n_ep), cg[cshown]).mean()),
                 "assist_minutes_without": None, "assist_minutes_with": None})
    return rows


AUDIT_CURVE_THRESHOLDS = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99)


def _audit_curve(frame: pd.DataFrame, n_err: dict, n_ev: int) -> pd.DataFrame:
    """Uncertified view: flags per 100 episodes, precision and error recall by score threshold."""
    rows = []
    for t in FLAG_TYPES:
        part = frame[frame["type"] == t]
        for th in AUDIT_CURVE_THRESHOLDS:
            m = part["score"].to_numpy() >= th
            ok = part["correct"].to_numpy()[m]
            rows.append({"flag": t, "score_threshold": th, "flags_per_100_episodes": 100 * m.sum() / n_ev,
                         "precision": float(ok.mean()) if ok.size else None,
                         "recall_of_errors": float(ok.sum() / n_err[t]) if n_err[t] else None})
    return pd.DataFrame(rows)


def _audit_rows(assistant, target, delta, raised, n_err, omitted) -> list[dict]:
    rows = []
    for t in FLAG_TYPES:
        th = assistant.audit[t]
        hit = raised[raised["type"] == t]
        real = realised_precision(hit["correct"].to_numpy())
        drg = _is_true(hit["drg_changes"])
        drg_flags = hit[drg]
        drg_right = int((drg & hit["correct"].to_numpy(bool)).sum())
        caught = int(hit["correct"].sum())
        rows.append({"flag": t, "target": target, "delta": delta / len(FLAG_TYPES), "unit": th.unit,
                     "threshold": th.threshold if th.feasible else None, "feasible": th.feasible,
                     "flags": real["n_shown"], "realised_precision": real["precision"],
                     "ci_low": real["ci_low"], "ci_high": real["ci_high"],
                     "human_errors": n_err[t], "errors_caught": caught,
                     "recall_of_errors": caught / n_err[t] if n_err[t] else None,
                     "omissions_caught": (sum((r, code) in omitted for r, code in zip(hit["row"], hit["code"]))
                                          / len(omitted) if t == "missing" and omitted else None),
                     "drg_changing_flags": len(drg_flags), "drg_changing_flags_right": int(drg_right)})
    return rows


def _apply_right_flags(coded, raised: pd.DataFrame, ids: np.ndarray, gold) -> list[list[str]]:
    """Coded lists after an auditor accepts every right flag and rejects the wrong ones."""
    pos = {int(e): i for i, e in enumerate(ids)}
    out = [list(c) for c in coded]
    for eid, t, code, rep in zip(raised["episode_id"], raised["type"], raised["code"], raised["replaces"]):
        i = pos[int(eid)]
        if flag_is_right(t, code, gold[i]):
            out[i] = corrected(out[i], {"type": t, "code": code, "replaces": rep})
    return out
