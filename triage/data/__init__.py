"""The episode table and its loaders (MIMIC-IV, MIMIC-III, the reference pipeline's files)."""

from triage.data.errors import DataError, LoadReport
from triage.data.loader import detect_format, gold_labels, load_episodes, load_episodes_with_report
from triage.data.schema import EPISODE_COLUMNS
from triage.data.split import patient_split, read_split_file

__all__ = [
    "EPISODE_COLUMNS",
    "DataError",
    "LoadReport",
    "dataset_summary",
    "detect_format",
    "gold_labels",
    "load_episodes",
    "load_episodes_with_report",
    "patient_split",
    "read_split_file",
]


def __getattr__(name: str):
    if name == "dataset_summary":
        from triage.data.summary import dataset_summary

        return dataset_summary
    raise AttributeError(name)
