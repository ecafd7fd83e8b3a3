"""Twin tests for the Transformer text classifier: weight transfer (packed attention included),
padding masks, and PyTorch <-> Keras parity on every Keras backend.

Project rule: one framework per process. This pytest process only uses numpy; every test that
touches torch or Keras runs ``_WORKER`` in a fresh subprocess, and the processes exchange
weights, inputs and outputs through ``.npz`` files (as ``test_resnet_twins.py`` does).

The batch holds sequences of different lengths (1 to 12 tokens, padded with 0), so the masks
matter: each twin must give a padded row the same logits as that row alone without padding,
which fails if either the attention mask or the masked mean pool is ignored or inverted.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from twin_harness import KERAS_TWINS, run_workers, twin_result
from twinbench.zoo.init import canonical_init, shapes_of

CFG = {"vocab": 50, "ncls": 3, "seq_len": 12, "dim": 16, "depth": 2, "heads": 2, "steps": 3}
LENGTHS = (12, 9, 5, 3, 1, 7)  # one full row, one single-token row, the rest padded

# python -c _WORKER <twin> <dir> <job>...; twin is "torch" or "keras-<backend>". Jobs:
#   roundtrip     transfer identity + ValueError checks          -> ok_<twin>_roundtrip
#   init          own init, random biases/LayerNorms, export      -> w_<twin>.npz
#   run:<origin>  load w_<origin>.npz: forward, rows alone, 3 SGD steps -> out_<twin>_from_<origin>
# A failing job leaves err_<twin>_<job>.txt and the worker goes on with the next job.
_WORKER = textwrap.dedent(
    """
    import sys
    import traceback
    from pathlib import Path
    import numpy as np

    me, d, jobs = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    cfg = {k: int(v) for k, v in np.load(d / "cfg.npz").items()}
    lr, momentum = 0.05, 0.9

    if me == "torch":
        import torch
        import torch.nn.functional as F
        from twinbench.frameworks.pytorch.weights import from_canonical, to_canonical
        from twinbench.zoo.pytorch.transformer import TransformerClassifier
        torch.manual_seed(0)

        def new_model():
            return TransformerClassifier(cfg["vocab"], cfg["ncls"], cfg["seq_len"], cfg["dim"],
                                         cfg["depth"], cfg["heads"])

        def forward(model, x):
            model.eval()
            with torch.inference_mode():  # the eval fast path of nn.MultiheadAttention
                return model(torch.from_numpy(x).long()).numpy()

        def train(model, x, y):
            xt, yt = torch.from_numpy(x).long(), torch.from_numpy(y)
            model.train()
            opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
            losses = []
            for _ in range(cfg["steps"]):
                opt.zero_grad()
                loss = F.cross_entropy(model(xt), yt)
                loss.backward()
                opt.step()
                losses.append(loss.item())
            return np.array(losses)
    else:
        import keras
        from twinbench.frameworks.keras.weights import from_canonical, to_canonical
        from twinbench.zoo.keras.transformer import transformer
        assert me == "keras-" + keras.backend.backend(), me
        keras.utils.set_random_seed(0)

        def new_model():
            return transformer(cfg["seq_len"], cfg["vocab"], cfg["ncls"], cfg["dim"],
                               cfg["depth"], cfg["heads"])

        def forward(model, x):
            return keras.ops.convert_to_numpy(model(x, training=False))

        def train(model, x, y):
            model.compile(
                optimizer=keras.optimizers.SGD(learning_rate=lr, momentum=momentum),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            )
            return np.array([float(model.train_on_batch(x, y)) for _ in range(cfg["steps"])])

    def perturb(w):
        # zero biases and unit LayerNorm scales would hide a wrong bias or scale relayout
        rng = np.random.default_rng(1)
        for k in sorted(w):
            if w[k].ndim == 1:
                base = 1.0 if k.endswith("weight") else 0.0  # 1-D weights: LayerNorm scales
                w[k] = (base + rng.normal(0.0, 0.2, w[k].shape)).astype(np.float32)
        return w

    def roundtrip():
        model = new_model()
        w = to_canonical(model)
        assert all(v.dtype == np.float32 for v in w.values())
        assert w["blocks.0.attn.in_proj_weight"].shape == (3 * cfg["dim"], cfg["dim"])
        from_canonical(model, {k: v + 1.0 for k, v in w.items()})
        w2 = to_canonical(model)
        assert sorted(w2) == sorted(w), "key set changed"
        assert all(np.array_equal(w2[k], w[k] + 1.0) for k in w), "values changed"
        packed = "blocks.1.attn.in_proj_weight"
        bad = [
            ({**w, packed: w[packed][: 2 * cfg["dim"]]}, packed),
            ({**w, "head.weight": w["head.weight"].T}, "head.weight"),
            ({k: v for k, v in w.items() if k != "blocks.0.attn.in_proj_bias"},
             "blocks.0.attn.in_proj_bias"),
            ({**w, "blocks.0.attn.q_proj.weight": w["head.weight"]}, "q_proj"),
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
        (d / f"ok_{me}_roundtrip").touch()

    def init():
        np.savez(d / f"w_{me}.npz", **perturb(to_canonical(new_model())))

    def run_from(origin):
        model = new_model()
        from_canonical(model, dict(np.load(d / f"w_{origin}.npz")))
        inp = np.load(d / "inputs.npz")
        x, y, lengths = inp["x"], inp["y"], inp["lengths"]
        logits = forward(model, x)
        alone = np.concatenate([forward(model, x[i : i + 1, :n]) for i, n in enumerate(lengths)])
        losses = train(model, x, y)
        trained = {"trained/" + k: v for k, v in to_canonical(model).items()}
        np.savez(d / f"out_{me}_from_{origin}.npz", logits=logits, alone=alone, losses=losses,
                 **trained)

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
    """Run every twin once, in three waves (torch -> Keras per backend -> torch again)."""
    d = tmp_path_factory.mktemp("text_twins")
    np.savez(d / "cfg.npz", **CFG)
    rng = np.random.default_rng(0)
    x = np.zeros((len(LENGTHS), CFG["seq_len"]), dtype=np.int32)  # 0 = padding
    for i, n in enumerate(LENGTHS):
        x[i, :n] = rng.integers(1, CFG["vocab"], n)  # ids >= 1; 1 is "unknown"
    y = np.arange(len(LENGTHS)) % CFG["ncls"]
    np.savez(d / "inputs.npz", x=x, y=y, lengths=np.array(LENGTHS))
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
    assert a["logits"].shape == (len(LENGTHS), CFG["ncls"])
    assert np.std(a["logits"]) > 1e-2, "degenerate logits make the comparison meaningless"
    assert not np.allclose(a["losses"][0], a["losses"][1:]), "training steps changed nothing"
    assert fwd < 1e-4
    assert np.all(rel < 1e-3)
    diffs = {k[8:]: float(np.max(np.abs(a[k] - b[k]))) for k in a.files if k.startswith("trained/")}
    worst = max(diffs, key=diffs.__getitem__)
    print(f"after training: max|diff| {diffs[worst]:.2e} ({worst})")
    assert diffs[worst] < 1e-4, f"after training {worst} differs by {diffs[worst]:.2e}"


@pytest.mark.parametrize("twin", ["torch", *KERAS_TWINS])
def test_roundtrip_and_errors(twin: str, twins: Path) -> None:
    twin_result(twins, f"ok_{twin}_roundtrip", twin, "roundtrip")


@pytest.mark.parametrize("keras_twin", KERAS_TWINS)
def test_twin_shapes(keras_twin: str, twins: Path) -> None:
    t = shapes_of(dict(np.load(twin_result(twins, "w_torch.npz", "torch", "init"))))
    k = shapes_of(dict(np.load(twin_result(twins, f"w_{keras_twin}.npz", keras_twin, "init"))))
    assert t == k
    dim, depth = CFG["dim"], CFG["depth"]
    assert len(t) == 4 + 12 * depth + 2  # embeddings, 12 tensors per block, final norm, head
    assert t["tok_embed.weight"] == (CFG["vocab"], dim)
    assert t["pos_embed.weight"] == (CFG["seq_len"], dim)
    assert t["blocks.1.attn.in_proj_weight"] == (3 * dim, dim)
    assert shapes_of(canonical_init(t, seed=0)) == t  # every tensor has an init rule


@pytest.mark.parametrize("twin", ["torch", *KERAS_TWINS])
def test_padding_is_masked(twin: str, twins: Path) -> None:
    """A padded row gives the logits of the same tokens alone: pads are neither attended nor
    pooled. With the mask ignored (or inverted) this differs by far more than rounding."""
    out = np.load(twin_result(twins, f"out_{twin}_from_{twin}.npz", twin, f"run:{twin}"))
    diff = np.abs(out["logits"] - out["alone"]).max(axis=1)
    print(f"\n{twin}: padded vs alone per row {np.array2string(diff, precision=1)}")
    assert diff.max() < 1e-5


@pytest.mark.parametrize("keras_twin", KERAS_TWINS)
def test_parity_torch_to_keras(keras_twin: str, twins: Path) -> None:
    _compare(twins, "torch", keras_twin)


@pytest.mark.parametrize("keras_twin", KERAS_TWINS)
def test_parity_keras_to_torch(keras_twin: str, twins: Path) -> None:
    _compare(twins, keras_twin, "torch")
