"""The model registry side: log the router as a pyfunc model, version it, move ``champion``, export it.

A new version becomes champion when it beats the current champion on the objective *at the
same guarantee* (same correctness target, alpha and delta): a cheaper policy that promises
less is not better, so a differing guarantee never auto-promotes. ``promote=True`` forces it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature
from mlflow.types.schema import ColSpec, Schema

from triage.tracking.environment import model_requirements, project_wheel
from triage.tracking.params import floats_equal
from triage.tracking.uri import existing_tracking_uri, tracking_uri_set

REGISTERED_MODEL = "coding-triage-router"
CHAMPION = "champion"
MODEL_NAME = "router"
ROUTER_ARTIFACT = "router"
#: The model artifact holding this project's wheel (requirements.txt names it by relative path).
WHEEL_ARTIFACT = "wheel"
#: Settings that define the router's guarantee; versions are only compared when they agree.
GUARANTEE_KEYS = ("target", "alpha", "delta")
#: Objectives where a larger value is better; every other objective is a cost (lower is better).
MAXIMIZE_OBJECTIVES = frozenset({"automation_rate", "oracle_automation_rate", "auroc_correct", "cost_saving"})
MODEL_CODE = Path(__file__).resolve().parent.parent / "mlflow_model.py"
#: Written next to the bundle by ``export_model`` so the service can tell which version it serves.
EXPORT_SOURCE_FILE = "mlflow_source.json"


class RegistryError(ValueError):
    """A registry request that cannot be met (unknown version, no champion, bad model URI)."""


def model_signature() -> ModelSignature:
    """Input: episodes with code scores (JSON), text and the routing-time metadata; output: the decision.

    Both sides derive from the router: the inputs from ``ROUTING_METADATA_FIELDS`` (via
    ``triage.decisions.episodes``), the outputs from the ``RoutingDecision`` fields (``triage.decisions.rows``).
    """
    from triage.decisions.episodes import EPISODE_METADATA_FIELDS, metadata_kind
    from triage.decisions.rows import output_schema

    kinds = {"number": "double", "bool": "boolean", "date": "string", "string": "string"}
    inputs = Schema([
        ColSpec("long", "episode_id"),
        ColSpec("string", "code_scores", required=False),
        ColSpec("string", "text", required=False),
        *(ColSpec(kinds[metadata_kind(f)], f, required=False) for f in EPISODE_METADATA_FIELDS),
    ])
    arrow = {"int64": "long", "double": "double", "string": "string", "bool": "boolean"}
    outputs = Schema([
        ColSpec(arrow[str(f.type)], f.name, required=f.name in ("episode_id", "route", "p_correct"))
        for f in output_schema()
    ])
    return ModelSignature(inputs=inputs, outputs=outputs)


#: Example codes per ICD version, used when the caller gives no input example.
_EXAMPLE_SCORES = {
    10: {"I50.9": 0.93, "I10.": 0.88, "E11.9": 0.41},
    9: {"428.0": 0.93, "401.9": 0.88, "250.00": 0.41},
}


def default_input_example(icd_version: int | None = 10) -> pd.DataFrame:
    """One plausible episode in the model's input format."""
    scores = _EXAMPLE_SCORES.get(int(icd_version or 10), _EXAMPLE_SCORES[10])
    return pd.DataFrame([{
        "episode_id": 1,
        "code_scores": json.dumps(scores),
        "age": 71.0,
        "gender": "F",
        "admission_type": "EW EMER.",
        "los_days": 4.2,
        "discharge_date": "2026-11-20",
    }])


@dataclass(frozen=True)
class VersionFacts:
    """What the promotion rule needs to know about one model version."""

    version: str
    objective: str
    value: float | None
    guarantee: dict[str, str] = field(default_factory=dict)


def guarantee_tags(guarantee: dict[str, Any]) -> dict[str, str]:
    return {f"guarantee.{k}": str(v) for k, v in guarantee.items() if v is not None}


def facts_from_version(mv: Any) -> VersionFacts:
    tags = dict(mv.tags or {})
    value = tags.get("objective_value")
    return VersionFacts(
        version=str(mv.version),
        objective=tags.get("objective", ""),
        value=None if value in (None, "", "None", "nan") else float(value),
        guarantee={k.split(".", 1)[1]: v for k, v in tags.items() if k.startswith("guarantee.")},
    )


def decide_promotion(
    new: VersionFacts, champion: VersionFacts | None, force: bool = False
) -> tuple[bool, str]:
    """Whether ``new`` should become champion, and why (the reason is logged as a tag)."""
    if force:
        return True, "promoted on request (--promote)"
    if champion is None:
        return True, "first version with no champion: promoted"
    if new.value is None:
        return False, f"objective {new.objective!r} missing from this run: champion v{champion.version} kept"
    if champion.objective != new.objective:
        return False, (f"champion v{champion.version} was ranked on {champion.objective!r}, this run on "
                       f"{new.objective!r}: not comparable, champion kept")
    differing = [
        k for k in GUARANTEE_KEYS
        if k in new.guarantee or k in champion.guarantee
        if not floats_equal(new.guarantee.get(k), champion.guarantee.get(k))
    ]
    if differing:
        detail = ", ".join(f"{k} {champion.guarantee.get(k)} -> {new.guarantee.get(k)}" for k in differing)
        return False, f"guarantee differs from champion v{champion.version} ({detail}): not auto-promoted"
    if champion.value is None:
        return True, f"champion v{champion.version} has no {new.objective}: promoted"
    maximize = new.objective in MAXIMIZE_OBJECTIVES
    better = new.value > champion.value if maximize else new.value < champion.value
    verb = "beats" if better else "does not beat"
    message = (f"{new.objective} {new.value:.6g} {verb} champion v{champion.version} "
               f"({champion.value:.6g}) at the same guarantee")
    return better, message + (": promoted" if better else ": champion kept")


def log_router_model(
    router_dir: Path,
    input_example: pd.DataFrame | None = None,
    registered_model: str = REGISTERED_MODEL,
    icd_version: int | None = 10,
) -> Any:
    """Log the bundle as a models-from-code pyfunc in the active run and register it."""
    router_dir = Path(router_dir)
    if not (router_dir / "manifest.json").is_file():
        raise RegistryError(f"router bundle {router_dir} has no manifest.json (write it with Router.save)")
    example = input_example if input_example is not None else default_input_example(icd_version)
    with tempfile.TemporaryDirectory() as tmp:
        # the model carries the project (a wheel built now) and pinned requirements, so
        # `mlflow models serve --env-manager virtualenv` rebuilds it without this repository
        wheel = project_wheel()
        artifacts = {ROUTER_ARTIFACT: str(router_dir)}
        if wheel is not None:
            artifacts[WHEEL_ARTIFACT] = str(wheel)
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            python_model=str(MODEL_CODE),
            artifacts=artifacts,
            signature=model_signature(),
            input_example=example,
            registered_model_name=registered_model,
            # Explicit requirements: inferring them would re-import the model in a subprocess.
            pip_requirements=model_requirements(f"artifacts/{wheel.name}" if wheel is not None else None),
        )
        _relative_model_code_path(info, Path(tmp) / "mlmodel")
    return info


def _relative_model_code_path(info: Any, scratch: Path) -> None:
    """MLflow records the model file and the artifacts by the absolute paths they were logged
    from; loading uses only the copies inside the model folder (the file's name, each artifact's
    ``path``). Rewrite those records as the relative paths, so the logged model names no path of
    the machine that logged it."""
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"{info.artifact_path}/MLmodel",
                                                     dst_path=str(scratch)))
    model = Model.load(str(local))
    flavor = model.flavors.get("python_function", {})
    if "model_code_path" in flavor:
        flavor["model_code_path"] = Path(flavor["model_code_path"]).name
    for artifact in (flavor.get("artifacts") or {}).values():
        artifact["uri"] = artifact["path"]
    model.save(str(local))
    MlflowClient().log_model_artifact(info.model_id, str(local))


def tag_version(client: MlflowClient, name: str, version: str, tags: dict[str, str]) -> None:
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)


def champion_facts(client: MlflowClient, name: str) -> VersionFacts | None:
    try:
        mv = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    return facts_from_version(mv)


def set_champion(client: MlflowClient, name: str, version: str) -> None:
    client.set_registered_model_alias(name, CHAMPION, str(version))


def promote(
    version: str | int, tracking_uri: str | None = None, name: str = REGISTERED_MODEL, alias: str = CHAMPION
) -> str:
    """Point ``alias`` at ``version`` (manual promotion); returns the version."""
    with tracking_uri_set(existing_tracking_uri(tracking_uri)) as uri:
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        version = str(version)
        try:
            client.get_model_version(name, version)
        except MlflowException:
            known = [str(mv.version) for mv in _versions(client, name)]
            raise RegistryError(
                f"model {name!r} has no version {version!r} (versions: {', '.join(known) or 'none'})"
            ) from None
        client.set_registered_model_alias(name, alias, version)
        client.set_model_version_tag(name, version, "promotion_reason", "promoted by hand")
        return version


def _versions(client: MlflowClient, name: str) -> list[Any]:
    try:
        found = client.search_model_versions(f"name = '{name}'")
    except MlflowException:
        return []
    return sorted(found, key=lambda mv: int(mv.version))


def list_models(tracking_uri: str | None = None, name: str = REGISTERED_MODEL) -> pd.DataFrame:
    """One row per registered version: aliases, run, objective and guarantee."""
    columns = ["version", "aliases", "run_id", "created", "objective", "objective_value",
               "target", "alpha", "delta", "promotion_reason"]
    with tracking_uri_set(existing_tracking_uri(tracking_uri)) as uri:
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        try:
            aliases_by_version: dict[str, list[str]] = {}
            for alias, version in client.get_registered_model(name).aliases.items():
                aliases_by_version.setdefault(str(version), []).append(alias)
        except MlflowException:
            return pd.DataFrame(columns=columns)
        rows = []
        for mv in _versions(client, name):
            facts = facts_from_version(mv)
            rows.append({
                "version": int(mv.version),
                "aliases": ",".join(sorted(aliases_by_version.get(str(mv.version), []))),
                "run_id": mv.run_id,
                "created": pd.Timestamp(mv.creation_timestamp, unit="ms"),
                "objective": facts.objective,
                "objective_value": facts.value,
                **{k: facts.guarantee.get(k) for k in GUARANTEE_KEYS},
                "promotion_reason": (mv.tags or {}).get("promotion_reason"),
            })
        return pd.DataFrame(rows, columns=columns)


def _router_artifact_dir(model_dir: Path) -> Path:
    """Where the ``router`` artifact sits inside a downloaded pyfunc model."""
    mlmodel = model_dir / "MLmodel"
    if not mlmodel.is_file():
        raise RegistryError(f"{model_dir} is not an MLflow model (no MLmodel file)")
    flavor = Model.load(str(mlmodel)).flavors.get("python_function", {})
    artifacts = flavor.get("artifacts") or {}
    if ROUTER_ARTIFACT not in artifacts:
        raise RegistryError(
            f"{model_dir}/MLmodel has no artifact {ROUTER_ARTIFACT!r} (artifacts: {sorted(artifacts)}): "
            "not a coding-triage router model"
        )
    return model_dir / artifacts[ROUTER_ARTIFACT]["path"]


def export_model(
    model_uri: str = f"models:/{REGISTERED_MODEL}@{CHAMPION}",
    dest: str | Path = "models/router",
    tracking_uri: str | None = None,
) -> Path:
    """Copy the router bundle out of a logged/registered model so the service needs no tracking server.

    The old ``dest`` is replaced only after the new copy is complete.
    """
    dest = Path(dest)
    with tracking_uri_set(existing_tracking_uri(tracking_uri)) as uri, tempfile.TemporaryDirectory() as tmp:
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp, tracking_uri=uri))
        except MlflowException as exc:
            raise RegistryError(f"cannot download model {model_uri!r} from {uri}: {exc.message}") from None
        bundle = _router_artifact_dir(local)
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = dest.with_name(dest.name + ".partial")
        if staging.exists():
            shutil.rmtree(staging)
        shutil.copytree(bundle, staging)
        (staging / EXPORT_SOURCE_FILE).write_text(json.dumps(_source_facts(model_uri, uri), indent=2))
        if dest.exists():
            old = dest.with_name(dest.name + ".old")
            if old.exists():
                shutil.rmtree(old)
            dest.rename(old)
            staging.rename(dest)
            shutil.rmtree(old)
        else:
            staging.rename(dest)
    return dest


def _source_facts(model_uri: str, uri: str) -> dict[str, Any]:
    """Registry version and run behind ``model_uri`` (best effort: run URIs have no version)."""
    facts: dict[str, Any] = {"model_uri": model_uri, "tracking_uri": uri}
    if model_uri.startswith("models:/"):
        ref = model_uri[len("models:/"):]
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        try:
            if "@" in ref:
                name, alias = ref.split("@", 1)
                mv = client.get_model_version_by_alias(name, alias)
            elif "/" in ref:
                name, version = ref.split("/", 1)
                mv = client.get_model_version(name, version)
            else:
                return facts
        except MlflowException:
            return facts
        facts.update({"name": mv.name, "version": str(mv.version), "run_id": mv.run_id})
    return facts
