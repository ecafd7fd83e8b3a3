"""serve: the twin served over HTTP on 127.0.0.1 under open-loop Poisson load, through each
ecosystem's export path (runtime tier) and the servers users deploy (server tier).

One job per model (spec ``per_model``): offered rates must be common to every backend, so one
process orchestrates them all, and every framework runs in processes of its own:

1. **export** — one process per framework (``serving.export_main``) builds the twin with the
   canonical initial weights (the same function on every side) and exports: PyTorch eager
   (weights), AOTInductor ``.pt2`` and ONNX (PyTorch); SavedModel and ONNX (Keras on
   TensorFlow); Keras-JAX (weights, ``predict_on_batch``). Export seconds and artifact bytes.
2. **pass 1**, per backend × server: start the server pinned to one core, 1 thread; cold start
   (spawn → first 200); every answer on the parity inputs equals the exporting framework's
   in-process output (``parity_tolerance``) or the pair gets a failed record and no timing;
   single-stream latency (closed loop, after warm-up) → capacity = 1 / median; memory (PSS of
   the whole process tree), process count, sockets.
3. **common rates** = ``rate_fractions`` × the slowest pair's capacity.
4. **pass 2**, per pair, a fresh server: at each common rate an open-loop Poisson run from the
   client process on the other core → p50/p90/p99 (latency from the *scheduled* send time),
   error and timeout rates; then the highest rate whose p99 stays within
   ``latency_bound_ms`` (bisection from the pair's capacity).

Runtime tier: the neutral aiohttp front end over every backend. Server tier: LitServe and
Ray Serve as shipped over ``server_backends``. The request encoding (``serving.protocol``) is
the same everywhere; its cost is timed on its own. TFX, TF Serving, Triton and TorchServe are
recorded as what they are here (not installable, or not measured), never as figures.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, field_validator

from twinbench.results.schema import Warn
from twinbench.scenarios.base import Context, Failed, Measurement, from_samples, percentile_of
from twinbench.scenarios.spec import STRICT, Scenario

BackendName = Literal["torch-eager", "aoti", "onnx-torch", "savedmodel", "onnx-keras",
                      "keras-jax"]
ServerName = Literal["litserve", "ray-serve"]
ALL_BACKENDS: list[BackendName] = ["torch-eager", "aoti", "onnx-torch", "savedmodel",
                                   "onnx-keras", "keras-jax"]
ALL_SERVERS: list[ServerName] = ["litserve", "ray-serve"]
TIER_BACKENDS: list[BackendName] = ["torch-eager", "savedmodel"]


class ServeConfig(BaseModel):
    """[serve]: backends, servers, offered rates and bounds of the serving runs."""

    model_config = STRICT
    backends: list[BackendName] = Field(
        default_factory=lambda: list(ALL_BACKENDS),
        description="runtime tier, behind the neutral front end (those whose framework the "
                    "study has)")
    servers: list[ServerName] = Field(default_factory=lambda: list(ALL_SERVERS),
                                      description="server tier")
    server_backends: list[BackendName] = Field(
        default_factory=lambda: list(TIER_BACKENDS),
        description="the backends the server tier hosts")
    rate_fractions: list[float] = Field(
        default_factory=lambda: [0.5, 0.8],
        description="common offered rates, as fractions of the slowest pair's capacity")
    duration_s: float = Field(5.0, gt=0, description="seconds of each open-loop run")
    max_queries: int = Field(3000, gt=0, description="cap on the requests of one run")
    min_queries: int = Field(50, gt=0, description="floor on the requests of one run")
    warmup_queries: int = Field(20, ge=0, description="sent first, not counted")
    latency_bound_ms: float = Field(50.0, gt=0, description="p99 bound of the max-rate search")
    search_steps: int = Field(4, ge=0, description="bisection steps of the max-rate search")
    capacity_s: float = Field(2.0, gt=0, description="seconds of the single-stream run")
    parity_inputs: int = Field(8, gt=0, description="inputs each server must answer exactly")
    parity_tolerance: float = Field(1e-5, gt=0)
    request_timeout_s: float = Field(10.0, gt=0)
    start_timeout_s: float = Field(300.0, gt=0, description="spawn → first answer, at most")
    export_timeout_s: float = Field(900.0, gt=0)

    @field_validator("rate_fractions")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        if not v or any(not 0 < f <= 2 for f in v):
            raise ValueError("rate_fractions must be in (0, 2]")
        return v


SCENARIO = Scenario(
    "serve", "HTTP serving under open-loop load: SavedModel, AOTInductor, ONNX Runtime, "
    "LitServe, Ray Serve", ServeConfig, per_model=True, compared=False,
    view="twinbench.report.serve_view:VIEW")

# what a Keras job does not host: Keras on torch has no export of its own to these runtimes
# here (its ONNX goes through torch.onnx, its SavedModel export fails in Keras 3.15)
SOURCES = {"pytorch": "pytorch", "lightning": "pytorch", "keras-tf": "keras-tf",
           "keras-jax": "keras-jax", "keras-torch": "keras-tf"}
NOT_HERE = {
    "tfx": "TFX 1.21 (the newest) cannot be installed beside the pinned set: it needs "
           "absl-py<2 (pinned 2.5.1) and ml-metadata 1.21, which has no wheel for this "
           "Python (checked with pip's resolver, 2026-12); its pipelines, data validation "
           "and continuous training are not measurable here",
    "tf-serving": "TensorFlow Serving's model server is not on PyPI or Debian (only its "
                  "client protos are): the SavedModel is served by the neutral front end",
    "triton": "Triton's PyPI package is a placeholder; its server ships as a container",
    "torchserve": "TorchServe is in limited maintenance (pytorch/serve#3396): not measured",
}
RAY_WILDCARD = ("Ray Serve's replica starts its inter-deployment gRPC server on [::]:0 "
                "(hard-coded, no bind option: ray-project/ray#64544)")


def _pair(backend: str, server: str) -> str:
    return f"{backend}@{server}"


class Orchestra:
    """The state of one serve job: exports, pairs, their capacities."""

    def __init__(self, ctx: Context) -> None:
        from twinbench.serving.control import cpus
        from twinbench.serving.protocol import request

        self.ctx, self.cfg = ctx, ctx.section(ServeConfig)
        self.root = Path(ctx.workdir) / "serve" / ctx.job.job_id.replace("/", "__")
        self.root.mkdir(parents=True, exist_ok=True)
        ds = ctx.dataset(n_train=8, n_test=self.cfg.parity_inputs)
        self.x = np.ascontiguousarray(ds.test.x[:self.cfg.parity_inputs])
        self.input_shape, self.num_classes = list(ds.input_shape), ds.num_classes
        np.save(self.root / "inputs.npy", self.x)
        self.payload = self.root / "payload.json"
        self.payload.write_bytes(request(self.x[:1]))
        self.server_cpu, self.client_cpu = cpus()
        self.entries: dict[str, dict[str, Any]] = {}
        self.refs: dict[str, np.ndarray] = {}
        self.versions: dict[str, dict[str, str]] = {}
        self.out: list[Measurement] = []

    def frameworks(self) -> list[str]:
        seen: list[str] = []
        for f in self.ctx.study.frameworks:  # type: ignore[attr-defined]
            src = SOURCES.get(f)
            if src and src not in seen:
                seen.append(src)
        return seen

    # ---- export ------------------------------------------------------------------------------
    def export(self, fw: str, backends: list[str]) -> None:
        spec = {"framework": fw, "model": self.ctx.job.model, "size": dict(self.ctx.size),
                "input_shape": self.input_shape, "num_classes": self.num_classes,
                "seed": self.ctx.study.seed, "outdir": str(self.root / fw),
                "backends": backends, "inputs": str(self.root / "inputs.npy")}
        path = self.root / f"export-{fw}.json"
        path.write_text(json.dumps(spec))
        self.ctx.progress(f"serve: exporting {', '.join(backends)} from {fw}")
        from twinbench.distributed.launch import exception_line
        from twinbench.serving.control import env_for

        log = self.root / f"export-{fw}.log"
        t = time.perf_counter()
        with open(log, "w") as out:
            try:
                rc = subprocess.run([sys.executable, "-m", "twinbench.serving.export_main",
                                     str(path)], stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env_for(fw),
                                    timeout=self.cfg.export_timeout_s).returncode
            except subprocess.TimeoutExpired:
                rc = -1
        manifest = self.root / fw / "manifest.json"
        if rc != 0 or not manifest.exists():
            text = log.read_text(errors="replace")
            why = exception_line(text) or (f"timed out after {self.cfg.export_timeout_s:g} s"
                                           if rc == -1 else f"exited with code {rc}")
            for b in backends:
                self._fail("export_time", "s", b, fw, f"export process for {fw} failed: {why}")
            return
        got = json.loads(manifest.read_text())
        self.versions[fw] = got["versions"]
        self.refs[fw] = np.load(self.root / fw / "reference.npy")
        self.ctx.progress(f"serve: {fw} exports done in {time.perf_counter() - t:.0f} s")
        for b, e in got["backends"].items():
            if not e["ok"]:
                self._fail("export_time", "s", b, fw, f"{b}: {e['error']}", e.get("upstream"))
                continue
            self.entries[b] = e
            self._add(Measurement("export_time", "s", e["export_s"], "lower", variant=b,
                                  framework=fw, extra={"backend": b}))
            self._add(Measurement("artifact_size", "MB", e["bytes"] / 1e6, "lower", variant=b,
                                  framework=fw, extra={"backend": b, "bytes": e["bytes"]}))

    # ---- records -----------------------------------------------------------------------------
    def _add(self, m: Measurement) -> None:
        from twinbench.serving.backends import BACKENDS

        b = (m.variant or "").split("@")[0]
        if b in BACKENDS:
            m.extra = {"backend_title": BACKENDS[b].title, **m.extra}
        self.out.append(m)

    def _fail(self, metric: str, unit: str, variant: str, fw: str, error: str,
              upstream: str | None = None) -> None:
        f = Failed(metric, unit, None, error=error + (f" (upstream: {upstream})"
                                                       if upstream else ""))
        f.variant, f.framework = variant, fw
        f.extra = {"upstream": upstream}
        self.out.append(f)

    # ---- one server --------------------------------------------------------------------------
    def pairs(self) -> list[tuple[str, str]]:
        from twinbench.serving.backends import BACKENDS

        cfg, srcs = self.cfg, self.frameworks()
        runtime = [(str(b), "aiohttp") for b in cfg.backends
                   if b in self.entries and BACKENDS[b].framework in srcs]
        tier = [(str(b), str(s)) for s in cfg.servers for b in cfg.server_backends
                if b in self.entries]
        return runtime + tier

    def start(self, backend: str, server: str, loaded: bool = False) -> Any:
        from twinbench.serving import control
        from twinbench.serving.backends import BACKENDS

        fw = BACKENDS[backend].framework
        entry = dict(self.entries[backend])
        crash = os.environ.get("TWINBENCH_SERVE_CRASH_AFTER")
        if crash and loaded:  # tests: a server that dies mid-run under load (pass 2), as a
            entry["crash_after"] = int(crash)  # native crash in a runtime would
        return control.start(server, backend, entry, self.root / "servers", self.server_cpu,
                             fw)

    def client(self, plan: dict[str, Any]) -> dict[str, Any]:
        from twinbench.serving.control import run_client

        budget = self.cfg.duration_s * 4 + self.cfg.request_timeout_s + 60
        return run_client({"payload": str(self.payload), **plan}, self.root / "client",
                          self.client_cpu, budget)

    def parity(self, srv: Any, fw: str) -> float:
        from twinbench.serving.control import post
        from twinbench.serving.protocol import decode, request

        got = np.concatenate([decode(post(srv.url, request(self.x[i:i + 1]),
                                          self.cfg.request_timeout_s), "outputs")
                              for i in range(len(self.x))])
        ref = self.refs[fw]
        if got.shape != ref.shape:
            raise ValueError(f"answer shape {got.shape} != in-process {ref.shape}")
        return float(np.max(np.abs(got.astype(np.float64) - ref)))

    def first_pass(self, backend: str, server: str) -> float | None:
        """Cold start, parity, capacity, memory; the capacity (queries/s) or None."""
        from twinbench.serving import control
        from twinbench.serving.backends import BACKENDS

        fw, v, cfg = BACKENDS[backend].framework, _pair(backend, server), self.cfg
        self.ctx.progress(f"serve: {v}: cold start, parity, single-stream")
        srv = self.start(backend, server)
        try:
            cold = control.first_answer(srv, self.payload.read_bytes(), cfg.start_timeout_s)
            info = control.health(srv) if server == "aiohttp" else {}
            diff = self.parity(srv, fw)
            ok = diff <= cfg.parity_tolerance
            self._add(Measurement("http_max_abs_diff", "", diff, "lower", variant=v,
                                  framework=fw, extra={"passed": ok,
                                                       "tolerance": cfg.parity_tolerance,
                                                       "inputs": len(self.x)}))
            if not ok:
                self._fail("latency_single_stream", "ms", v, fw,
                           f"{v}: HTTP answers differ from the in-process model by {diff:.3g} "
                           f"(> {cfg.parity_tolerance:g}): not timed")
                return None
            res = self.client({"url": srv.url, "mode": "closed", "warmup": cfg.warmup_queries,
                               "min_queries": cfg.min_queries, "min_s": cfg.capacity_s,
                               "timeout_s": cfg.request_timeout_s})
            mib, nproc = control.memory(srv.proc.pid)
            socks = control.sockets(srv.proc.pid)
        except (control.ServerFailed, OSError, ValueError) as exc:
            self._fail("cold_start", "s", v, fw, f"{v}: {str(exc).splitlines()[0][:400]}")
            return None
        finally:
            left = control.stop(srv)
        knobs = {"server": server, "backend": backend, "server_cpu": self.server_cpu,
                 "client_cpu": self.client_cpu, "threads": 1, **info.get("knobs", {})}
        lat = [1e3 * s for s in res["latencies_s"]]
        single = from_samples("latency_single_stream", "ms", lat, "lower", variant=v,
                              framework=fw, batch_size=1)
        capacity = 1e3 / float(np.median(lat))
        single.extra = {"capacity_qps": capacity}
        wild = [s for s in control.off_loopback(socks) if s["status"] == "LISTEN"]
        other = [s for s in control.off_loopback(socks) if s["status"] != "LISTEN"]
        extra = {"listening_wildcard": wild, "off_loopback_connections": other,
                 "left_after_stop": left}
        mem = Measurement("server_memory", "MiB", mib, "lower", variant=v, framework=fw,
                          extra={"what": "PSS of the server's process tree", **extra})
        if wild:
            mem.warnings.append(Warn("other", f"{len(wild)} wildcard listen(s)" + (
                f": {RAY_WILDCARD}" if server == "ray-serve" else "")))
        for m in (Measurement("cold_start", "s", cold, "lower", variant=v, framework=fw,
                              extra={"what": "process spawn → first 200 on /predict",
                                     "load_s": info.get("load_s")}),
                  single, mem,
                  Measurement("processes", "count", nproc, "lower", variant=v, framework=fw)):
            m.knobs = knobs
            self._add(m)
        return capacity

    def second_pass(self, backend: str, server: str, rates: list[tuple[float, float]],
                    capacity: float) -> None:
        from twinbench.measure.loadgen import RateResult, bisect_rate
        from twinbench.serving import control
        from twinbench.serving.backends import BACKENDS

        fw, v, cfg = BACKENDS[backend].framework, _pair(backend, server), self.cfg
        srv = self.start(backend, server, loaded=True)
        seed = self.ctx.study.seed
        try:
            control.first_answer(srv, self.payload.read_bytes(), cfg.start_timeout_s)
            self.client({"url": srv.url, "mode": "closed", "warmup": cfg.warmup_queries,
                         "min_queries": 1, "min_s": 0.0, "timeout_s": cfg.request_timeout_s})

            def run(rate: float) -> dict[str, Any]:
                n = int(min(cfg.max_queries, max(cfg.min_queries, rate * cfg.duration_s)))
                return self.client({"url": srv.url, "mode": "open", "rate": rate,
                                    "n": n + cfg.warmup_queries, "seed": seed,
                                    "warmup": cfg.warmup_queries,
                                    "timeout_s": cfg.request_timeout_s})

            def alive(r: dict[str, Any]) -> dict[str, Any]:
                if srv.proc.poll() is not None:
                    raise srv.failure(f"{server} died mid-run (exit code "
                                      f"{srv.proc.returncode}; {r['errors']} of "
                                      f"{r['counted']} requests failed)")
                if not r["latencies_s"]:
                    raise control.ServerFailed(f"no request answered ({r['error_kinds']})")
                return r

            for frac, rate in rates:
                self.ctx.progress(f"serve: {v}: open loop at {rate:.1f}/s ({frac:g}× common)")
                self._open_records(v, fw, server, backend, frac, rate, alive(run(rate)))

            def trial(rate: float) -> RateResult:
                r = alive(run(rate))
                p99 = float(np.percentile(r["latencies_s"], 99))
                bad = r["errors"] + r["timeouts"]
                return RateResult(rate, p99, r["counted"],
                                  p99 <= cfg.latency_bound_ms / 1e3 and bad == 0)

            self.ctx.progress(f"serve: {v}: highest rate with p99 <= {cfg.latency_bound_ms:g} ms")
            best, tried = bisect_rate(trial, capacity, cfg.search_steps, beyond=2)
        except (control.ServerFailed, OSError, ValueError) as exc:
            self._fail("max_qps_within_bound", "queries/s", v, fw,
                       f"{v}: {str(exc).splitlines()[0][:400]}")
            return
        finally:
            control.stop(srv)
        self._add(Measurement(
            "max_qps_within_bound", "queries/s", best, "higher", variant=v, framework=fw,
            extra={"latency_bound_ms": cfg.latency_bound_ms, "capacity_qps": capacity,
                   "tried": [vars(t) for t in tried]},
            warnings=[] if best > 0 else [Warn("capacity", "no rate tried met the p99 bound")]))

    def _open_records(self, v: str, fw: str, server: str, backend: str, frac: float,
                      rate: float, r: dict[str, Any]) -> None:
        lat = [1e3 * s for s in r["latencies_s"]]
        tag = f"{frac:g}x"
        extra = {"offered_qps": rate, "rate_fraction": frac, "queries": r["counted"],
                 "errors": r["errors"], "timeouts": r["timeouts"],
                 "error_kinds": r["error_kinds"],
                 "max_send_lateness_ms": 1e3 * r["max_send_lateness_s"]}
        for q in (50, 90, 99):
            m = percentile_of(f"latency_p{q}_at_{tag}", lat, q, variant=v, framework=fw,
                              batch_size=1)
            m.extra = dict(extra)
            m.knobs = {"server": server, "backend": backend, "threads": 1}
            if r["timeouts"]:
                m.warnings.append(Warn("capacity", f"{r['timeouts']} request(s) timed out: "
                                                   "their latency counts as the timeout"))
            if r["errors"]:
                m.warnings.append(Warn("other", f"{r['errors']} request(s) failed "
                                                f"({', '.join(r['error_kinds'])}): not in "
                                                "the percentiles"))
            self._add(m)
        bad = (r["errors"] + r["timeouts"]) / max(1, r["counted"])
        self._add(Measurement(f"error_rate_at_{tag}", "fraction", bad, "lower", variant=v,
                              framework=fw, extra=extra))


def serialisation(x: np.ndarray, out_width: int, n: int = 300) -> Measurement:
    """The request/response encoding's own cost: encode + decode of one request and one
    answer (batch 1), in process."""
    from twinbench.serving.protocol import decode, request, response

    y = np.zeros((1, out_width), np.float32)
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        decode(request(x), "inputs")
        decode(response(y), "outputs")
        samples.append(1e6 * (time.perf_counter() - t))
    m = from_samples("serialisation_time", "us", samples, "lower", batch_size=1)
    m.extra = {"what": "JSON + base64 float32: encode and decode one request and one answer",
               "request_bytes": len(request(x))}
    return m


def not_here() -> list[Measurement]:
    out = []
    for name, why in NOT_HERE.items():
        installed = importlib.util.find_spec(name) is not None if name == "tfx" else False
        out.append(Measurement("available", "", 0.0, variant=name,
                               extra={"state": "unavailable", "reason": why,
                                      "installed": installed}))
    return out


def run(ctx: Context) -> list[Measurement]:
    from twinbench.serving.backends import BACKENDS

    o = Orchestra(ctx)
    if not np.issubdtype(o.x.dtype, np.floating):  # the encoding carries float32 (protocol)
        return [Measurement("available", "", 0.0, variant="serve", extra={
            "state": "unavailable", "reason": f"serve encodes float32 inputs; {ctx.job.task} "
            f"takes {o.x.dtype} (token ids): not served yet"})]
    cfg, srcs = o.cfg, o.frameworks()
    wanted = {*cfg.backends, *cfg.server_backends}
    for fw in srcs:
        mine: list[str] = [b for b in BACKENDS if BACKENDS[b].framework == fw and b in wanted]
        if mine:
            o.export(fw, mine)
    if "pytorch" in o.refs:  # the twins' agreement, in process (parity proper is its own job)
        for fw, ref in o.refs.items():
            if fw != "pytorch" and ref.shape == o.refs["pytorch"].shape:
                d = float(np.max(np.abs(ref.astype(np.float64) - o.refs["pytorch"])))
                o.out.append(Measurement("twin_max_abs_diff", "", d, "lower", variant=fw,
                                         framework=fw,
                                         extra={"against": "pytorch", "inputs": len(o.x)}))
    caps: dict[tuple[str, str], float] = {}
    for b, s in o.pairs():
        cap = o.first_pass(b, s)
        if cap is not None:
            caps[(b, s)] = cap
    if caps:
        slowest = min(caps.values())
        rates = [(f, f * slowest) for f in cfg.rate_fractions]
        ctx.progress("serve: common offered rates " + ", ".join(
            f"{r:.1f}/s" for _, r in rates) + f" (slowest capacity {slowest:.1f}/s)")
        for (b, s), cap in caps.items():
            o.second_pass(b, s, rates, cap)
    out_width = int(np.prod(next(iter(o.refs.values())).shape[1:])) if o.refs else 10
    o.out.append(serialisation(o.x[:1], out_width))
    o.out.extend(not_here())
    for m in o.out:
        m.extra.setdefault("versions", o.versions.get(m.framework or "", {}))
    return o.out
