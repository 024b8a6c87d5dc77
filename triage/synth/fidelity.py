"""The seed paper's MIMIC-IV ICD-10 statistics as targets, and a report of a cohort against them.

Targets come from Gan et al. (2024) Tables 3-4 and Figures 2 and 4, with the tolerances of the
synthetic-cohort issue. The achieved values are computed by the project's one dataset summary
(``triage.data.summary.dataset_summary``), so the cohort is judged by the same code that
summarises real MIMIC.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from triage.data.summary import SEED_STATISTICS


@dataclass(frozen=True)
class Target:
    key: str            # key in dataset_summary's dict
    label: str
    target: float
    low: float
    high: float
    min_episodes: int = 0   # below this size the statistic is not comparable (vocabulary growth)

    def ok(self, value: float) -> bool:
        return self.low <= value <= self.high


#: Targets at the default inpatient setting: the seed paper's figures
#: (:data:`triage.data.summary.SEED_STATISTICS`) with the tolerances of the synthetic-cohort issue.
TARGETS: tuple[Target, ...] = tuple(
    Target(key, label, SEED_STATISTICS[key], low, high, *rest)
    for key, label, low, high, *rest in (
        ("codes_per_episode_median", "full codes per episode, median", 14, 16),
        ("codes_per_episode_q1", "full codes per episode, Q1", 8, 12),
        ("codes_per_episode_q3", "full codes per episode, Q3", 19, 23),
        ("words_per_note_median", "words per note, median", 1492 * .9, 1492 * 1.1),
        ("words_per_note_q1", "words per note, Q1", 1147 * .9, 1147 * 1.1),
        ("words_per_note_q3", "words per note, Q3", 1931 * .9, 1931 * 1.1),
        ("age_median", "age at admission, median", 58, 64),
        ("los_days_median", "length of stay (days), median", 3.38, 4.38),
        ("share_episodes_1_cat3", "episodes with 1 unique 3-char category", .003, .03),
        ("share_episodes_le2_cat3", "episodes with <= 2 3-char categories", .02, .08),
        ("share_episodes_ge6_cat3", "episodes with >= 6 3-char categories", .5, 1.0),
        ("top50_occurrence_share", "top-50 codes' share of occurrences", .25, .45),
        ("top50_episode_full_coverage", "episodes fully covered by the top 50", 0.0, .01),
        ("top50_episode_any_coverage", "episodes with >= 1 top-50 code", .85, .99),
        ("unique_codes_full", "unique full codes (at 122,279 episodes)", 15000, 30000, 100_000),
        ("unique_codes_3", "unique 3-char codes (at 122,279 episodes)", 1500, 2600, 100_000),
        ("code_freq_ge10_share", "share of unique codes seen >= 10 times (at 122,279)", .25, .40, 100_000),
    )
)


def summarize(episodes: pd.DataFrame) -> dict:
    """The project's dataset summary of an episode table."""
    from triage.data.summary import dataset_summary

    return dataset_summary(episodes)


def fidelity_report(episodes: pd.DataFrame | None = None, summary: dict | None = None,
                    include_words: bool = True) -> pd.DataFrame:
    """One row per target: target, tolerance, achieved value and whether it is inside tolerance.

    Vocabulary-size targets only apply to cohorts of MIMIC's size; on smaller cohorts they are
    reported with ``in_tolerance`` = NA. Pass ``include_words=False`` for cohorts generated with
    scaled-down notes.
    """
    if summary is None:
        if episodes is None:
            raise ValueError("fidelity_report needs an episode table or a dataset summary")
        summary = summarize(episodes)
    n = int(summary.get("n_episodes", 0))
    rows = []
    for t in TARGETS:
        if not include_words and t.key.startswith("words_"):
            continue
        value = summary.get(t.key)
        if value is None:
            raise KeyError(f"dataset summary has no statistic {t.key!r}")
        applies = n >= t.min_episodes
        rows.append({
            "statistic": t.label, "key": t.key, "target": t.target, "low": t.low, "high": t.high,
            "achieved": float(value),
            "in_tolerance": (bool(t.ok(float(value))) if applies else pd.NA),
        })
    return pd.DataFrame(rows)
