"""The text coder's choices, importable without torch (the config and the CLI list them)."""

from __future__ import annotations

from typing import Literal

#: ``TextCoder(model=...)``: a joint torch MLP, a joint torch linear layer, or one-vs-rest logistic.
MODEL_KINDS: tuple[str, ...] = ("torch-mlp", "torch-linear", "ovr-logistic")
ModelKind = Literal[MODEL_KINDS]
#: Which coder a run deploys: one cross-fitting fold's model (``fit_cross_fit(deploy_fold=...)``),
#: whose out-of-fold scores are then the kind seen at routing time, or a final model fitted on
#: every training episode.
DEPLOY_MODES: tuple[str, ...] = ("fold", "full")
