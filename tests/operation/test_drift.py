"""Label-free drift warnings: silent on streams from the calibration population, loud on shifts."""

import dataclasses
import json

import numpy as np
import pytest
from scipy import stats

from triage.operation.drift import OTHER, DriftReference, StreamDrift

SETTINGS = np.array(["inpatient", "observation", "day_case"])
MIX = [0.6, 0.25, 0.15]
THRESHOLDS = {"inpatient": 0.9, "observation": 0.85, "day_case": None}


def draw(rng, n, shift=0.0, mix=MIX, unknown=0.02):
    s = rng.choice(SETTINGS, n, p=mix)
    p = np.clip(rng.beta(5, 2, n) - shift, 0, 1)
    t = np.array([THRESHOLDS[x] or np.inf for x in s])
    return p, s, p >= t, rng.random(n) < unknown


def reference(rng, n=3000, **kw):
    p, s, _, _ = draw(rng, n)
    return DriftReference.from_calibration(p, s, THRESHOLDS, unknown_share=0.02, **kw)


def test_reference_from_calibration():
    ref = reference(np.random.default_rng(0))
    assert len(ref.p_bins) == 9 and np.allclose(ref.p_bin_shares, 0.1, atol=0.001)
    assert set(ref.automation_rate) == {"inpatient", "observation"}     # day_case automates nothing
    assert set(ref.setting_bands) == {*SETTINGS, OTHER} and ref.setting_bands[OTHER][0] == 0
    for lo, hi in ref.p_bin_bands:
        assert lo < 0.1 < hi
    assert DriftReference.from_dict(json.loads(json.dumps(ref.to_dict()))) == ref


def _warned(ref, rng, n, delta):
    d = StreamDrift(ref, delta)
    d.update(*draw(rng, n))
    return d.reading()["warning"]


@pytest.mark.slow
def test_no_warning_beyond_delta_on_streams_from_the_calibration_population():
    """Streams 5x the calibration size; the point reference (no band) is the negative control."""
    rng = np.random.default_rng(1)
    runs, warned, point_warned = 12, 0, 0
    for _ in range(runs):
        ref = reference(rng, n=300, reference_delta=0.02)
        point = dataclasses.replace(
            ref, p_bin_bands=tuple((s, s) for s in ref.p_bin_shares),
            setting_bands={**{k: (v, v) for k, v in ref.setting_mix.items()}, OTHER: (0.0, 1e-9)},
            automation_bands={k: (v, v) for k, v in ref.automation_rate.items()})
        seed = rng.integers(1 << 30)
        warned += _warned(ref, np.random.default_rng(seed), 1500, 0.02)
        point_warned += _warned(point, np.random.default_rng(seed), 1500, 0.02)
    bound = 0.02 + 0.02
    assert stats.binom.sf(warned - 1, runs, bound) > 0.001, warned
    assert stats.binom.sf(point_warned - 1, runs, bound) < 0.001, point_warned


def test_shifts_are_caught_by_the_right_statistic():
    rng = np.random.default_rng(2)
    ref = reference(rng)
    d = StreamDrift(ref, 0.01).update(*draw(rng, 2000))
    assert not d.reading()["warning"]
    d.update(*draw(rng, 3000, shift=0.08))                 # the model got less confident
    r = d.reading()["statistics"]
    assert r["confidence"]["warning"] and r["confidence"]["warned_at"] > 2000
    assert r["automation[inpatient]"]["warning"]
    assert not r["setting_mix"]["warning"] and not r["unknown_codes"]["warning"]

    d = StreamDrift(ref, 0.01).update(*draw(rng, 2000))
    d.update(*draw(rng, 3000, mix=[0.45, 0.25, 0.30]))      # more day cases
    r = d.reading()["statistics"]
    assert r["setting_mix"]["warning"] and not r["confidence"]["warning"]

    d = StreamDrift(ref, 0.01).update(*draw(rng, 1000, unknown=0.10))  # a new code table
    assert d.reading()["statistics"]["unknown_codes"]["warning"]

    d = StreamDrift(ref, 0.01).update(*draw(rng, 1000))
    p, s, a, u = draw(rng, 300)
    d.update(p, np.where(rng.random(300) < 0.2, "emergency", s), a, u)  # a setting never calibrated
    assert d.reading()["statistics"]["setting_mix"]["warning"]


def test_state_round_trip_and_batches():
    rng = np.random.default_rng(3)
    ref = reference(rng)
    p, s, a, u = draw(rng, 1500, shift=0.03)
    whole = StreamDrift(ref, 0.01, block=100).update(p, s, a, u)
    parts = StreamDrift(ref, 0.01, block=100)
    for lo, hi in ((0, 1), (1, 333), (333, 1200)):
        parts = StreamDrift.from_state(json.loads(json.dumps(parts.update(p[lo:hi], s[lo:hi], a[lo:hi],
                                                                         u[lo:hi]).to_state())))
    parts.update(p[1200:], s[1200:], a[1200:], u[1200:])
    assert parts.reading() == whole.reading()
    json.dumps(whole.reading())


def test_bad_input_is_named():
    ref = reference(np.random.default_rng(4))
    d = StreamDrift(ref)
    with pytest.raises(ValueError, match="settings has 1"):
        d.update([0.5, 0.6], ["inpatient"], [0, 0], [0, 0])
    with pytest.raises(ValueError, match="automated"):
        d.update([0.5], ["inpatient"], [2], [0])
    with pytest.raises(ValueError, match="probabilities"):
        d.update([1.5], ["inpatient"], [0], [0])
    with pytest.raises(ValueError, match="p_calibration"):
        DriftReference.from_calibration([0.5] * 3, ["inpatient"] * 3, THRESHOLDS)
    with pytest.raises(ValueError, match="format"):
        StreamDrift.from_state({"format": 0})
