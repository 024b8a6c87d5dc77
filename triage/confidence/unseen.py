"""What no confidence built on the coder's scores can see: gold codes the coder scored (near) zero.

A confidence model ranks episodes from the coder's per-code scores and the episode's metadata. A
gold secondary diagnosis or procedure the coder scored below ``below`` (default 0.01) leaves no
trace in those scores; when such codes move the MS-DRG, the episode is wrong under the DRG targets
however good the ranking. The share of such episodes in a care setting is the error any score-based
ranking inherits there unless metadata happens to predict it, so a setting whose share is well
above alpha can be certified at alpha only on a subgroup where such moves are rarer (an MS-DRG
without a CC/MCC split, say). Reported per setting (``tables/unseen_drg_moves``) to tell "the
ranking could do better" from "the coder never saw it".

The principal diagnosis is always kept: a wrong principal belongs to the ``principal`` target.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from triage.coder.scores import CodeScores
from triage.confidence._codes import drg_of

#: A gold code the coder scored below this is "unseen" (the coder's scores keep the top codes of
#: each episode; a code outside them scores 0).
UNSEEN_SCORE = 0.01
#: Level of the exact (Clopper-Pearson) interval on each share.
INTERVAL_LEVEL = 0.95
COLUMNS = ("setting", "n", "unseen_code_share", "n_grouped", "unseen_drg_move_share", "unseen_drg_move_lower",
           "unseen_drg_move_upper", "below")


def unseen_drg_moved(gold: Sequence[Sequence[str]], scores: CodeScores, episodes: pd.DataFrame,
                     *, below: float = UNSEEN_SCORE) -> tuple[np.ndarray, np.ndarray]:
    """Per episode: (has a gold secondary code scored < ``below``, those codes move its MS-DRG).

    ``episodes`` holds ``episode_id`` (matched to ``scores.episode_ids``) and optionally ``gender``
    and ``died`` (the grouper's sex and discharge status) and ``icd_version``; ICD-9 episodes have
    no MS-DRG here: their move is NaN. Gold lists are ordered, principal first.
    """
    if not 0.0 < below <= 1.0:
        raise ValueError(f"below must lie in (0, 1], got {below!r}")
    if len(gold) != len(episodes):
        raise ValueError(f"gold has {len(gold)} lists for {len(episodes)} episodes")
    if "episode_id" not in episodes.columns:
        raise ValueError("episodes lack the column 'episode_id'")
    row_of = {int(e): i for i, e in enumerate(scores.episode_ids)}
    versions = (pd.to_numeric(episodes["icd_version"], errors="coerce").fillna(10).to_numpy()
                if "icd_version" in episodes.columns else np.full(len(gold), 10))
    unseen = np.zeros(len(gold), dtype=bool)
    moved = np.where(versions == 10, 0.0, np.nan)
    # without sex or discharge status the grouper groups as the routing features do (unknown, alive)
    n = len(gold)
    sexes = episodes["gender"].tolist() if "gender" in episodes.columns else [None] * n
    deaths = episodes["died"].tolist() if "died" in episodes.columns else [None] * n
    for i, (labels, eid, sex, died) in enumerate(zip(gold, episodes["episode_id"], sexes, deaths)):
        r = row_of.get(int(eid))
        if r is None:
            raise ValueError(f"episode_id {int(eid)} has no row in the coder's scores")
        scored = scores.row(r)
        labels = list(labels)
        seen = labels[:1] + [c for c in labels[1:] if scored.get(c, 0.0) >= below]
        unseen[i] = len(seen) < len(labels)
        if unseen[i] and versions[i] == 10:  # ICD-9: no MS-DRG, left NaN
            moved[i] = drg_of(labels, sex, died)[0] != drg_of(seen, sex, died)[0]
    return unseen, moved


def unseen_drg_moves(gold: Sequence[Sequence[str]], scores: CodeScores, episodes: pd.DataFrame,
                     settings: Sequence[str], *, below: float = UNSEEN_SCORE) -> pd.DataFrame:
    """Per care setting and overall: the share of episodes with an unseen gold code, and the share
    of the ICD-10 ones (``n_grouped``) whose MS-DRG those codes move, with its exact interval
    (``INTERVAL_LEVEL``)."""
    unseen, moved = unseen_drg_moved(gold, scores, episodes, below=below)
    settings = np.asarray(settings, dtype=object)
    if len(settings) != len(gold):
        raise ValueError(f"settings has {len(settings)} values for {len(gold)} episodes")
    grouped = ~np.isnan(moved)
    rows = []
    for name in ["all", *sorted(set(settings.tolist()))]:
        mask = np.ones(len(gold), bool) if name == "all" else settings == name
        n, m = int(mask.sum()), int((mask & grouped).sum())
        k = int(np.nansum(moved[mask]))
        ci = stats.binomtest(k, m).proportion_ci(INTERVAL_LEVEL, method="exact") if m else None
        rows.append((name, n, float(unseen[mask].mean()) if n else np.nan, m, k / m if m else np.nan,
                     ci.low if ci else np.nan, ci.high if ci else np.nan, below))
    return pd.DataFrame(rows, columns=list(COLUMNS))
