"""AdamW twins: PyTorch, Lightning and Keras-on-TensorFlow take the same AdamW steps.

Every adapter builds its own library's AdamW (``compile_train(..., "adamw", weight_decay)``)
with betas, epsilon and decay passed explicitly. What "the same" means, measured here:

* Lightning vs PyTorch: the same ``torch.optim.AdamW`` object, so identical losses and weights.
* Keras vs PyTorch: losses within 1e-4 relative (the study's parity check wants 1e-3), but
  weights differ by up to ~1e-3 after 3 steps, by design of the libraries: Keras adds epsilon
  to sqrt(v) *before* v's bias correction (``m * alpha / (sqrt(v) + eps)``), torch after it
  (``m_hat / (sqrt(v_hat) + eps)``). Keras therefore acts like torch with
  ``eps / sqrt(1 - beta2**t)`` (31.6x eps at step 1, 1.26x at step 1000), which moves only the
  elements whose gradient is ~1e-6 or smaller. The test proves that this is the *only*
  difference: a reference AdamW written here in torch with Keras' epsilon placement (and the
  same decoupled decay of every parameter, BatchNorm included) matches Keras to ~1e-5, and the
  same reference with torch's placement reproduces ``torch.optim.AdamW`` exactly.

One framework per process: each side runs ``_WORKER`` in its own subprocess and they exchange
``.npz`` files; this pytest process only uses numpy. The weight decay is large (1.0, so 0.1% of
every weight per step at lr 1e-3) so that a side that skipped decay on some variables (biases,
BatchNorm scales) would miss the tolerance by orders of magnitude.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from twin_harness import worker_env

SIDES = ("pytorch", "lightning", "keras-tf")
LR, WD, STEPS = 1e-3, 1.0, 3

# python -c _WORKER <side> <dir>: writes <side>.npz (losses, w/<canonical name> after STEPS).
# The pytorch side also runs the two reference AdamWs (ref_torch/, ref_keras/ weights).
_WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import numpy as np
    from twinbench.frameworks.base import ADAMW_BETAS, ADAMW_EPS
    from twinbench.zoo import MODELS
    from twinbench.zoo.init import canonical_init, shapes_of

    side, d = sys.argv[1], Path(sys.argv[2])
    inp = np.load(d / "inputs.npz")
    x, y, lr, wd, steps = inp["x"], inp["y"], float(inp["lr"]), float(inp["wd"]), int(inp["steps"])
    if side == "pytorch":
        from twinbench.frameworks.pytorch.adapter import TorchAdapter as Adapter
    elif side == "lightning":
        from twinbench.frameworks.lightning.adapter import LightningAdapter as Adapter
    else:
        from twinbench.frameworks.keras.adapter import KerasAdapter as Adapter
    a = Adapter(threads=1, seed=0)

    def fresh():
        net = a.build("resnet", MODELS["resnet"].sizes["tiny"], x.shape[1:], 10)
        w = canonical_init(shapes_of(a.get_weights(net)), seed=0)
        rng = np.random.default_rng(1)
        for k in sorted(w):  # non-zero biases and BN scales: decay on them must show
            if w[k].ndim == 1 and "running_" not in k:
                w[k] = rng.uniform(0.5, 1.5, w[k].shape).astype(np.float32)
        a.set_weights(net, w)
        return net

    net = fresh()
    a.compile_train(net, lr, 0.9, "adamw", wd)
    xd, yd = a.to_device(x), a.labels(y)
    out = {"losses": np.array([a.train_step(net, xd, yd) for _ in range(steps)])}
    out.update({"w/" + k: v for k, v in a.get_weights(net).items()})
    out["knobs"] = np.array(repr(a.knobs(net)))

    if side == "pytorch":
        import torch

        def reference(keras_eps, wd):
            # decoupled decay of every parameter, then Adam; epsilon where each library puts it
            (b1, b2), eps = ADAMW_BETAS, ADAMW_EPS
            net = fresh()
            a.compile_train(net, lr, 0.9)  # for the loss function only
            loss_fn = a._opt[id(net)][1]
            ps = list(net.parameters())
            m, v = [torch.zeros_like(p) for p in ps], [torch.zeros_like(p) for p in ps]
            for t in range(1, steps + 1):
                net.train()
                net.zero_grad()
                loss_fn(net(xd), yd).backward()
                with torch.no_grad():
                    for p, mi, vi in zip(ps, m, v):
                        p.mul_(1 - lr * wd)
                        mi.lerp_(p.grad, 1 - b1)
                        vi.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                        c1, c2 = 1 - b1**t, (1 - b2**t) ** 0.5
                        if keras_eps:
                            p.sub_(mi * (lr * c2 / c1) / (vi.sqrt() + eps))
                        else:
                            p.addcdiv_(mi, vi.sqrt() / c2 + eps, value=-lr / c1)
            return a.get_weights(net)

        out.update({"ref_torch/" + k: v for k, v in reference(False, wd).items()})
        out.update({"ref_keras/" + k: v for k, v in reference(True, wd).items()})
        out.update({"ref_keras_nodecay/" + k: v for k, v in reference(True, 0.0).items()})
    np.savez(d / f"{side}.npz", **out)
    """
)


def _env(side: str) -> dict[str, str]:
    return worker_env("keras-tensorflow" if side == "keras-tf" else side)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, np.ndarray]]:
    """Run the three sides in parallel, one process each; return their outputs."""
    d = tmp_path_factory.mktemp("adamw")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 16, 16, 3)).astype(np.float32)  # NHWC
    y = rng.integers(0, 10, 8).astype(np.int64)
    np.savez(d / "inputs.npz", x=x, y=y, lr=LR, wd=WD, steps=STEPS)
    procs = {s: subprocess.Popen([sys.executable, "-c", _WORKER, s, str(d)], env=_env(s),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for s in SIDES}
    out = {}
    for s, p in procs.items():
        try:
            log, _ = p.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            p.kill()
            log, _ = p.communicate()
        assert p.returncode == 0, f"{s} worker failed:\n{log[-4000:]}"
        out[s] = dict(np.load(d / f"{s}.npz"))
    return out


def _weights(run: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    # running statistics are not optimizer state (and torch/Keras differ on running_var)
    return {k[len(prefix):]: v for k, v in run.items()
            if k.startswith(prefix) and "running_" not in k and "num_batches" not in k}


def _max_diff(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> tuple[float, str]:
    assert sorted(a) == sorted(b)
    d = {k: float(np.max(np.abs(a[k] - b[k]))) for k in a}
    worst = max(d, key=d.__getitem__)
    return d[worst], worst


def test_lightning_takes_pytorchs_adamw_steps(runs: dict[str, dict[str, np.ndarray]]) -> None:
    t, lit = runs["pytorch"], runs["lightning"]
    assert np.allclose(lit["losses"], t["losses"], rtol=1e-6, atol=0)
    diff, worst = _max_diff(_weights(t, "w/"), _weights(lit, "w/"))
    assert diff <= 1e-6, f"{worst} differs by {diff:.2e}"
    assert "AdamW" in str(lit["knobs"]) and "'eps': 1e-08" in str(lit["knobs"])


def test_keras_adamw_losses_match_pytorch(runs: dict[str, dict[str, np.ndarray]]) -> None:
    t, k = runs["pytorch"], runs["keras-tf"]
    assert t["losses"][-1] < t["losses"][0] - 0.05, "AdamW steps did not train"
    rel = np.abs(k["losses"] - t["losses"]) / np.abs(t["losses"])
    assert np.all(rel < 1e-4), f"loss rel diffs {rel}"
    knobs = str(k["knobs"])  # read back from Keras: explicit values, not Keras' defaults
    assert "'epsilon': 1e-08" in knobs and f"'weight_decay': {WD}" in knobs, knobs


def test_reference_adamw_is_torchs(runs: dict[str, dict[str, np.ndarray]]) -> None:
    """The hand-written reference with torch's epsilon placement is torch.optim.AdamW."""
    t = runs["pytorch"]
    diff, worst = _max_diff(_weights(t, "w/"), _weights(t, "ref_torch/"))
    assert diff <= 1e-6, f"{worst} differs by {diff:.2e}"


def test_keras_adamw_differs_from_torch_only_by_epsilon_placement(
        runs: dict[str, dict[str, np.ndarray]]) -> None:
    t, k = runs["pytorch"], runs["keras-tf"]
    keras_w = _weights(k, "w/")
    diff, worst = _max_diff(keras_w, _weights(t, "ref_keras/"))
    assert diff <= 5e-5, f"Keras vs reference-with-Keras'-epsilon: {worst} differs by {diff:.2e}"
    # ... and the placement matters: against torch's own AdamW the gap is far larger (docs say
    # so; if this fails, Keras changed its convention and docs/study.md must change too)
    gap, _ = _max_diff(keras_w, _weights(t, "w/"))
    assert gap > 10 * diff and gap > 1e-4, f"gap {gap:.2e} vs {diff:.2e}"
    # Keras decayed every variable, biases and BatchNorm included: leaving the decay out moves
    # each tensor by more than the tolerance above
    ref, nodecay = _weights(t, "ref_keras/"), _weights(t, "ref_keras_nodecay/")
    effect = {key: float(np.max(np.abs(ref[key] - nodecay[key]))) for key in ref}
    assert min(effect.values()) > 2e-4, min(effect, key=effect.__getitem__)
