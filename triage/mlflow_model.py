"""The router as an MLflow pyfunc model, logged *from code* (this file is the model).

MLflow copies this file into the logged model and executes it on load; ``set_model`` at the
bottom names the model object. The router bundle itself travels as the artifact ``router``
(a directory written by ``Router.save``), so nothing here is pickled.

Input: a DataFrame of episodes with ``episode_id``, ``code_scores`` (JSON string or dict of
label -> score) and optional ``text`` and the routing-time metadata columns. Output: one row per
episode with every field of the router's decision (route, probability, thresholds, codes, DRG,
queue, priority, model/policy versions; lists as JSON), the rows ``triage batch`` writes.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

from triage.decisions.episodes import EPISODE_METADATA_FIELDS, check_columns, episodes_from_columns
from triage.decisions.rows import decision_columns, decision_fields, output_columns

#: Metadata columns the router reads at routing time (any subset may be present): the
#: routing-time fields an episode supplies (triage.router.ROUTING_METADATA_FIELDS).
METADATA_COLUMNS = EPISODE_METADATA_FIELDS

#: Output columns, in order: the RoutingDecision's fields (see triage.decisions.rows).
OUTPUT_COLUMNS = output_columns()


def episodes_from_frame(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Turn the pyfunc input DataFrame into the dicts ``Router.route_many`` takes.

    The same conversion ``triage batch`` uses; a bad value raises a ValueError naming the row,
    the episode and the column.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"the router model takes a pandas DataFrame of episodes, got {type(frame).__name__}")
    check_columns(list(frame.columns))
    columns = {c: frame[c].tolist() for c in frame.columns if isinstance(c, str)}
    episodes, _, _ = episodes_from_columns(columns, len(frame), strict=True)
    return episodes


def decisions_to_frame(decisions: list[Any]) -> pd.DataFrame:
    """One output row per ``RoutingDecision`` (missing numbers as NaN, lists as JSON)."""
    columns = decision_columns(decisions)
    doubles = {name for name, kind in decision_fields() if kind == "double"} | {
        c for c in OUTPUT_COLUMNS if c.startswith("t_")}
    frame = pd.DataFrame({c: (pd.Series(columns[c], dtype="float64") if c in doubles
                              else pd.Series(columns[c], dtype=object)) for c in OUTPUT_COLUMNS})
    return frame


class RouterModel(PythonModel):
    """Routes a batch of episodes with the router bundle logged as artifact ``router``."""

    def load_context(self, context) -> None:
        from triage.router import Router

        self.router = Router.load(context.artifacts["router"])

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        from triage.decisions.batch import score_text_episodes
        from triage.router import InvalidEpisode

        episodes = episodes_from_frame(model_input)
        score_text_episodes(self.router, episodes)  # the coder once over the batch, as triage batch
        try:
            decisions = self.router.route_many(episodes)
        except InvalidEpisode:
            # Find the offending row so the error names the episode as well as the field.
            for row, episode in enumerate(episodes):
                try:
                    self.router.route_one(**episode)
                except InvalidEpisode as exc:
                    field = getattr(exc, "field", None)
                    message = getattr(exc, "message", None) or str(exc)
                    raise ValueError(
                        f"row {row} (episode_id={episode['episode_id']!r}): field {field!r}: "
                        f"{message} (value {getattr(exc, 'value', None)!r})"
                    ) from None
            raise
        return decisions_to_frame(decisions)


mlflow.models.set_model(RouterModel())
