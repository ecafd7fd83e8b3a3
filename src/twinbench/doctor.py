"""`twinbench doctor`: which frameworks and runtimes work on this machine, and why not.

Each component is *used* in a subprocess of its own (a framework imported as a worker would, a
mobile runtime's native part loaded, the TF.js converter loaded behind its stand-ins, Chromium
launched through Playwright), so a broken install is reported with its own error instead of
crashing the doctor. Export routes are the route table's rows (``twinbench.export.routes``): each
is checked for its packages (and a mobile route for its runtime), and a route the table marks
unavailable is listed with its reason, never as a failure. A component carries the shipped
presets that need it; ``--strict`` fails when any of those is missing or broken, which is how CI
proves that setup installed everything.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from twinbench.export.routes import ROUTES, Route
from twinbench.frameworks.base import FRAMEWORKS
from twinbench.measure.env import cpu_model

_PROBE = (
    "import importlib, os; lib = os.environ['TB_LIB']; m = importlib.import_module(lib); "
    "extra = ''\n"
    "if lib == 'keras':\n"
    "    import keras; extra = ' on ' + keras.backend.backend() + ' ' + "
    "importlib.import_module({'tensorflow':'tensorflow','jax':'jax','torch':'torch'}"
    "[keras.backend.backend()]).__version__\n"
    "print(m.__version__ + extra)"
)
# Chromium as export-web starts it (twinbench.web.browser): Playwright, the system executable.
_CHROMIUM = ("from twinbench.web.browser import Browser\n"
             "with Browser(timeout_s=30) as b: print('Chromium ' + b.version)")
_TFJS = ("from twinbench.export.tfjs_converter import converter_dir, load_converter\n"
         "stand_ins = load_converter(); import tensorflowjs\n"
         "print(f'tensorflowjs {tensorflowjs.__version__} in {converter_dir()}')")
# the scenario that runs each kind of route (a kind without one: nothing needs it yet)
SCENARIO_OF = {"mobile": "export-mobile", "web": "export-web", "server": "serve"}
# the serve scenario's servers and its Keras ONNX exporter, imported as its processes do
_SERVE = ("import importlib.metadata as md, litserve, ray.serve, tf2onnx, aiohttp\n"
          "print(', '.join(f'{p} ' + md.version(p) for p in ('litserve', 'ray', 'tf2onnx', "
          "'aiohttp')))")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str  # one line: the version and where, or why it is not usable
    needed_by: tuple[str, ...] = ()  # shipped presets that need it; () = information only


def preset_needs() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """(framework -> presets using it, scenario -> presets using it), from study.PRESETS."""
    from twinbench.study import PRESETS, load_study

    by_fw: dict[str, list[str]] = {}
    by_scenario: dict[str, list[str]] = {}
    for name in PRESETS:
        study = load_study(None, name)
        for fw in study.frameworks:
            by_fw.setdefault(fw, []).append(name)
        for sc in study.scenarios:
            by_scenario.setdefault(sc, []).append(name)
    return ({k: tuple(v) for k, v in by_fw.items()},
            {k: tuple(v) for k, v in by_scenario.items()})


def _run(code: str, env_extra: dict[str, str], timeout: float = 120) -> tuple[bool, str, float]:
    """(ok, stdout or the last stderr line, seconds) of ``python -c code`` in a fresh process."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **env_extra)
    t0 = time.perf_counter()
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout:.0f} s", timeout
    dt = time.perf_counter() - t0
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return False, f"not usable: {last[:240]}", dt
    return True, out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "", dt


def _import(lib: str, env_extra: dict[str, str]) -> tuple[bool, str]:
    ok, text, dt = _run(_PROBE, {"TB_LIB": lib, **env_extra})
    return ok, f"{text} (import {dt:.1f} s)" if ok else text


def checks() -> Iterator[Check]:
    """Each component's check, yielded as it finishes (the whole takes about a minute)."""
    by_fw, by_scenario = preset_needs()
    yield Check("machine", True, f"{cpu_model()}, python {sys.version.split()[0]}")
    yield Check("sqlite", True, f"SQLite {sqlite3.sqlite_version} (embedded results store)")
    for spec in FRAMEWORKS.values():
        ok, detail = _import(spec.library, spec.env)
        yield Check(spec.id, ok, detail, by_fw.get(spec.id, ()))
    loaded: dict[str, tuple[bool, str]] = {}  # a mobile loader is probed once
    for route in ROUTES.values():
        yield route_check(route, by_scenario.get(SCENARIO_OF[route.kind], ()), loaded)
    web = by_scenario.get("export-web", ())
    ok, detail, _ = _run(_CHROMIUM, {}, timeout=90)
    yield Check("chromium", ok, detail if ok else
                f"{detail} (scripts/setup.sh apt-installs chromium)", web)
    ok, detail, _ = _run(_TFJS, {}, timeout=180)
    yield Check("tfjs converter", ok, detail, web)
    ok, detail, _ = _run(_SERVE, {}, timeout=180)
    yield Check("serving stacks", ok, detail, by_scenario.get("serve", ()))


def route_check(route: Route, needed_by: tuple[str, ...],
                loaded: dict[str, tuple[bool, str]] | None = None) -> Check:
    """One export route of the table: unavailable (listed with its reason, needed by nothing),
    its pip and npm packages, and for a mobile route its runtime's native part, loaded in a
    process of its own (``loaded`` caches that per loader)."""
    from twinbench.web import runtimes as web

    if not route.available:
        issue = f" (upstream: {route.upstream})" if route.upstream else ""
        return Check(route.id, False, f"{route.title}: unavailable{issue}: "
                     f"{route.unavailable_reason}")
    have, missing = [], []
    for dist in route.pip:
        try:
            have.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            missing.append(dist)
    if missing:
        return Check(route.id, False, f"{route.title}: pip package(s) not installed: "
                     f"{', '.join(missing)} (scripts/setup.sh installs requirements.lock)",
                     needed_by)
    gone = web.missing_packages(route)
    if gone:
        return Check(route.id, False, f"{route.title}: missing in "
                     f"{web.web_dir() / 'node_modules'}: {', '.join(gone)} "
                     "(scripts/setup.sh runs npm ci)", needed_by)
    for pkg in route.npm:
        p = web.package_info(pkg)
        have.append(f"{p['package']} {p['version']} ({p['released']})")
    if route.kind == "mobile":
        from twinbench.export.mobile_runtime import probe_code

        cache = {} if loaded is None else loaded
        if route.loader not in cache:
            ok, text, dt = _run(probe_code(route.loader), {})
            cache[route.loader] = (ok, f"{text} loads ({dt:.1f} s)" if ok else text)
        ok, text = cache[route.loader]
        if not ok:
            return Check(route.id, False, f"{route.title}: runtime {text}", needed_by)
        have.insert(0, text)
    return Check(route.id, True, f"{route.title}: {', '.join(have)}", needed_by)

