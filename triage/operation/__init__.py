"""Keeping the guarantee in operation: audit/holdout draws, the anytime-valid watch on the error
among automated episodes, label-free drift warnings and re-certification from the hospital's own
outcomes. Pure statistics (numpy/scipy); the service stores the states these return.

``recertify`` (which builds a new Router) is imported from :mod:`triage.operation.recertify`, so
importing the watch does not load the router.
"""

from triage.operation.drift import DriftReference, StreamDrift
from triage.operation.sampling import audit_draw, audit_probability, holdout_draw
from triage.operation.watch import (
    RiskWatch,
    WatchReading,
    confidence_sequence,
    first_crossing,
    split_delta,
)

__all__ = [
    "DriftReference",
    "RiskWatch",
    "StreamDrift",
    "WatchReading",
    "audit_draw",
    "audit_probability",
    "confidence_sequence",
    "first_crossing",
    "holdout_draw",
    "split_delta",
]
