"""Every export route twinbench knows, in one table: where a route starts, what runs it, and
whether it can run here.

A route takes one framework family's twin (``frameworks.base.FAMILIES``) to files another
runtime loads: a phone runtime (``mobile``: the export-mobile scenario), a browser runtime
(``web``: export-web) or a server stack (``server``: none here; the serve scenario's
backends have their own table, ``twinbench.serving.backends``). Several
routes may start from one family (PyTorch -> ExecuTorch beside PyTorch -> LiteRT); each runs in
the worker of ONE framework (``framework``, by default the family's carrier: keras-tf for Keras,
pytorch for PyTorch), which imports the route's ``module`` lazily.

A route's records carry its ``id`` (``Record.route``) and a variant (``Record.variant``: a
precision such as ``fp32``, or a browser backend such as ``tfjs-wasm-1t``). Variants name rows
across frameworks (``fp32:latency_p50`` of LiteRT beside ExecuTorch's), so two routes that run in
the same worker must not produce the same variant: a second route of a worker names its variants
with its own ``variant_prefix``. The table is checked when it is imported; a wrong row (a family
that does not match its worker, a clash of variants, an unavailable route without a reason)
fails at import with the row's name.

Adding a mobile route to an existing runtime: one row here plus its export module (the same
functions as ``mobile_litert``); a new runtime also adds its loader to ``mobile_runtime``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from twinbench.frameworks.base import FAMILIES, FRAMEWORKS, of_family
from twinbench.results.schema import Record

RouteKind = Literal["mobile", "web", "server"]
KINDS: tuple[RouteKind, ...] = ("mobile", "web", "server")
SCENARIOS: dict[str, RouteKind] = {"export-mobile": "mobile", "export-web": "web"}


@dataclass(frozen=True)
class Route:
    """One export route (see the module's docstring)."""

    id: str  # the records' ``route``
    kind: RouteKind
    family: str  # the framework family whose twin it starts from
    module: str  # the export (+ run) module, imported only inside the worker
    runtime: str  # the runtime's name, for people: "LiteRT", "ExecuTorch", "TensorFlow.js"
    # mobile: a loader of twinbench.export.mobile_runtime; web: a runtime of twinbench.web.runtimes
    loader: str
    title: str  # the route, for people: "Keras → LiteRT (.tflite)"
    # Python distributions the route needs beyond its framework (doctor checks them; the TF.js
    # converter lives apart in .venv/tfjs-converter and has a doctor check of its own)
    pip: tuple[str, ...] = ()
    npm: tuple[str, ...] = ()  # npm packages under web/node_modules (doctor checks them)
    framework: str = ""  # the worker that runs it; "" = the family's carrier
    # what its variants start with: "" for a worker's first mobile route (fp32, int8-full ...);
    # web: its runtime's id and a dash (tfjs-wasm-1t); a second route of a worker: its own
    variant_prefix: str = ""
    available: bool = True
    unavailable_reason: str | None = None  # why it cannot run here (needed when not available)
    upstream: str | None = None  # the upstream issue that keeps it from running

    def __post_init__(self) -> None:
        where = f"export route {self.id!r}"
        if self.kind not in KINDS:
            raise ValueError(f"{where}: kind {self.kind!r} not in {KINDS}")
        if self.family not in FAMILIES:
            raise ValueError(f"{where}: family {self.family!r} not in {FAMILIES}")
        carriers = sorted({FRAMEWORKS[f].carrier for f in of_family(FRAMEWORKS, self.family)})
        if not self.framework and len(carriers) != 1:
            raise ValueError(f"{where}: the {self.family} family has carriers {carriers}: name "
                             "the framework whose worker runs the route")
        worker = self.framework or carriers[0]
        if worker not in FRAMEWORKS:
            raise ValueError(f"{where}: framework {worker!r} is not a framework")
        if FRAMEWORKS[worker].family != self.family:
            raise ValueError(f"{where}: starts from the {self.family} family but runs in the "
                             f"{worker} worker, of the {FRAMEWORKS[worker].family} family")
        object.__setattr__(self, "framework", worker)
        if self.available == bool(self.unavailable_reason):
            raise ValueError(f"{where}: an unavailable route needs unavailable_reason, an "
                             "available one has none")
        if not self.module.startswith("twinbench.export."):
            raise ValueError(f"{where}: module {self.module!r} is not under twinbench.export")

    def variant(self, name: str) -> str:
        """The record variant of one of its module's variants (``fp32`` -> ``litert-fp32``)."""
        return self.variant_prefix + name

    @property
    def why_not(self) -> str:
        """One line: why it does not run here, with its upstream issue."""
        issue = f" (upstream: {self.upstream})" if self.upstream else ""
        return f"{self.id}: unavailable: {self.unavailable_reason}{issue}"


# PyTorch -> LiteRT needs litert-torch, whose converter cannot be installed beside the pinned
# set (docs/mobile.md, "PyTorch -> LiteRT"); issue #23 installs it in an isolated target.
_LITERT_TORCH = (
    "litert-torch 0.10 (for torch 2.13) needs litert-converter 0.5 -> xdsl 0.28.0 -> "
    "typing-extensions < 4.13, the pinned pydantic 2.14 typing-extensions >= 4.16: no install "
    "beside requirements.lock (0.9.x needs ai-edge-litert < 2.3, 0.8 torch < 2.10)")

ROUTES: dict[str, Route] = {r.id: r for r in (
    # --- phone (export-mobile) ---------------------------------------------------------------
    Route("keras-litert", "mobile", "keras", "twinbench.export.mobile_litert", "LiteRT",
          "litert", "Keras → LiteRT (.tflite)", pip=("ai-edge-litert",)),
    Route("torch-executorch", "mobile", "pytorch", "twinbench.export.mobile_executorch",
          "ExecuTorch", "executorch", "PyTorch → ExecuTorch (.pte, XNNPACK)",
          pip=("executorch", "torchao")),
    Route("torch-litert", "mobile", "pytorch", "twinbench.export.mobile_litert_torch",
          "LiteRT", "litert", "PyTorch → LiteRT (.tflite, litert-torch)",
          pip=("litert-torch", "ai-edge-litert"), variant_prefix="litert-", available=False,
          unavailable_reason=_LITERT_TORCH, upstream="google-ai-edge/LiteRT#8894"),
    # --- browser (export-web) ----------------------------------------------------------------
    Route("keras-tfjs", "web", "keras", "twinbench.export.web_convert", "TensorFlow.js",
          "tfjs", "Keras → TF.js graph model (tensorflowjs converter)",
          npm=("@tensorflow/tfjs", "@tensorflow/tfjs-backend-wasm"),
          variant_prefix="tfjs-"),
    Route("keras-litert-js", "web", "keras", "twinbench.export.web_convert", "LiteRT.js",
          "litert", "Keras → LiteRT.js (.tflite)", npm=("@litertjs/core",),
          variant_prefix="litert-"),
    Route("torch-ort-web", "web", "pytorch", "twinbench.export.web_convert",
          "ONNX Runtime Web", "ort", "PyTorch → ONNX Runtime Web (.onnx)",
          pip=("onnx", "onnxscript"), npm=("onnxruntime-web",), variant_prefix="ort-"),
    # server: the serve scenario's backends (twinbench.serving.backends.BACKENDS)
)}


def check(table: dict[str, Route]) -> None:
    """What no single row can check: ids match their keys, and no two routes that run in one
    worker produce the same variants (same kind, same framework, same prefix)."""
    seen: dict[tuple[str, str, str], str] = {}
    for key, r in table.items():
        if key != r.id:
            raise ValueError(f"export route {r.id!r} is filed under {key!r}")
        other = seen.setdefault((r.kind, r.framework, r.variant_prefix), r.id)
        if other != r.id:
            raise ValueError(f"export routes {other!r} and {r.id!r} both run in the "
                             f"{r.framework} worker with variant prefix {r.variant_prefix!r}: "
                             "their records would collide; give one a variant_prefix")


check(ROUTES)


def of_kind(kind: str, framework: str | None = None, *,
            available: bool | None = None) -> list[Route]:
    """The routes of ``kind`` (in table order), those run by ``framework``'s worker when given,
    and only the (un)available ones when ``available`` is given."""
    return [r for r in ROUTES.values() if r.kind == kind
            and (framework is None or r.framework == framework)
            and (available is None or r.available == available)]


def not_applicable(kind: str, framework: str) -> str:
    """Why a framework's worker runs no route of ``kind``: which job runs its family's routes,
    or that no route starts from its family."""
    spec = FRAMEWORKS.get(framework)
    mine = [r for r in ROUTES.values() if r.kind == kind and spec and r.family == spec.family]
    if spec is None or not mine:
        every = "; ".join(f"{r.title} from {r.framework}" for r in ROUTES.values()
                          if r.kind == kind) or "none yet"
        return f"no {kind} route starts from {framework} ({every})"
    workers = " and ".join(sorted({r.framework for r in mine}))
    return (f"{framework}'s {kind} routes ({'; '.join(r.title for r in mine)}) run in the "
            f"{workers} job, which exports the same {spec.family} twin")


def route_of(r: Record) -> str | None:
    """The route a record measured: its ``route``; for a v1 record (which had no route id) the
    route its worker ran whose variant prefix the variant starts with (variants are unique per
    worker, ``check``). None for records of no route (the framework's own model)."""
    if r.route is not None or r.variant is None or r.scenario not in SCENARIOS:
        return r.route
    mine = [x for x in of_kind(SCENARIOS[r.scenario], r.framework)
            if (r.variant + "-").startswith(x.variant_prefix)]
    return max(mine, key=lambda x: len(x.variant_prefix)).id if mine else None
