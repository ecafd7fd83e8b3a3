"""The Lightning framework: same module, same weights, same batches -> the same training as PyTorch.

One framework per process: the raw-PyTorch and the Lightning side each run ``_WORKER`` in their
own subprocess through their adapters (the code the benchmark times) and exchange .npz files;
this pytest process only uses numpy. Then one end-to-end study through the CLI, where the
planner checks Lightning's parity against the PyTorch reference.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
B = 8  # batch size
LIGHTNING_CHATTER = ("GPU available", "TPU available", "Tip:", "LeafSpec",
                     "does not have many workers", "Trainer.fit` stopped",
                     "module(s) in eval mode")

# python -c _WORKER <pytorch|lightning> <dir>: writes <fw>.npz (+ lightning_checks.json)
_WORKER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import numpy as np
    from twinbench.zoo.init import canonical_init, shapes_of

    fw, d = sys.argv[1], Path(sys.argv[2])
    if fw == "pytorch":
        from twinbench.frameworks.pytorch.adapter import TorchAdapter as Adapter
    else:
        from twinbench.frameworks.lightning.adapter import LightningAdapter as Adapter
    inp = np.load(d / "inputs.npz")
    x, y = inp["x"], inp["y"]
    B = int(inp["batch"])
    a = Adapter(threads=1, seed=0)
    size = {"widths": (4, 8, 8, 16), "blocks": (1, 1, 1, 1)}

    def fresh():
        net = a.build("resnet", size, x.shape[1:], 10)
        a.set_weights(net, canonical_init(shapes_of(a.get_weights(net)), seed=0))
        a.compile_train(net, 0.05, 0.9)
        return net

    # 4 single steps on 4 different batches: one Trainer.fit each on the Lightning side. An
    # eval-mode predict first, as the parity check does: training must not inherit eval mode.
    net = fresh()
    a.predict(net, a.to_device(x[:B]))
    steps = [a.train_step(net, a.to_device(x[i * B:(i + 1) * B]), a.labels(y[i * B:(i + 1) * B]))
             for i in range(4)]
    # 3 passes ("epochs") of fit over the same 4 batches: momentum must live across calls
    net2 = fresh()
    xd, yd = a.to_device(x), a.labels(y)
    fits = []
    for _ in range(3):
        fits.append(a.fit(net2, xd, yd, B))
        a.predict(net2, xd[:B])  # evaluate after each epoch, as a user does
    logits = a.predict(net2, xd[:B])
    out = {"steps": np.array(steps), "fits": np.array(fits), "logits": logits}
    out.update({"w/" + k: v for k, v in a.get_weights(net2).items()})
    np.savez(d / f"{fw}.npz", **out)

    if fw == "lightning":
        import lightning as L
        import torch
        from twinbench.frameworks.lightning import weights

        checks = {"threads_after_fit": a.thread_settings()}
        net3 = fresh()
        a.train_step(net3, xd[:B], yd[:B])
        checks["global_step_after_train_step"] = net3.trainer.global_step
        checks["trainer_fn"] = str(net3.trainer.state.fn)
        checks["is_lightning_module"] = isinstance(net3, L.LightningModule)
        w = a.get_weights(net3)
        checks["keys"] = sorted(w)
        a.set_weights(net3, {k: v + 1.0 for k, v in w.items()})
        w2 = a.get_weights(net3)
        checks["roundtrip_ok"] = all(np.array_equal(w2[k], w[k] + 1.0) for k in w)
        try:
            a.set_weights(net3, {**w, "fc.weight": w["fc.weight"].T})
            checks["bad_shape_error"] = ""
        except ValueError as e:
            checks["bad_shape_error"] = str(e)
        checks["untouched_after_error"] = all(
            np.array_equal(a.get_weights(net3)[k], w2[k]) for k in w)

        class NoNet(L.LightningModule):
            def __init__(self):
                super().__init__()
                self.body = torch.nn.Linear(2, 2)

        try:
            weights.to_canonical(NoNet())
            checks["no_net_error"] = ""
        except TypeError as e:
            checks["no_net_error"] = str(e)
        (d / "lightning_checks.json").write_text(json.dumps(checks))
    """
)


def _env() -> dict[str, str]:
    return {**os.environ,
            "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
            "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "",
            "JAX_PLATFORMS": "cpu", "PYTHONWARNINGS": "default"}


@pytest.fixture(scope="module")
def sides(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Run both workers in parallel; return the folder and each worker's console output."""
    d = tmp_path_factory.mktemp("lightning")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4 * B, 16, 16, 3)).astype(np.float32)  # NHWC, 4 batches
    np.savez(d / "inputs.npz", x=x, y=rng.integers(0, 10, 4 * B), batch=B)
    procs = {fw: subprocess.Popen([sys.executable, "-c", _WORKER, fw, str(d)], env=_env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for fw in ("pytorch", "lightning")}
    logs = {}
    for fw, proc in procs.items():
        try:
            logs[fw], _ = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            logs[fw] = proc.communicate()[0] + "\n(timed out)"
        assert proc.returncode == 0, f"{fw} worker failed:\n{logs[fw][-4000:]}"
    return d, logs


def test_lightning_trains_like_raw_pytorch(sides: tuple[Path, dict[str, str]]) -> None:
    d, _ = sides
    t, lt = np.load(d / "pytorch.npz"), np.load(d / "lightning.npz")
    print(f"\nsteps: pytorch {t['steps']}, lightning {lt['steps']}\n"
          f"fits: pytorch {t['fits']}, lightning {lt['fits']}")
    assert len(np.unique(np.round(t["steps"], 4))) == 4, "training steps changed nothing"
    np.testing.assert_allclose(lt["steps"], t["steps"], rtol=1e-5)
    np.testing.assert_allclose(lt["fits"], t["fits"], rtol=1e-5)
    np.testing.assert_allclose(lt["logits"], t["logits"], rtol=1e-5, atol=1e-6)
    keys = [k for k in t.files if k.startswith("w/")]
    assert sorted(keys) == sorted(k for k in lt.files if k.startswith("w/"))
    worst = max(float(np.max(np.abs(t[k] - lt[k]))) for k in keys)
    assert worst < 1e-5, f"weights after 3 fits differ by {worst:.2e}"


def test_lightning_goes_through_the_trainer_and_keeps_pytorch_names(
    sides: tuple[Path, dict[str, str]],
) -> None:
    d, logs = sides
    c = json.loads((d / "lightning_checks.json").read_text())
    assert c["is_lightning_module"]
    assert c["global_step_after_train_step"] == 1 and "fit" in c["trainer_fn"].lower()
    assert c["threads_after_fit"] == {"intra_op": 1, "inter_op": 1}
    assert c["keys"] == sorted(k[2:] for k in np.load(d / "pytorch.npz").files
                               if k.startswith("w/")), "canonical names must be PyTorch's"
    assert not any(k.startswith("net.") for k in c["keys"])
    assert c["roundtrip_ok"] and c["untouched_after_error"]
    assert "fc.weight" in c["bad_shape_error"] and "\n" not in c["bad_shape_error"]
    assert "no `net` nn.Module" in c["no_net_error"]
    noise = [w for w in LIGHTNING_CHATTER if w in logs["lightning"]]
    assert not noise, f"Lightning is chatty: {noise}\n{logs['lightning'][-2000:]}"


def test_end_to_end_pytorch_vs_lightning(cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = cli("run", "--preset", "tiny", "--framework", "pytorch,lightning", "--scenario",
            "train,accuracy", "--out", str(out), "--threads", "1")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    recs = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    got = {(x["framework"], x["scenario"], x["metric"]) for x in recs}
    for fw in ("pytorch", "lightning"):
        for sc, metric in [("train", "throughput"), ("accuracy", "accuracy")]:
            assert (fw, sc, metric) in got, (fw, sc, metric)
    parity = [x for x in recs if x["framework"] == "lightning" and x["scenario"] == "parity"]
    assert {x["metric"] for x in parity} >= {"forward_max_abs_diff", "loss_max_rel_diff"}
    assert all(x["extra"]["passed"] for x in parity), parity
    lit = [x for x in recs if x["framework"] == "lightning" and x["scenario"] != "parity"]
    assert all(x["status"] == "ok" and x["backend"] == "torch" for x in lit)
    assert all("lightning" in x["env"]["versions"] for x in lit)
    assert all(not x["env"]["foreign_frameworks_imported"] for x in lit)
    acc = {x["framework"]: x["value"] for x in recs if x["metric"] == "accuracy"}
    assert abs(acc["pytorch"] - acc["lightning"]) < 0.02, acc  # same batches, same weights
