"""Model files that cannot run code: every component round-trips exactly, a changed file is
refused before it is parsed, a pickle (old bundle, hostile file) is refused unread, and an
attribute that cannot be stored is refused at save time."""

from __future__ import annotations

import json
import os
import sys
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest

from triage import artifacts
from triage.artifacts import IntegrityError, LegacyPickle, UnsupportedState, UntrustedState, load_state, save_state
from triage.router import Router, convert_pickle_bundle

sys.path.insert(0, str(Path(__file__).parent / "service"))
sys.path.insert(0, str(Path(__file__).parent / "batch"))
from router_bundle import build_router, sample_episodes, synthetic_cohort  # noqa: E402


class Hostile:
    """Unpickling this creates the marker file: the proof a loader ran code from a model file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def router() -> Router:
    return build_router(n=600, seed=0)


def _decisions(router: Router, episodes) -> list[dict]:
    return [d.to_dict() for d in router.route_many(episodes)]


def test_bundle_round_trips_with_identical_decisions(router, tmp_path):
    path = router.save(tmp_path / "b")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format"] == 2 and set(manifest["files"]) == {"components.npz", "calibration.npz"}
    assert not list(path.glob("*.joblib"))
    loaded = Router.load(path)
    episodes = sample_episodes(150)
    a, b = _decisions(router, episodes), _decisions(loaded, episodes)
    assert a == b  # same routes, probabilities (max |dp| = 0), reasons, codes
    for ep in episodes[:20]:
        assert router.route_one(ep["code_scores"], ep["metadata"]).to_dict() == \
            loaded.route_one(ep["code_scores"], ep["metadata"]).to_dict()


@pytest.mark.parametrize("kind", ["lightgbm", "torch-mlp", "product", "min-accepted"])
def test_confidence_models_round_trip_exactly(kind, tmp_path):
    from triage.confidence import ConfidenceModel, RoutingFeatures, RoutingInput

    scores, episodes, _ = synthetic_cohort(500, 3)
    features = RoutingFeatures(code_systems=False).fit(RoutingInput(scores, episodes))
    X = features.transform(scores, episodes)
    y = (X[:, 0] > np.median(X[:, 0])).astype(int) ^ (np.arange(len(X)) % 7 == 0)
    for calibration in ("isotonic", "sigmoid", "temperature", "venn-abers", "none"):
        model = ConfidenceModel(kind=kind, calibration=calibration, n_estimators=15, epochs=2).fit(X, y)
        model.save(tmp_path / "m.npz")
        again = ConfidenceModel.load(tmp_path / "m.npz")
        p, reasons = model.predict_explained(X)
        q, reasons_again = again.predict_explained(X)
        assert np.array_equal(p, q) and reasons == reasons_again, calibration
    again_features = load_state(save_state(features, tmp_path / "f.npz"))
    np.testing.assert_array_equal(features.transform(scores, episodes), again_features.transform(scores, episodes))


@pytest.mark.parametrize("model", ["torch-mlp", "torch-linear", "ovr-logistic"])
def test_coder_round_trips_exactly(model, tmp_path):
    from coder_bundle import FAST_CODER, note_episodes

    from triage.coder import TextCoder

    episodes = note_episodes(120, seed=1)
    coder = TextCoder(**{**FAST_CODER, "model": model}).fit(episodes)
    again = TextCoder.load(coder.save(tmp_path / "coder"))
    a, b = coder.predict_proba(episodes).matrix, again.predict_proba(episodes).matrix
    assert a.shape == b.shape and (a != b).nnz == 0


def test_allocator_round_trips(tmp_path):
    from triage.allocation import Allocator

    alloc = Allocator()
    again = load_state(save_state(alloc, tmp_path / "a.npz"))
    ep = {"route": "manual", "p_correct": 0.3, "principal": "I50.9", "icd_version": 10, "drg": "291",
          "mdc": "05", "drg_weight": 1.3, "n_codes": 3, "n_categories": 2}
    assert again.queue_and_priority(ep) == alloc.queue_and_priority(ep)


def test_a_value_that_cannot_be_stored_is_refused_at_save(router, tmp_path):
    router.features.scorer_ = lambda x: x  # a future attribute that is code, not state
    try:
        with pytest.raises(UnsupportedState, match=r"router\.features\.scorer_"):
            router.save(tmp_path / "b")
    finally:
        del router.features.scorer_

    class Local:  # a class outside the trusted modules
        pass

    with pytest.raises(UnsupportedState, match="Local"):
        save_state({"x": Local()}, tmp_path / "x.npz")


def test_tampered_file_is_refused_before_it_is_parsed(router, tmp_path, monkeypatch):
    path = router.save(tmp_path / "b")
    data = bytearray((path / "components.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (path / "components.npz").write_bytes(bytes(data))

    def never(*args, **kwargs):
        raise AssertionError("a file was parsed before its hash was checked")

    monkeypatch.setattr("triage.router.load_state", never)
    monkeypatch.setattr(np, "load", never)
    with pytest.raises(IntegrityError, match="components.npz does not match"):
        Router.load(path)


def test_unlisted_or_missing_files_are_refused(router, tmp_path):
    path = router.save(tmp_path / "b")
    manifest = json.loads((path / "manifest.json").read_text())
    del manifest["files"]["components.npz"]
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError, match="not listed"):
        Router.load(path)
    manifest["files"]["../outside"] = "0" * 64
    manifest["files"]["components.npz"] = artifacts.sha256_file(path / "components.npz")
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError, match="outside the bundle"):
        Router.load(path)


def _legacy_bundle(router: Router, path: Path, components) -> Path:
    """A bundle as format 1 wrote it (components pickled by joblib)."""
    path.mkdir(parents=True)
    joblib.dump(components, path / "components.joblib")
    np.savez(path / "calibration.npz", p=router.p_calibration, correct=router.correct_calibration)
    manifest = {"format": 1, "model_version": router.model_version, "icd_version": 10, "target": router.target,
                "decision_rule": router.decision_rule.to_dict(), "policy": router.policy.to_dict(),
                "has_coder": False, "info": {}}
    (path / "manifest.json").write_text(json.dumps(manifest, default=str))
    return path


def test_old_pickle_bundle_is_refused_unread_and_converts_once(router, tmp_path):
    marker = tmp_path / "ran"
    hostile = _legacy_bundle(router, tmp_path / "hostile", {"features": Hostile(marker)})
    with pytest.raises(LegacyPickle, match="triage models convert"):
        Router.load(hostile)
    assert not marker.exists()
    old = _legacy_bundle(router, tmp_path / "old", {"features": router.features, "confidence": router.confidence,
                                                     "allocator": None})
    with pytest.raises(LegacyPickle):
        Router.load(old)
    converted = Router.load(convert_pickle_bundle(old, tmp_path / "new"))
    episodes = sample_episodes(50)
    assert _decisions(converted, episodes) == _decisions(router, episodes)


def test_a_pickle_behind_matching_hashes_never_runs(router, tmp_path):
    """An attacker who rewrites the manifest's hashes still cannot make the loader unpickle."""
    marker = tmp_path / "ran"
    path = router.save(tmp_path / "b")
    joblib.dump({"features": Hostile(marker)}, path / "components.npz")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["components.npz"] = artifacts.sha256_file(path / "components.npz")
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(LegacyPickle):
        Router.load(path)
    assert not marker.exists()


def test_a_state_naming_an_untrusted_class_is_refused(tmp_path):
    save_state({"x": 1}, tmp_path / "s.npz")
    with zipfile.ZipFile(tmp_path / "s.npz") as z:
        arrays = {n[:-4]: np.load(z.open(n), allow_pickle=False) for n in z.namelist()}
    for name in ("os:system", "subprocess:Popen", "builtins:eval", "triage.router:json.loads"):
        tree = {"format": 1, "root": {"$object": name, "state": {"$dict": []}}}
        arrays["__state__"] = np.frombuffer(json.dumps(tree).encode(), dtype=np.uint8)
        with open(tmp_path / "evil.npz", "wb") as fh:
            np.savez(fh, **arrays)
        with pytest.raises(UntrustedState):
            load_state(tmp_path / "evil.npz")


def test_pickled_coder_is_refused_and_converted_by_the_cli(tmp_path):
    from typer.testing import CliRunner

    from triage.cli import app

    marker = tmp_path / "ran"
    joblib.dump(Hostile(marker), tmp_path / "coder.joblib")
    from triage.coder import TextCoder

    with pytest.raises(LegacyPickle, match="triage models convert"):
        TextCoder.load(tmp_path)
    assert not marker.exists()
    runner = CliRunner()
    r = runner.invoke(app, ["models", "convert", str(tmp_path / "coder.joblib"), str(tmp_path / "c.npz")])
    assert r.exit_code == 2 and "--i-trust-this-file" in r.output
    assert not marker.exists()
