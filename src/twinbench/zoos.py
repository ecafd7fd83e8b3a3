"""Model availability: where does a model (``detr``, ``resnet50``, ``bert``, ``unet``) exist in
each ecosystem's model registries, and how many pretrained variants do they list? Offline:
nothing is downloaded, nothing is asked of a hub.

The registries are part of the pinned set (``requirements-nodeps.lock``, docs/models.md):
``timm`` and ``transformers`` for PyTorch (transformers 4.x also for TensorFlow),
``keras_hub`` and ``keras.applications`` for Keras 3. Every catalogue is read statically, so the
answer needs no framework import (importing Keras costs tens of seconds on a loaded 2-core
machine, and timm does not import here at all: it needs torchvision, which has no PyPI build
that imports beside the pinned CPU torch). A pinned registry that is missing or whose catalogue
cannot be read is reported as such — never as "no such model" — and makes the counts of its
ecosystem lower bounds. ``python -m twinbench.zoos QUERY... --json`` runs a search in a fresh
process (the report uses it, so frameworks stay out of the report process).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from twinbench.frameworks.base import FAMILIES, FRAMEWORKS, of_family

PYTORCH, TENSORFLOW, KERAS = "PyTorch", "TensorFlow", "Keras 3"
# twinbench framework ids served by each ecosystem
PYTORCH_SIDE = tuple(of_family(FRAMEWORKS, "pytorch"))
KERAS_SIDE = tuple(of_family(FRAMEWORKS, "keras"))
# which registry ecosystems speak for each framework family (FrameworkSpec.family)
FAMILY_ECOSYSTEMS: dict[str, tuple[str, ...]] = {"pytorch": (PYTORCH,),
                                                 "keras": (KERAS, TENSORFLOW)}
FAMILY_LABEL = {"pytorch": PYTORCH, "keras": f"{KERAS} / {TENSORFLOW}"}
assert set(FAMILY_ECOSYSTEMS) == set(FAMILIES)


@dataclass
class Hit:
    zoo: str
    ecosystem: str  # PyTorch | TensorFlow | Keras 3 (runs on TensorFlow, JAX or torch)
    name: str
    pretrained: bool | None  # None: the library does not say offline
    detail: str = ""
    # the pretrained variants the registry lists for it: timm tags, keras_hub presets,
    # checkpoints transformers' source names, keras.applications' default weights
    weights: list[str] = field(default_factory=list)


@dataclass
class ZooResult:
    zoo: str
    distribution: str  # the pip name to install it with
    state: str  # "installed" | "not installed" | "broken"
    version: str | None = None
    hits: list[Hit] = field(default_factory=list)
    note: str = ""
    # converters that load the other ecosystem's checkpoints of this model (keras_hub: hf://)
    bridges: list[str] = field(default_factory=list)


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


def _need(package: str) -> Path:
    root = _root(package)
    if root is None:
        raise FileNotFoundError(f"package {package} has no folder")
    return root


def _kwarg_default(fn: ast.FunctionDef, name: str) -> object:
    args = fn.args.args[len(fn.args.args) - len(fn.args.defaults):]
    for a, d in zip(args, fn.args.defaults, strict=True):
        if a.arg == name and isinstance(d, ast.Constant):
            return d.value
    return None


# ------------------------------------------------------------------------------------ Keras 3


def _keras_applications(query: str) -> list[Hit]:
    root = _need("keras")
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
                            f"weights={weights!r} by default" if weights else "no weights",
                            [f"{alias.name}:{weights}"] if weights else []))
    return hits


def _keras_hub(query: str) -> list[Hit]:
    """Every preset in ``keras_hub/src/models/*/*_presets.py`` is a set of weights; a preset
    matches by its own name or its model folder's (``bert`` finds ``bert_base_en``)."""
    root = _need("keras_hub")
    files = sorted((root / "src" / "models").glob("*/*_presets.py"))
    if not files:
        raise FileNotFoundError(f"no preset files under {root / 'src' / 'models'}")
    hits, seen = [], set()
    for f in files:
        for node in ast.parse(f.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
                for key in node.value.keys:
                    if isinstance(key, ast.Constant) and key.value not in seen \
                            and _matches(query, str(key.value), f.parent.name):
                        seen.add(key.value)
                        hits.append(Hit("keras_hub", KERAS, str(key.value), True,
                                        f"preset of {f.parent.name} (weights on Kaggle/HF)",
                                        [str(key.value)]))
    return hits


def bridges(query: str) -> list[str]:
    """keras_hub converters that load this model's PyTorch-registry checkpoints into Keras
    (``from_preset("hf://…")``): the Keras side can use those weights too. Static read of
    ``keras_hub/src/utils/{transformers,timm}/convert_*.py``; empty when keras_hub is absent."""
    root = _root("keras_hub")
    if root is None:
        return []
    q, out = norm(query), []
    for f in sorted((root / "src" / "utils").glob("*/convert_*.py")):
        arch = norm(f.stem.removeprefix("convert_"))
        if arch and (arch in q or q in arch):
            out.append(f"{f.parent.name}:{f.stem.removeprefix('convert_')}")
    return out


# ------------------------------------------------------------------------------ transformers

_MAPPING = re.compile(r"\(\s*\"([\w-]+)\"\s*,\s*\(?\s*\"(\w+)\"")
# the checkpoints the library's source names for a model type: v5 @auto_docstring(checkpoint=),
# v4 _CHECKPOINT_FOR_DOC, and every from_pretrained("org/name") in docstrings and examples
_CHECKPOINTS = re.compile(
    r"(?:checkpoint\s*=\s*|_CHECKPOINT[A-Z_]*\s*=\s*|from_pretrained\(\s*)"
    r"[\"']([\w][\w.-]*/[\w.-]+)[\"']")


@functools.cache
def _type_checkpoints(folder: Path, pattern: str = "*.py") -> tuple[str, ...]:
    found: set[str] = set()
    for f in sorted(folder.glob(pattern)):
        found.update(_CHECKPOINTS.findall(f.read_text(encoding="utf-8")))
    return tuple(sorted(found))


def _starts(checkpoint: str, q: str) -> bool:
    return bool(q) and norm(checkpoint.split("/")[-1]).startswith(q)


def _transformers(query: str) -> list[Hit]:
    """Classes of the auto mappings whose model type or class name matches, each with the
    checkpoints the library's source names for its model type; a model type whose name does not
    carry the size (``resnet``) also matches through a checkpoint whose name starts with the
    query (``microsoft/resnet-50`` for ``resnet50``). transformers loads any Hub checkpoint of a
    type: these are the ones it names, a lower bound."""
    root = _need("transformers")
    auto = root / "models" / "auto"
    if not (auto / "modeling_auto.py").is_file():
        raise FileNotFoundError(f"no {auto / 'modeling_auto.py'}")
    hits: list[Hit] = []
    q = norm(query)
    for fname, eco in (("modeling_auto.py", PYTORCH), ("modeling_tf_auto.py", TENSORFLOW)):
        path = auto / fname
        if not path.is_file():
            continue
        seen: set[str] = set()
        for model_type, cls in _MAPPING.findall(path.read_text(encoding="utf-8")):
            if cls in seen:
                continue
            folder = root / "models" / model_type.replace("-", "_")
            # the model type's own configuration documents its checkpoint
            own = f"configuration_{folder.name}.py"
            if not _matches(query, model_type, cls):
                # (reading every model's sources for the others costs a second per search)
                if not any(_starts(c, q) for c in _type_checkpoints(folder, own)):
                    continue
                ckpts = tuple(c for c in _type_checkpoints(folder) if _starts(c, q))
            else:  # those named after the query; else the one its configuration documents
                ckpts = tuple(c for c in _type_checkpoints(folder) if _matches(query, c)) \
                    or _type_checkpoints(folder, own)
            seen.add(cls)
            hits.append(Hit("transformers", eco, cls, True if ckpts else None,
                            f"model type {model_type}; from_pretrained, "
                            + (f"checkpoints named: {', '.join(ckpts[:3])}"
                               + (" …" if len(ckpts) > 3 else "") if ckpts
                               else "no checkpoint named"), list(ckpts)))
    if not (auto / "modeling_tf_auto.py").is_file():
        hits.append(Hit("transformers", TENSORFLOW, "(none)", None,
                        "this transformers version ships no TensorFlow classes"))
    return hits


# -------------------------------------------------------------------------------------- timm
# timm builds its registry at import time (``@register_model`` plus each module's
# ``default_cfgs``), and importing timm needs torchvision, which does not import here. The same
# registry is read from the source: architectures are the ``@register_model`` functions, their
# pretrained variants the ``default_cfgs`` keys whose cfg names a weight location (timm's
# ``PretrainedCfg.has_weights``: url, file or hf_hub_id), following the modules' cfg helpers.

_TIMM_SOURCES = ("url", "file", "hf_hub_id")
_Env = dict[str, tuple[ast.expr, "dict[str, Any]"]]
_TOP = re.compile(r"[A-Za-z_@]")
_KEEP = re.compile(r"(?:def |\w+(?:\[.*\])?\s*=)")
_REGISTERED = re.compile(r"^@register_model\s*\n(?:@.*\n)*def (\w+)", re.M)


def _timm_outline(text: str) -> tuple[ast.Module, set[str]]:
    """The module's top-level assignments and helper functions, parsed (model classes and the
    ``@register_model`` bodies are skipped: parsing every timm file whole takes seconds), and
    the registered architecture names. The whole file is parsed when the cut does not parse."""
    archs = set(_REGISTERED.findall(text))
    chunks: list[list[str]] = []
    for line in text.splitlines(keepends=True):
        decorating = chunks and chunks[-1][0].startswith("@") and not any(
            ln.startswith(("def ", "class ")) for ln in chunks[-1])
        if _TOP.match(line) and not decorating:
            chunks.append([line])
        elif chunks:
            chunks[-1].append(line)
    kept = []
    for chunk in chunks:
        head = next((ln for ln in chunk if not ln.startswith("@")), "")
        if _KEEP.match(head) and not chunk[0].startswith("@register_model"):
            kept.append("".join(chunk))
    try:
        return ast.parse("".join(kept)), archs
    except SyntaxError:
        return ast.parse(text), archs


class _TimmModule:
    def __init__(self, tree: ast.Module, archs: set[str]) -> None:
        self.funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        self.archs = archs
        self.cfgs: dict[str, bool] = {}  # "arch.tag" -> has weights
        scope: dict[str, ast.expr] = {}
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target = stmt.targets[0]
                if isinstance(target, ast.Name):
                    if target.id == "default_cfgs":
                        self.cfgs = dict(self._entries(stmt.value, scope))
                    scope[target.id] = stmt.value
                elif isinstance(target, ast.Subscript) and _name_of(target.value) == \
                        "default_cfgs" and isinstance(target.slice, ast.Constant):
                    self.cfgs[str(target.slice.value)] = self.weights(stmt.value, {})

    def _entries(self, node: ast.expr, scope: dict[str, ast.expr]) -> Iterator[tuple[str, bool]]:
        if isinstance(node, ast.Call) and _name_of(node.func) == "generate_default_cfgs" \
                and node.args:
            yield from self._entries(node.args[0], scope)
        elif isinstance(node, ast.Name) and node.id in scope:
            yield from self._entries(scope[node.id], scope)
        elif isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if k is None:  # **{…}
                    yield from self._entries(v, scope)
                elif isinstance(k, ast.Constant):
                    yield str(k.value), self.weights(v, {})
        elif isinstance(node, ast.DictComp):
            yield from self._comprehension(node, scope)

    def _comprehension(self, node: ast.DictComp, scope: dict[str, ast.expr],
                       ) -> Iterator[tuple[str, bool]]:
        """``{f"{name}{suffix}": dict(cfg, …) for name, cfg in X.items() for suffix in (…)}``:
        loops over module-level literals; keys evaluated from strings alone."""
        rows: list[dict[str, Any]] = [{}]
        for gen in node.generators:
            if gen.ifs:
                return
            items = _literal_items(gen.iter, scope)
            if items is None:
                return
            rows = [{**r, **b} for r in rows for item in items
                    if (b := _bind(gen.target, item)) is not None]
        for r in rows:
            strings = {k: v for k, v in r.items() if isinstance(v, str)}
            try:
                key = eval(compile(ast.Expression(node.key), "<timm cfg key>", "eval"),  # noqa: S307
                           {"__builtins__": {}}, strings)
            except Exception:  # a key that needs more than strings: not counted
                continue
            env = {k: (v, {}) for k, v in r.items() if isinstance(v, ast.expr)}
            yield str(key), self.weights(node.value, env)

    def weights(self, node: ast.expr, env: _Env) -> bool:
        return any(self._sources(node, env, 0).values())

    def _sources(self, node: ast.expr, env: _Env, depth: int) -> dict[str, bool]:
        """What a cfg expression sets for url/file/hf_hub_id (name -> truthy)."""
        if depth > 12:
            return {}
        if isinstance(node, ast.Name) and node.id in env:
            value, outer = env[node.id]
            return self._sources(value, outer, depth + 1)
        if isinstance(node, ast.Dict):
            out: dict[str, bool] = {}
            for k, v in zip(node.keys, node.values, strict=True):
                if k is None:
                    out.update(self._sources(v, env, depth + 1))
                elif isinstance(k, ast.Constant) and k.value in _TIMM_SOURCES:
                    out[str(k.value)] = _truthy(v, env)
            return out
        if not isinstance(node, ast.Call):
            return {}
        fn = self.funcs.get(_name_of(node.func) or "")
        if fn is None:  # dict(…), PretrainedCfg(…), a helper from elsewhere: its keywords
            out = self._sources(node.args[0], env, depth + 1) if node.args else {}
            for kw in node.keywords:
                if kw.arg is None:
                    out.update(self._sources(kw.value, env, depth + 1))
                elif kw.arg in _TIMM_SOURCES:
                    out[kw.arg] = _truthy(kw.value, env)
            return out
        params = fn.args.args + fn.args.kwonlyargs
        bound: _Env = {}
        defaults = dict(zip([a.arg for a in fn.args.args[len(fn.args.args)
                                                          - len(fn.args.defaults):]],
                            fn.args.defaults, strict=True))
        defaults.update({a.arg: d for a, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults,
                                                  strict=True) if d is not None})
        for name, d in defaults.items():
            bound[name] = (d, {})
        for p, a in zip(fn.args.args, node.args, strict=False):
            bound[p.arg] = (a, env)
        extra_keys: list[ast.expr | None] = []
        extra_values: list[ast.expr] = []
        for kw in node.keywords:
            if kw.arg is not None and kw.arg in {p.arg for p in params}:
                bound[kw.arg] = (kw.value, env)
            else:
                extra_keys.append(None if kw.arg is None else ast.Constant(kw.arg))
                extra_values.append(kw.value)
        if fn.args.kwarg is not None:
            bound[fn.args.kwarg.arg] = (ast.Dict(keys=extra_keys, values=extra_values), env)
        ret = next((s.value for s in reversed(fn.body) if isinstance(s, ast.Return)
                    and s.value is not None), None)
        return {} if ret is None else self._sources(ret, bound, depth + 1)


def _name_of(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _truthy(node: ast.expr, env: _Env) -> bool:
    """A weight location is set unless it is a falsy constant (``url=''``, ``None``)."""
    if isinstance(node, ast.Name) and node.id in env:
        value, outer = env[node.id]
        return _truthy(value, outer)
    return not isinstance(node, ast.Constant) or bool(node.value)


def _literal_items(node: ast.expr, scope: dict[str, ast.expr]) -> list[Any] | None:
    """The items a comprehension loops over, when they are module-level literals."""
    call = node.func.attr if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
        else None
    base = node.func.value if call else node  # type: ignore[union-attr]
    if isinstance(base, ast.Name):
        base = scope.get(base.id)  # type: ignore[assignment]
    if isinstance(base, ast.Dict) and call in (None, "keys", "items"):
        keys = [k.value if isinstance(k, ast.Constant) else None for k in base.keys]
        if None in keys:
            return None
        return list(zip(keys, base.values, strict=True)) if call == "items" else keys
    if isinstance(base, (ast.Tuple, ast.List)) and call is None \
            and all(isinstance(e, ast.Constant) for e in base.elts):
        return [e.value for e in base.elts]  # type: ignore[attr-defined]
    return None


def _bind(target: ast.expr, item: Any) -> dict[str, Any] | None:
    if isinstance(target, ast.Name):
        return {target.id: item}
    if isinstance(target, ast.Tuple) and isinstance(item, tuple) and len(item) == len(
            target.elts) and all(isinstance(t, ast.Name) for t in target.elts):
        return {t.id: v for t, v in zip(target.elts, item, strict=True)}  # type: ignore[attr-defined]
    return None


@functools.cache
def _timm_registry(root: Path) -> dict[str, list[str]]:
    """architecture -> its pretrained variants ("arch.tag"), as ``timm.list_models`` lists
    them (deprecated aliases have no ``@register_model`` of their own and are left out)."""
    out: dict[str, list[str]] = {}
    files = sorted((root / "models").rglob("*.py"))
    for f in files:
        mod = _TimmModule(*_timm_outline(f.read_text(encoding="utf-8")))
        tags: dict[str, list[str]] = {}
        for key, has in mod.cfgs.items():
            arch, _, tag = key.partition(".")
            if has:
                tags.setdefault(arch, []).append(f"{arch}.{tag.rstrip('*')}" if tag else arch)
        for arch in mod.archs:
            out[arch] = sorted(set(tags.get(arch, [])))
    if not out:
        raise FileNotFoundError(f"no @register_model under {root / 'models'}")
    return out


def _timm(query: str) -> list[Hit]:
    """timm's names, matched like every zoo's (``resnet-50`` finds ``resnet50``)."""
    registry = _timm_registry(_need("timm"))
    return [Hit("timm", PYTORCH, n, bool(w),
                f"{len(w)} pretrained tag(s)" if w else "no pretrained tag", w)
            for n, w in sorted(registry.items()) if _matches(query, n)]


def _torchvision(query: str) -> list[Hit]:
    """Not in the pinned set (docs/models.md); searched when someone installs a build that
    imports."""
    import torchvision.models as tvm

    hits = []
    for n in tvm.list_models():
        if _matches(query, n):
            w = list(tvm.get_model_weights(n))
            hits.append(Hit("torchvision", PYTORCH, n, bool(w),
                            ", ".join(x.name for x in w[:3]), [f"{n}:{x.name}" for x in w]))
    return hits


# zoo -> (import name, pip distribution, search function)
ZOOS: dict[str, tuple[str, str, Callable[[str], list[Hit]]]] = {
    "timm": ("timm", "timm", _timm),
    "torchvision": ("torchvision", "torchvision", _torchvision),
    "transformers": ("transformers", "transformers", _transformers),
    "keras_hub": ("keras_hub", "keras-hub", _keras_hub),
    "keras.applications": ("keras", "keras", _keras_applications),
}
ZOO_ECOSYSTEMS: dict[str, tuple[str, ...]] = {
    "timm": (PYTORCH,), "torchvision": (PYTORCH,), "transformers": (PYTORCH, TENSORFLOW),
    "keras_hub": (KERAS,), "keras.applications": (KERAS,)}
# zoos outside the pinned set: absent is not a failure (docs/models.md says why)
OPTIONAL = frozenset({"torchvision"})
# zoos whose listing is not the whole catalogue: transformers names example checkpoints, the
# Hub (not asked, offline) has the rest, so its counts are lower bounds
OPEN_LISTING = frozenset({"transformers"})
LOCKS = ("requirements.lock", "requirements-nodeps.lock")


def pinned() -> dict[str, str]:
    """distribution -> version pinned in the lock files (empty outside a checkout)."""
    root = Path(__file__).resolve().parents[2]
    out = {}
    for lock in LOCKS:
        path = root / lock
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                name, sep, ver = line.split("#")[0].strip().partition("==")
                if sep:
                    out[norm(name)] = ver.strip()
    return out


def search(query: str, zoos: dict[str, tuple[str, str, Callable[[str], list[Hit]]]] | None = None,
           ) -> list[ZooResult]:
    """One result per zoo: its state and its hits; never raises for a broken zoo."""
    out = []
    pins = pinned()
    for name, (package, dist, fn) in (zoos or ZOOS).items():
        try:
            ver: str | None = version(dist)
        except PackageNotFoundError:
            ver = None
        pin = pins.get(norm(dist))
        if ver is None or _root(package) is None:
            why = (f"pinned as {dist}=={pin} but not installed: `make setup` installs it"
                   if pin else "not in the pinned set: no PyPI build imports beside the pinned "
                   "torch (docs/models.md)" if name in OPTIONAL
                   else f"not searched; docs/models.md says how to add {dist}")
            out.append(ZooResult(name, dist, "not installed", note=why))
            continue
        try:
            out.append(ZooResult(name, dist, "installed", ver, fn(query),
                                 note=f"installed {ver}, pinned {pin}" if pin and pin != ver
                                 else "", bridges=bridges(query) if name == "keras_hub" else []))
        except Exception as exc:  # a zoo that does not load here is reported, not fatal
            line = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            out.append(ZooResult(name, dist, "broken", ver,
                                 note=f"installed but unusable here: {type(exc).__name__}: {line}"))
    return out


def search_isolated(queries: list[str], timeout: float = 180.0) -> dict[str, list[ZooResult]]:
    """``search`` for each query in a fresh process (frameworks stay out of the caller)."""
    proc = subprocess.run([sys.executable, "-m", "twinbench.zoos", "--json", *queries],
                          capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
                               "CUDA_VISIBLE_DEVICES": ""})
    if proc.returncode != 0:
        raise RuntimeError(f"zoo search failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    return from_json(json.loads(proc.stdout))


def from_json(data: dict[str, list[dict[str, Any]]]) -> dict[str, list[ZooResult]]:
    return {q: [ZooResult(**{**z, "hits": [Hit(**h) for h in z["hits"]]}) for z in res]
            for q, res in data.items()}


def _expected(eco: str, results: list[ZooResult]) -> list[str]:
    """The zoos an ecosystem's answer rests on: the pinned ones, and optional ones that are
    there."""
    present = {z.zoo for z in results if z.state != "not installed"}
    return [z for z, ecos in ZOO_ECOSYSTEMS.items()
            if eco in ecos and (z not in OPTIONAL or z in present)]


def availability(results: list[ZooResult]) -> dict[str, str]:
    """Per ecosystem: "pretrained", "architecture only", "absent", or "unknown (…)" when a zoo
    of that ecosystem was not searched (not installed or unusable)."""
    out = {}
    for eco in (PYTORCH, TENSORFLOW, KERAS):
        hits = [h for z in results for h in z.hits if h.ecosystem == eco and h.name != "(none)"]
        zoos_here = _expected(eco, results)
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


@dataclass
class Support:
    """One framework family's pretrained variants for a query, across its registries."""

    family: str  # "pytorch" | "keras" (FrameworkSpec.family)
    pretrained: int  # distinct pretrained variants listed (checkpoints, tags, presets)
    architectures: int  # distinct matching architectures / classes / presets
    per_zoo: dict[str, int]  # "timm 1.0.31" -> pretrained variants listed there
    failed: list[str]  # "timm (not installed: …)": zoos whose answer is missing
    open_zoos: list[str]  # zoos with a hit whose listing is not exhaustive (the Hub has more)
    examples: list[str]

    @property
    def exact(self) -> bool:
        """The count is the whole listing: no registry failed, none lists only examples."""
        return not self.failed and not self.open_zoos

    @property
    def label(self) -> str:
        return FAMILY_LABEL[self.family]

    def text(self) -> str:
        bound = "" if self.exact else "≥ "
        zoos = ", ".join(f"{z}: {n}" for z, n in self.per_zoo.items())
        notes = [f"{z} lists example checkpoints only (the Hub is not asked)"
                 for z in self.open_zoos] + self.failed
        return (f"{self.label} {bound}{self.pretrained} pretrained ({zoos or 'no registry'})"
                + (f" [{'; '.join(notes)}]" if notes else ""))


def support(results: list[ZooResult]) -> dict[str, Support]:
    """Per framework family: how many pretrained variants its ecosystems' registries list."""
    out = {}
    for fam in FAMILIES:
        ecos = FAMILY_ECOSYSTEMS[fam]
        variants: set[tuple[str, str]] = set()
        archs: set[tuple[str, str]] = set()
        per_zoo: dict[str, int] = {}
        failed, open_zoos, examples = [], [], []
        for z in results:
            if not set(ZOO_ECOSYSTEMS.get(z.zoo, ())) & set(ecos):
                continue
            if z.state != "installed":
                if z.zoo not in OPTIONAL or z.state != "not installed":
                    failed.append(f"{z.zoo} {z.state}: {z.note}".rstrip(": "))
                continue
            mine: set[tuple[str, str]] = set()
            for h in z.hits:
                if h.ecosystem not in ecos or h.name == "(none)":
                    continue
                archs.add((z.zoo, h.name))
                names = h.weights or ([h.name] if h.pretrained else [])
                mine.update((z.zoo, w) for w in names)
                if names and len(examples) < 6:
                    examples.append(names[0])
            served = [e for e in ZOO_ECOSYSTEMS.get(z.zoo, ()) if e in ecos]
            key = f"{z.zoo} {z.version or ''}".strip() + (
                f" ({'/'.join(served)} classes)" if len(ZOO_ECOSYSTEMS[z.zoo]) > 1 else "")
            per_zoo[key] = len(mine)
            variants |= mine
            if z.zoo in OPEN_LISTING and any(h.ecosystem in ecos and h.name != "(none)"
                                             for h in z.hits):
                open_zoos.append(z.zoo)
        searched = {z.zoo for z in results}
        failed += [f"{z} not searched" for e in ecos for z in _expected(e, results)
                   if z not in searched and z not in OPTIONAL]
        out[fam] = Support(fam, len(variants), len(archs), per_zoo, sorted(set(failed)),
                           open_zoos, examples)
    return out


FAR = 3.0  # "far more support": at least this many times the pretrained variants


def far_more(mine: Support, other: Support) -> bool:
    """``mine`` lists far more pretrained variants than ``other`` can have: weights on one side
    only, or at least FAR times as many. ``mine`` may be a lower bound; ``other`` must be
    exact (a failed or example-only registry could hold the rest)."""
    return mine.pretrained > 0 and other.exact and (
        other.pretrained == 0 or mine.pretrained >= FAR * other.pretrained)


def main(argv: list[str]) -> None:
    as_json = "--json" in argv
    queries = [a for a in argv if a != "--json"]
    result = {q: [asdict(z) for z in search(q)] for q in queries}
    print(json.dumps(result) if as_json else json.dumps(result, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
