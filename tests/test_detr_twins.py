"""Twin tests for DETR: weight transfer (packed self- and cross-attention), the Hungarian-matched
set loss against the shared numpy reference, and PyTorch <-> Lightning <-> Keras parity on every
Keras backend, through the framework adapters (so their own-loss hooks are tested too).

Project rule: one framework per process. This pytest process only uses numpy; every test that
touches torch or Keras runs ``_WORKER`` in a fresh subprocess, and the processes exchange
weights, inputs and outputs through ``.npz`` files (as ``test_resnet_twins.py`` does).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from twin_harness import KERAS_TWINS, run_workers, twin_result
from twinbench.tasks.detection_data import load_detection_dataset
from twinbench.tasks.detection_match import set_loss
from twinbench.zoo import MODELS
from twinbench.zoo.init import canonical_init, shapes_of

SIZE = MODELS["detr"].sizes["tiny"]
HW, BATCH, NCLS, STEPS = 16, 4, 3, 3

# python -c _WORKER <twin> <dir> <job>...; twin is pytorch, lightning or keras-<backend>. Jobs:
#   roundtrip     transfer identity + ValueError checks                    -> ok_<twin>_roundtrip
#   init          own build, perturbed BN statistics / norms / biases      -> w_<twin>.npz
#   run:<origin>  load w_<origin>.npz: eval forward, loss on fixed outputs, 3 SGD steps
#                 through the adapter                          -> out_<twin>_from_<origin>.npz
# A failing job leaves err_<twin>_<job>.txt and the worker goes on with the next job.
_WORKER = textwrap.dedent(
    """
    import sys
    import traceback
    from pathlib import Path
    import numpy as np
    from twinbench.zoo import MODELS

    me, d, jobs = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    inp = dict(np.load(d / "inputs.npz"))
    size, ncls, hw = MODELS["detr"].sizes["tiny"], int(inp["ncls"]), int(inp["hw"])

    if me in ("pytorch", "lightning"):
        import torch
        if me == "pytorch":
            from twinbench.frameworks.pytorch.adapter import TorchAdapter as Adapter
        else:
            from twinbench.frameworks.lightning.adapter import LightningAdapter as Adapter

        def fixed_loss(net, out, y):
            twin = getattr(net, "net", net)  # a LitTwin wraps the same module
            return float(twin.loss(torch.from_numpy(out), torch.from_numpy(y)))
    else:
        import keras
        from twinbench.frameworks.keras.adapter import KerasAdapter as Adapter
        assert me == "keras-" + keras.backend.backend(), me

        def fixed_loss(net, out, y):
            t = keras.ops.convert_to_tensor
            return float(keras.ops.convert_to_numpy(net.compute_loss(y=t(y), y_pred=t(out))))

    a = Adapter(threads=1, seed=0)

    def new_model():
        return a.build("detr", size, (hw, hw, 3), ncls)

    def perturb(w):
        # random BN statistics, norm scales and biases: a wrong relayout cannot hide behind
        # zeros and ones, and eval mode is not trivial
        rng = np.random.default_rng(1)
        for k in sorted(w):
            if k.endswith("running_mean") or k.endswith("bias"):
                w[k] = rng.normal(0.0, 0.2, w[k].shape).astype(np.float32)
            elif k.endswith("running_var"):
                w[k] = rng.uniform(0.5, 2.0, w[k].shape).astype(np.float32)
            elif w[k].ndim == 1:
                w[k] = rng.uniform(0.5, 1.5, w[k].shape).astype(np.float32)
        return w

    def roundtrip():
        model = new_model()
        w = a.get_weights(model)
        assert all(v.dtype == np.float32 for v in w.values())
        a.set_weights(model, {k: v + 1.0 for k, v in w.items()})
        w2 = a.get_weights(model)
        assert sorted(w2) == sorted(w), "key set changed"
        assert all(np.array_equal(w2[k], w[k] + 1.0) for k in w), "values changed"
        packed = "decoder.0.cross_attn.in_proj_weight"
        gone = "backbone.layer2.0.downsample.1.running_var"
        bad = [
            ({**w, packed: w[packed][: 2 * size["dim"]]}, packed),
            ({**w, "class_head.weight": w["class_head.weight"].T}, "class_head.weight"),
            ({k: v for k, v in w.items() if k != gone}, gone),
            ({**w, "encoder.7.norm1.weight": w["decoder_norm.weight"]}, "encoder.7.norm1"),
        ]
        for weights, key in bad:
            try:
                a.set_weights(model, weights)
            except ValueError as e:
                assert key in str(e) and "\\n" not in str(e), str(e)
            else:
                raise AssertionError(f"no ValueError for {key}")
        w3 = a.get_weights(model)
        assert all(np.array_equal(w3[k], w2[k]) for k in w), "a rejected load changed weights"
        (d / f"ok_{me}_roundtrip").touch()

    def init():
        np.savez(d / f"w_{me}.npz", **perturb(a.get_weights(new_model())))

    def run_from(origin):
        model = new_model()
        a.set_weights(model, dict(np.load(d / f"w_{origin}.npz")))
        x, y = inp["x"], inp["y"]
        out = a.predict(model, a.to_device(x))
        fixed = fixed_loss(model, inp["fixed"], y)
        permuted = fixed_loss(model, inp["fixed"], np.ascontiguousarray(y[:, ::-1]))
        a.compile_train(model, 0.05, 0.9)
        xd, yd = a.to_device(x), a.labels(y)
        losses = np.array([a.train_step(model, xd, yd) for _ in range(int(inp["steps"]))])
        trained = {"trained/" + k: v for k, v in a.get_weights(model).items()}
        np.savez(d / f"out_{me}_from_{origin}.npz", out=out, losses=losses, fixed=fixed,
                 permuted=permuted, **trained)

    for job in jobs:
        try:
            if job == "roundtrip":
                roundtrip()
            elif job == "init":
                init()
            else:
                run_from(job.removeprefix("run:"))
        except Exception:
            (d / f"err_{me}_{job}.txt").write_text(traceback.format_exc())
    """
)


def _fixed_outputs(rng: np.random.Generator, q: int) -> np.ndarray:
    """Arbitrary but valid DETR outputs: logits, then boxes inside the image."""
    logits = rng.normal(0.0, 2.0, (BATCH, q, NCLS + 1))
    centre = rng.uniform(0.2, 0.8, (BATCH, q, 2))
    wh = rng.uniform(0.05, 0.5, (BATCH, q, 2))
    return np.concatenate([logits, centre, wh], axis=-1).astype(np.float32)


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run every twin once, in three waves: pytorch -> Lightning and Keras -> pytorch again."""
    d = tmp_path_factory.mktemp("detr_twins")
    ds = load_detection_dataset("shapes", image_size=HW, n_train=BATCH, n_test=1, seed=0)
    fixed = _fixed_outputs(np.random.default_rng(0), SIZE["queries"])
    np.savez(d / "inputs.npz", x=ds.train.x, y=ds.train.y, fixed=fixed, ncls=NCLS, hw=HW,
             steps=STEPS)
    run_workers(_WORKER, d, {"pytorch": ["roundtrip", "init", "run:pytorch"]})
    run_workers(_WORKER, d, {"lightning": ["run:pytorch"],
                 "keras-tensorflow": ["roundtrip", "init", "run:keras-tensorflow", "run:pytorch"],
                 **{k: ["roundtrip", "run:pytorch"] for k in KERAS_TWINS[1:]}})
    run_workers(_WORKER, d, {"pytorch": ["run:keras-tensorflow"]})
    return d


def _compare(d: Path, origin: str, other: str) -> None:
    """``origin`` ran its own weights, ``other`` ran the same weights: outputs must agree."""
    a = np.load(twin_result(d, f"out_{origin}_from_{origin}.npz", origin, f"run:{origin}"))
    b = np.load(twin_result(d, f"out_{other}_from_{origin}.npz", other, f"run:{origin}"))
    fwd = float(np.max(np.abs(a["out"] - b["out"])))
    rel = np.abs(a["losses"] - b["losses"]) / np.abs(a["losses"])
    print(f"\n{origin} -> {other}: forward max|diff| {fwd:.2e}, "
          f"loss rel diffs {np.array2string(rel, precision=2)}, losses {a['losses']}")
    assert a["out"].shape == (BATCH, SIZE["queries"], NCLS + 5)
    assert np.std(a["out"][..., : NCLS + 1]) > 1e-2, "degenerate logits"
    assert np.std(a["out"][..., NCLS + 1 :]) > 1e-3, "degenerate boxes"
    assert not np.allclose(a["losses"][0], a["losses"][1:]), "training steps changed nothing"
    assert fwd < 1e-4
    assert np.all(rel < 1e-3)
    diffs = {k[8:]: float(np.max(np.abs(a[k] - b[k]))) for k in a.files if k.startswith("trained/")}
    var = {k: v for k, v in diffs.items() if k.endswith("running_var")}
    rest = {k: v for k, v in diffs.items() if k not in var}
    worst = max(rest, key=rest.__getitem__)
    assert rest[worst] < 1e-4, f"after training {worst} differs by {rest[worst]:.2e}"
    # torch updates running_var with the unbiased batch variance, Keras with the biased one
    assert all(np.allclose(a[f"trained/{k}"], b[f"trained/{k}"], rtol=0.1) for k in var)


@pytest.mark.parametrize("twin", ["pytorch", *KERAS_TWINS])
def test_roundtrip_and_errors(twin: str, twins: Path) -> None:
    twin_result(twins, f"ok_{twin}_roundtrip", twin, "roundtrip")


def test_twin_shapes(twins: Path) -> None:
    t = shapes_of(dict(np.load(twin_result(twins, "w_pytorch.npz", "pytorch", "init"))))
    k = shapes_of(dict(np.load(twin_result(twins, "w_keras-tensorflow.npz", "keras-tensorflow",
                                       "init"))))
    assert t == k
    dim = SIZE["dim"]
    assert t["decoder.0.cross_attn.in_proj_weight"] == (3 * dim, dim)
    assert t["encoder.0.self_attn.out_proj.weight"] == (dim, dim)
    assert t["query_embed.weight"] == (SIZE["queries"], dim)
    assert t["class_head.weight"] == (NCLS + 1, dim) and t["box_head.layers.2.weight"] == (4, dim)
    assert t["input_proj.weight"] == (dim, SIZE["widths"][-1], 1, 1)
    assert t["backbone.layer2.0.downsample.0.weight"] == (16, 8, 1, 1)
    assert shapes_of(canonical_init(t, seed=0)) == t  # every tensor has an init rule


@pytest.mark.parametrize("twin", ["pytorch", *KERAS_TWINS])
def test_loss_matches_the_numpy_reference(twin: str, twins: Path) -> None:
    """Each framework's differentiable loss, on fixed outputs, equals ``set_loss`` (float64),
    and permuting the objects of an image does not change it (a set loss)."""
    inp = np.load(twins / "inputs.npz")
    ref = set_loss(inp["fixed"], inp["y"], NCLS)["loss"]
    got = np.load(twin_result(twins, f"out_{twin}_from_pytorch.npz", twin, "run:pytorch"))
    print(f"\n{twin}: loss {float(got['fixed']):.6f}, reference {ref:.6f}")
    assert float(got["fixed"]) == pytest.approx(ref, rel=1e-5)
    assert float(got["permuted"]) == pytest.approx(ref, rel=1e-5)


@pytest.mark.parametrize("twin", ["lightning", *KERAS_TWINS])
def test_parity_pytorch_to_twin(twin: str, twins: Path) -> None:
    _compare(twins, "pytorch", twin)


def test_parity_keras_to_pytorch(twins: Path) -> None:
    _compare(twins, "keras-tensorflow", "pytorch")
