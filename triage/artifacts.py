"""Model files that cannot run code: learned state as JSON plus NumPy arrays, checked by hash.

A pickle (``joblib.load``) runs whatever callable the file names, so a model file from an
untrusted place is a program. This module stores a fitted object generically from its state
(``__getstate__``: constructor parameters and the trailing-underscore learned attributes alike)
as a JSON tree whose leaves are plain values, NumPy arrays (saved with ``allow_pickle=False``),
LightGBM boosters (their text model, ``model_to_string``) and torch tensors (as arrays). Objects
are named by class; on load only *trusted* classes are rebuilt (this package's own, scikit-learn's
and ``torch.nn``'s modules), with ``cls.__new__`` and their ``__setstate__`` or ``__dict__``:
nothing a file names is ever called. A value of any other type is refused *at save time*,
naming where it sits (``features.cache_.x``), so a new attribute that cannot be stored fails a
test instead of silently becoming a pickle.

One state is one ``.npz`` file (a zip of ``.npy`` arrays plus the JSON tree). ``file_digests`` /
``verify_digests`` hash the files of a bundle; a bundle's manifest lists them and the loader
checks every hash before reading anything else.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import zipfile
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

#: Format of the JSON tree inside a state file.
STATE_FORMAT = 1
_TREE = "__state__"
#: Modules whose classes a state file may name. Everything else is refused on save and on load.
TRUSTED_MODULE_PREFIXES = ("triage.", "sklearn.", "torch.nn.modules.")
#: Pickle files start with the PROTO opcode; zip files (``.npz``) with ``PK``.
_PICKLE_MAGIC = b"\x80"
_ZIP_MAGIC = b"PK"


class UnsupportedState(TypeError):
    """A value that cannot be stored without code execution on load; ``where`` names it."""

    def __init__(self, where: str, what: str) -> None:
        super().__init__(f"{where}: cannot store {what} in a model file (only JSON values, NumPy arrays, "
                         f"LightGBM boosters, torch tensors and objects of {', '.join(TRUSTED_MODULE_PREFIXES)} "
                         "classes)")
        self.where = where


class UntrustedState(ValueError):
    """A model file that names a class outside the trusted modules, or whose tree is malformed."""


class IntegrityError(ValueError):
    """A model file whose content hash differs from its manifest's (changed after it was saved)."""


class LegacyPickle(ValueError):
    """A model stored as a pickle (bundle format 1, ``coder.joblib``): refused, never read."""


# ------------------------------------------------------------------------------------------ save
class _Encoder:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def _array(self, arr: np.ndarray) -> str:
        key = f"a{len(self.arrays)}"
        self.arrays[key] = arr
        return key

    def encode(self, value: Any, where: str) -> Any:  # noqa: C901 - one branch per stored type
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int) and type(value) is int:
            return value
        if type(value) is float:
            return value if math.isfinite(value) else {"$float": repr(value)}
        if isinstance(value, np.ndarray):
            return self._ndarray(value, where)
        if isinstance(value, np.generic):
            if value.dtype.kind not in "biuf":
                raise UnsupportedState(where, f"a NumPy scalar of dtype {value.dtype}")
            return {"$scalar": value.dtype.str, "value": self.encode(value.item(), where)}
        if isinstance(value, np.dtype):
            if value.kind not in "biufUSM" or value.fields is not None:
                raise UnsupportedState(where, f"the NumPy dtype {value}")
            return {"$dtype": value.str}
        if isinstance(value, type) and issubclass(value, np.generic):
            return {"$dtype_type": np.dtype(value).str}
        if type(value) in (dict, OrderedDict):
            pairs = [[self.encode(k, f"{where}.<key>"), self.encode(v, f"{where}.{k}")] for k, v in value.items()]
            return {"$odict" if type(value) is OrderedDict else "$dict": pairs}
        if type(value) is list:
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if type(value) is tuple:
            return {"$tuple": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if type(value) in (set, frozenset):
            items = [self.encode(v, f"{where}.<item>") for v in _sorted_if_possible(value)]
            return {"$set" if type(value) is set else "$frozenset": items}
        special = self._special(value, where)
        if special is not None:
            return special
        return self._object(value, where)

    def _ndarray(self, arr: np.ndarray, where: str) -> Any:
        if arr.dtype.kind in "biufcUSmM" and arr.dtype.fields is None:
            return {"$array": self._array(np.ascontiguousarray(arr))}
        if arr.dtype.kind == "O":
            flat = arr.ravel().tolist()
            if flat and all(isinstance(v, str) for v in flat):  # labels: stored as text, read back as objects
                return {"$array": self._array(np.asarray(flat, dtype=str).reshape(arr.shape)), "object": True}
            return {"$objects": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(flat)],
                    "shape": list(arr.shape)}
        raise UnsupportedState(where, f"an array of dtype {arr.dtype}")

    def _special(self, value: Any, where: str) -> Any:
        module = type(value).__module__ or ""
        if module.startswith("scipy.sparse"):
            import scipy.sparse as sp

            if not sp.issparse(value) or value.format not in ("csr", "csc"):
                raise UnsupportedState(where, f"a {type(value).__name__} (only CSR/CSC sparse matrices)")
            return {"$sparse": value.format, "matrix": isinstance(value, sp.spmatrix), "shape": list(value.shape),
                    "data": self._array(value.data), "indices": self._array(value.indices),
                    "indptr": self._array(value.indptr)}
        if module.startswith("lightgbm"):
            import lightgbm as lgb

            if type(value) is not lgb.Booster:
                raise UnsupportedState(where, f"a {type(value).__name__} (store its .booster_)")
            text = value.model_to_string(num_iteration=-1)
            return {"$lightgbm": self._array(np.frombuffer(text.encode("utf-8"), dtype=np.uint8))}
        if module.startswith("torch") and not module.startswith("torch.nn.modules."):
            import torch

            if isinstance(value, torch.Tensor):
                t = value.detach().cpu()
                if t.dtype in (torch.bfloat16,) or t.is_sparse or t.is_quantized:
                    raise UnsupportedState(where, f"a torch tensor of dtype {t.dtype} / layout {t.layout}")
                return {"$tensor": self._array(t.numpy().copy()),
                        "parameter": isinstance(value, torch.nn.Parameter),
                        "requires_grad": bool(value.requires_grad)}
            raise UnsupportedState(where, f"a {module}.{type(value).__qualname__}")
        return None

    def _object(self, value: Any, where: str) -> Any:
        cls = type(value)
        name = f"{cls.__module__}:{cls.__qualname__}"
        if not _trusted_name(cls.__module__) or "<" in cls.__qualname__ or callable_only(value):
            raise UnsupportedState(where, f"a {name}")
        state = value.__getstate__()
        if state is None:
            state = {}
        return {"$object": name, "state": self.encode(state, where)}


def callable_only(value: Any) -> bool:
    """Functions, methods, classes and modules are code, not state."""
    import types

    return isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.ModuleType,
                              type))


def _sorted_if_possible(items: Iterable[Any]) -> list[Any]:
    items = list(items)
    try:
        return sorted(items)
    except TypeError:
        return items


def _trusted_name(module: str) -> bool:
    return any(module.startswith(p) for p in TRUSTED_MODULE_PREFIXES)


def save_state(obj: Any, path: str | Path, what: str = "model") -> Path:
    """Write ``obj`` to one ``.npz`` state file (the exact ``path`` given); UnsupportedState names
    the first value that cannot be stored, and nothing is written then."""
    enc = _Encoder()
    tree = {"format": STATE_FORMAT, "root": enc.encode(obj, what)}
    payload = np.frombuffer(json.dumps(tree, allow_nan=False).encode("utf-8"), dtype=np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:  # a file object: savez would append ".npz" to a name without it
        np.savez(fh, **{_TREE: payload}, **enc.arrays)
    return path


# ------------------------------------------------------------------------------------------ load
class _Decoder:
    def __init__(self, arrays: Mapping[str, np.ndarray], source: str) -> None:
        self.arrays = arrays
        self.source = source

    def _bad(self, message: str) -> UntrustedState:
        return UntrustedState(f"{self.source}: {message}")

    def _array(self, key: Any) -> np.ndarray:
        if not isinstance(key, str) or key == _TREE or key not in self.arrays:
            raise self._bad(f"refers to a missing array {key!r}")
        return self.arrays[key]

    def decode(self, node: Any) -> Any:  # noqa: C901 - one branch per stored type
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict) or len(node) == 0:
            raise self._bad("malformed state tree")
        tag = next(iter(node))
        body = node[tag]
        if tag == "$float":
            if body not in ("nan", "inf", "-inf"):
                raise self._bad(f"bad float {body!r}")
            return float(body)
        if tag == "$array":
            arr = self._array(body)
            return arr.astype(object) if node.get("object") else arr
        if tag == "$objects":
            out = np.empty(len(body), dtype=object)
            out[:] = [self.decode(v) for v in body]
            return out.reshape([int(s) for s in node.get("shape", [len(body)])])
        if tag == "$scalar":
            return np.dtype(_dtype(body, self)).type(self.decode(node["value"]))
        if tag == "$dtype":
            return np.dtype(_dtype(body, self))
        if tag == "$dtype_type":
            return np.dtype(_dtype(body, self)).type
        if tag in ("$dict", "$odict"):
            pairs = [(_hashable(self.decode(k)), self.decode(v)) for k, v in body]
            return OrderedDict(pairs) if tag == "$odict" else dict(pairs)
        if tag == "$tuple":
            return tuple(self.decode(v) for v in body)
        if tag == "$set":
            return {_hashable(self.decode(v)) for v in body}
        if tag == "$frozenset":
            return frozenset(_hashable(self.decode(v)) for v in body)
        if tag == "$sparse":
            import scipy.sparse as sp

            if body not in ("csr", "csc"):
                raise self._bad(f"bad sparse format {body!r}")
            parts = (self._array(node["data"]), self._array(node["indices"]), self._array(node["indptr"]))
            shape = tuple(int(s) for s in node["shape"])
            kind = {("csr", True): sp.csr_matrix, ("csc", True): sp.csc_matrix,
                    ("csr", False): sp.csr_array, ("csc", False): sp.csc_array}[(body, bool(node.get("matrix")))]
            return kind(parts, shape=shape)
        if tag == "$lightgbm":
            import lightgbm as lgb

            return lgb.Booster(model_str=self._array(body).tobytes().decode("utf-8"))
        if tag == "$tensor":
            import torch

            t = torch.from_numpy(np.array(self._array(body)))
            if node.get("parameter"):
                return torch.nn.Parameter(t, requires_grad=bool(node.get("requires_grad")))
            return t.requires_grad_(bool(node.get("requires_grad")))
        if tag == "$object":
            return self._object(body, node.get("state"))
        raise self._bad(f"unknown tag {tag!r}")

    def _object(self, name: Any, state_node: Any) -> Any:
        cls = trusted_class(name, self.source)
        state = self.decode(state_node)
        obj = cls.__new__(cls)
        setstate = getattr(obj, "__setstate__", None)
        if setstate is not None:
            setstate(state)
        elif isinstance(state, dict):
            obj.__dict__.update(state)
        else:
            raise self._bad(f"{name}: state is not a dict")
        return obj


def trusted_class(name: Any, source: str = "model file") -> type:
    """The class ``module:Qualname`` names, if it is one of the trusted modules' classes."""
    if not isinstance(name, str) or ":" not in name:
        raise UntrustedState(f"{source}: malformed class name {name!r}")
    module, _, qualname = name.partition(":")
    if not _trusted_name(module) or not all(part.isidentifier() for part in qualname.split(".")):
        raise UntrustedState(f"{source}: names class {name!r}, outside the trusted modules "
                             f"{TRUSTED_MODULE_PREFIXES}; refused")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if not isinstance(obj, type) or not _trusted_name(obj.__module__):
        raise UntrustedState(f"{source}: {name!r} is not a trusted class; refused")
    return obj


def _dtype(text: Any, dec: _Decoder) -> str:
    if not isinstance(text, str) or np.dtype(text).kind not in "biufUSmM" or np.dtype(text).fields:
        raise dec._bad(f"bad dtype {text!r}")
    return text


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


def load_state(path: str | Path, expect: type | tuple[type, ...] | None = None) -> Any:
    """The object a state file holds (no code named by the file runs); ``expect`` checks its type.

    A pickle is refused unread (:class:`LegacyPickle`), a class outside the trusted modules
    :class:`UntrustedState`."""
    path = Path(path)
    refuse_pickle(path)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    if _TREE not in arrays:
        raise UntrustedState(f"{path}: not a model state file (no {_TREE})")
    try:
        tree = json.loads(arrays[_TREE].tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UntrustedState(f"{path}: unreadable state tree ({type(exc).__name__})") from None
    if not isinstance(tree, dict) or tree.get("format") != STATE_FORMAT:
        raise UntrustedState(f"{path}: state format {tree.get('format') if isinstance(tree, dict) else None!r}, "
                             f"expected {STATE_FORMAT}")
    obj = _Decoder(arrays, str(path)).decode(tree.get("root"))
    if expect is not None and not isinstance(obj, expect):
        raise UntrustedState(f"{path}: holds a {type(obj).__name__}, not a {getattr(expect, '__name__', expect)}")
    return obj


def refuse_pickle(path: Path) -> None:
    """Raise LegacyPickle for a pickle (looked at by its first bytes only: never unpickled)."""
    with open(path, "rb") as fh:
        head = fh.read(2)
    if head[:1] == _PICKLE_MAGIC or (head != _ZIP_MAGIC and not zipfile.is_zipfile(path)):
        raise LegacyPickle(
            f"{path}: refused, a pickled model (the old format) can run code when loaded. Convert it once, "
            f"from a source you trust: `triage models convert {path} NEW --i-trust-this-file`")


# ---------------------------------------------------------------------------------------- hashes
def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_digests(root: str | Path, exclude: Iterable[str] = ()) -> dict[str, str]:
    """sha256 of every file under ``root`` (relative POSIX paths), except ``exclude``."""
    root = Path(root)
    skip = set(exclude)
    return {p.relative_to(root).as_posix(): sha256_file(p)
            for p in sorted(root.rglob("*")) if p.is_file() and p.relative_to(root).as_posix() not in skip}


def verify_digests(root: str | Path, digests: Mapping[str, str], required: Iterable[str] = ()) -> None:
    """Check every listed file against its hash before anything reads it; IntegrityError names the
    first file missing, outside ``root``, changed, or required but unlisted."""
    root = Path(root).resolve()
    if not isinstance(digests, Mapping):
        raise IntegrityError(f"{root}: the manifest lists no file hashes")
    for name in required:
        if name not in digests:
            raise IntegrityError(f"{root}: {name} is not listed in the manifest's file hashes")
    for name, digest in digests.items():
        p = (root / str(name)).resolve()
        if not p.is_relative_to(root):
            raise IntegrityError(f"{root}: manifest names a file outside the bundle: {name!r}")
        if not p.is_file():
            raise IntegrityError(f"{root}: {name} is listed in the manifest but missing")
        if sha256_file(p) != digest:
            raise IntegrityError(f"{root}: {name} does not match its manifest hash (changed after it was saved)")

