"""Model availability: where does a model (``detr``, ``resnet50``, ``bert``, ``unet``) exist in
the model zoos installed here, for which ecosystem, and does the library declare pretrained
weights? Offline: nothing is downloaded, nothing is asked of a hub.

Zoos whose catalogue is plain source (keras.applications, keras_hub presets, transformers' auto
mappings) are read statically, so the answer needs no framework import (importing Keras costs
tens of seconds on a loaded 2-core machine). timm and torchvision build their registries at import
time, so they are imported. A zoo that is not installed is reported as "not installed" — never as
"no such model". ``python -m twinbench.zoos QUERY... --json`` runs a search in a fresh process
(the report uses it, so frameworks stay out of the report process).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PYTORCH, TENSORFLOW, KERAS = "PyTorch", "TensorFlow", "Keras 3"
PYTORCH_SIDE = ("pytorch", "lightning")  # twinbench framework ids served by each ecosystem
KERAS_SIDE = ("keras-tf", "keras-jax", "keras-torch")


@dataclass
class Hit:
    zoo: str
    ecosystem: str  # PyTorch | TensorFlow | Keras 3 (runs on TensorFlow, JAX or torch)
    name: str
    pretrained: bool | None  # None: the library does not say offline
    detail: str = ""


@dataclass
class ZooResult:
    zoo: str
    distribution: str  # the pip name to install it with
    state: str  # "installed" | "not installed" | "broken"
    version: str | None = None
    hits: list[Hit] = field(default_factory=list)
    note: str = ""


def norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _matches(query: str, *names: str) -> bool:
    q = norm(query)
    return any(q and q in norm(n) for n in names)


def _root(package: str) -> Path | None:
    """The package folder, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _kwarg_default(fn: ast.FunctionDef, name: str) -> object:
    args = fn.args.args[len(fn.args.args) - len(fn.args.defaults):]
    for a, d in zip(args, fn.args.defaults, strict=True):
        if a.arg == name and isinstance(d, ast.Constant):
            return d.value
    return None


def _keras_applications(query: str) -> list[Hit]:
    root = _root("keras")
    assert root is not None
    api = ast.parse((root / "applications" / "__init__.py").read_text(encoding="utf-8"))
    hits = []
    for node in api.body:
        if not (isinstance(node, ast.ImportFrom) and node.module
                and node.module.startswith("keras.src.applications.")):
            continue
        for alias in node.names:
            if not alias.name[:1].isupper() or not _matches(query, alias.name):
                continue
            src = root / Path(*node.module.split(".")[1:]).with_suffix(".py")
            weights = None
            if src.is_file():
                for fn in ast.walk(ast.parse(src.read_text(encoding="utf-8"))):
                    if isinstance(fn, ast.FunctionDef) and fn.name == alias.name:
                        weights = _kwarg_default(fn, "weights")
            hits.append(Hit("keras.applications", KERAS, f"keras.applications.{alias.name}",
                            weights not in (None, ""),
                            f"weights={weights!r} by default" if weights else "no weights"))
    return hits


def _keras_hub(query: str) -> list[Hit]:
    root = _root("keras_hub")
    assert root is not None
    hits = []
    for f in sorted((root / "src" / "models").glob("*/*_presets.py")):
        for node in ast.parse(f.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
                for key in node.value.keys:
                    if isinstance(key, ast.Constant) and _matches(query, str(key.value),
                                                                   f.parent.name):
                        hits.append(Hit("keras_hub", KERAS, str(key.value), True,
                                        f"preset of {f.parent.name} (weights on Kaggle/HF)"))
    return hits


_MAPPING = re.compile(r"\(\s*\"([\w-]+)\"\s*,\s*\(?\s*\"(\w+)\"")
# the checkpoint the library documents for a model (v5: @auto_docstring; v4: _CHECKPOINT_FOR_DOC)
_CHECKPOINT = re.compile(
    r"(?:auto_docstring\(\s*checkpoint|_CHECKPOINT_FOR_DOC)\s*=\s*\"([^\"]+)\"")


def _transformers(query: str) -> list[Hit]:
    root = _root("transformers")
    assert root is not None
    auto = root / "models" / "auto"
    hits: list[Hit] = []
    for fname, eco in (("modeling_auto.py", PYTORCH), ("modeling_tf_auto.py", TENSORFLOW)):
        path = auto / fname
        if not path.is_file():
            continue
        seen: set[str] = set()
        for model_type, cls in _MAPPING.findall(path.read_text(encoding="utf-8")):
            if cls in seen or not _matches(query, model_type, cls):
                continue
            seen.add(cls)
            mod = root / "models" / model_type.replace("-", "_")
            ckpt = None
            for f in sorted(mod.glob("configuration*.py")) + sorted(mod.glob("modeling*.py")):
                m = _CHECKPOINT.search(f.read_text(encoding="utf-8"))
                ckpt = ckpt or (m.group(1) if m else None)
            hits.append(Hit("transformers", eco, cls, True if ckpt else None,
                            f"model type {model_type}; from_pretrained, "
                            + (f"documented checkpoint {ckpt}" if ckpt else "no checkpoint named")))
    if not (auto / "modeling_tf_auto.py").is_file():
        hits.append(Hit("transformers", TENSORFLOW, "(none)", None,
                        "this transformers version ships no TensorFlow classes"))
    return hits


def _timm(query: str) -> list[Hit]:
    """timm's names, matched like every zoo's (``resnet-50`` finds ``resnet50``); a name has
    weights when timm lists it, or one of its ``name.tag`` variants, as pretrained."""
    import timm

    with_weights = {w.split(".")[0] for w in timm.list_models(pretrained=True)
                    if _matches(query, w.split(".")[0])}
    return [Hit("timm", PYTORCH, n, n in with_weights)
            for n in timm.list_models() if _matches(query, n)]


def _torchvision(query: str) -> list[Hit]:
    import torchvision.models as tvm

    hits = []
    for n in tvm.list_models():
        if _matches(query, n):
            w = list(tvm.get_model_weights(n))
            hits.append(Hit("torchvision", PYTORCH, n, bool(w),
                            ", ".join(x.name for x in w[:3])))
    return hits


# zoo -> (import name, pip distribution, search function)
ZOOS: dict[str, tuple[str, str, Callable[[str], list[Hit]]]] = {
    "timm": ("timm", "timm", _timm),
    "torchvision": ("torchvision", "torchvision", _torchvision),
    "transformers": ("transformers", "transformers", _transformers),
    "keras_hub": ("keras_hub", "keras-hub", _keras_hub),
    "keras.applications": ("keras", "keras", _keras_applications),
}


def search(query: str, zoos: dict[str, tuple[str, str, Callable[[str], list[Hit]]]] | None = None,
           ) -> list[ZooResult]:
    """One result per zoo: its state and its hits; never raises for a broken zoo."""
    out = []
    for name, (package, dist, fn) in (zoos or ZOOS).items():
        try:
            ver: str | None = version(dist)
        except PackageNotFoundError:
            ver = None
        if ver is None or _root(package) is None:
            out.append(ZooResult(name, dist, "not installed",
                                 note=f"not searched; docs/models.md says how to add {dist}"))
            continue
        try:
            out.append(ZooResult(name, dist, "installed", ver, fn(query)))
        except Exception as exc:  # a zoo that does not import here is reported, not fatal
            line = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            out.append(ZooResult(name, dist, "broken", ver,
                                 note=f"installed but unusable here: {type(exc).__name__}: {line}"))
    return out


def search_isolated(queries: list[str], timeout: float = 180.0) -> dict[str, list[ZooResult]]:
    """``search`` for each query in a fresh process (frameworks stay out of the caller)."""
    proc = subprocess.run([sys.executable, "-m", "twinbench.zoos", "--json", *queries],
                          capture_output=True, text=True, timeout=timeout, check=False,
                          env={**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "2",
                               "CUDA_VISIBLE_DEVICES": ""})
    if proc.returncode != 0:
        raise RuntimeError(f"zoo search failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    data = json.loads(proc.stdout)
    return {q: [ZooResult(**{**z, "hits": [Hit(**h) for h in z["hits"]]}) for z in res]
            for q, res in data.items()}


def availability(results: list[ZooResult]) -> dict[str, str]:
    """Per ecosystem: "pretrained", "architecture only", "absent", or "unknown (…)" when no
    zoo of that ecosystem is installed."""
    out = {}
    for eco in (PYTORCH, TENSORFLOW, KERAS):
        hits = [h for z in results for h in z.hits if h.ecosystem == eco and h.name != "(none)"]
        zoos_here = {PYTORCH: ("timm", "torchvision", "transformers"),
                     TENSORFLOW: ("transformers",),
                     KERAS: ("keras_hub", "keras.applications")}[eco]
        usable = [z.zoo for z in results if z.zoo in zoos_here and z.state == "installed"]
        gone = [h.detail for z in results for h in z.hits if h.ecosystem == eco
                and h.name == "(none)"]
        if any(h.pretrained for h in hits):
            out[eco] = "pretrained"
        elif hits:
            out[eco] = "architecture only"
        elif usable and gone and usable == ["transformers"]:
            out[eco] = f"none: {gone[0]}"
        elif usable and len(usable) == len(zoos_here):
            out[eco] = f"absent from {', '.join(usable)}"
        elif usable:
            rest = [z for z in zoos_here if z not in usable]
            out[eco] = (f"unknown (absent from {', '.join(usable)}; {', '.join(rest)} not "
                        "searched: not installed or unusable)")
        else:
            out[eco] = "unknown (no zoo of this ecosystem installed)"
    return out


def main(argv: list[str]) -> None:
    as_json = "--json" in argv
    queries = [a for a in argv if a != "--json"]
    result = {q: [asdict(z) for z in search(q)] for q in queries}
    print(json.dumps(result) if as_json else json.dumps(result, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
