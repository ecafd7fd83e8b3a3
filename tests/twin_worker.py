"""One framework's twin, driven through its product adapter, for the twin tests:
``python tests/twin_worker.py FRAMEWORK DIR JOB...`` (one framework per process).

FRAMEWORK is an id of ``twinbench.frameworks.base.FRAMEWORKS``. DIR holds a case:
``config.json`` (what to build and how to train it, below) and ``inputs.npz`` (``x``: NHWC images
or token ids, ``y``: labels; ``lengths`` and ``fixed`` for the checks that read them). A JOB may
name a case in a subfolder, ``CASE/JOB``. Each job leaves its result in its case folder, or
``err_<FRAMEWORK>_<JOB>.txt`` with the traceback, and the worker goes on with the next job:

  init          own build -> (canonical init) -> perturbed BN state  -> w_<fw>.npz
  roundtrip     get/set_weights identity, bad weights rejected with a one-line ValueError, extra
                structure checks                                      -> ok_<fw>_roundtrip
  run:O[:M]     load w_<O>.npz (waiting until it exists), eval forward, train   (M: a
                deliberate mistake, see MISTAKES)                      -> out_<fw>[+M]_from_<O>.npz
  floor:O       the training of run:O from ``floor_draws`` copies of w_<O> moved by one float32
                ulp each way at random: max|diff| per tensor          -> floor_<fw>_from_<O>.npz
  adamw:O       (torch) reference AdamWs written out here, from w_<O> -> adamw_<fw>_from_<O>.npz
  lightning     (lightning) what only a LightningModule shows          -> lightning.json

Training is what the study does through the adapter: ``compile_train`` (the study's optimizer
settings), then the protocol of the weights' origin: ``train_step`` (the parity scenario's call)
``steps`` times, batch i on step i, then ``fit`` (the train scenario's call, with ``on_step``)
``epochs`` times over the first ``fit_batches`` batches (default: all), each followed by an
eval-mode ``predict``, as a user evaluates after an epoch.

Config keys: model, size, input_shape, num_classes (what ``Adapter.build`` gets); seed (the
adapter's); batch; dtype ("float32" | "float64"); train {lr, momentum, optimizer,
weight_decay}; protocol {origin, or "*" for any other: {steps, epochs, fit_batches}}; init
{canonical: seed or {fw: seed}, perturb: perturb_bn's keyword arguments, set: [{key, first,
value}]}; roundtrip {bad: [{key, op, ...}], bad_input: {shape, match}, depthwise: key}; run
{relu6, alone, set_loss}: probes; floor_draws.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from twinbench.frameworks.base import FRAMEWORKS
from twinbench.zoo.init import canonical_init, shapes_of
from twinbench.zoo.perturb import perturb_bn

WAIT_S = 600  # how long a run waits for another worker's init


def save(path: Path, arrays: dict[str, Any]) -> None:
    """np.savez, atomically: a worker waiting for the file never reads half of it."""
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


class Twin:
    """One case (config + inputs in a folder) on this process's framework."""

    adapters: dict[str, Any] = {}

    def __init__(self, fw: str, d: Path) -> None:
        self.fw, self.d, self.spec = fw, d, FRAMEWORKS[fw]
        self.cfg: dict[str, Any] = json.loads((d / "config.json").read_text())
        self.inp = dict(np.load(d / "inputs.npz"))
        self.keras = self.spec.library == "keras"
        self.dtype = self.cfg.get("dtype", "float32")
        seed = int(self.cfg.get("seed", 0))
        if fw not in Twin.adapters:  # one adapter per process (it sizes the thread pools),
            # seeded by the first case's seed
            mod, cls = self.spec.adapter.split(":")
            Twin.adapters[fw] = getattr(importlib.import_module(mod), cls)(threads=1, seed=seed)
        self.a = Twin.adapters[fw]

    def build(self, input_shape: list[int] | None = None) -> Any:
        c = self.cfg
        if self.keras:
            self.a.keras.config.set_floatx(self.dtype)
        net = self.a.build(c["model"], c["size"], tuple(input_shape or c["input_shape"]),
                           int(c["num_classes"]))
        if self.keras and self.dtype == "float64":
            assert net.weights[0].dtype == "float64", net.weights[0].dtype
        elif self.dtype == "float64":
            net = net.double()
        return net

    def x(self) -> np.ndarray:
        x: np.ndarray = self.inp["x"]
        return x.astype(self.dtype) if x.dtype.kind == "f" else x

    def weights(self, origin: str) -> dict[str, np.ndarray]:
        """w_<origin>.npz, waiting for the worker whose init job writes it."""
        path, err = self.d / f"w_{origin}.npz", self.d / f"err_{origin}_init.txt"
        deadline = time.monotonic() + WAIT_S
        while not path.exists():
            if err.exists():
                raise RuntimeError(f"no w_{origin}.npz: {origin}'s init failed")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no w_{origin}.npz after {WAIT_S} s")
            time.sleep(0.05)
        return dict(np.load(path))

    def batches(self, fit_batches: int | None = None) -> tuple[list[Any], list[Any], Any, Any]:
        """(device batches of x, of y; the first ``fit_batches`` batches of x and y, default all,
        as one array each: what fit is given)."""
        a, x, y, b = self.a, self.x(), self.inp["y"], int(self.cfg["batch"])
        n = len(x) // b
        m = b * (n if fit_batches is None else fit_batches)
        return ([a.to_device(x[i * b:(i + 1) * b]) for i in range(n)],
                [a.labels(y[i * b:(i + 1) * b]) for i in range(n)],
                a.to_device(x[:m]), a.labels(y[:m]))

    def protocol(self, origin: str) -> dict[str, Any]:
        """How a run from ``origin``'s weights trains: ``steps`` train_steps, ``epochs`` fits
        (over the first ``fit_batches`` batches, default all)."""
        p = self.cfg.get("protocol", {})
        out: dict[str, Any] = {"steps": 0, "epochs": 0, **p.get(origin, p.get("*", {}))}
        return out

    def train(self, net: Any, origin: str, probe: Probe | None = None) -> dict[str, Any]:
        """compile_train, then the protocol's train_steps and fits: losses, marks, evals, info."""
        a, t, p = self.a, self.cfg["train"], self.protocol(origin)
        a.compile_train(net, t["lr"], t["momentum"], t.get("optimizer", "sgd"),
                        t.get("weight_decay", 0.0))
        xs, ys, xd, yd = self.batches(p.get("fit_batches"))
        x_all = a.to_device(self.x())
        losses: list[float] = []
        marks: list[int] = []
        evals: list[np.ndarray] = []
        info: dict[str, Any] = {}
        for i in range(p["steps"]):
            with probe.phase("train") if probe else contextlib.nullcontext():
                losses.append(a.train_step(net, xs[i % len(xs)], ys[i % len(ys)]))
            if i == 0 and self.spec.library == "lightning":
                info["global_step_after_first_step"] = int(net.trainer.global_step)
                info["trainer_fn"] = str(net.trainer.state.fn)
        for _ in range(p["epochs"]):
            with probe.phase("train") if probe else contextlib.nullcontext():
                losses.append(a.fit(net, xd, yd, int(self.cfg["batch"]), on_step=marks.append))
            evals.append(a.predict(net, x_all))  # evaluate after each epoch, as a user does
        # fit reports every step of every call, in order (the train scenario's step clock)
        assert marks == list(range(1, len(xd) // int(self.cfg["batch"]) + 1)) * p["epochs"], marks
        info["threads"] = a.thread_settings()
        info["knobs"] = repr(a.knobs(net))
        return {"losses": np.array(losses), "marks": np.array(marks, dtype=np.int64),
                "evals": np.array(evals), "info": np.array(json.dumps(info))}


class Probe:
    """Forward hooks on a torch twin's ReLU6 modules: in eval mode, the share of outputs clamped
    at 6; while training, the inputs within float noise of a kink (0 or 6), where frameworks may
    take different sides and one gradient element differs. Keras twins report -1."""

    def __init__(self, twin: Twin, net: Any) -> None:
        self.clamped_n, self.total_n, self.kinks, self.current = 0, 0, 0, ""
        self.torch = not twin.keras
        if self.torch:
            import torch

            for m in net.modules():
                if isinstance(m, torch.nn.ReLU6):
                    m.register_forward_hook(self._hook)

    def _hook(self, m: Any, i: tuple[Any, ...], o: Any) -> None:
        if self.current == "eval":
            self.clamped_n += int((o >= 6.0).sum())
            self.total_n += o.numel()
        elif self.current == "train":
            x = i[0].detach()
            self.kinks += int(((x.abs() < 1e-5) | ((x - 6.0).abs() < 1e-5)).sum())

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.current = name
        try:
            yield
        finally:
            self.current = ""

    def result(self) -> dict[str, Any]:
        if not self.torch:
            return {"clamped": -1.0, "kinks": -1}
        return {"clamped": self.clamped_n / max(self.total_n, 1), "kinks": self.kinks}


@contextlib.contextmanager
def _sgd_dampening() -> Iterator[None]:
    """SGD with dampening 0.1 (steps after the first take 0.9 of the gradient into momentum), a
    convention Keras does not have: a wrong twin that passes the forward check and the first
    loss. Swapped into the PyTorch adapter's optimizer factory, which Lightning shares."""
    import torch

    from twinbench.frameworks.pytorch import adapter as pt

    lit = sys.modules.get("twinbench.frameworks.lightning.adapter")  # imported by its adapter
    mods: list[Any] = [pt, *([lit] if lit else [])]
    saved = [m.make_optimizer for m in mods]

    def wrong(params: Any, lr: float, momentum: float, *args: Any) -> Any:
        return torch.optim.SGD(params, lr=lr, momentum=momentum, dampening=0.1)

    for m in mods:
        m.make_optimizer = wrong
    try:
        yield
    finally:
        for m, f in zip(mods, saved, strict=True):
            m.make_optimizer = f


MISTAKES: dict[str, Callable[[], contextlib.AbstractContextManager[None]]] = {
    "sgd-dampening": _sgd_dampening,
}


def init(t: Twin) -> None:
    c = t.cfg.get("init", {})
    w = t.a.get_weights(t.build())
    if "canonical" in c:
        seed = c["canonical"][t.fw] if isinstance(c["canonical"], dict) else c["canonical"]
        w = canonical_init(shapes_of(w), int(seed))
    if "perturb" in c:
        w = perturb_bn(w, **c["perturb"])
    for e in c.get("set", []):  # engineered values: w[key][:first] = value
        w[e["key"]] = w[e["key"]].copy()
        w[e["key"]][: e["first"]] = e["value"]
    save(t.d / f"w_{t.fw}.npz", w)


def _mutated(w: dict[str, np.ndarray], bad: dict[str, Any]) -> dict[str, np.ndarray]:
    """Weights that must be rejected: ``op`` drop, transpose (``axes``), rows (the first
    ``n``), copy (another tensor, ``from``, under this key)."""
    k, op, out = bad["key"], bad["op"], dict(w)
    if op == "drop":
        del out[k]
    elif op == "transpose":
        out[k] = w[k].transpose(bad.get("axes"))
    elif op == "rows":
        out[k] = w[k][: bad["n"]]
    elif op == "copy":
        out[k] = w[bad["from"]]
    else:
        raise ValueError(f"unknown op {op!r}")
    return out


def _check_depthwise(t: Twin, net: Any, w: dict[str, np.ndarray], key: str) -> None:
    """The depthwise conv behind canonical ``key`` is one: torch groups, Keras' (kh, kw, C, 1)
    kernel holding channel c's filter (torch (C, 1, kh, kw): w[key][c, 0]) at [:, :, c, 0]."""
    layer_path, c = key.removesuffix(".weight"), w[key].shape[0]
    if not t.keras:
        conv = dict(getattr(net, "net", net).named_modules())[layer_path]
        assert conv.groups == conv.in_channels == conv.out_channels == c, conv
        return
    from twinbench.frameworks.keras.weights import keras_name

    layer = net.get_layer(keras_name(layer_path))
    assert isinstance(layer, t.a.keras.layers.DepthwiseConv2D), type(layer)
    k = t.a.keras.ops.convert_to_numpy(layer.kernel)
    assert k.shape == (*w[key].shape[2:], c, 1), k.shape
    for ch in range(c):
        assert np.array_equal(k[:, :, ch, 0], w[key][ch, 0]), ch


def roundtrip(t: Twin) -> None:
    a, c = t.a, t.cfg.get("roundtrip", {})
    net = t.build()
    w = a.get_weights(net)
    assert all(v.dtype == np.float32 for v in w.values())
    rng = np.random.default_rng(2)
    w1 = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in w.items()}
    a.set_weights(net, w1)
    if "depthwise" in c:
        _check_depthwise(t, net, w1, c["depthwise"])
    w2 = a.get_weights(net)
    assert sorted(w2) == sorted(w), "key set changed"
    assert all(np.array_equal(w2[k], w1[k]) for k in w), "values changed"
    for bad in c.get("bad", []):
        expect = bad.get("expect", bad["key"])
        try:
            a.set_weights(net, _mutated(w1, bad))
        except ValueError as e:
            assert expect in str(e) and "\n" not in str(e), str(e)
        else:
            raise AssertionError(f"no ValueError for {bad}")
    w3 = a.get_weights(net)
    assert all(np.array_equal(w3[k], w2[k]) for k in w), "a rejected load changed weights"
    if "bad_input" in c:  # a shape the twin cannot take: a one-line UserError at build
        from twinbench.errors import UserError

        try:
            t.build(c["bad_input"]["shape"])
        except UserError as e:
            assert c["bad_input"]["match"] in str(e), str(e)
        else:
            raise AssertionError(f"no UserError for input shape {c['bad_input']['shape']}")
    (t.d / f"ok_{t.fw}_roundtrip").touch()


def _fixed_loss(t: Twin, net: Any, out: np.ndarray, y: np.ndarray) -> float:
    """The twin's own differentiable loss on given outputs (DETR's set loss)."""
    if t.keras:
        conv = t.a.keras.ops.convert_to_tensor
        loss = net.compute_loss(y=conv(y), y_pred=conv(out))
        return float(t.a.keras.ops.convert_to_numpy(loss))
    import torch

    return float(getattr(net, "net", net).loss(torch.from_numpy(out), torch.from_numpy(y)))


def run(t: Twin, origin: str, mistake: str = "") -> None:
    a, c = t.a, t.cfg.get("run", {})
    w = t.weights(origin)
    with MISTAKES[mistake]() if mistake else contextlib.nullcontext():
        net = t.build()
        a.set_weights(net, w)
        probe = Probe(t, net) if c.get("relu6") else None
        x = t.x()
        with probe.phase("eval") if probe else contextlib.nullcontext():
            res: dict[str, Any] = {"out": a.predict(net, a.to_device(x))}
        if c.get("alone"):  # each row alone, without its padding
            res["alone"] = np.concatenate([a.predict(net, a.to_device(x[i:i + 1, :n]))
                                           for i, n in enumerate(t.inp["lengths"])])
        if c.get("set_loss"):  # the loss on fixed outputs, and with each image's objects reversed
            fixed, y = t.inp["fixed"], t.inp["y"]
            res["fixed"] = _fixed_loss(t, net, fixed, y)
            res["permuted"] = _fixed_loss(t, net, fixed, np.ascontiguousarray(y[:, ::-1]))
        res |= t.train(net, origin, probe)
        res |= probe.result() if probe else {}
        res |= {"trained/" + k: v for k, v in a.get_weights(net).items()}
    name = f"{t.fw}+{mistake}" if mistake else t.fw
    save(t.d / f"out_{name}_from_{origin}.npz", res)


def floor(t: Twin, origin: str) -> None:
    from twinbench.scenarios.parity import nudged

    w = t.weights(origin)

    def trained(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        net = t.build()
        t.a.set_weights(net, weights)
        t.train(net, origin)
        out: dict[str, np.ndarray] = t.a.get_weights(net)
        return out

    base, worst = trained(w), dict[str, float]()
    for i in range(int(t.cfg["floor_draws"])):
        again = trained(nudged(w, np.random.default_rng(i)))
        for k in base:
            worst[k] = max(worst.get(k, 0.0), float(np.max(np.abs(again[k] - base[k]))))
    save(t.d / f"floor_{t.fw}_from_{origin}.npz", worst)


def adamw(t: Twin, origin: str) -> None:
    """Reference AdamWs in plain torch, on the batches train() takes: decoupled decay of every
    parameter, then Adam, with epsilon where torch puts it (after the bias correction of v) and
    where Keras does (before it), and Keras' placement without decay."""
    import torch
    import torch.nn.functional as F

    from twinbench.frameworks.base import ADAMW_BETAS, ADAMW_EPS

    assert not t.keras and t.cfg["train"]["optimizer"] == "adamw"
    tr, (b1, b2), eps = t.cfg["train"], ADAMW_BETAS, ADAMW_EPS
    lr, w = float(tr["lr"]), t.weights(origin)
    proto = t.protocol(origin)
    xs, ys, _, _ = t.batches()
    fit = list(range(len(xs)))[: proto.get("fit_batches")]
    order = [i % len(xs) for i in range(proto["steps"])] + fit * proto["epochs"]

    def reference(keras_eps: bool, wd: float) -> dict[str, np.ndarray]:
        net = t.build()
        t.a.set_weights(net, w)
        ps = list(net.parameters())
        m, v = [torch.zeros_like(p) for p in ps], [torch.zeros_like(p) for p in ps]
        for step, i in enumerate(order, start=1):
            net.train()
            net.zero_grad()
            F.cross_entropy(net(xs[i]), ys[i]).backward()  # type: ignore[no-untyped-call]
            with torch.no_grad():
                for p, mi, vi in zip(ps, m, v, strict=True):
                    p.mul_(1 - lr * wd)
                    mi.lerp_(p.grad, 1 - b1)
                    vi.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                    c1, c2 = 1 - b1**step, (1 - b2**step) ** 0.5
                    if keras_eps:
                        p.sub_(mi * (lr * c2 / c1) / (vi.sqrt() + eps))
                    else:
                        p.addcdiv_(mi, vi.sqrt() / c2 + eps, value=-lr / c1)
        out: dict[str, np.ndarray] = t.a.get_weights(net)
        return out

    wd = float(tr["weight_decay"])
    save(t.d / f"adamw_{t.fw}_from_{origin}.npz",
         {f"{name}/{k}": v for name, ref in (("torch", reference(False, wd)),
                                             ("keras", reference(True, wd)),
                                             ("keras_nodecay", reference(True, 0.0)))
          for k, v in ref.items()})


def lightning(t: Twin) -> None:
    """A LightningAdapter net is a LightningModule, and a module without the ``net`` twin is
    refused with a readable error."""
    import lightning as L
    import torch

    from twinbench.frameworks.lightning import weights

    class NoNet(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.body = torch.nn.Linear(2, 2)

    checks: dict[str, Any] = {"is_lightning_module": isinstance(t.build(), L.LightningModule)}
    try:
        weights.to_canonical(NoNet())
        checks["no_net_error"] = ""
    except TypeError as e:
        checks["no_net_error"] = str(e)
    (t.d / "lightning.json").write_text(json.dumps(checks))


def main() -> None:
    fw, d, jobs = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    twins: dict[str, Twin] = {}
    start = time.monotonic()
    for spec in jobs:
        case, _, job = spec.rpartition("/")
        folder = d / case
        t0 = time.monotonic()
        try:
            twin = twins.get(case) or twins.setdefault(case, Twin(fw, folder))
            kind, _, arg = job.partition(":")
            if kind == "init":
                init(twin)
            elif kind == "roundtrip":
                roundtrip(twin)
            elif kind == "run":
                run(twin, *arg.split(":"))
            elif kind == "floor":
                floor(twin, arg)
            elif kind == "adamw":
                adamw(twin, arg)
            elif kind == "lightning":
                lightning(twin)
            else:
                raise ValueError(f"unknown job {job!r}")
        except Exception:
            (folder / f"err_{fw}_{job}.txt").write_text(traceback.format_exc())
        now = time.monotonic()
        print(f"[twin_worker {fw}] {spec}: {now - t0:.1f} s (at {now - start:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
