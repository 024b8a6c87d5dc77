"""The deployable router: coder scores -> predicted codes -> P(correct) -> automate / assist / manual.

A :class:`Router` bundles what the pipeline fitted (decision rule, routing features, calibrated
confidence model, policy) with the calibration data the policy was chosen on, so that a new
policy (other costs, alpha, delta, capacity) can be chosen later without retraining. The HTTP
service, the MLflow pyfunc model and ``triage route`` all call this one class, so a decision is
the same wherever it is made.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from triage.artifacts import LegacyPickle, file_digests, load_state, save_state, verify_digests
from triage.coder.decision import DecisionRule
from triage.coder.scores import CodeScores
from triage.codes import (
    describe_label,
    label_kind,
    lookup_label,
    truncate_label,
)
from triage.confidence import ConfidenceModel, RoutingFeatures
from triage.data.settings import CARE_SETTINGS, care_setting_of
from triage.jsonsafe import finite_or_none
from triage.policy import CostModel, Policy, make_policy

#: ``serve(i, route, care_setting) -> object with route, mode, audit, holdout``: the operation
#: loop's rule (:func:`triage.operation.modes.serve`), given by the caller that knows the states.
ServeRule = Any

#: 2: components as JSON + arrays with file hashes in the manifest; 1 (refused): a joblib pickle.
BUNDLE_FORMAT = 2
LEGACY_BUNDLE_FORMAT = 1
MANIFEST = "manifest.json"
COMPONENTS = "components.npz"
LEGACY_COMPONENTS = "components.joblib"
CODER_FILE = "coder/coder.npz"
#: Candidates shown to an assisting coder: the accepted codes plus this many near misses.
N_SUGGESTIONS = 10
#: Top feature contributions returned as the decision's reasons.
N_REASONS = 3
#: Split_scores' memo of code spellings: at most this many (a sender of endless made-up codes
#: then pays the look-up each time instead of growing the memo).
_MAX_SPELLINGS = 200_000
#: The memo's value for a spelling found in no code system nor the vocabulary.
_UNKNOWN = "\x00unknown"


def bundle_dir(root: str | Path) -> Path:
    """The router bundle in ``root``: ``root`` itself, else the shallowest folder under it that
    holds a manifest (a downloaded MLflow model or artifact tree)."""
    root = Path(root)
    if (root / MANIFEST).is_file():
        return root
    found = sorted(root.rglob(MANIFEST), key=lambda p: len(p.parts))
    if not found:
        raise FileNotFoundError(f"no router bundle ({MANIFEST}) under {root}")
    return found[0].parent


class InvalidEpisode(ValueError):
    """An episode the router cannot route; ``field`` names the offending input."""

    def __init__(self, field: str, message: str, value: Any = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.value = value


@dataclass
class RoutingDecision:
    """Who codes one episode, with the codes and why. ``to_dict()`` is JSON-ready."""

    episode_id: Any
    route: str
    p_correct: float
    thresholds: dict[str, float | None]
    codes: list[dict[str, Any]]
    principal: str | None
    drg: str | None
    mdc: str | None
    drg_weight: float | None
    suggestions: list[dict[str, Any]]
    reasons: list[dict[str, Any]]
    queue: str | None
    priority: float | None
    model_version: str
    policy_version: str
    #: the care setting the episode was routed under (its policy thresholds are that setting's)
    care_setting: str | None = None
    #: input codes found in no code system nor the model's vocabulary: left out, reported back
    unknown_codes: list[str] = field(default_factory=list)
    #: in operation (``serve=``): what the policy decided before the setting's state (shadow,
    #: fallback) or a holdout draw changed the served ``route``; the state; the audit and holdout
    #: draws. Without ``serve`` the policy's route is served as is.
    policy_route: str | None = None
    mode: str | None = None
    audit: bool = False
    holdout: bool = False

    def to_dict(self) -> dict[str, Any]:
        # shallow on purpose: the nested lists are built fresh per decision, and asdict's deep copy
        # cost more than the decision itself; the field names are read once (_DECISION_FIELDS)
        return {name: getattr(self, name) for name in _DECISION_FIELDS}


#: RoutingDecision's field names, in order (dataclasses.fields costs more per call than to_dict)
_DECISION_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(RoutingDecision))


@dataclass
class Router:
    """Fitted routing components plus the calibration data behind the policy."""

    decision_rule: DecisionRule
    features: RoutingFeatures
    confidence: ConfidenceModel
    policy: Policy
    p_calibration: np.ndarray
    correct_calibration: np.ndarray
    #: care setting of each calibration episode (a per-setting policy is re-chosen on them)
    settings_calibration: np.ndarray | None = None
    icd_version: int = 10
    target: str = "exact"
    model_version: str = "unversioned"
    coder: Any = None
    allocator: Any = None
    info: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ inputs
    @property
    def has_coder(self) -> bool:
        return self.coder is not None

    def vocabulary(self) -> frozenset[str]:
        """Labels the model was fitted on: known even when retired from the current code tables."""
        vocab = self.__dict__.get("_vocabulary")
        if vocab is None:
            vocab = frozenset(getattr(self.features, "label_counts_", None) or ())
            self.__dict__["_vocabulary"] = vocab
        return vocab

    def split_scores(
        self, code_scores: Mapping[str, Any], field_name: str = "code_scores"
    ) -> tuple[dict[str, float], list[str]]:
        """(label -> score, unknown spellings): a code found in no code system of the model's ICD
        version nor in its vocabulary, or of no code shape at all, is returned as unknown (as
        sent), never guessed. InvalidEpisode names a score that is not a probability in [0, 1]
        and a code given twice."""
        if not isinstance(code_scores, Mapping):
            raise InvalidEpisode(field_name, "must be an object mapping codes to probabilities", code_scores)
        out: dict[str, float] = {}
        unknown: list[str] = []
        vocab = self.vocabulary()
        version = self.icd_version
        labels = self._spellings()
        for spelling, score in code_scores.items():
            if type(score) is float:  # what JSON gives: no further type checks
                s = score
            elif isinstance(score, bool) or not isinstance(score, (int, float, np.floating, np.integer)):
                raise InvalidEpisode(f"{field_name}.{spelling}", f"score must be a number, got {score!r}", score)
            else:
                s = float(score)
            if not 0.0 <= s <= 1.0:  # NaN and infinity fail too
                raise InvalidEpisode(f"{field_name}.{spelling}",
                                     f"score must be a probability in [0, 1], got {score!r}", score)
            label = labels.get(spelling)
            if label is None:
                try:
                    label = lookup_label(str(spelling), version, known=vocab)
                except ValueError:  # UnknownCode, or no code shape at all
                    label = _UNKNOWN
                if len(labels) < _MAX_SPELLINGS:
                    labels[spelling] = label
            if label is _UNKNOWN:
                unknown.append(str(spelling))
                continue
            if label in out:
                raise InvalidEpisode(f"{field_name}.{spelling}",
                                     f"duplicate code: {spelling!r} is {label}, already given", spelling)
            out[label] = s
        return out, unknown

    def _spellings(self) -> dict[Any, str]:
        """spelling -> label (or _UNKNOWN) as :func:`lookup_label` read it for this router's ICD
        version and vocabulary: a request's codes are mostly ones seen before, and a look-up per
        code per request cost more than the rest of reading the scores (bounded, not saved)."""
        memo = self.__dict__.get("_spelling_labels")
        if memo is None:
            memo = self.__dict__["_spelling_labels"] = {}
        return memo

    def _scores_for(
        self, code_scores: Mapping[str, Any] | None, text: str | None
    ) -> tuple[dict[str, float], list[str]]:
        if code_scores:
            return self.split_scores(code_scores)
        if text is not None and str(text).strip():
            if self.coder is None:
                raise InvalidEpisode("text", "this router bundle has no coder: send code_scores instead")
            frame = pd.DataFrame({"episode_id": [0], "subject_id": [0], "text": [str(text)]})
            return self.coder.predict_proba(frame).row(0), []
        raise InvalidEpisode("code_scores", "the episode has neither code_scores nor text")

    def scores_for(
        self, code_scores: Mapping[str, Any] | None = None, text: str | None = None
    ) -> tuple[dict[str, float], list[str]]:
        """(label -> score, unknown spellings) of one episode: its ``code_scores``
        (:meth:`split_scores`), else its note scored by the bundle's coder. InvalidEpisode names
        the field at fault (no scores and no note; a note without a coder)."""
        return self._scores_for(code_scores, text)

    def describe(self, label: str, version: int | None = None) -> str | None:
        """A label's description in the code tables (cached; None when they do not know it)."""
        return _describe(label, self.icd_version if version is None else int(version))

    def resolve_codes(self, codes: Iterable[str]) -> tuple[list[str], list[str]]:
        """(labels of human-entered codes in the order given, spellings found in no code system
        of the model's ICD version nor in its vocabulary): unknown codes are listed, never
        guessed."""
        known = self.vocabulary()
        labels: list[str] = []
        unknown: list[str] = []
        for code in codes:
            try:
                labels.append(lookup_label(code, self.icd_version, known=known))
            except ValueError:  # UnknownCode, or no code shape at all
                unknown.append(code)
        return labels, unknown

    # ------------------------------------------------------------------ routing
    def route_one(
        self,
        code_scores: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        text: str | None = None,
        episode_id: Any = None,
        serve: ServeRule | None = None,
    ) -> RoutingDecision:
        """Route one episode (the service's per-request path: numpy and python only).

        ``serve(i, route, care_setting)`` (``i`` = 0 here, the position in ``route_many``) turns the
        policy's route into the served one (:func:`triage.operation.modes.serve`: shadow,
        fallback, audit and holdout draws); the decision's suggestions and queue follow the
        served route, so an episode a shadow policy would automate reaches its coder assisted."""
        scores, unknown = self._scores_for(code_scores, text)
        md = dict(metadata or {})
        if text is not None:
            md.setdefault("text", text)
        md.setdefault("icd_version", self.icd_version)
        md["care_setting"] = episode_setting(md)
        codes = self.decision_rule.predict_row(scores)
        x = self.features.transform_one(scores, md)
        p, reasons = self.confidence.predict_one_explained(x, top_k=N_REASONS)
        route = self.policy.route_one(p, md["care_setting"] if self.policy.group_by is not None else None)
        served = (lambda r, setting: serve(0, r, setting)) if serve is not None else None
        return self._decision(episode_id, scores, codes, p, route, reasons, md, unknown, served)

    def _route(self, p: np.ndarray, settings: list[str]) -> np.ndarray:
        return self.policy.route(p, groups=settings if self.policy.group_by is not None else None)

    def route_many(self, episodes: Iterable[Mapping[str, Any]],
                   serve: ServeRule | None = None) -> list[RoutingDecision]:
        """Route a batch: each item has ``episode_id``, ``code_scores`` or ``text``, and ``metadata``.

        The model runs once over the batch; each decision equals ``route_one``'s (``serve`` as
        there, called with each item's position).
        """
        items = list(episodes)
        scores_list, metas, unknowns = [], [], []
        for i, item in enumerate(items):
            try:
                scores, unknown = self._scores_for(item.get("code_scores"), item.get("text"))
                scores_list.append(scores)
                unknowns.append(unknown)
            except InvalidEpisode as exc:
                raise InvalidEpisode(f"episodes[{i}].{exc.field}", exc.message, exc.value) from None
            md = dict(item.get("metadata") or {})
            if item.get("text") is not None:
                md.setdefault("text", item["text"])
            md.setdefault("icd_version", self.icd_version)
            md["care_setting"] = episode_setting(md)
            metas.append(md)
        if not items:
            return []
        if not any(scores_list):  # every code unknown: no score column to build a batch on
            return [self.route_one(item.get("code_scores"), item.get("metadata"), item.get("text"),
                                   item.get("episode_id"),
                                   None if serve is None else _at(serve, i))
                    for i, item in enumerate(items)]
        X = self.features.transform(_as_code_scores(scores_list), _metadata_frame(metas))
        p, contribs = self.confidence.predict_explained(X, top_k=N_REASONS)
        routes = self._route(p, [md["care_setting"] for md in metas])
        return [
            self._decision(item.get("episode_id"), s, self.decision_rule.predict_row(s), float(pi), str(r), rs, md,
                           unk, None if serve is None else _served_at(serve, i))
            for i, (item, s, pi, r, rs, md, unk) in enumerate(
                zip(items, scores_list, p, routes, contribs, metas, unknowns))
        ]

    def _decision(self, episode_id, scores, codes, p, route, reasons, md, unknown=(), served=None) -> RoutingDecision:
        t_automate, t_assist = self.policy.thresholds_for(md.get("care_setting"))
        if unknown and route == "automate":
            # a code the model cannot check was left out: the automated list may be missing it, so a
            # person sees the episode (assisted when the policy would assist it, else by hand)
            route = "assist" if t_assist is not None and p >= t_assist else "manual"
        operation: dict[str, Any] = {}
        if served is not None:
            outcome = served(route, md.get("care_setting"))
            operation = {"policy_route": route, "mode": outcome.mode, "audit": bool(outcome.audit),
                         "holdout": bool(outcome.holdout)}
            route = outcome.route
        v = self.icd_version
        code_rows = [
            {"code": lab, "description": _describe(lab, v), "kind": label_kind(lab, v), "score": scores[lab]}
            for lab in codes
        ]
        dx = [lab for lab in codes if label_kind(lab, v) == "dx"]
        px = [lab for lab in codes if label_kind(lab, v) == "px"]
        principal = dx[0] if dx else None
        drg = mdc = None
        weight = None
        if v == 10 and dx:
            g = _group(tuple(dx), tuple(px), md.get("gender"), md.get("died"))
            if g is not None:
                drg, mdc = g.drg, g.mdc
                weight = None if g.weight is None or math.isnan(g.weight) else float(g.weight)
        suggestions: list[dict[str, Any]] = []
        if route != "automate":  # an automated episode's answer has none (nor an allocator call)
            accepted = set(codes)
            near = sorted([(s, lab) for lab, s in scores.items() if lab not in accepted and s > 0],
                          reverse=True)[:N_SUGGESTIONS]
            suggestions = [
                {"code": lab, "description": _describe(lab, v), "score": s, "accepted": True}
                for lab, s in sorted(((lab, scores[lab]) for lab in codes), key=lambda t: -t[1])
            ] + [{"code": lab, "description": _describe(lab, v), "score": s, "accepted": False}
                 for s, lab in near]
        queue = priority = None
        if self.allocator is not None and route != "automate":
            # one home for the allocator's input: the same dict /v1/allocate builds from a stored decision
            episode = self.allocation_episode({
                "route": route, "p_correct": p, "codes": code_rows, "suggestions": suggestions,
                "principal": principal, "drg": drg, "mdc": mdc, "drg_weight": weight,
                "discharge_date": md.get("discharge_date"),
            })
            try:
                queue, priority = self.allocator.queue_and_priority(episode)
            except ValueError as exc:
                raise InvalidEpisode("metadata", str(exc)) from None
            priority = float(priority)
        return RoutingDecision(
            episode_id=episode_id,
            route=route,
            p_correct=float(p),
            thresholds={"automate": finite_or_none(t_automate), "assist": finite_or_none(t_assist)},
            codes=code_rows,
            principal=principal,
            drg=drg,
            mdc=mdc,
            drg_weight=weight,
            suggestions=suggestions,
            reasons=[{"feature": f, "contribution": float(c)} for f, c in reasons],
            queue=queue,
            priority=priority,
            model_version=self.model_version,
            policy_version=self.policy.version,
            unknown_codes=list(unknown),
            care_setting=md.get("care_setting"),
            **operation,
        )

    # ------------------------------------------------------------------ policy
    def with_policy(
        self,
        kind: str | None = None,
        alpha: float | None = None,
        delta: float | None = None,
        costs: Mapping[str, Any] | CostModel | None = None,
        method: str | None = None,
        fwer: str | None = None,
        per_setting: bool | None = None,
    ) -> Router:
        """A new router whose policy is re-chosen on the stored calibration data (no retraining).

        Unset arguments keep the current policy's; ``per_setting`` (default: as now) chooses one
        set of thresholds per care setting when the calibration episodes carry settings.
        """
        estimator, grouped = self.policy_estimator(kind, alpha, delta, costs, method, fwer, per_setting)
        if grouped and self.settings_calibration is None:
            raise ValueError("per_setting: this bundle's calibration episodes carry no care setting")
        # the settings that share delta were planned on the fitting episodes, which the bundle does
        # not keep: a re-chosen policy keeps the plan it was built with
        estimator.fit(self.p_calibration, self.correct_calibration,
                      groups=self.settings_calibration if grouped else None,
                      certify_groups=self.policy.constraints.get("certified_groups") if grouped else None)
        return replace(self, policy=estimator.policy_)

    def policy_estimator(
        self,
        kind: str | None = None,
        alpha: float | None = None,
        delta: float | None = None,
        costs: Mapping[str, Any] | CostModel | None = None,
        method: str | None = None,
        fwer: str | None = None,
        per_setting: bool | None = None,
    ) -> tuple[Any, bool]:
        """(unfitted policy estimator, per setting?) with the current policy's settings, the given
        ones overriding them: the one place :meth:`with_policy` and re-certification
        (:mod:`triage.operation.recertify`) take the policy's kind, method and costs from."""
        old = self.policy
        cost_model = costs if isinstance(costs, CostModel) else CostModel.from_dict(
            {**old.costs, **dict(costs or {})})
        c = old.constraints
        grouped = (old.group_by is not None) if per_setting is None else bool(per_setting)
        estimator = make_policy(
            kind or old.kind,
            cost_model,
            alpha=c.get("alpha") if alpha is None else alpha,
            # a stored None (a kind without delta) falls back to the default too
            delta=(0.1 if c.get("delta") is None else c["delta"]) if delta is None else delta,
            method=method or c.get("method"),
            fwer=fwer or c.get("fwer"),
            human_reference=c.get("human_reference"),
        )
        return estimator, grouped

    def with_calibration(self, policy: Mapping[str, Any] | Policy, p: Any, correct: Any,
                         settings: Any = None) -> Router:
        """This router with a policy certified on other calibration episodes (re-certification
        from a hospital's own labelled outcomes), kept so that ``with_policy`` re-chooses on them."""
        chosen = policy if isinstance(policy, Policy) else Policy.from_dict(dict(policy))
        p = np.asarray(p, dtype=float)
        correct = np.asarray(correct, dtype=bool)
        if p.shape != correct.shape or p.ndim != 1:
            raise ValueError("p and correct must be 1-d arrays of one length")
        return replace(self, policy=chosen, p_calibration=p, correct_calibration=correct,
                       settings_calibration=None if settings is None else np.asarray(settings, dtype=str))

    def policy_params(self) -> dict[str, Any]:
        """The full ``with_policy`` arguments that re-create the policy in force on this bundle.

        A policy change is stored in this form, not as the partial update that asked for it, so
        re-applying it to a freshly loaded bundle (reload, restart) gives the same policy.
        """
        c = self.policy.constraints
        return {
            "kind": self.policy.kind,
            "alpha": c.get("alpha"),
            "delta": c.get("delta"),
            "method": c.get("method"),
            "fwer": c.get("fwer"),
            "per_setting": self.policy.group_by is not None,
            "costs": dict(self.policy.costs),
        }

    def calibration_summary(self) -> dict[str, Any]:
        """The policy in force and the calibration data it was chosen on."""
        return {
            "policy": self.policy.to_dict(),
            "target": self.target,
            "n_calibration": int(self.p_calibration.size),
            "calibration_correct_rate": float(self.correct_calibration.mean()) if self.p_calibration.size else None,
            "model_version": self.model_version,
        }

    # ------------------------------------------------------------------ outcomes and allocation
    def outcome_correct(
        self,
        final_codes: Iterable[str],
        predicted_labels: Iterable[str],
        metadata: Mapping[str, Any] | None = None,
    ) -> bool:
        """Was a decision's code list right, judged against the coders' final codes under this
        router's own ``target``: the error its policy guarantees, so monitoring measures that error.

        Both lists are labels in the router's spelling, in order (principal first); ``metadata``
        is the episode's routing-time metadata (``age``, ``gender``, ``died`` group the MS-DRG of
        the ``drg`` targets). A ``jaccard`` router reads its threshold from ``info["jaccard_tau"]``.
        """
        from triage.confidence.targets import correctness

        md = dict(metadata or {})
        episode = pd.DataFrame([{"icd_version": self.icd_version, "age": md.get("age"),
                                 "gender": md.get("gender"), "died": md.get("died")}])
        correct = correctness([list(predicted_labels)], [list(final_codes)], target=self.target,
                              tau=float(self.info.get("jaccard_tau", 0.8)), episodes=episode)
        return bool(correct[0])

    def judge_outcome(self, decision: Mapping[str, Any], final_codes: Iterable[str]
                      ) -> tuple[bool, list[str]]:
        """(whether a stored decision's codes were right by the coders' final codes, the final
        codes found in no code system). The final codes may be in any spelling (an ambiguous one
        takes the decision's reading); an unknown final code is a disagreement; otherwise
        :meth:`outcome_correct` judges under the router's own target."""
        from triage.codes.normalize import final_labels

        predicted = [c["code"] for c in decision.get("codes", [])]
        labels, unknown = final_labels(set(predicted), list(final_codes))
        if unknown:
            return False, unknown
        return self.outcome_correct(labels, predicted, decision.get("metadata")), unknown

    def allocation_episode(self, decision: Mapping[str, Any]) -> dict[str, Any]:
        """The allocator's input for a routed decision (``RoutingDecision.to_dict()``, plus the
        ``discharge_date`` a store may keep beside it). A decision without predicted codes takes
        its strongest suggestion as the principal, so it still lands in the right queue."""
        codes = [c["code"] for c in decision.get("codes", [])]
        candidates = codes or [s["code"] for s in decision.get("suggestions", [])]
        mdc = decision.get("mdc")
        out = {
            "episode_id": decision.get("episode_id"),
            "route": decision["route"],
            "p_correct": decision["p_correct"],
            "principal": decision.get("principal") or (candidates[0] if candidates else None),
            "icd_version": self.icd_version,
            "drg": decision.get("drg"),
            "mdc": None if mdc in (None, "PRE") else mdc,
            "drg_weight": decision.get("drg_weight"),
            "n_codes": len(codes),
            "n_categories": len({truncate_label(c, 3) for c in codes}),
        }
        if decision.get("discharge_date"):
            out["discharge_date"] = decision["discharge_date"]
        return out

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the bundle directory: manifest.json, components.npz, calibration.npz, coder/.

        Nothing is pickled: the fitted components are stored as JSON and arrays
        (:mod:`triage.artifacts`; a component that cannot be stored so is refused here, naming it)
        and the manifest lists the sha256 of every file, checked before the bundle is read.
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for stale in (MANIFEST, LEGACY_COMPONENTS, COMPONENTS, "coder/coder.joblib"):  # never mix formats
            (path / stale).unlink(missing_ok=True)
        if (path / "coder").is_file():  # format 1 kept the coder in a file named "coder"
            (path / "coder").unlink()
        save_state({"features": self.features, "confidence": self.confidence, "allocator": self.allocator},
                   path / COMPONENTS, what="router")
        extra = {} if self.settings_calibration is None else {"settings": self.settings_calibration.astype(str)}
        np.savez(path / "calibration.npz", p=self.p_calibration, correct=self.correct_calibration, **extra)
        if self.coder is not None:
            self.coder.save(path / "coder")
        manifest = {
            "format": BUNDLE_FORMAT,
            "model_version": self.model_version,
            "icd_version": self.icd_version,
            "target": self.target,
            "decision_rule": self.decision_rule.to_dict(),
            "policy": self.policy.to_dict(),
            "has_coder": self.coder is not None,
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "info": self.info,
            "files": file_digests(path, exclude=[MANIFEST]),
        }
        (path / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Router:
        """Read a bundle written by :meth:`save`: the manifest first, then every file's hash, then
        the files (no pickle is read: a format-1 bundle is refused with how to convert it)."""
        path = Path(path)
        manifest = read_manifest(path)
        required = [COMPONENTS, "calibration.npz"] + ([CODER_FILE] if manifest.get("has_coder") else [])
        verify_digests(path, manifest.get("files"), required=required)
        parts = load_state(path / COMPONENTS, expect=dict)
        with np.load(path / "calibration.npz", allow_pickle=False) as cal:
            p_cal, correct_cal = cal["p"].copy(), cal["correct"].astype(bool)
            settings_cal = cal["settings"].astype(str) if "settings" in cal.files else None
        coder = None
        if manifest.get("has_coder"):
            from triage.coder import TextCoder

            coder = TextCoder.load(path / CODER_FILE)
        return cls(
            decision_rule=DecisionRule.from_dict(manifest["decision_rule"]),
            features=parts["features"],
            confidence=parts["confidence"],
            policy=Policy.from_dict(manifest["policy"]),
            p_calibration=p_cal,
            correct_calibration=correct_cal,
            settings_calibration=settings_cal,
            icd_version=int(manifest["icd_version"]),
            target=manifest["target"],
            model_version=manifest["model_version"],
            coder=coder,
            allocator=parts.get("allocator"),
            info=manifest.get("info", {}),
        )


def _at(serve: Any, i: int) -> Any:
    """``serve`` with the position fixed (route_one calls it with 0)."""
    return lambda _zero, route, setting: serve(i, route, setting)


def _served_at(serve: Any, i: int) -> Any:
    return lambda route, setting: serve(i, route, setting)
def read_manifest(path: str | Path) -> dict[str, Any]:
    """A bundle's manifest (JSON); LegacyPickle for a format-1 bundle, ValueError for others."""
    manifest_path = Path(path) / MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{path}: not a router bundle (no {MANIFEST})")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{manifest_path}: not valid JSON ({type(exc).__name__})") from None
    if not isinstance(manifest, dict):
        raise ValueError(f"{manifest_path}: not a JSON object")
    fmt = manifest.get("format")
    if fmt == LEGACY_BUNDLE_FORMAT:
        raise LegacyPickle(
            f"{path}: refused, a pickled bundle (format {fmt}) can run code when loaded. Convert it once, from a "
            f"source you trust: `triage models convert {path} NEW_DIR --i-trust-this-file`")
    if fmt != BUNDLE_FORMAT:
        raise ValueError(f"{manifest_path}: bundle format {fmt!r}, expected {BUNDLE_FORMAT}")
    return manifest


def convert_pickle_bundle(source: str | Path, dest: str | Path) -> Path:
    """Re-save a format-1 (pickled) bundle in the current format. This *unpickles* the old
    bundle, i.e. runs any code it holds: only for a bundle from a source you trust."""
    import joblib

    source, dest = Path(source), Path(dest)
    manifest = json.loads((source / MANIFEST).read_text(encoding="utf-8"))
    if manifest.get("format") != LEGACY_BUNDLE_FORMAT:
        raise ValueError(f"{source}: bundle format {manifest.get('format')!r} is not the pickled format "
                         f"{LEGACY_BUNDLE_FORMAT}; nothing to convert")
    if dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f"{dest}: exists and is not empty")
    parts = joblib.load(source / LEGACY_COMPONENTS)
    with np.load(source / "calibration.npz", allow_pickle=False) as cal:
        p_cal, correct_cal = cal["p"].copy(), cal["correct"].astype(bool)
        settings_cal = cal["settings"].astype(str) if "settings" in cal.files else None
    coder = None
    if manifest.get("has_coder"):
        from triage.coder import TextCoder

        coder = TextCoder.from_pickle(source / "coder")  # a file, or a folder holding coder.joblib
    router = Router(
        decision_rule=DecisionRule.from_dict(manifest["decision_rule"]), features=parts["features"],
        confidence=parts["confidence"], policy=Policy.from_dict(manifest["policy"]),
        p_calibration=p_cal, correct_calibration=correct_cal, settings_calibration=settings_cal,
        icd_version=int(manifest["icd_version"]), target=manifest["target"],
        model_version=manifest["model_version"], coder=coder, allocator=parts.get("allocator"),
        info=manifest.get("info", {}),
    )
    return router.save(dest)


def _as_code_scores(rows: list[dict[str, float]]) -> CodeScores:
    """A batch of label -> score dicts as one sparse score table (rows in order)."""
    import scipy.sparse as sp

    classes = sorted({lab for row in rows for lab in row})
    index = {lab: j for j, lab in enumerate(classes)}
    indptr = np.cumsum([0] + [len(row) for row in rows])
    indices = np.fromiter((index[lab] for row in rows for lab in row), dtype=np.int64, count=int(indptr[-1]))
    data = np.fromiter((s for row in rows for s in row.values()), dtype=np.float32, count=int(indptr[-1]))
    matrix = sp.csr_matrix((data, indices, indptr), shape=(len(rows), len(classes)))
    return CodeScores(np.arange(len(rows)), np.asarray(classes, dtype=object), matrix)


#: The one list of routing-time fields: what the router reads besides the code scores. The
#: service's Metadata schema, the MLflow pyfunc and ``triage batch`` all derive their inputs from
#: it (``text`` travels beside the metadata; ``icd_version`` defaults to the bundle's).
ROUTING_METADATA_FIELDS = (
    "text", "admission_type", "age", "los_days", "gender", "died", "icd_version", "discharge_date",
    "care_setting",
)


def _metadata_frame(metas: list[dict[str, Any]]) -> pd.DataFrame:
    """Metadata dicts as the episodes frame RoutingFeatures.transform reads (aligned by position)."""
    return pd.DataFrame(
        {c: pd.Series([md.get(c) for md in metas], dtype=object) for c in ROUTING_METADATA_FIELDS}
    )


def episode_setting(metadata: Mapping[str, Any]) -> str:
    """The care setting an episode is routed under: its ``care_setting`` if it names one, else the
    setting its ``admission_type`` maps to (:mod:`triage.data.settings`; never from codes)."""
    given = metadata.get("care_setting")
    if given is None:
        return care_setting_of(metadata.get("admission_type"))
    if not isinstance(given, str) or given not in CARE_SETTINGS:
        raise InvalidEpisode("metadata.care_setting", f"must be one of {list(CARE_SETTINGS)}", given)
    return given



_DESCRIPTIONS: dict[tuple[str, int], str | None] = {}


def _describe(label: str, version: int) -> str | None:
    key = (label, version)
    if key not in _DESCRIPTIONS:
        try:
            _DESCRIPTIONS[key] = describe_label(label, version)
        except (ValueError, KeyError):
            _DESCRIPTIONS[key] = None
    return _DESCRIPTIONS[key]


def _group(dx: tuple[str, ...], px: tuple[str, ...], gender: Any, died: Any):
    from triage.codes.drg import group_episode

    try:
        return group_episode(dx, px, gender, is_alive=not (died is True or died == 1))
    except ValueError:
        return None
