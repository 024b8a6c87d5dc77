"""Errors and the exclusion report of the loaders."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


class DataError(ValueError):
    """Bad input data; the message names the file and, where it applies, the column."""


@dataclass
class LoadReport:
    """What a loader kept, dropped and assumed. Nothing is dropped without being counted here."""

    source: str = ""
    format: str = ""
    n_loaded: int = 0
    excluded: dict[str, int] = field(default_factory=dict)     # reason -> episodes
    filtered: dict[str, int] = field(default_factory=dict)     # not errors: e.g. other ICD version
    examples: dict[str, list[str]] = field(default_factory=dict)  # reason -> a few offending values
    warnings: list[str] = field(default_factory=list)

    def exclude(self, reason: str, n: int, examples: list[str] | None = None) -> None:
        if n <= 0:
            return
        self.excluded[reason] = self.excluded.get(reason, 0) + int(n)
        if examples:
            self.examples.setdefault(reason, []).extend(str(e) for e in examples[:5])

    def warn(self, message: str) -> None:
        import warnings

        self.warnings.append(message)
        warnings.warn(message, stacklevel=3)

    @property
    def n_excluded(self) -> int:
        return sum(self.excluded.values())

    def to_dict(self) -> dict:
        d = asdict(self)
        d["n_excluded"] = self.n_excluded
        return d

    def summary(self) -> str:
        parts = [f"{self.n_loaded} episodes loaded from {self.source} ({self.format})"]
        for reason, n in sorted(self.excluded.items()):
            ex = self.examples.get(reason)
            parts.append(f"excluded {n}: {reason}" + (f" (e.g. {', '.join(ex[:3])})" if ex else ""))
        for reason, n in sorted(self.filtered.items()):
            parts.append(f"filtered {n}: {reason}")
        return "; ".join(parts)
