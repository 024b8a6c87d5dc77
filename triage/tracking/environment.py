"""What a logged router model needs to rebuild its environment on a clean machine.

``mlflow models serve --env-manager virtualenv`` (or ``uv``, or ``spark_udf`` with a non-local
env manager) creates a fresh environment from the model's own ``requirements.txt``. For that to
work without this repository, the model carries:

* a wheel of this project, built at log time from the source tree the running code comes from,
  as the model artifact ``wheel`` (``artifacts/coding_triage-<version>-py3-none-any.whl``), named
  in ``requirements.txt`` by that relative path (MLflow installs from a copy of the model folder,
  so relative paths resolve there);
* every runtime dependency pinned to the version installed here (``name==version``), so the
  rebuilt environment is the one the router was fitted and tested in.

Installed from a wheel rather than a source tree, the project cannot rebuild itself: the model
then requires ``coding-triage==<version>`` from the package index it came from.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import sys
import tempfile
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

DISTRIBUTION = "coding-triage"
#: Files of the source tree a wheel is built from (pyproject's packages and its readme).
_SOURCES = ("pyproject.toml", "README.md", "triage", "service")


class ModelEnvironmentError(RuntimeError):
    """The project's wheel could not be built (the message carries pip's last lines)."""


def source_root() -> Path | None:
    """The source tree the running ``triage`` package comes from, or None when it is installed."""
    import triage

    root = Path(triage.__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else None


def _declared_requirements(root: Path | None) -> list[str]:
    if root is not None:
        project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        return list(project.get("dependencies", []))
    return list(metadata.requires(DISTRIBUTION) or [])


def project_version(root: Path | None = None) -> str:
    root = source_root() if root is None else root
    if root is not None:
        return str(tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"])
    return metadata.version(DISTRIBUTION)


def pinned_requirements(root: Path | None = None) -> list[str]:
    """The project's runtime dependencies, each pinned to the version installed here.

    Optional extras (``extra == "dev"``) and requirements whose environment marker does not hold
    here are left out; a declared dependency that is not installed, or installed outside its
    declared range, is an error (a model logged from that environment would not rebuild).
    """
    pins = []
    for line in _declared_requirements(root):
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            raise ModelEnvironmentError(f"dependency {req.name!r} of {DISTRIBUTION} is not installed") from None
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            raise ModelEnvironmentError(
                f"{req.name} {version} is installed but {DISTRIBUTION} declares {req.name}{req.specifier}: "
                "a model logged from this environment would not rebuild (reinstall the project)")
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        # without a local label: ==2.13.0 matches the installed 2.13.0+cpu and the index's build
        pins.append(f"{req.name}{extras}=={version.split('+', 1)[0]}")
    return pins


#: Wheels built by this process, by source tree (a process logging several models builds once).
_BUILT: dict[Path, Path] = {}


def project_wheel(root: Path | None = None) -> Path | None:
    """This project's wheel, built once per process into a folder removed at exit (None when the
    project is installed, not a source tree)."""
    root = source_root() if root is None else root
    if root is None:
        return None
    if root not in _BUILT or not _BUILT[root].is_file():
        folder = Path(tempfile.mkdtemp(prefix="coding-triage-wheel-"))
        atexit.register(shutil.rmtree, folder, True)
        _BUILT[root] = build_wheel(folder, root)
    return _BUILT[root]


def build_wheel(out_dir: Path, root: Path | None = None) -> Path | None:
    """Build this project's wheel into ``out_dir`` (None when the project is installed, not a
    source tree). The sources are copied first, so concurrent builds never share a build folder."""
    root = source_root() if root is None else root
    if root is None:
        return None
    out_dir = Path(out_dir)
    staging = out_dir / "source"
    staging.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in _SOURCES:
        path = root / name
        if path.is_dir():
            shutil.copytree(path, staging / name, ignore=ignore)
        elif path.is_file():
            shutil.copy2(path, staging / name)
    wheels = out_dir / "wheel"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "--wheel-dir", str(wheels), str(staging)],
        capture_output=True, text=True, check=False,
    )
    built = sorted(wheels.glob("coding_triage-*.whl"))
    if done.returncode != 0 or len(built) != 1:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise ModelEnvironmentError(f"building the {DISTRIBUTION} wheel for the logged model failed: {tail}")
    return built[0]


def model_requirements(wheel_artifact: str | None, root: Path | None = None) -> list[str]:
    """``requirements.txt`` of the logged model: the project (its bundled wheel, by the path
    relative to the model folder, or ``coding-triage==<version>``) and every dependency pinned."""
    project = wheel_artifact if wheel_artifact is not None else f"{DISTRIBUTION}=={project_version(root)}"
    return [project, *pinned_requirements(root)]
