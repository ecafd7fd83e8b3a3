"""Twin tests for the U-Net segmenter: weight transfer, shapes, and PyTorch <-> Keras parity.

Project rule: one framework per process. This pytest process only uses numpy; every test that
touches torch or Keras runs ``_WORKER`` in a fresh subprocess, and the processes exchange
weights, inputs and outputs through ``.npz`` files (the layout of tests/test_resnet_twins.py).
Loss on both sides: mean per-pixel softmax cross-entropy (torch ``nn.CrossEntropyLoss`` on
(N, C, H, W) logits, Keras ``SparseCategoricalCrossentropy(from_logits=True)`` on (N, H, W, C)).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from twin_harness import KERAS_TWINS, run_workers, twin_result
from twinbench.errors import UserError
from twinbench.zoo import MODELS
from twinbench.zoo.geometry import check_unet_input
from twinbench.zoo.init import canonical_init, shapes_of

CFG = {"widths": (4, 8, 16), "num_classes": 4, "hw": 16, "batch": 4, "steps": 3}

# python -c _WORKER <twin> <dir> <job>...; twin is "torch" or "keras-<backend>". Jobs:
#   roundtrip     transfer identity, ValueError/UserError checks -> ok_<twin>_roundtrip
#   init          own init, non-trivial BN state, export         -> w_<twin>.npz
#   run:<origin>  load w_<origin>.npz, eval forward, 3 steps     -> out_<twin>_from_<origin>.npz
# A failing job leaves err_<twin>_<job>.txt and the worker goes on with the next job.
_WORKER = textwrap.dedent(
    """
    import sys
    import traceback
    from pathlib import Path
    import numpy as np
    from twinbench.errors import UserError
    from twinbench.zoo.init import canonical_init, shapes_of

    me, d, jobs = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    cfg = dict(np.load(d / "cfg.npz"))
    widths, ncls, hw = tuple(int(w) for w in cfg["widths"]), int(cfg["ncls"]), int(cfg["hw"])
    steps, lr, momentum = int(cfg["steps"]), 0.05, 0.9

    if me == "torch":
        import torch
        from torch import nn
        from twinbench.frameworks.pytorch.weights import from_canonical, to_canonical
        from twinbench.zoo.pytorch import builders
        torch.manual_seed(0)

        def new_model(size=hw):
            return builders.build("unet", {"widths": widths}, (size, size, 3), ncls)

        def run(model, x, y):
            xt, yt = torch.from_numpy(x.transpose(0, 3, 1, 2)), torch.from_numpy(y)  # -> NCHW
            model.eval()
            with torch.no_grad():
                logits = model(xt).permute(0, 2, 3, 1).numpy()  # NCHW -> NHWC to compare
            model.train()
            opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
            loss_fn = nn.CrossEntropyLoss()  # (N, C, H, W) vs (N, H, W): mean over pixels
            losses = []
            for _ in range(steps):
                opt.zero_grad()
                loss = loss_fn(model(xt), yt)
                loss.backward()
                opt.step()
                losses.append(loss.item())
            return logits, np.array(losses)
    else:
        import keras
        from twinbench.frameworks.keras.weights import from_canonical, to_canonical
        from twinbench.zoo.keras import builders
        assert me == "keras-" + keras.backend.backend(), me
        keras.utils.set_random_seed(0)

        def new_model(size=hw):
            return builders.build("unet", {"widths": widths}, (size, size, 3), ncls)

        def run(model, x, y):
            logits = keras.ops.convert_to_numpy(model(x, training=False))
            model.compile(
                optimizer=keras.optimizers.SGD(learning_rate=lr, momentum=momentum),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            )
            losses = [float(model.train_on_batch(x, y)) for _ in range(steps)]
            return logits, np.array(losses)

    def perturb_bn(w):
        # non-trivial BatchNorm state, so eval-mode parity exercises every BN tensor
        rng = np.random.default_rng(1)
        for k in sorted(w):
            if k.endswith(".running_mean"):
                p, n = k[: -len("running_mean")], w[k].shape
                w[k] = rng.normal(0.0, 0.2, n).astype(np.float32)
                w[p + "running_var"] = rng.uniform(0.5, 2.0, n).astype(np.float32)
                w[p + "weight"] = rng.uniform(0.5, 1.5, n).astype(np.float32)
                w[p + "bias"] = rng.normal(0.0, 0.2, n).astype(np.float32)
        return w

    def roundtrip():
        model = new_model()
        w = to_canonical(model)
        assert all(v.dtype == np.float32 for v in w.values())
        from_canonical(model, {k: v + 1.0 for k, v in w.items()})
        w2 = to_canonical(model)
        assert sorted(w2) == sorted(w), "key set changed"
        assert all(np.array_equal(w2[k], w[k] + 1.0) for k in w), "values changed"
        gone = "dec1.up_bn.running_var"
        bad = [
            ({**w, "dec1.conv1.weight": w["dec1.conv2.weight"]}, "dec1.conv1.weight"),
            ({k: v for k, v in w.items() if k != gone}, gone),
            ({**w, "enc9.conv1.weight": w["enc1.conv1.weight"]}, "enc9.conv1.weight"),
        ]
        for weights, key in bad:
            try:
                from_canonical(model, weights)
            except ValueError as e:
                assert key in str(e) and "\\n" not in str(e), str(e)
            else:
                raise AssertionError(f"no ValueError for {key}")
        w3 = to_canonical(model)
        assert all(np.array_equal(w3[k], w2[k]) for k in w), "a rejected load changed weights"
        try:
            new_model(size=hw + 2)  # 2 pools need a multiple of 4
        except UserError as e:
            assert "divisible by 4" in str(e), str(e)
        else:
            raise AssertionError("no UserError for an image size the pools cannot halve")
        (d / f"ok_{me}_roundtrip").touch()

    def init():
        # framework default inits (kaiming-uniform a=sqrt(5), glorot) shrink the signal at
        # every conv, and a deep U-Net in eval mode then outputs ~constant logits; the study's
        # own canonical init keeps the outputs informative. One seed per twin: distinct weights.
        seed = {"torch": 1, "keras-tensorflow": 2, "keras-jax": 3, "keras-torch": 4}[me]
        w = canonical_init(shapes_of(to_canonical(new_model())), seed)
        np.savez(d / f"w_{me}.npz", **perturb_bn(w))

    def run_from(origin):
        model = new_model()
        from_canonical(model, dict(np.load(d / f"w_{origin}.npz")))
        inp = np.load(d / "inputs.npz")
        logits, losses = run(model, inp["x"], inp["y"])
        trained = {"trained/" + k: v for k, v in to_canonical(model).items()}
        np.savez(d / f"out_{me}_from_{origin}.npz", logits=logits, losses=losses, **trained)

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


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run every twin once, in three waves (torch -> Keras backends -> torch), and return the
    folder with all results; each framework pays its import and compile cost once."""
    d = tmp_path_factory.mktemp("unet_twins")
    np.savez(d / "cfg.npz", widths=np.array(CFG["widths"]), ncls=CFG["num_classes"],
             hw=CFG["hw"], steps=CFG["steps"])
    rng = np.random.default_rng(0)
    n, hw = CFG["batch"], CFG["hw"]
    x = rng.standard_normal((n, hw, hw, 3)).astype(np.float32)  # NHWC
    y = rng.integers(0, CFG["num_classes"], (n, hw, hw)).astype(np.int64)  # (N, H, W) masks
    np.savez(d / "inputs.npz", x=x, y=y)
    run_workers(_WORKER, d, {"torch": ["roundtrip", "init", "run:torch"]})
    run_workers(_WORKER, d, {k: ["roundtrip", "init", f"run:{k}", "run:torch"]
                             for k in KERAS_TWINS})
    run_workers(_WORKER, d, {"torch": [f"run:{k}" for k in KERAS_TWINS]})
    return d


def _compare(d: Path, origin: str, other: str) -> None:
    """``origin`` ran its own weights, ``other`` ran the same weights: outputs must agree."""
    a = np.load(twin_result(d, f"out_{origin}_from_{origin}.npz", origin, f"run:{origin}"))
    b = np.load(twin_result(d, f"out_{other}_from_{origin}.npz", other, f"run:{origin}"))
    fwd = float(np.max(np.abs(a["logits"] - b["logits"])))
    rel = np.abs(a["losses"] - b["losses"]) / np.abs(a["losses"])
    print(f"\n{origin} -> {other}: forward max|diff| {fwd:.2e}, "
          f"loss rel diffs {np.array2string(rel, precision=2)}, losses {a['losses']}")
    hw, ncls = CFG["hw"], CFG["num_classes"]
    assert a["logits"].shape == b["logits"].shape == (CFG["batch"], hw, hw, ncls)
    assert np.std(a["logits"]) > 1e-2, "degenerate logits make the comparison meaningless"
    # the logits must vary over space, or a layout mix-up (NCHW read as NHWC) could hide
    assert np.std(a["logits"], axis=(1, 2)).mean() > 1e-2
    assert not np.allclose(a["losses"][0], a["losses"][1:]), "training steps changed nothing"
    assert fwd < 1e-4
    assert np.all(rel < 1e-3)
    trained = sorted(k for k in a.files if k.startswith("trained/"))
    diffs = {k[8:]: float(np.max(np.abs(a[k] - b[k]))) for k in trained}
    var = {k: v for k, v in diffs.items() if k.endswith("running_var")}
    rest = {k: v for k, v in diffs.items() if k not in var}
    print(f"after training: max|diff| params+running_mean {max(rest.values()):.2e}, "
          f"running_var {max(var.values()):.2e}")
    worst = max(rest, key=rest.__getitem__)
    assert rest[worst] < 1e-4, f"after training {worst} differs by {rest[worst]:.2e}"
    # torch updates running_var with the unbiased batch variance, Keras with the biased one
    # (factor n/(n-1)); bounded, not equal. See twinbench.zoo.keras.resnet.
    assert all(np.allclose(a[f"trained/{k}"], b[f"trained/{k}"], rtol=0.1) for k in var)


@pytest.mark.parametrize("twin", ["torch", *KERAS_TWINS])
def test_roundtrip_and_errors(twin: str, twins: Path) -> None:
    twin_result(twins, f"ok_{twin}_roundtrip", twin, "roundtrip")


@pytest.mark.parametrize("keras_twin", KERAS_TWINS)
def test_twin_shapes(keras_twin: str, twins: Path) -> None:
    t = shapes_of(dict(np.load(twin_result(twins, "w_torch.npz", "torch", "init"))))
    k = shapes_of(dict(np.load(twin_result(twins, f"w_{keras_twin}.npz", keras_twin, "init"))))
    assert t == k
    # 3 double convs (enc1, enc2, bottleneck) x 10 + 2 up blocks x 15 + head weight and bias
    assert len(t) == 62
    assert t["dec2.up_conv.weight"] == (8, 16, 3, 3)  # bottleneck width -> level-2 width
    assert t["dec1.conv1.weight"] == (4, 8, 3, 3)  # reads skip + upsampled, concatenated
    assert t["head.weight"] == (CFG["num_classes"], 4, 1, 1) and t["head.bias"] == (4,)
    assert shapes_of(canonical_init(t, seed=0)) == t  # every U-Net tensor has an init rule


@pytest.mark.parametrize("keras_twin", KERAS_TWINS)
def test_parity_torch_to_keras(keras_twin: str, twins: Path) -> None:
    _compare(twins, "torch", keras_twin)


@pytest.mark.parametrize("keras_twin", KERAS_TWINS)
def test_parity_keras_to_torch(keras_twin: str, twins: Path) -> None:
    _compare(twins, keras_twin, "torch")


def test_registered_sizes_fit_the_tiny_preset() -> None:
    spec = MODELS["unet"]
    assert spec.task == "semantic-segmentation" and {"tiny", "small"} <= set(spec.sizes)
    for size in spec.sizes.values():
        check_unet_input(16, 16, len(size["widths"]))  # the tiny preset's image_size
        check_unet_input(32, 32, len(size["widths"]))  # the default image_size


def test_input_size_check_names_the_fix() -> None:
    with pytest.raises(UserError, match=r"divisible by 4, got 18x16; use an image_size") as e:
        check_unet_input(18, 16, 3)
    assert "\n" not in str(e.value)
    check_unet_input(20, 20, 3)
    with pytest.raises(UserError, match="divisible by 8"):
        check_unet_input(20, 20, 4)


def test_cli_segmentation_study_passes_parity_and_scores_miou(cli, tmp_path: Path) -> None:
    """The whole path a user takes: scenes -> adapters (NHWC <-> NCHW, masks as labels) ->
    parity through the harness -> accuracy scored by the shared numpy mIoU."""
    out = tmp_path / "seg"
    r = cli("run", "--preset", "tiny", "--task", "semantic-segmentation", "--scenario",
            "accuracy", "--threads", "1", "--out", str(out))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    recs = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert all(x["status"] == "ok" and x["model"] == "unet" for x in recs)
    parity = {x["metric"]: x for x in recs if x["scenario"] == "parity"
              and x["framework"] == "keras-tf"}
    assert parity["forward_max_abs_diff"]["extra"]["passed"] is True
    assert parity["loss_max_rel_diff"]["extra"]["passed"] is True
    acc = {(x["framework"], x["metric"]): x for x in recs if x["scenario"] == "accuracy"}
    for fw in ("pytorch", "keras-tf"):
        for metric in ("mean_iou", "pixel_accuracy"):
            rec = acc[(fw, metric)]
            assert 0.0 < rec["value"] <= 1.0 and rec["dataset"] == "shapes"
            assert rec["extra"]["n_test"] == 256 and rec["extra"]["n_train"] == 256
    assert "accuracy · semantic-segmentation · unet" in r.stdout
