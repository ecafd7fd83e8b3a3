"""The browser runtimes twinbench measures: each one's page, npm package and backends, and how
fresh each is.

Which routes exist, which framework's worker runs each and whether it can run here is the route
table's (``twinbench.export.routes``, kind "web"); a web route names its runtime here by its
``loader``. A runtime is one page (``pages/<id>.html``) plus one converter (``twinbench.export.
web_convert.EXPORTS``). Its variants are the backends it is run on: wasm with one thread, wasm
with the study's thread count (cross-origin isolated page), TF.js's plain-JS cpu backend, and the
GPU backends, which are only ever *probed*: headless Chromium here has no GPU, and a number from a
software rasterizer (SwiftShader) would be a fake GPU number. Variant ids start with the
runtime's id (``tfjs-wasm-1t``), which is its route's ``variant_prefix``.

Freshness: the installed version comes from ``web/node_modules/<pkg>/package.json``; the release
date from ``web/releases.json``, which ``scripts/web_releases.py`` writes from the npm registry's
publish times when setup installs the packages (``node_modules`` itself holds no date: tarball
mtimes are normalised by npm and are not release dates). A release more than ``STALE_DAYS``
before the run is flagged ``stale`` in the record: an old runtime is a finding.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from twinbench.export import routes
from twinbench.export.routes import Route

PAGES = Path(__file__).resolve().parent / "pages"
ENV_VAR = "TWINBENCH_WEB_DIR"  # the folder with package.json and node_modules/
STALE_DAYS = 365  # a runtime or converter released longer ago than this before the run is stale


def web_dir() -> Path:
    """``web/`` of the repository (an installed twinbench needs ``TWINBENCH_WEB_DIR``)."""
    return Path(os.environ.get(ENV_VAR) or Path(__file__).resolve().parents[3] / "web")


@dataclass(frozen=True)
class Variant:
    id: str  # e.g. "tfjs-wasm-2t": the records' variant, unique per worker
    backend: str  # what the page is told: "wasm" | "cpu" | "webgl" | "webgpu"
    threads: int
    gpu: bool = False

    @property
    def isolated(self) -> bool:
        """Multi-threaded wasm needs SharedArrayBuffer, i.e. a cross-origin isolated page."""
        return self.threads > 1


@dataclass(frozen=True)
class Runtime:
    id: str  # the loader a web route of twinbench.export.routes names; prefixes the variants
    title: str
    short: str  # for narrow tables
    page: str
    package: str  # the npm package whose version and date are reported
    export: str  # key of twinbench.export.web_convert.EXPORTS
    extra_backends: tuple[str, ...] = ()  # non-wasm CPU backends (TF.js: "cpu")
    gpu_backends: tuple[str, ...] = ()

    def variants(self, threads: int) -> list[Variant]:
        out = [Variant(f"{self.id}-wasm-1t", "wasm", 1)]
        if threads > 1:
            out.append(Variant(f"{self.id}-wasm-{threads}t", "wasm", threads))
        out += [Variant(f"{self.id}-{b}", b, 1) for b in self.extra_backends]
        out += [Variant(f"{self.id}-{b}", b, 1, gpu=True) for b in self.gpu_backends]
        return out


RUNTIMES: dict[str, Runtime] = {
    "tfjs": Runtime("tfjs", "TensorFlow.js (graph model)", "TF.js", "tfjs.html",
                    "@tensorflow/tfjs", "tfjs", extra_backends=("cpu",),
                    gpu_backends=("webgl", "webgpu")),
    "litert": Runtime("litert", "LiteRT.js (.tflite)", "LiteRT.js", "litert.html",
                      "@litertjs/core", "litert", gpu_backends=("webgpu",)),
    "ort": Runtime("ort", "ONNX Runtime Web (.onnx)", "ORT Web", "ort.html", "onnxruntime-web",
                   "onnx", gpu_backends=("webgpu",)),
}


def check(table: dict[str, Route], runtimes: dict[str, Runtime]) -> None:
    """Every web route names a runtime here, its variants start with its ``variant_prefix``,
    and every runtime here serves a route."""
    web = [r for r in table.values() if r.kind == "web"]
    for r in web:
        if r.loader not in runtimes:
            raise ValueError(f"web route {r.id!r}: no browser runtime {r.loader!r} in "
                             f"twinbench.web.runtimes (have {', '.join(runtimes)})")
        if r.variant_prefix != f"{r.loader}-":
            raise ValueError(f"web route {r.id!r}: variant_prefix {r.variant_prefix!r}, but its "
                             f"variants are named {r.loader}-<backend>")
    unused = set(runtimes) - {r.loader for r in web}
    if unused:
        raise ValueError(f"browser runtime(s) {sorted(unused)} serve no web route")


check(routes.ROUTES, RUNTIMES)


def routes_for(framework: str) -> list[Route]:
    """The available web routes the worker of ``framework`` runs, in table order."""
    return routes.of_kind("web", framework, available=True)


def runtime(route: Route) -> Runtime:
    """The browser runtime a web route's files load in."""
    return RUNTIMES[route.loader]


def gpu_verdict(backend: str, probe: dict[str, Any]) -> str | None:
    """None when the browser really offers a GPU for ``backend``; else why it is unavailable."""
    if backend == "webgpu":
        if probe.get("webgpu"):
            return None
        return f"no WebGPU adapter in headless Chromium ({probe.get('webgpu_why') or 'none'})"
    renderer = str(probe.get("webgl") or "")
    if not renderer:
        return "no WebGL2 context in headless Chromium"
    if "swiftshader" in renderer.lower() or "llvmpipe" in renderer.lower():
        return f"WebGL only through a CPU software rasterizer ({renderer}); not a GPU"
    return None


def package_info(package: str, today: date | None = None) -> dict[str, Any]:
    """Installed version, release date and age of an npm package ("unknown" when not recorded).

    ``stale`` is True when the release is more than ``STALE_DAYS`` before ``today`` (the run
    date): an old runtime is a finding, so the record says so rather than leaving it to a reader.
    """
    base = web_dir()
    try:
        version = json.loads((base / "node_modules" / package / "package.json")
                             .read_text())["version"]
    except (OSError, ValueError, KeyError):
        return {"package": package, "version": "not installed", "released": "unknown",
                "age_days": None, "stale": None}
    released = release_date("npm", package, version)
    age = age_days(released, today)
    return {"package": package, "version": version, "released": released, "age_days": age,
            "stale": None if age is None else age > STALE_DAYS}


def age_days(released: str, today: date | None = None) -> int | None:
    """Days from a ``YYYY-MM-DD`` release date to ``today`` (default: now); None if unknown."""
    try:
        return ((today or date.today()) - date.fromisoformat(released[:10])).days
    except ValueError:
        return None


def release_date(registry: str, package: str, version: str) -> str:
    """Publish date recorded by scripts/web_releases.py for exactly this version, else unknown."""
    try:
        data = json.loads((web_dir() / "releases.json").read_text())
        entry = data[registry][package]
    except (OSError, ValueError, KeyError):
        return "unknown"
    return str(entry.get("released", "unknown"))[:10] if entry.get("version") == version \
        else "unknown"


def missing_packages(route: Route | None = None) -> list[str]:
    """npm packages of the available web routes (or of ``route``) not under web/node_modules."""
    nm = web_dir() / "node_modules"
    need = [route] if route else routes.of_kind("web", available=True)
    return [p for p in dict.fromkeys(p for r in need for p in r.npm)
            if not (nm / p / "package.json").is_file()]
