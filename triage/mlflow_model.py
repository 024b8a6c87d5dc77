"""The router as an MLflow pyfunc model, logged *from code* (this file is the model).

MLflow copies this file into the logged model and executes it on load; ``set_model`` at the
bottom names the model object. The router bundle itself travels as the artifact ``router``
(a directory written by ``Router.save``), so nothing here is pickled.

Input: a DataFrame of episodes with ``episode_id``, ``code_scores`` (JSON string or dict of
label -> score) and optional ``text`` and metadata columns. Output: one row per episode with
the route, probability, thresholds, codes (JSON) and the model/policy versions.
"""

from __future__ import annotations

import json
import math
from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

#: Metadata columns the router reads at routing time (any subset may be present).
METADATA_COLUMNS = ("age", "gender", "admission_type", "los_days", "discharge_date")

#: Output columns, in order.
OUTPUT_COLUMNS = (
    "episode_id", "route", "p_correct", "t_automate", "t_assist", "codes",
    "model_version", "policy_version",
)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists/dicts: pd.isna returns an array
        return False


def _parse_scores(value: Any, row: int, episode_id: Any) -> dict[str, float] | None:
    if _missing(value):
        return None
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"row {row} (episode_id={episode_id!r}): column 'code_scores' is not valid JSON: {exc}"
            ) from None
        if not isinstance(parsed, dict):
            raise ValueError(  # noqa: TRY004 - a bad value in a column, not a programming error
                f"row {row} (episode_id={episode_id!r}): column 'code_scores' must be a JSON object "
                f"of label -> score, got {type(parsed).__name__}"
            )
        return parsed
    raise ValueError(
        f"row {row} (episode_id={episode_id!r}): column 'code_scores' must be a JSON string or a dict, "
        f"got {type(value).__name__}"
    )


def episodes_from_frame(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Turn the pyfunc input DataFrame into the dicts ``Router.route_many`` takes."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"the router model takes a pandas DataFrame of episodes, got {type(frame).__name__}")
    if "episode_id" not in frame.columns:
        raise ValueError(f"input is missing the column 'episode_id' (columns: {list(frame.columns)})")
    if "code_scores" not in frame.columns and "text" not in frame.columns:
        raise ValueError("input needs a 'code_scores' column (or 'text' when the bundle has a coder)")
    episodes = []
    for row, record in enumerate(frame.to_dict(orient="records")):
        episode_id = record["episode_id"]
        metadata = {k: record[k] for k in METADATA_COLUMNS if k in record and not _missing(record[k])}
        text = record.get("text")
        episodes.append({
            "episode_id": episode_id,
            "code_scores": _parse_scores(record.get("code_scores"), row, episode_id),
            "text": None if _missing(text) else str(text),
            "metadata": metadata or None,
        })
    return episodes


def decisions_to_frame(decisions: list[Any]) -> pd.DataFrame:
    """One output row per ``RoutingDecision``."""
    rows = []
    for d in decisions:
        t_automate, t_assist = d.thresholds.get("automate"), d.thresholds.get("assist")
        rows.append({
            "episode_id": d.episode_id,
            "route": d.route,
            "p_correct": float(d.p_correct),
            # None means "never" (an infeasible policy automates nothing): NaN in a float column
            "t_automate": math.nan if t_automate is None else float(t_automate),
            "t_assist": math.nan if t_assist is None else float(t_assist),
            "codes": json.dumps(d.codes),
            "model_version": str(d.model_version),
            "policy_version": str(d.policy_version),
        })
    return pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS))


class RouterModel(PythonModel):
    """Routes a batch of episodes with the router bundle logged as artifact ``router``."""

    def load_context(self, context) -> None:
        from triage.router import Router

        self.router = Router.load(context.artifacts["router"])

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        from triage.router import InvalidEpisode

        episodes = episodes_from_frame(model_input)
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
