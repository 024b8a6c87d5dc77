"""Queue (coder specialty) of an episode: DRG family > MDC > ICD-10-CM chapter > default."""

from __future__ import annotations

import numpy as np

from triage.allocation.config import AllocationConfig


class QueueMapper:
    """Looks up the specialty queue of an episode from its predicted DRG, MDC and chapter.

    DRG ranges are expanded into a dense table once, so a lookup is a dict hit (hot path) and a
    whole column is a numpy gather.
    """

    def __init__(self, config: AllocationConfig):
        self.config = config
        self.queues: tuple[str, ...] = tuple(dict.fromkeys((*config.specialties, config.default_queue)))
        self._index = {q: i for i, q in enumerate(self.queues)}
        self._drg: dict[int, str] = {}
        for fam in config.drg_families:  # first family listed wins on overlap
            for lo, hi in fam.ranges:
                for drg in range(lo, hi + 1):
                    self._drg.setdefault(drg, fam.specialty)
        self._mdc = dict(config.mdc_queues)
        self._chapter = dict(config.chapter_queues)
        self._default = config.default_queue
        size = max([0, *self._drg, *self._mdc, *self._chapter]) + 1
        self._drg_table = self._table(self._drg, size)
        self._mdc_table = self._table(self._mdc, size)
        self._chapter_table = self._table(self._chapter, size)

    def _table(self, mapping: dict[int, str], size: int) -> np.ndarray:
        table = np.full(size, -1, dtype=np.int16)
        for key, spec in mapping.items():
            if key >= 0:
                table[key] = self._index[spec]
        return table

    def queue(self, drg: int | None = None, mdc: int | None = None, chapter: int | None = None) -> str:
        """Queue of one episode (None or a negative number means unknown)."""
        if drg is not None and drg in self._drg:
            return self._drg[drg]
        if mdc is not None and mdc in self._mdc:
            return self._mdc[mdc]
        if chapter is not None and chapter in self._chapter:
            return self._chapter[chapter]
        return self._default

    def queue_codes(self, drg: np.ndarray, mdc: np.ndarray, chapter: np.ndarray) -> np.ndarray:
        """Queue index (into ``self.queues``) per episode; inputs are int arrays, -1 for unknown."""
        out = np.full(len(drg), self._index[self._default], dtype=np.int16)
        for values, table in ((chapter, self._chapter_table), (mdc, self._mdc_table), (drg, self._drg_table)):
            values = np.asarray(values, dtype=np.int64)
            ok = (values >= 0) & (values < len(table))
            hit = np.full(len(values), -1, dtype=np.int16)
            hit[ok] = table[values[ok]]
            out = np.where(hit >= 0, hit, out)  # later (higher-precedence) sources overwrite
        return out
