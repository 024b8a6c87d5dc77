"""The synthetic cohort is pinned: same seed, same bytes.

The hashes below were taken before ``sample_coded_cohort`` was split into named steps (under
pandas 3.1.1), and re-taken with a hash the same under pandas 2 and 3 (``tests/pinning.py``) when
the dependency range moved to pandas < 3: the code before the split (commit 9ae12c0) gives exactly
these under pandas 2.3.3 too. They must survive every refactor. A deliberate change to the cohort (a new coefficient, a reordered draw)
updates them in the same commit and says why.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from triage.synth import CohortParams, sample_coded_cohort

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pinning import frame_hash


def _cohort_hashes(n: int, seed: int, workload: str, params: CohortParams | None = None) -> dict[str, str]:
    c = sample_coded_cohort(n, seed, workload, params)
    return {
        "admissions": frame_hash(c.admissions),
        "patients": frame_hash(c.patients),
        "diagnoses": hashlib.sha256(json.dumps(c.diagnoses).encode()).hexdigest()[:16],
        "procedures": hashlib.sha256(json.dumps(c.procedures).encode()).hexdigest()[:16],
        "complexity": hashlib.sha256(np.ascontiguousarray(c.complexity).tobytes()).hexdigest()[:16],
    }


PINNED = {
    (300, 0, "mixed"): {
        "admissions": "d6d3c38c8b797499", "patients": "bf908ba14abf23fb", "diagnoses": "0169ff81a914046c",
        "procedures": "de95f5e51c812d4b", "complexity": "37a37446119a1b4f",
    },
    (500, 7, "inpatient"): {
        "admissions": "592aca6d3afdb62e", "patients": "1f3246f96f593e80", "diagnoses": "11ee6bae9a7ca275",
        "procedures": "a42184bd3e4602ea", "complexity": "94a6606b3f73fb42",
    },
    (400, 11, "inpatient=0.4,observation=0.3,day_case=0.3"): {
        "admissions": "8543bb422fa0a85f", "patients": "f34e4b163abc6246", "diagnoses": "6627e7c97e352534",
        "procedures": "88a05279550f30ac", "complexity": "ce103a25ac03d546",
    },
}


@pytest.mark.parametrize("key", list(PINNED), ids=lambda k: f"{k[0]}-{k[1]}-{k[2].split('=')[0]}")
def test_cohort_tables_match_their_pinned_hashes(key):
    assert _cohort_hashes(*key) == PINNED[key]


def test_a_changed_coefficient_changes_the_hashes():
    """Negative control: the pin can fail (one coefficient moved a little changes the bytes)."""
    pinned = PINNED[(300, 0, "mixed")]
    moved = _cohort_hashes(300, 0, "mixed", CohortParams(codes_log_sd=0.55))
    assert moved["diagnoses"] != pinned["diagnoses"]
    assert moved["patients"] == pinned["patients"]  # drawn before the code counts
