"""Published human coding accuracy: the reference lines the router is held against (seed paper §3.5)."""

from __future__ import annotations

#: Instance accuracy (exact code set) of human coders in a UK study of 50 episodes of care,
#: cited in Gan et al. (2024), "Aligning AI Research with the Needs of Clinical Coding
#: Workflows", §3.5.
HUMAN_INSTANCE_ACCURACY_UK_STUDY = 0.54

#: Average monthly instance accuracy over four months in a UK hospital: Abdulla et al. (2020),
#: cited in Gan et al. (2024) §3.5.
HUMAN_INSTANCE_ACCURACY_UK_HOSPITAL = 0.675

#: Median code accuracy of UK human coders over 32 studies (range 50–98%): Burns et al. (2012),
#: cited in Gan et al. (2024) §3.5. A per-code (Jaccard-like) accuracy, not an exact-set rate.
HUMAN_CODE_ACCURACY_UK_MEDIAN = 0.832

#: Named references accepted by the human-parity policy (instance accuracy only: the router's
#: target is the exact code set).
HUMAN_INSTANCE_ACCURACY: dict[str, float] = {
    "uk_study": HUMAN_INSTANCE_ACCURACY_UK_STUDY,
    "uk_hospital": HUMAN_INSTANCE_ACCURACY_UK_HOSPITAL,
}

#: All published reference lines, for plots and tables.
HUMAN_REFERENCE_LINES: dict[str, float] = {
    "human_instance_accuracy_uk_study": HUMAN_INSTANCE_ACCURACY_UK_STUDY,
    "human_instance_accuracy_uk_hospital": HUMAN_INSTANCE_ACCURACY_UK_HOSPITAL,
    "human_code_accuracy_uk_median": HUMAN_CODE_ACCURACY_UK_MEDIAN,
}


def human_parity_alpha(reference: str = "uk_hospital") -> float:
    """Error-rate target that matches a published human instance accuracy: alpha = 1 - accuracy."""
    if reference not in HUMAN_INSTANCE_ACCURACY:
        raise ValueError(
            f"reference must be one of {sorted(HUMAN_INSTANCE_ACCURACY)}, got {reference!r}"
        )
    return 1.0 - HUMAN_INSTANCE_ACCURACY[reference]
