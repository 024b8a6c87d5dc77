"""The seed paper's evaluation suite, on sparse inputs.

``evaluate`` is the entry point; the modules hold the individual metrics: ``sets`` (exact
match, Jaccard, P/R/F1), ``ranking`` (AUC-ROC, AUC-PR, per-document MAP, P@k, R@k,
R-precision, coverage error, steps to full recall), ``hierarchy`` (CoPHE-style
hierarchical F1), ``sequence`` (principal diagnosis), ``coverage`` (top-k code
coverage, Figures 2-4), ``intervals`` (95% CIs).
"""

from triage.coder.align import align
from triage.metrics.coverage import category_distribution, code_coverage
from triage.metrics.evaluate import evaluate
from triage.metrics.hierarchy import hierarchical_prf
from triage.metrics.sequence import principal
from triage.metrics.sets import exact_match_ratio, jaccard_score, macro_prf, micro_prf

__all__ = [
    "align",
    "category_distribution",
    "code_coverage",
    "evaluate",
    "exact_match_ratio",
    "hierarchical_prf",
    "jaccard_score",
    "macro_prf",
    "micro_prf",
    "principal",
]
