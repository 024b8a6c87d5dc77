"""Label strings: the one spelling of a code that the coder, the metrics and the router share.

A *label* is the reference pipeline's dotted display form (Edin et al. 2023): ICD-10-CM
``I50.9`` (3-character codes keep a trailing dot, ``I10.``), ICD-10-PCS undotted ``0QS734Z``,
ICD-9-CM diagnoses dotted after 3 characters (after 4 for E codes, ``E879.0``), ICD-9
procedures dotted after 2 (``38.93``). Unlike the canonical undotted form, a label is
unambiguous across diagnoses and procedures (ICD-9 ``3893`` is both), and it is the column
name the reference pipeline writes into its prediction files.

The episode table stores *canonical* codes (undotted, upper-case) in ``diagnoses`` and
``procedures``; :func:`episode_labels` turns one episode into its ordered label list.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable, Literal, Sequence

Kind = Literal["dx", "px"]
Level = Literal["3", "4", "full"]

LEVELS: tuple[Level, ...] = ("full", "4", "3")


@lru_cache(maxsize=1 << 20)
def canonical(code: str) -> str:
    """Undotted, upper-case, stripped: the form MIMIC stores (``i50.9 `` -> ``I509``)."""
    return str(code).strip().replace(".", "").upper()


@lru_cache(maxsize=1 << 20)
def to_label(code: str, kind: Kind, version: int) -> str:
    """Dotted label of a code given whether it is a diagnosis or a procedure and its ICD version."""
    c = canonical(code)
    if version == 10:
        return c[:3] + "." + c[3:] if kind == "dx" else c
    if version == 9:
        if kind == "dx":
            cut = 4 if c.startswith("E") else 3
            return c[:cut] + "." + c[cut:] if len(c) > cut else c
        return c[:2] + "." + c[2:] if len(c) > 2 else c
    raise ValueError(f"icd_version must be 9 or 10, got {version!r}")


def standard_spelling(label: str) -> str:
    """The spelling coding platforms use (``I10.`` -> ``I10``; ``I50.9``, ``0DTJ4ZZ``, ``401.9``,
    ``38.93`` unchanged). Labels stay inside (coder, metrics, store); APIs answer in this form,
    and :func:`triage.codes.normalize.normalize_label` reads it back into the label."""
    return label[:-1] if label.endswith(".") else label


@lru_cache(maxsize=1 << 20)
def truncate_label(label: str, level: Level | int) -> str:
    """Truncate a label to its first ``level`` code characters, keeping the dot.

    Keeping the dot keeps truncated labels of different code systems apart
    (ICD-10-CM ``B20.`` vs ICD-10-PCS ``B20``; ICD-9 dx ``389.`` vs px ``38.9``).
    """
    if level == "full":
        return label
    n = int(level)
    dot = label.find(".")
    if dot < 0:
        return label[:n]
    if n >= dot:
        return label[: n + 1]
    return label[:n] + "."


def truncate_labels(labels: Iterable[str], level: Level | int) -> list[str]:
    """Truncate each label, de-duplicating while keeping first-seen order."""
    if level == "full":
        return list(dict.fromkeys(labels))
    return list(dict.fromkeys(truncate_label(lab, level) for lab in labels))


def label_kind(label: str, version: int = 10) -> Kind:
    """Whether a label is a diagnosis or a procedure (decidable from its dotted form)."""
    dot = label.find(".")
    if version == 10:
        return "dx" if dot >= 0 else "px"
    return "px" if dot == 2 or (dot < 0 and len(label) <= 2) else "dx"


def episode_labels(
    diagnoses: Sequence[str], procedures: Sequence[str], version: int
) -> list[str]:
    """Ordered gold labels of an episode: diagnoses in seq_num order (principal first), then procedures."""
    out = [to_label(c, "dx", version) for c in diagnoses]
    out += [to_label(c, "px", version) for c in procedures]
    return list(dict.fromkeys(out))
